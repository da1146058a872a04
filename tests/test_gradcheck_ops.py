"""Every op against central finite differences in float64, on hypothesis-generated shapes."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import tinygrad_seq as ts
import tinygrad_seq.nn.functional as F
from conftest import leaf

SETTINGS = settings(max_examples=20, deadline=None)


def values(seed, shape, low=-2.0, high=2.0, away_from_zero=False):
    x = np.random.default_rng(seed).uniform(low, high, size=shape)
    if away_from_zero:  # keep finite differences clear of kinks and poles at 0
        x = np.where(np.abs(x) < 0.1, np.sign(x + 1e-12) * 0.1 + x, x)
    return x


seeds = st.integers(0, 2**31 - 1)
two_shapes = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)
one_shape = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)

UNARY = {
    "neg": (lambda x: -x, {}),
    "exp": (lambda x: x.exp(), {}),
    "log": (lambda x: x.log(), {"low": 0.2, "high": 3.0}),
    "sqrt": (lambda x: x.sqrt(), {"low": 0.2, "high": 3.0}),
    "tanh": (lambda x: x.tanh(), {}),
    "sigmoid": (lambda x: x.sigmoid(), {}),
    "relu": (lambda x: x.relu(), {"away_from_zero": True}),
    "abs": (lambda x: x.abs(), {"away_from_zero": True}),
    "pow_scalar": (lambda x: x ** 3, {}),
    "pow_fractional": (lambda x: x ** 1.5, {"low": 0.2, "high": 3.0}),
    "pow_negative": (lambda x: x ** -2, {"low": 0.5, "high": 3.0}),
    "clamp": (lambda x: x.clamp(-0.55, 0.65), {}),
    "clamp_min_only": (lambda x: x.clamp(min=0.05), {}),
    "rsub_scalar": (lambda x: 2.0 - x, {}),
    "rdiv_scalar": (lambda x: 2.0 / x, {"low": 0.3, "high": 2.0}),
    "rpow_scalar": (lambda x: 2.0 ** x, {}),
    "sin": (lambda x: x.sin(), {}),
    "cos": (lambda x: x.cos(), {}),
    "log1p": (lambda x: x.log1p(), {"low": -0.5, "high": 3.0}),
    "expm1": (lambda x: x.expm1(), {}),
    "rsqrt": (lambda x: x.rsqrt(), {"low": 0.3, "high": 3.0}),
    "erf": (lambda x: x.erf(), {}),
    "square": (lambda x: x.square(), {}),
    "floor_plus_x": (lambda x: x.floor() + x, {"away_from_zero": True}),
    "gelu": (lambda x: F.gelu(x), {}),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), {}),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), {"away_from_zero": True}),
    "elu": (lambda x: F.elu(x, 0.8), {"away_from_zero": True}),
    "softplus": (lambda x: F.softplus(x, beta=2.0, threshold=3.0), {}),
    "logsigmoid": (lambda x: F.logsigmoid(x), {}),
    "hardtanh": (lambda x: F.hardtanh(x, -0.55, 0.65), {}),
    "silu": (lambda x: F.silu(x), {}),
    "cumsum": (lambda x: x.cumsum(-1) if x.ndim else x.cumsum(0), {}),
    "prod_all": (lambda x: x.prod(), {}),
    "var": (lambda x: x.var() if x.numel() > 1 else x.var(correction=0), {}),
    "norm": (lambda x: x.norm(), {"away_from_zero": True}),
    "norm_1": (lambda x: x.norm(1), {"away_from_zero": True}),
    "norm_3": (lambda x: x.norm(3), {"away_from_zero": True}),
    "normalize": (lambda x: F.normalize(x, dim=-1) if x.ndim else x, {"away_from_zero": True}),
    "flip": (lambda x: x.flip(*range(x.ndim)), {}),
    "roll": (lambda x: x.roll(1), {}),
    "repeat": (lambda x: x.repeat(*(2,) * (x.ndim + 1)), {}),
    "masked_fill": (lambda x: x.masked_fill(x > 0.5, 0.25) * x, {}),
}


@pytest.mark.parametrize("name", UNARY)
@SETTINGS
@given(shape=one_shape, seed=seeds)
def test_unary(name, shape, seed):
    fn, kw = UNARY[name]
    x = values(seed, shape, **kw)
    if name.startswith("clamp") or name == "hardtanh":  # keep elements away from the bounds
        x = np.where(np.abs(np.abs(x - 0.05) - 0.6) < 0.02, x + 0.05, x)
    assert ts.gradcheck(fn, leaf(x))


BINARY = {
    "add": (lambda a, b: a + b, {}, {}),
    "sub": (lambda a, b: a - b, {}, {}),
    "mul": (lambda a, b: a * b, {}, {}),
    "div": (lambda a, b: a / b, {}, {"away_from_zero": True}),
    "pow": (lambda a, b: a ** b, {"low": 0.3, "high": 2.0}, {}),
    "maximum": (lambda a, b: ts.maximum(a, b), {}, {}),
    "minimum": (lambda a, b: a.minimum(b), {}, {}),
    "cosine_similarity": (lambda a, b: F.cosine_similarity(a, b, dim=-1) if
                          np.broadcast_shapes(a.shape, b.shape) else a * b,
                          {"away_from_zero": True}, {"away_from_zero": True}),
}


@pytest.mark.parametrize("name", BINARY)
@SETTINGS
@given(shapes=two_shapes, seed=seeds)
def test_binary_broadcasting(name, shapes, seed):
    fn, kw_a, kw_b = BINARY[name]
    (sa, sb), _ = shapes
    a, b = values(seed, sa, **kw_a), values(seed + 1, sb, **kw_b)
    if name in ("maximum", "minimum"):  # no near-ties, where the derivative jumps
        assume(np.all(np.abs(np.subtract(a, b)) > 0.01))
    assert ts.gradcheck(fn, leaf(a), leaf(b))


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3),
       seed=seeds)
def test_where_broadcasting(shapes, seed):
    (sc, sa, sb), _ = shapes
    cond = np.random.default_rng(seed).random(sc) > 0.5
    assert ts.gradcheck(lambda a, b: ts.where(cond, a, b), leaf(values(seed, sa)),
                        leaf(values(seed + 1, sb)))


MATMUL_SHAPES = [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((1, 2, 3), (4, 3, 2)),
    ((2, 1, 2, 3), (3, 3, 2)), ((3,), (2, 3, 4)), ((2, 2, 3), (3,)),
    ((4, 1), (1, 5)), ((1,), (1, 5)), ((2, 4, 1), (1, 5)),   # inner size 1 (2-D: an outer product)
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul(sa, sb, rng):
    a, b = leaf(rng.standard_normal(sa)), leaf(rng.standard_normal(sb))
    assert ts.gradcheck(lambda a, b: a @ b, a, b)
    assert np.array_equal((a @ b).array, a.array @ b.array)


def test_matmul_of_a_few_rows_by_a_transposed_weight(rng):
    """x @ W.T with few rows runs as (W @ x.T).T, and W.T's gradient is computed in its own
    (transposed) layout (ops.Matmul): values and gradients hold, W.grad comes out C-ordered."""
    x, w = leaf(rng.standard_normal((3, 128))), leaf(rng.standard_normal((160, 128)))
    np.testing.assert_allclose((x @ w.T).array, x.array @ w.array.T, rtol=1e-13, atol=1e-13)
    assert (x @ w.T).array.flags.c_contiguous
    assert ts.gradcheck(lambda x, w: x @ w.T, x, w)
    g = rng.standard_normal((3, 160))
    x.grad = w.grad = None
    (x @ w.T).backward(ts.Tensor(g))
    np.testing.assert_allclose(w.grad.array, g.T @ x.array, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(x.grad.array, g @ w.array, rtol=1e-13, atol=1e-13)
    assert w.grad.array.flags.c_contiguous


@pytest.mark.parametrize("x_shape,out,bias", [
    ((3,), 2, True), ((2, 3), 4, True), ((4, 2, 3), 2, False), ((5, 1), 3, True),  # K = 1
    ((0, 3), 2, True), ((2, 3), 0, True),    # empty batch, no outputs
    ((3, 128), 160, True),    # few rows by a large weight: computed as (W @ x.T).T
])
def test_linear(x_shape, out, bias, rng):
    """F.linear(x, W, b) = x @ W.T + b: values and every gradient, as one node."""
    x = leaf(rng.standard_normal(x_shape))
    w = leaf(rng.standard_normal((out, x_shape[-1])))
    args = (x, w, leaf(rng.standard_normal(out))) if bias else (x, w)
    y = F.linear(*args)
    expected = x.array @ w.array.T + (args[2].array if bias else 0)
    np.testing.assert_allclose(y.array, expected, rtol=1e-13, atol=1e-13)
    assert y.array.shape == x_shape[:-1] + (out,)
    assert y._node.op == "linear"
    assert ts.gradcheck(F.linear, *args)


def test_linear_gradients_of_some_inputs_only(rng):
    """A constant input gets no gradient; the weight's gradient keeps the weight's layout."""
    x = ts.Tensor(rng.standard_normal((4, 3)))
    w, b = leaf(rng.standard_normal((2, 3))), ts.Tensor(rng.standard_normal(2))
    g = rng.standard_normal((4, 2))
    F.linear(x, w, b).backward(ts.Tensor(g))
    np.testing.assert_allclose(w.grad.array, g.T @ x.array, rtol=1e-13, atol=1e-13)
    assert x.grad is None and b.grad is None and w.grad.array.flags.c_contiguous
    b = leaf(rng.standard_normal(2))
    F.linear(x, w.detach(), b).backward(ts.Tensor(g))    # only the bias needs a gradient
    np.testing.assert_allclose(b.grad.array, g.sum(axis=0), rtol=1e-13, atol=1e-13)


def test_linear_takes_an_integer_input_into_the_weights_dtype(rng):
    layer = ts.nn.Linear(3, 2)
    x = np.arange(6).reshape(2, 3)
    y = layer(ts.Tensor(x))
    assert y.dtype == layer.weight.dtype
    np.testing.assert_allclose(y.array, layer(ts.Tensor(x.astype(np.float32))).array)


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4)])
def test_transpose_property_reverses_the_axes(shape, rng):
    x = leaf(rng.standard_normal(shape))
    assert np.array_equal(x.T.array, x.array.T)
    assert ts.gradcheck(lambda t: t.T, x)


dims_and_shape = one_shape.flatmap(lambda s: st.tuples(
    st.just(s),
    st.one_of(st.none(), st.integers(-len(s), len(s) - 1) if s else st.none(),
              st.lists(st.integers(0, len(s) - 1), unique=True, min_size=1).map(tuple)
              if s else st.none()),
    st.booleans()))


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin", "logsumexp"])
@SETTINGS
@given(args=dims_and_shape, seed=seeds)
def test_reductions(op, args, seed):
    shape, dim, keepdim = args
    x = leaf(np.random.default_rng(seed).permutation(np.prod(shape, dtype=int)).reshape(shape)
             * 0.37 + 0.1)  # distinct values: max and min have no ties
    out = getattr(x, op)(dim=dim, keepdim=keepdim)
    reference = {"sum": np.sum, "mean": np.mean, "amax": np.max, "amin": np.min}.get(op)
    if reference is not None:
        assert np.allclose(out.array, reference(x.array, axis=dim, keepdims=keepdim))
    assert ts.gradcheck(lambda x: getattr(x, op)(dim=dim, keepdim=keepdim), x)


def test_max_ties_split_the_gradient():
    x = leaf([1.0, 3.0, 3.0, 2.0])
    x.max().backward()
    assert np.array_equal(x.grad.array, [0, 0.5, 0.5, 0])


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@SETTINGS
@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=4), seed=seeds,
       dim_index=st.integers(0, 2))
def test_softmax_family(op, shape, seed, dim_index):
    dim = dim_index % len(shape) - len(shape) * (seed % 2)  # negative dims too
    assert ts.gradcheck(lambda x: getattr(x, op)(dim=dim), leaf(values(seed, shape)))


SHAPE_OPS = {
    "reshape": ((2, 3, 4), lambda x: x.reshape(4, -1)),
    "view_tuple": ((2, 3, 4), lambda x: x.view((6, 4))),
    "transpose": ((2, 3, 4), lambda x: x.transpose(0, 2)),
    "permute": ((2, 3, 4), lambda x: x.permute(1, 2, 0)),
    "permute_negative": ((2, 3, 4), lambda x: x.permute(-1, 0, 1)),
    "T": ((2, 3), lambda x: x.T),
    "expand": ((3, 1), lambda x: x.expand(2, 3, 4)),
    "expand_minus_one": ((1, 4), lambda x: x.expand(3, -1)),
    "squeeze": ((1, 3, 1), lambda x: x.squeeze()),
    "squeeze_dim": ((1, 3, 1), lambda x: x.squeeze(-1)),
    "unsqueeze": ((2, 3), lambda x: x.unsqueeze(1)),
    "flatten": ((2, 3, 4), lambda x: x.flatten(1)),
    "getitem_slices": ((4, 5), lambda x: x[1:3, ::2]),
    "getitem_int": ((4, 5), lambda x: x[2]),
    "getitem_negative_step": ((4, 5), lambda x: x[::-1, -2]),
    "getitem_none_ellipsis": ((2, 3, 4), lambda x: x[..., None, 1]),
    "getitem_repeated_indices": ((4, 3), lambda x: x[np.array([0, 2, 0, 0])]),
    "getitem_index_tensor": ((4, 3), lambda x: x[ts.Tensor(np.array([[1, 1], [3, 0]]))]),
    "getitem_two_arrays": ((4, 3), lambda x: x[np.array([0, 0, 3]), np.array([1, 1, 2])]),
    "getitem_list": ((4, 3), lambda x: x[[3, 3, 1]]),
    "getitem_mask": ((4, 3), lambda x: x[x.array > 0]),
    "split_sizes": ((5, 3), lambda x: ts.cat([p * (i + 1) for i, p in enumerate(x.split([2, 3]))])),
    "split_int": ((5, 3), lambda x: ts.stack([p.sum() for p in x.split(2)])),
    "chunk": ((3, 8), lambda x: ts.cat(list(reversed(x.chunk(4, dim=1))), dim=1)),
    "chunk_unused_piece": ((3, 8), lambda x: x.chunk(4, dim=1)[2] * 2),
    "cat": ((2, 3), lambda x: ts.cat([x, x * 2, x[:1]], dim=0)),
    "cat_dim1": ((2, 3), lambda x: ts.cat([x, x.exp()], dim=-1)),
    "stack": ((2, 3), lambda x: ts.stack([x, x * x], dim=1)),
    "stack_last": ((2, 3), lambda x: ts.stack([x, -x, x], dim=-1)),
}


@pytest.mark.parametrize("name", SHAPE_OPS)
def test_shape_ops(name, rng):
    shape, fn = SHAPE_OPS[name]
    assert ts.gradcheck(fn, leaf(rng.standard_normal(shape)))


def test_reused_tensor_gets_summed_gradient():
    x = leaf([0.5, -1.5, 2.0])
    y = x * x + x.tanh() * x + x       # x reaches the output along five paths
    y.sum().backward()
    expected = 2 * x.array + np.tanh(x.array) + x.array * (1 - np.tanh(x.array) ** 2) + 1
    assert np.allclose(x.grad.array, expected)
    assert ts.gradcheck(lambda x: x * x + x.tanh() * x + x, leaf(x.array))


def test_dropout(rng):
    x = leaf(rng.standard_normal((4, 5)))

    def fn(x):
        ts.manual_seed(7)  # the same mask in every evaluation
        return F.dropout(x, p=0.3)

    assert ts.gradcheck(fn, x)
    out = fn(x).array
    kept = out != 0
    assert np.allclose(out[kept], x.array[kept] / 0.7)
    assert F.dropout(x, p=0.3, training=False) is x
    # float32: the kept elements scaled by 1 / (1 - p) computed in float32, as PyTorch does
    many = F.dropout(ts.ones(100_000), p=0.3).array
    assert set(np.unique(many)) == {0, np.float32(1) / np.float32(0.7)}
    assert abs((many == 0).mean() - 0.3) < 0.01
    scalar = leaf(np.array(3.0))   # a 0-d tensor stays 0-d, as PyTorch's
    assert F.dropout(scalar, p=0.3).shape == () and ts.gradcheck(fn, scalar)


def test_embedding_with_repeats_and_padding(rng):
    weight = leaf(rng.standard_normal((5, 3)))
    idx = ts.Tensor(np.array([[0, 2, 2], [4, 0, 1]]))
    assert ts.gradcheck(lambda w: F.embedding(idx, w), weight)
    weight.grad = None
    F.embedding(idx, weight, padding_idx=0).sum().backward()
    assert np.array_equal(weight.grad.array[:, 0], [0, 1, 2, 0, 1])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(reduction, rng):
    logits = leaf(rng.standard_normal((6, 4)))
    target = ts.Tensor(np.array([0, 3, 1, -100, 3, 2]))
    fn = lambda x: F.cross_entropy(x, target, reduction=reduction)  # noqa: E731
    assert ts.gradcheck(fn, logits)
    logp = logits.array - np.log(np.exp(logits.array).sum(1, keepdims=True))
    losses = np.array([-logp[i, t] if t != -100 else 0 for i, t in enumerate(target.array)])
    expected = {"mean": losses.sum() / 5, "sum": losses.sum(), "none": losses}[reduction]
    assert np.allclose(fn(logits).array, expected)


def test_cross_entropy_shapes(rng):
    x = leaf(rng.standard_normal((2, 4, 3)))          # (N, C, d1) as in PyTorch
    t = ts.Tensor(np.array([[0, 3, 1], [2, 2, 0]]))
    assert ts.gradcheck(lambda x: F.cross_entropy(x, t), x)
    v = leaf(rng.standard_normal(4))                  # (C,) with a scalar target
    assert ts.gradcheck(lambda v: F.cross_entropy(v, ts.Tensor(np.array(2))), v)


def test_mse_and_bce(rng):
    a, b = leaf(rng.standard_normal((3, 4))), leaf(rng.standard_normal((3, 4)))
    assert ts.gradcheck(lambda a, b: F.mse_loss(a, b), a, b)
    assert ts.gradcheck(lambda a, b: F.mse_loss(a, b, reduction="none"), a, b)
    t = leaf(rng.random((3, 4)))
    assert ts.gradcheck(lambda a, t: F.binary_cross_entropy_with_logits(a, t), a, t)
    assert ts.gradcheck(lambda a: F.binary_cross_entropy_with_logits(a, t, reduction="sum"), a)


def test_gradcheck_catches_a_wrong_gradient():
    class BadSquare(ts.Function):
        """out = a^2 with a deliberately wrong backward (da = g * a)"""
        def forward(self, a):
            self.save_for_backward(a)
            return a * a

        def backward(self, g):
            return g * self.saved[0]

    with pytest.raises(ts.GradcheckError, match=r"input 0 .*element \(0,\).*badsquare"):
        ts.gradcheck(lambda x: BadSquare.apply(x), leaf([1.0, 2.0]))


def test_gradcheck_refuses_float32():
    with pytest.raises(TypeError, match="float64"):
        ts.gradcheck(lambda x: x * 2, ts.ones(3, requires_grad=True))


# ------------------------------------------------------------------ PyTorch's ops, one by one
SHAPED = {
    "prod_dim": ((3, 4), lambda x: x.prod(dim=1)),
    "prod_with_a_zero": ((2, 3), lambda x: (x * ts.tensor([[1.0, 0.0, 1.0]] * 2,
                                                           dtype=ts.float64)).prod(dim=1)),
    "std_dim": ((3, 4), lambda x: x.std(dim=0, keepdim=True)),
    "norm_inf": ((3, 4), lambda x: x.norm(float("inf"), dim=1)),
    "topk": ((3, 5), lambda x: x.topk(2, dim=1).values),
    "sort": ((4, 3), lambda x: x.sort(dim=0, descending=True).values),
    "max_dim": ((3, 4), lambda x: x.max(dim=1).values),
    "gather": ((3, 4), lambda x: x.gather(1, ts.tensor([[0, 3, 3], [1, 1, 0], [2, 0, 1]]))),
    "index_select": ((4, 3), lambda x: x.index_select(0, ts.tensor([3, 0, 3]))),
    "narrow": ((4, 3), lambda x: x.narrow(0, 1, 2)),
    "triu": ((2, 3, 4), lambda x: x.triu(1)),
    "tril": ((3, 3), lambda x: x.tril()),
    "tile": ((2, 3), lambda x: x.tile((3,))),
    "roll_dims": ((3, 4), lambda x: x.roll((1, -2), (0, 1))),
    "pad": ((2, 3), lambda x: F.pad(x, (2, -1, 1, 0), value=0.3)),
    "t": ((2, 3), lambda x: x.t() @ x),
}


@pytest.mark.parametrize("name", SHAPED)
def test_shaped_ops(name, rng):
    shape, fn = SHAPED[name]
    x = rng.permutation(np.prod(shape)).reshape(shape) * 0.37 + 0.1   # distinct: no ties
    assert ts.gradcheck(fn, leaf(x))


def test_scatter_family_sends_gradients_to_both_inputs(rng):
    index = ts.tensor([[0, 2, 2], [3, 1, 0], [1, 1, 3]])
    x, src = leaf(rng.standard_normal((4, 4))), leaf(rng.standard_normal((3, 3)))
    assert ts.gradcheck(lambda x, s: x.scatter_add(1, index, s), x, src)
    assert ts.gradcheck(lambda x, s: x.scatter(0, index[:2], s[:2]), x, src)
    assert ts.gradcheck(lambda x, s: x.scatter(1, ts.tensor([[1], [0], [3]]), s[:, :1]), x, src)


EINSUMS = [("ij,jk->ik", [(2, 3), (3, 4)]), ("bqd,bkd->bqk", [(2, 3, 4), (2, 5, 4)]),
           ("bij,bjk", [(2, 3, 4), (2, 4, 2)]), ("i,i->", [(3,), (3,)]), ("ij->", [(2, 3)]),
           ("ij,k->ijk", [(2, 3), (4,)]), ("...ij,jk->...ik", [(2, 2, 3), (3, 2)]),
           ("bhqd,bhkd->bhqk", [(1, 2, 3, 2), (1, 2, 4, 2)])]


@pytest.mark.parametrize("equation,shapes", EINSUMS)
def test_einsum(equation, shapes, rng):
    operands = [leaf(rng.standard_normal(s)) for s in shapes]
    assert ts.gradcheck(lambda *xs: ts.einsum(equation, *xs), *operands)


def test_losses_gradients(rng):
    x, y = leaf(rng.standard_normal((5, 4))), leaf(rng.standard_normal((5, 4)))
    targets = ts.tensor([1, 0, 3, 2, -100])
    weight = ts.tensor([0.2, 1.0, 1.7, 0.6], dtype=ts.float64)
    probs = ts.tensor(rng.dirichlet(np.ones(4), size=5))
    checks = {
        "nll": lambda x: F.nll_loss(x.log_softmax(1), targets, weight=weight),
        "nll_sum": lambda x: F.nll_loss(x, targets, reduction="sum"),
        "nll_none_weight": lambda x: F.nll_loss(x, targets, weight=weight, reduction="none"),
        "nll_spatial": lambda x: F.nll_loss(x.reshape(1, 5, 4), targets[None, :4]),
        "ce_weight_smoothing": lambda x: F.cross_entropy(x, targets, weight=weight,
                                                         label_smoothing=0.2),
        "ce_probabilities": lambda x: F.cross_entropy(x, probs, label_smoothing=0.1),
        "l1": lambda x: F.l1_loss(x, y.detach()),
        "smooth_l1": lambda x: F.smooth_l1_loss(x, y.detach(), beta=0.7),
        "huber": lambda x: F.huber_loss(x, y.detach(), delta=0.6),
        "bce": lambda x: F.binary_cross_entropy(x.sigmoid(), probs, weight=weight),
        "bce_logits_pos_weight": lambda x: F.binary_cross_entropy_with_logits(
            x, probs, pos_weight=ts.tensor([0.5, 2.0, 1.0, 3.0], dtype=ts.float64)),
        "kl_div": lambda x: F.kl_div(x.log_softmax(1), probs, reduction="batchmean"),
    }
    for name, fn in checks.items():
        x.grad = None
        assert ts.gradcheck(fn, x), name
    assert ts.gradcheck(lambda t: F.binary_cross_entropy(x.detach().sigmoid(), t), leaf(probs))
    assert ts.gradcheck(lambda t: F.kl_div(x.detach().log_softmax(1), t, reduction="sum"),
                        leaf(probs))


def test_nll_loss_of_only_ignored_targets_is_nan_with_a_zero_gradient():
    """As PyTorch: the mean over no targets is 0/0 = nan, and the gradient is 0 (not nan)."""
    x = leaf(np.zeros((2, 3)))
    loss = F.nll_loss(x, ts.tensor([-100, -100]))
    loss.backward()
    assert np.isnan(loss.item()) and np.array_equal(x.grad.numpy(), np.zeros((2, 3)))


def test_nll_loss_leaves_ignored_rows_out_and_divides_by_weights_that_cancel():
    """As PyTorch (values from torch 2.13): an ignored row's -inf is not read (0 * -inf would
    be nan); class weights adding up to 0 give -inf, and +-inf gradients where they are not 0."""
    x = leaf(np.array([[-np.inf, 1, 2], [-np.inf, 0.5, 0.1]]))
    for weight in (None, ts.ones(3, dtype=ts.float64)):
        loss = F.nll_loss(x, ts.tensor([-100, 1]), weight=weight)
        loss.backward()
        assert loss.item() == -0.5 and np.array_equal(x.grad.numpy(), [[0, 0, 0], [0, -1, 0]])
        x.grad = None
    assert F.nll_loss(x, ts.tensor([-100, 1]), reduction="none").tolist() == [0, -0.5]
    y = leaf(np.array([[-1.0, -2.0], [-0.5, -3.0]]))
    loss = F.nll_loss(y, ts.tensor([0, 1]), weight=ts.tensor([1.0, -1.0]))
    loss.backward()
    assert loss.item() == -np.inf
    assert np.array_equal(y.grad.numpy(), [[-np.inf, 0], [0, np.inf]])
