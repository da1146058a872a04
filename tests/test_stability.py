"""Saturating inputs stay finite in float32: logits of +-1e4."""
import numpy as np

import tinygrad_seq as ts
import tinygrad_seq.nn.functional as F

EXTREME = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], dtype=np.float32)


def finite(t):
    return np.all(np.isfinite(t.array))


def run(fn):
    x = ts.Tensor(EXTREME, requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is fine
        out = fn(x)
        out.sum().backward() if out.ndim else out.backward()
    assert finite(out) and finite(x.grad), (out, x.grad)
    return out, x.grad


def test_log_softmax():
    out, _ = run(lambda x: x.log_softmax(dim=1))
    assert out.array[0, 0] == 0 and out.array[0, 1] == -2e4


def test_softmax_and_logsumexp():
    run(lambda x: x.softmax(dim=-1))
    out, _ = run(lambda x: x.logsumexp(dim=1))
    assert np.allclose(out.array, [1e4, 1e4, 1e4 + np.log(2)])


def test_cross_entropy():
    target = ts.Tensor(np.array([1, 0, 2]))
    out, grad = run(lambda x: F.cross_entropy(x, target))
    assert np.isclose(out.item(), (2e4 + 2e4 + 2e4 + np.log(2)) / 3)
    assert np.allclose(grad.array.sum(axis=1), 0, atol=1e-6)


def test_sigmoid_and_tanh():
    out, grad = run(lambda x: x.sigmoid())
    assert set(np.unique(out.array)) <= {0.0, 0.5, 1.0}
    out, grad = run(lambda x: x.tanh())
    assert np.array_equal(np.abs(out.array[EXTREME != 0]), np.ones(8))


def test_binary_cross_entropy_with_logits():
    target = ts.Tensor(np.array([[0.0, 1.0, 1.0]] * 3, dtype=np.float32))
    run(lambda x: F.binary_cross_entropy_with_logits(x, target))
