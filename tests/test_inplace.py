"""In-place updates as in PyTorch: manual SGD, version counters, .data and .grad."""
import numpy as np
import pytest

import tinygrad_seq as ts
from tinygrad_seq import nn

from conftest import leaf


def _fit_data():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (64, 3))
    y = x @ np.array([[1.5], [-2.0], [0.5]]) + 0.3
    return ts.Tensor(x, dtype=ts.float64), ts.Tensor(y, dtype=ts.float64)


def test_manual_sgd_loop_over_parameters_trains():
    """`for p in model.parameters(): p -= lr * p.grad` (the tutorials' idiom) updates p
    itself, and gives exactly the parameters of the same update done on the arrays."""
    x, y = _fit_data()
    ts.manual_seed(0)
    model = nn.Linear(3, 1, dtype=ts.float64)
    expected = {n: p.numpy().copy() for n, p in model.named_parameters()}
    ids = {n: id(p) for n, p in model.named_parameters()}
    losses = []
    for _ in range(200):
        loss = ((model(x) - y) ** 2).mean()
        model.zero_grad()
        loss.backward()
        with ts.no_grad():
            for name, p in model.named_parameters():
                expected[name] = expected[name] - 0.1 * p.grad.numpy()
                p -= 0.1 * p.grad
        losses.append(loss.item())
    assert losses[-1] < 1e-3 * losses[0]
    for name, p in model.named_parameters():
        assert id(p) == ids[name] and isinstance(p, nn.Parameter)
        np.testing.assert_allclose(p.numpy(), expected[name], rtol=1e-12, atol=1e-14)


def test_updating_a_module_attribute_keeps_the_parameter():
    lin = nn.Linear(2, 2)
    weight = lin.weight
    lin(ts.randn(4, 2)).sum().backward()
    with ts.no_grad():
        lin.weight -= 0.1 * lin.weight.grad
        lin.bias *= 0.5
    assert lin.weight is weight and dict(lin.named_parameters())["weight"] is weight
    with pytest.raises(TypeError, match="cannot assign a Tensor to the parameter 'weight'"):
        lin.weight = lin.weight * 2


def test_a_leaf_that_requires_grad_is_refused_outside_no_grad():
    a = leaf([1.0, 2.0])
    (a * a).sum().backward()
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad .* ts.no_grad"):
        a -= 0.1 * a.grad
    assert a.tolist() == [1.0, 2.0] and a._version == 0
    with ts.no_grad():
        a -= 0.5 * a.grad
    assert a.tolist() == [0.0, 0.0] and a.is_leaf and a._version == 1


def test_data_is_a_tensor_sharing_memory_without_history():
    p = nn.Parameter(np.array([1.0, 2.0]))
    d = p.data
    assert isinstance(d, ts.Tensor) and not d.requires_grad and d.is_leaf
    d.add_(10.0)                        # as PyTorch: allowed, shared, and bumps no version
    assert p.tolist() == [11.0, 12.0] and p._version == 0
    p.data.add_(p.data, alpha=-0.5)     # the word language model example's update
    assert p.tolist() == [5.5, 6.0]
    p.data = ts.tensor([3.0, 4.0, 5.0])
    assert p.shape == (3,) and p.requires_grad
    with pytest.raises(TypeError, match="data: expected a Tensor"):
        p.data = np.zeros(3)


def test_grad_assignment_is_checked_at_once():
    a = leaf([1.0, 2.0])
    with pytest.raises(TypeError, match="grad: expected a Tensor or None, got float"):
        a.grad = 0.0
    with pytest.raises(ValueError, match=r"shape \(3,\) float64 to a tensor of shape \(2,\)"):
        a.grad = ts.zeros(3, dtype=ts.float64)
    with pytest.raises(ValueError, match="float32"):
        a.grad = ts.zeros(2)
    a.grad = ts.ones(2, dtype=ts.float64)
    (a * 3).sum().backward()
    assert a.grad.tolist() == [4.0, 4.0]      # added to the assigned gradient
    a.grad = None
    assert a.grad is None


INPLACE = {
    "add_": (lambda z, y: z.add_(y), lambda z, y: z + y),
    "add_alpha": (lambda z, y: z.add_(y, alpha=-2.5), lambda z, y: z - 2.5 * y),
    "sub_": (lambda z, y: z.sub_(y), lambda z, y: z - y),
    "mul_": (lambda z, y: z.mul_(y), lambda z, y: z * y),
    "div_": (lambda z, y: z.div_(y.abs() + 1), lambda z, y: z / (y.abs() + 1)),
    "iadd": (lambda z, y: z.__iadd__(y), lambda z, y: z + y),
    "imul_broadcast": (lambda z, y: z.__imul__(y[0]), lambda z, y: z * y[0]),
    "clamp_": (lambda z, y: z.clamp_(-0.5, 0.7), lambda z, y: z.clamp(-0.5, 0.7)),
    "copy_": (lambda z, y: z.copy_(y * 3), lambda z, y: y * 3),
    "fill_": (lambda z, y: z.fill_(2.5), lambda z, y: z * 0 + 2.5),
}


@pytest.mark.parametrize("name", INPLACE)
def test_in_place_on_a_non_leaf_gives_the_out_of_place_gradients(name):
    in_place, out_of_place = INPLACE[name]
    rng = np.random.default_rng(7)
    x0, y0 = rng.standard_normal((2, 3, 4))

    def with_in_place(x, y):
        z = x * 1.5 + 0.2           # a non-leaf whose node saved nothing of its own output
        result = in_place(z, y)
        assert result is z
        return z * x

    def reference(x, y):
        return out_of_place(x * 1.5 + 0.2, y) * x

    assert ts.gradcheck(with_in_place, leaf(x0), leaf(y0))
    grads = []
    for fn in (with_in_place, reference):
        x, y = leaf(x0), leaf(y0)
        out = fn(x, y)
        (out * out).sum().backward()
        grads.append((out.numpy(), x.grad.numpy(), None if y.grad is None else y.grad.numpy()))
    for a, b in zip(*grads):
        if b is None:
            assert a is None or not np.any(a)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_setitem_on_a_non_leaf_is_recorded():
    def fn(x, v):
        z = x * 1
        z[1:, ::2] = v                # v broadcast over two rows: its gradient is summed
        z[0, [3, 1]] = v[0, 0] * z[2, 2]
        return z.tanh()

    assert ts.gradcheck(fn, leaf(np.arange(12.0).reshape(3, 4) / 10), leaf([[0.3, -0.2]]))


def test_setitem_casts_and_works_on_leaves_without_grad():
    buf = ts.zeros(2, 3, dtype=ts.int64)
    buf[0] = 2.7                       # cast as PyTorch does: 2
    buf[1, 1:] = ts.tensor([5, 6])
    assert buf.tolist() == [[2, 2, 2], [0, 5, 6]] and buf._version == 2
    w = leaf([1.0, 2.0])
    acc = ts.zeros(2, dtype=ts.float64)
    acc[0] = w[1] * 3                  # acc now depends on w
    assert acc.requires_grad and not acc.is_leaf
    acc.sum().backward()
    assert w.grad.tolist() == [0.0, 3.0]


def test_a_modified_saved_tensor_is_refused_in_backward():
    """backward(retain_graph=True); opt.step(); backward() would silently mix old and new
    weights; as in PyTorch it raises, naming the op, its module path and the shape."""
    ts.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    opt = ts.optim.SGD(model.parameters(), lr=0.1)
    loss = model(ts.randn(5, 3)).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match=r"linear \(module path 1\) saved a tensor of shape "
                                           r"\(1, 4\).*modified in place.*version 0 when saved, 1"):
        loss.backward()


def test_the_version_check_names_a_fused_layers_time_step_scope():
    lstm = nn.LSTM(2, 3)
    x = ts.randn(4, 1, 2)
    with ts.scope("encoder"):
        out, _ = lstm(x)
    loss = out.sum()
    with ts.no_grad():
        lstm.weight_hh_l0.mul_(0.5)
    with pytest.raises(RuntimeError, match=r"lstmsequence \(module path encoder.l0\) saved a "
                                           r"tensor of shape \(12, 3\)"):
        loss.backward()


def test_in_place_on_an_output_the_node_saved_is_caught():
    x = leaf([0.5, 1.0])
    z = x.tanh()              # tanh saves its output: changing z breaks its backward (PyTorch too)
    z.add_(1.0)
    with pytest.raises(RuntimeError, match=r"tanh saved a tensor of shape \(2,\)"):
        z.sum().backward()


def test_in_place_on_an_input_the_node_saved_is_caught():
    x = leaf([1.0, 2.0])
    h = x * 1.0
    y = h * h                 # mul saves h
    with ts.no_grad():
        h += 1
    with pytest.raises(RuntimeError, match=r"mul saved a tensor of shape \(2,\)"):
        y.sum().backward()
    z = x * 1.0
    w = z + 1                 # add saves nothing: changing z after it is harmless
    z.add_(5.0)
    w.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_views_share_versions_and_stale_views_are_refused():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    y = x * 2
    row = y[0]
    s = row * row                   # saves the view's memory
    with ts.no_grad():
        y.add_(1.0)                 # written through the base: the view's version moves too
    assert row._version == y._version == 1
    with pytest.raises(RuntimeError, match="modified in place"):
        s.sum().backward()
    y2 = x * 2
    view = y2.reshape(4)
    y2.mul_(x)                      # recorded: y2 gets a new node, the view still hangs on the old
    with pytest.raises(RuntimeError, match="view of a tensor that a recorded in-place op"):
        view.sum()
    with pytest.raises(RuntimeError, match="is a view of another tensor's memory"):
        (x * 2)[0].mul_(x[0])


def test_in_place_refusals_name_the_problem():
    x = ts.zeros(2, 3)
    with pytest.raises(RuntimeError, match=r"add_: a value of shape \(4, 2, 3\) does not "
                                           r"broadcast to the shape \(2, 3\)"):
        x.add_(ts.ones(4, 2, 3))
    ints = ts.zeros(3, dtype=ts.int64)
    with pytest.raises(TypeError, match="the result is float32, which a int64 tensor cannot hold"):
        ints /= 2
    with pytest.raises(RuntimeError, match="read-only"):
        ts.zeros(1, 3).expand(4, 3).add_(1.0)
    assert x.tolist() == [[0.0] * 3] * 2 and ints.tolist() == [0, 0, 0]


def test_optimizers_bump_versions_and_random_fills_are_in_place():
    p = nn.Parameter(np.zeros(3, dtype=np.float32))
    (p * 2).sum().backward()
    ts.optim.Adam([p], lr=0.1).step()
    assert p._version == 1
    ts.manual_seed(3)
    with ts.no_grad():
        p.uniform_(-2, -1)
        assert np.all((p.numpy() >= -2) & (p.numpy() < -1))
        p.normal_(5.0, 0.01)
        assert abs(p.numpy().mean() - 5) < 0.1
        p.zero_()
    assert p.tolist() == [0.0, 0.0, 0.0] and p._version == 4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_and_sub_with_alpha_on_any_layout_and_overlapping(dtype):
    """Outside recording, add_/sub_ with an alpha go straight to numpy (alpha * other, then the
    sum), on any layout, and as if overlapping operands did not overlap."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 7)).astype(dtype), rng.standard_normal((7, 5)).astype(dtype)
    alpha = dtype(0.3)
    for other in (b.T.copy(), b.T, b.T[0]):        # alike, strided, broadcast
        for method, expected in (("add_", a + other * alpha), ("sub_", a - other * alpha)):
            t = ts.tensor(a.copy())
            version = t._version
            assert getattr(t, method)(ts.tensor(other), alpha=0.3) is t
            np.testing.assert_array_equal(t.numpy(), expected)
            assert t._version == version + 1
    t = ts.tensor(np.arange(6, dtype=dtype))         # overlapping: as if it did not
    t[1:].add_(t[:-1], alpha=2.0)
    np.testing.assert_array_equal(t.numpy(), [0, 1, 4, 7, 10, 13])
