"""Kernels: every numba kernel equals its numpy reference; the backend's layouts and errors;
the ops still pass gradcheck under both backends; the float32 tanh approximation's accuracy."""
import glob
import os

import numpy as np
import pytest

import tinygrad_seq as ts
import tinygrad_seq.nn.functional as F
from conftest import leaf
from tinygrad_seq.kernels import backend, loops, reference, set_backend

DTYPES = [np.float32, np.float64]


@pytest.fixture(params=["numba", "numpy"])
def impl(request):
    previous = backend.name
    set_backend(request.param)
    yield request.param
    set_backend(previous)


def assert_close(actual, expected):
    """float64 to 1e-12 relative, float32 to 1e-5 (relative to the largest magnitude)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    rtol = 1e-5 if expected.dtype == np.float32 else 1e-12
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1.0)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def run_both(name, args):
    """Run loops.<name> and reference.<name> on copies of args; return both argument lists."""
    results = []
    for module in (loops, reference):
        copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        value = getattr(module, name)(*copies)
        results.append((copies, value))
    return results


def kernel_cases(dtype, rng):
    """(kernel name, arguments, indices of the outputs) at odd, empty and repeated-index shapes."""
    def arr(*shape):
        return rng.uniform(-3, 3, shape).astype(dtype)

    def empty(*shape):
        return np.full(shape, np.nan, dtype)  # kernels must overwrite every element

    for n in (0, 1, 7, 131):
        out = np.tanh(arr(n))
        yield "tanh_backward", (out, arr(n), empty(n)), [2]
        yield "sigmoid_backward", (0.5 * out + 0.5, arr(n), empty(n)), [2]
        yield "relu_backward", (np.maximum(out, 0), arr(n), empty(n)), [2]
        yield "tanh_forward", (arr(n) * 4, empty(n)), [1]
        yield "sigmoid_forward", (arr(n) * 10, empty(n)), [1]
        yield "erf", (arr(n) * 2, empty(n)), [1]
        yield "dropout", (arr(n), np.uint64(2 ** 63 + n), np.uint64(2 ** 52), 2.0, empty(n)), [4]
    for rows, n in ((0, 5), (1, 1), (3, 7), (5, 33)):
        x = arr(rows, n)
        sm, lsm = empty(rows, n), empty(rows, n)
        reference.softmax_forward(x, sm)
        reference.log_softmax_forward(x, lsm)
        yield "softmax_forward", (x, empty(rows, n)), [1]
        yield "softmax_backward", (sm, arr(rows, n), empty(rows, n)), [2]
        yield "log_softmax_forward", (x, empty(rows, n)), [1]
        yield "log_softmax_backward", (lsm, arr(rows, n), empty(rows, n)), [2]
        target = rng.integers(0, n, rows)
        target[::3] = -1  # ignored
        yield "cross_entropy_forward", (x, target, -1, empty(rows), empty(rows, n)), [3, 4]
        yield "cross_entropy_backward", (sm, target, -1, arr(rows), empty(rows, n)), [4]
        for weight in (np.abs(arr(n)), arr(0)):      # class weights, and none
            yield "nll_loss_forward", (lsm, target, weight, -1, empty(rows), empty(rows)), [4, 5]
        yield "nll_loss_backward", (target, -1, arr(rows), empty(rows, n)), [3]
        if rows:      # a target past the classes: both return its row (outputs unfinished)
            wrong = target.copy()
            wrong[-1] = n
            yield "nll_loss_forward", (lsm, wrong, arr(0), -1, empty(rows), empty(rows)), []
            yield "nll_loss_backward", (wrong, -1, arr(rows), empty(rows, n)), []
        yield "sum_rows", (x, empty(n)), [1]
        yield "outer", (arr(rows), arr(n), empty(rows, n)), [2]
    for tokens, vocab, dim in ((0, 3, 2), (9, 4, 3), (50, 3, 5)):  # many repeated indices
        yield "embedding_backward", (rng.integers(0, vocab, tokens), arr(tokens, dim),
                                     empty(vocab, dim)), [2]
    for n in (0, 1, 37):
        p, g, v = arr(n), arr(n), arr(n)
        yield "sgd_update", (p, g, v, 0.1, 0.9, 0.01, False), [0, 2]
        yield "sgd_update", (p, g, v, 0.1, 0.9, 0.0, True), [0, 2]
        for decoupled in (False, True):
            yield "adam_update", (p, g, v, np.abs(arr(n)), 1e-2, 0.9, 0.999, 1e-8, 0.1,
                                  decoupled, 3), [0, 2, 3]
    for B, H in ((0, 3), (1, 1), (3, 5), (4, 17)):
        gates, c = arr(B, 4 * H), arr(B, H)
        act, c_new, tanh_c, h_new = empty(B, 4 * H), empty(B, H), empty(B, H), empty(B, H)
        reference.lstm_cell_forward(gates, c, act, c_new, tanh_c, h_new)
        yield "lstm_cell_forward", (gates, c, empty(B, 4 * H), empty(B, H), empty(B, H),
                                    empty(B, H)), [2, 3, 4, 5]
        yield "lstm_cell_backward", (act, c, tanh_c, arr(B, H), arr(B, H), empty(B, 4 * H),
                                     empty(B, H), empty(B, H)), [5, 6, 7]
        gx, gh, h = arr(B, 3 * H), arr(B, 3 * H), arr(B, H)
        gact = empty(B, 3 * H)
        reference.gru_cell_forward(gx, gh, h, gact, empty(B, H))
        yield "gru_cell_forward", (gx, gh, h, empty(B, 3 * H), empty(B, H)), [3, 4]
        yield "gru_cell_backward", (gact, gh, h, arr(B, H), empty(B, 3 * H), empty(B, 3 * H),
                                    empty(B, H)), [4, 5, 6]
        for relu in (False, True):
            pre = arr(B, H)
            yield "rnn_cell_forward", (pre, empty(B, H), relu), [1]
            yield "rnn_cell_backward", (np.maximum(pre, 0) if relu else np.tanh(pre),
                                        arr(B, H), empty(B, H), relu), [2]


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_numba_kernel_equals_its_reference(dtype):
    rng = np.random.default_rng(0)
    seen = set()
    for name, args, outputs in kernel_cases(dtype, rng):
        seen.add(name)
        (numba_args, numba_value), (reference_args, reference_value) = run_both(name, args)
        assert numba_value == reference_value, name      # None, or the nll kernels' bad row
        for k in outputs:
            try:
                assert_close(numba_args[k], reference_args[k])
            except AssertionError as e:
                raise AssertionError(f"{name}, output {k}, shapes "
                                     f"{[getattr(a, 'shape', a) for a in args]}: {e}") from None
    assert seen == set(ts.kernels.NUMBA_UP_TO) - {"squared_norm"}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 1000])
def test_squared_norm(dtype, n):
    x = np.random.default_rng(n).standard_normal(n).astype(dtype)
    (_, ours), (_, theirs) = run_both("squared_norm", (x,))
    assert ours == pytest.approx(theirs, rel=1e-12)
    assert theirs == pytest.approx(float(np.sum(x.astype(np.float64) ** 2)), rel=1e-12)


# ------------------------------------------------------------------------------ backend layouts
def test_dropout_masks_are_a_function_of_the_key():
    """Bit for bit the twin's; the same key, the same mask (in either dtype, any layout); about
    a fraction p dropped; none kept at p = 1; a dropped nan stays nan (x * 0, as PyTorch's)."""
    x = np.ones(100_000)
    threshold = np.uint64(np.ceil(0.3 * 2 ** 53))
    masks = {}
    for dtype in DTYPES:
        (ours, _), (twin, _) = run_both("dropout", (x.astype(dtype), np.uint64(7), threshold,
                                                    1 / 0.7, np.empty(x.size, dtype)))
        np.testing.assert_array_equal(ours[4], twin[4])
        masks[dtype] = ours[4] != 0
    np.testing.assert_array_equal(masks[np.float32], masks[np.float64])
    assert abs(masks[np.float64].mean() - 0.7) < 0.01
    other = backend.dropout(x, 8, threshold, 1 / 0.7) != 0
    assert abs((other == masks[np.float64]).mean() - (0.7 ** 2 + 0.3 ** 2)) < 0.01   # independent
    square = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(backend.dropout(np.asfortranarray(square), 5, 2 ** 52, 2.0),
                                  backend.dropout(square, 5, 2 ** 52, 2.0))
    assert not backend.dropout(x, 7, 2 ** 53, 0.0).any()
    nan = backend.dropout(np.full(1000, np.nan), 7, threshold, 2.0)
    assert np.isnan(nan).all()
    assert backend.dropout(np.float32(3.0), 7, 0, 2.0).shape == ()   # a 0-d input stays 0-d


@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_odd_layouts(impl, dtype):
    rng = np.random.default_rng(1)
    base = rng.uniform(-2, 2, (6, 5, 4)).astype(dtype)
    for x in (base, base.transpose(2, 0, 1), base[::2, 1:, ::3], base[:0], base[0, 0, 0]):
        out, g = np.tanh(x), np.ones_like(x) * dtype(0.5)
        assert_close(backend.tanh_backward(out, g), g * (1 - out * out))
        assert_close(backend.sigmoid_backward(out, g), g * out * (1 - out))
        assert_close(backend.relu_backward(out, g), g * (out > 0))
        assert_close(backend.sigmoid_forward(x), (1 / (1 + np.exp(-x))).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims", [(0,), (1,), (2,), (0, 2), (1, 2)])
def test_softmax_along_any_axes(impl, dtype, dims):
    x = np.random.default_rng(2).uniform(-3, 3, (3, 4, 5)).astype(dtype).transpose(1, 0, 2)
    g = np.random.default_rng(3).uniform(-1, 1, x.shape).astype(dtype)
    e = np.exp(x - x.max(axis=dims, keepdims=True))
    expected = e / e.sum(axis=dims, keepdims=True)
    out = backend.softmax_forward(x, dims)
    assert_close(out, expected)
    assert_close(backend.softmax_backward(out, g, dims),
                 out * (g - (g * out).sum(axis=dims, keepdims=True)))
    log_out = backend.log_softmax_forward(x, dims)
    assert_close(log_out, np.log(expected))
    assert_close(backend.log_softmax_backward(log_out, g, dims),
                 g - np.exp(log_out) * g.sum(axis=dims, keepdims=True))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_and_embedding_through_the_backend(impl, dtype):
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((9, 4)).astype(dtype)[::-1]      # not contiguous
    target = np.array([0, 3, 3, -100, 1, 1, 2, -100, 0], dtype=np.int32)
    losses, probs = backend.cross_entropy_forward(logits, target)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert_close(losses, np.where(target == -100, 0, -logp[np.arange(9), target % 4]))
    dx = backend.cross_entropy_backward(probs, target, -100, dtype(2.0))
    onehot = np.eye(4, dtype=dtype)[target % 4]
    assert_close(dx, 2 * (np.exp(logp) - onehot) * (target != -100)[:, None])
    indices = np.array([[1, 1], [0, 1], [4, 4]])
    g = rng.standard_normal((3, 2, 5)).astype(dtype)
    expected = np.zeros((6, 5), dtype)
    np.add.at(expected, indices, g)
    assert_close(backend.embedding_backward(indices, g, 6), expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,to", [((4, 3, 5), (5,)), ((4, 3, 5), (3, 5)), ((0, 2), (2,)),
                                      ((3, 2), (1, 2))])
def test_unbroadcast_sums_leading_axes(impl, dtype, shape, to):
    g = np.random.default_rng(5).standard_normal(shape).astype(dtype)
    expected = g.sum(axis=tuple(range(len(shape) - len(to))) + ((0,) if to[0] == 1 else ()))
    assert_close(ts.unbroadcast(g, to), expected.reshape(to))


# ------------------------------------------------------------------------------ gradients
def numerical_grad(fn, x, eps=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = fn()
        x[i] = old - eps
        down = fn()
        x[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def test_lstm_cell_backward_is_the_gradient_of_the_forward(impl):
    rng = np.random.default_rng(6)
    gates, c = rng.standard_normal((3, 8)), rng.standard_normal((3, 2))
    dh, dc_new = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))

    def loss():
        _, c_new, _, h_new = backend.lstm_cell_forward(gates, c)
        return np.sum(h_new * dh) + np.sum(c_new * dc_new)

    act, _, tanh_c, _ = backend.lstm_cell_forward(gates, c)
    dgates, dc_total, dc = backend.lstm_cell_backward(act, c, tanh_c, dh, dc_new)
    np.testing.assert_allclose(dgates, numerical_grad(loss, gates), atol=1e-8)
    np.testing.assert_allclose(dc, numerical_grad(loss, c), atol=1e-8)
    # c_new's whole gradient: the loss as a function of c_new alone, h_new = o tanh(c_new)
    o = act[:, 6:]
    c_new = backend.lstm_cell_forward(gates, c)[1]
    np.testing.assert_allclose(dc_total, numerical_grad(
        lambda: np.sum(o * np.tanh(c_new) * dh) + np.sum(c_new * dc_new), c_new), atol=1e-8)


def test_gru_cell_backward_is_the_gradient_of_the_forward(impl):
    rng = np.random.default_rng(7)
    gx, gh, h = rng.standard_normal((3, 6)), rng.standard_normal((3, 6)), rng.standard_normal((3, 2))
    dh_new = rng.standard_normal((3, 2))

    def loss():
        return np.sum(backend.gru_cell_forward(gx, gh, h)[1] * dh_new)

    act, _ = backend.gru_cell_forward(gx, gh, h)
    dgx, dgh, dh = backend.gru_cell_backward(act, gh, h, dh_new)
    for analytic, x in ((dgx, gx), (dgh, gh), (dh, h)):
        np.testing.assert_allclose(analytic, numerical_grad(loss, x), atol=1e-8)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell(impl, nonlinearity):
    pre = np.random.default_rng(8).standard_normal((4, 3))
    h_new = backend.rnn_cell_forward(pre, nonlinearity)
    assert_close(h_new, np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0))
    dh = np.ones_like(pre)
    assert_close(backend.rnn_cell_backward(h_new, dh, nonlinearity),
                 1 - h_new ** 2 if nonlinearity == "tanh" else (pre > 0) * 1.0)


def test_adam_update_is_its_twin_bit_for_bit_and_updates_views():
    """Adam's kernel rounds as its numpy twin (the optimizer runs it every step); a strided
    parameter is updated where it lies; no weight decay means no 0 * param (an inf parameter
    stays inf instead of turning nan)."""
    rng = np.random.default_rng(4)
    for dtype in (np.float32, np.float64):
        for wd, decoupled in ((0.0, False), (0.1, False), (0.1, True)):
            p, g = rng.standard_normal(1000).astype(dtype), rng.standard_normal(1000).astype(dtype)
            p[3] = np.inf
            twin, kernel = ([p.copy(), g, np.zeros_like(p), np.zeros_like(p)] for _ in range(2))
            base = np.zeros((2, 1000), dtype)
            base[0] = p
            view = [base[0, ::2], g[::2], np.zeros(500, dtype), np.zeros(500, dtype)]
            assert not view[0].flags.c_contiguous
            for step in (1, 2, 3):
                # inf / inf where decay reaches the inf (numpy warns; so does the kernel's
                # Python under NUMBA_DISABLE_JIT=1)
                with np.errstate(invalid="ignore"):
                    reference.adam_update(*twin, 1e-2, 0.9, 0.999, 1e-8, wd, decoupled, step)
                    backend.adam_update(*kernel, step, 1e-2, weight_decay=wd,
                                        decoupled=decoupled)
                    backend.adam_update(*view, step, 1e-2, weight_decay=wd, decoupled=decoupled)
            for a, b in zip(kernel, twin):
                np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(base[0, ::2], twin[0][::2])
            np.testing.assert_array_equal(base[0, 1::2], p[1::2])    # untouched
            assert np.isinf(kernel[0][3]) == (decoupled or wd == 0)


def test_optimizer_updates_match_pytorch(impl):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    p0, grads = rng.standard_normal(5), rng.standard_normal((3, 5))
    for make, update in [
        (lambda w: torch.optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True),
         lambda p, g, s, t: backend.sgd_update(p, g, s[0], 0.1, 0.9, 0.01, nesterov=True)),
        (lambda w: torch.optim.Adam([w], lr=0.01, weight_decay=0.1),
         lambda p, g, s, t: backend.adam_update(p, g, s[0], s[1], t, 0.01, weight_decay=0.1)),
        (lambda w: torch.optim.AdamW([w], lr=0.01, weight_decay=0.1),
         lambda p, g, s, t: backend.adam_update(p, g, s[0], s[1], t, 0.01, weight_decay=0.1,
                                                decoupled=True)),
    ]:
        w = torch.tensor(p0.copy(), requires_grad=True)
        opt = make(w)
        p, state = p0.copy(), (np.zeros(5), np.zeros(5))
        for t, g in enumerate(grads, start=1):
            w.grad = torch.tensor(g)
            opt.step()
            update(p, g, state, t)
        np.testing.assert_allclose(p, w.detach().numpy(), rtol=1e-12)


# ------------------------------------------------------------------------------ ops under both
@pytest.mark.parametrize("op", ["tanh", "sigmoid", "relu"])
def test_activation_ops_gradcheck(impl, op):
    x = np.random.default_rng(10).uniform(-2, 2, (3, 4))
    x = np.where(np.abs(x) < 0.1, 0.3, x)  # relu: away from the kink
    assert ts.gradcheck(lambda t: getattr(t, op)(), leaf(x))
    assert ts.gradcheck(lambda t: getattr(t.permute(1, 0), op)(), leaf(x))  # strided g


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, -1, 1, (0, 2)])
def test_softmax_ops_gradcheck(impl, op, dim):
    x = leaf(np.random.default_rng(11).standard_normal((2, 3, 4)))
    assert ts.gradcheck(lambda t: getattr(t, op)(dim), x)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_op_gradcheck(impl, reduction):
    rng = np.random.default_rng(12)
    x = leaf(rng.standard_normal((2, 4, 3)))
    t = ts.Tensor(np.array([[0, 3, -100], [2, 2, 0]]))
    assert ts.gradcheck(lambda x: F.cross_entropy(x, t, reduction=reduction), x)


def test_embedding_and_broadcast_ops_gradcheck(impl):
    rng = np.random.default_rng(13)
    weight, bias = leaf(rng.standard_normal((5, 3))), leaf(rng.standard_normal(3))
    idx = ts.Tensor(np.array([[0, 2, 2], [4, 0, 0]]))
    assert ts.gradcheck(lambda w, b: F.embedding(idx, w) + b, weight, bias)


def test_float32_training_step_agrees_between_backends():
    rng = np.random.default_rng(14)
    x0, w0 = rng.standard_normal((8, 5)).astype(np.float32), rng.standard_normal((5, 4))
    grads = {}
    for name in ("numpy", "numba"):
        set_backend(name)
        w = ts.Tensor(w0.astype(np.float32), requires_grad=True)
        h = (ts.Tensor(x0) @ w).tanh()
        loss = F.cross_entropy(h.sigmoid().log_softmax(-1), ts.Tensor(np.arange(8) % 4))
        loss.backward()
        grads[name] = w.grad.array
    set_backend("numba")
    assert_close(grads["numba"], grads["numpy"])


# ------------------------------------------------------------------------------ float32 tanh
def float32_everywhere(n=20_000):
    """Random float32 bit patterns (every exponent), a dense grid over [-12, 12], the edges."""
    rng = np.random.default_rng(15)
    bits = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)
    edges = np.array([np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 4e-4, 3.4e38, -3.4e38],
                     np.float32)
    return np.concatenate([bits[np.isfinite(bits)], np.linspace(-12, 12, n, dtype=np.float32),
                           edges])


def test_float32_tanh_approximation_over_the_whole_range():
    x = float32_everywhere()
    out = np.empty_like(x)
    loops.tanh_forward(x, out)
    exact = np.tanh(x.astype(np.float64))
    assert np.max(np.abs(out - exact)) < 4e-7           # float32 spacing at 1 is 6e-8..1.2e-7
    small = (np.abs(x) < 1) & (x != 0)
    assert np.max(np.abs(out[small] / exact[small] - 1)) < 4e-7
    assert np.max(np.abs(out)) == 1 and out[np.isposinf(x)][0] == 1 and out[x == -np.inf][0] == -1
    negated = np.empty_like(x)
    loops.tanh_forward(-x, negated)
    assert np.array_equal(negated, -out)                  # odd, exactly
    assert np.isnan(loops.tanh32(np.float32(np.nan)))


def test_float32_sigmoid_approximation_over_the_whole_range():
    x = float32_everywhere()
    out = np.empty_like(x)
    loops.sigmoid_forward(x, out)
    with np.errstate(over="ignore"):
        exact = 1 / (1 + np.exp(-x.astype(np.float64)))
    assert np.max(np.abs(out - exact)) < 4e-7
    assert out.min() >= 0 and out.max() <= 1


# ------------------------------------------------------------------------------ errors
def test_clear_errors():
    f32, f64 = np.zeros((2, 3), np.float32), np.zeros((2, 3))
    with pytest.raises(TypeError, match=r"tanh_backward: .*\(2, 3\) float32, \(2, 3\) float64"):
        backend.tanh_backward(f32, f64)
    with pytest.raises(TypeError, match="relu_backward: .*int64"):
        backend.relu_backward(np.zeros(3, np.int64), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"sigmoid_backward: .*\(3, 2\)"):
        backend.sigmoid_backward(f64, f64.T)
    with pytest.raises(ValueError, match=r"lstm_cell_forward: gates \(2, 3\)"):
        backend.lstm_cell_forward(f64, f64)
    with pytest.raises(ValueError, match=r"gru_cell_backward: shapes do not fit"):
        backend.gru_cell_backward(f64, f64, f64, f64)
    with pytest.raises(ValueError, match="rnn_cell_forward: nonlinearity"):
        backend.rnn_cell_forward(f64, "sigmoid")
    with pytest.raises(IndexError, match=r"embedding_backward: indices must be in \[0, 2\)"):
        backend.embedding_backward(np.array([0, 2]), f64, 2)
    with pytest.raises(IndexError, match="cross_entropy_forward: target 3 is out of range"):
        backend.cross_entropy_forward(f64, np.array([0, 3]))
    for targets, bad in (([0, 3], 3), ([-2, 0], -2)):   # past the classes; negative, not ignored
        with pytest.raises(IndexError, match=f"nll_loss_forward: target {bad} is out of range"):
            backend.nll_loss_forward(f64, np.array(targets), None, -1)
        with pytest.raises(IndexError, match=f"nll_loss_backward: target {bad} is out of range"):
            backend.nll_loss_backward(np.array(targets), -1, f64[0, :2], 3)
    with pytest.raises(ValueError, match=r"nll_loss_forward: .*\(2, 3\) float64, \(2,\)"):
        backend.nll_loss_forward(f64, np.array([0, 1]), np.ones(2), -100)
    with pytest.raises(ValueError, match=r"nll_loss_backward: expected 2 integer targets"):
        backend.nll_loss_backward(np.array([0.0, 1.0]), -100, f64[0, :2], 3)
    with pytest.raises(ValueError, match="sgd_update: updates in place need C-contiguous"):
        p = np.zeros((3, 4))[:, ::2]
        backend.sgd_update(p, p, p.copy(), 0.1)
    with pytest.raises(ValueError, match="adam_update: updates in place need writeable"):
        p = np.zeros(3)
        p.flags.writeable = False
        backend.adam_update(p, p, p.copy(), p.copy(), 1, 0.1)
    with pytest.raises(ValueError, match="adam_update: step counts from 1"):
        backend.adam_update(f64, f64, f64, f64, 0, 0.1)
    with pytest.raises(ValueError, match=r"outer: expected two 1-D arrays, got \(2, 3\)"):
        backend.outer(f64, f64[0])
    with pytest.raises(TypeError, match=r"outer: .*\(3,\) float32, \(3,\) float64"):
        backend.outer(f32[0], f64[0])
    with pytest.raises(ValueError, match="set_backend: backend must be one of"):
        set_backend("cuda")


# ------------------------------------------------------------------------------ small GEMM
def gemm_shapes():
    """(M, K, N): the recurrent layers' shapes, and ragged ones (M not a multiple of the tile's
    4 rows, N of a panel or of a vector, K of anything), and empty ones."""
    rng = np.random.default_rng(7)
    yield from [(32, 322, 1024), (32, 256, 128), (500, 66, 256), (0, 3, 5), (4, 0, 5),
                (3, 4, 0), (1, 1, 1)]
    for _ in range(25):
        yield tuple(int(v) for v in rng.integers(1, [70, 90, 300]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_equals_numpy_on_random_and_ragged_shapes(dtype):
    from tinygrad_seq.kernels import gemm
    rng = np.random.default_rng(8)
    NR = gemm.panel_width(dtype)
    for M, K, N in gemm_shapes():
        A = rng.standard_normal((M, K)).astype(dtype)
        w = rng.standard_normal((K, N)).astype(dtype)
        C0 = rng.standard_normal((M, N)).astype(dtype)
        expected = A.astype(np.float64) @ w.astype(np.float64)
        packed = np.full(gemm.panel_shape(N, K, w), np.nan, dtype)
        gemm.pack_rows(w, np.arange(K), 0, N, packed)
        assert packed.shape[2] == NR
        # A as given, as a transposed view, and C a view into a wider array
        At = np.ascontiguousarray(A.T)
        wide = np.full((M, N + 3), np.nan, dtype)
        for a in (A, At.T):
            C = wide[:, 1:N + 1]
            C[...] = C0
            gemm.gemm(a, packed, C, True)           # adds to C
            assert_close(C, (expected + C0).astype(dtype))
            C[...] = np.nan                         # overwrites C, never reading it
            gemm.gemm(a, packed, C, False)
            assert_close(C, expected.astype(dtype))
            C = C0.copy()
            gemm.gemm_rows(a, w, C, True)
            assert_close(C, (expected + C0).astype(dtype))
            C = np.full((M, N), np.nan, dtype)
            gemm.gemm_rows(a, w, C, False)
            assert_close(C, expected.astype(dtype))
        assert np.isnan(wide[:, 0]).all() and np.isnan(wide[:, N + 1:]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_packing_equals_its_reference(dtype):
    from tinygrad_seq.kernels import gemm
    rng = np.random.default_rng(9)
    w = rng.standard_normal((37, 70)).astype(dtype)
    rows = np.array([3, 0, 36, 5, 5, 12])
    for col0, ncols in ((0, 70), (10, 33), (69, 1), (0, 0)):
        ours, theirs = (np.full(gemm.panel_shape(ncols, len(rows), w), np.nan, dtype)
                        for _ in range(2))
        gemm.pack_rows(w, rows, col0, ncols, ours)
        reference.pack_rows(w, rows, col0, ncols, theirs)
        np.testing.assert_array_equal(ours, theirs)
        unpacked = theirs.transpose(1, 0, 2).reshape(len(rows), -1)
        np.testing.assert_array_equal(unpacked[:, :ncols], w[rows, col0:col0 + ncols])
        assert not unpacked[:, ncols:].any()
    for k0 in (0, 4):
        ours, theirs = (np.full(gemm.panel_shape(len(rows), 70 + k0 + 2, w), np.nan, dtype)
                        for _ in range(2))
        gemm.pack_columns(w, rows, k0, ours)
        reference.pack_columns(w, rows, k0, theirs)
        np.testing.assert_array_equal(ours, theirs)
        unpacked = theirs.transpose(1, 0, 2).reshape(theirs.shape[1], -1)
        np.testing.assert_array_equal(unpacked[k0:k0 + 70, :len(rows)], w[rows].T)
        assert np.isnan(unpacked[:k0]).all() and np.isnan(unpacked[k0 + 70:]).all()


def test_gemm_refuses_shapes_that_do_not_fit():
    """The tiles use raw pointers: a shape that does not fit must raise, not write past C."""
    import numba
    from tinygrad_seq.kernels import gemm
    match = None if numba.config.DISABLE_JIT else "gemm"   # (numpy's twins raise their own)
    A, w = np.ones((4, 5), np.float32), np.ones((5, 7), np.float32)
    packed = np.zeros(gemm.panel_shape(7, 5, w), np.float32)
    with pytest.raises(ValueError, match=match):
        gemm.gemm(A, packed, np.empty((4, 7 + gemm.panel_width(np.float32)), np.float32), True)
    with pytest.raises(ValueError, match=match):
        gemm.gemm(np.ones((4, 6), np.float32), packed, np.empty((4, 7), np.float32), True)
    with pytest.raises(ValueError, match=match):
        gemm.gemm_rows(A, w, np.empty((3, 7), np.float32), True)


def test_one_hot_symbols():
    from tinygrad_seq.kernels import recurrent
    x = np.eye(4)[[[0, 3], [2, 2]]]
    sym = np.empty((2, 2), np.int64)
    assert recurrent.one_hot_symbols(x, sym) and sym.tolist() == [[0, 3], [2, 2]]
    x[1, 0] = 0                                 # a row of zeros (padding): symbol -1
    assert recurrent.one_hot_symbols(x, sym) and sym.tolist() == [[0, 3], [-1, 2]]
    for bad in (2.0, 0.5, -1.0):
        y = x.copy()
        y[0, 1, 1] = bad                        # a second non-zero, or one that is not 1
        assert not recurrent.one_hot_symbols(y, sym)


# ------------------------------------------------------------------------------ disk cache
def test_the_kernels_cache_is_keyed_by_every_kernel_file(tmp_path):
    """A cached function includes the code of the jitted functions it calls from other files,
    which numba's own key (the function's file's time stamp) misses: the kernels cache in a
    directory named by a hash of all kernels/*.py, so an edit of any one starts afresh."""
    import numba
    from tinygrad_seq.kernels import cache, recurrent

    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("y = 2\n")
    before = cache.sources_digest([a, b])
    b.write_text("y = 3\n")          # the callee's file alone
    assert cache.sources_digest([a, b]) != before
    kernels_dir = os.path.dirname(cache.__file__)
    digest = cache.sources_digest(sorted(glob.glob(os.path.join(kernels_dir, "*.py"))))
    assert cache.DIRECTORY.endswith("numba-" + digest)
    if not numba.config.DISABLE_JIT:
        for fn in (loops.tanh_forward, recurrent.lstm_forward):
            assert fn.stats.cache_path.startswith(cache.DIRECTORY)

        @numba.njit(cache=True)
        def users_own(x):     # the user's functions keep numba's choice of directory
            return x + 1
        assert not users_own.stats.cache_path.startswith(cache.DIRECTORY)
