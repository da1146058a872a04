"""Tensor creation, dtypes, properties and repr."""
import numpy as np

import tinygrad_seq as ts


def test_creation_from_numpy_lists_and_scalars():
    assert ts.Tensor(np.zeros(3, np.float64)).dtype == ts.float64     # kept, as torch.tensor
    assert ts.Tensor(np.zeros(3, np.float16)).dtype == ts.float32     # to the default
    assert ts.Tensor([1.0, 2.0]).dtype == ts.float32
    assert ts.Tensor([1, 2]).dtype == ts.int64
    assert ts.Tensor(np.array([1, 0, 3])).dtype == ts.int64
    assert ts.Tensor(True).dtype == ts.bool_
    assert ts.tensor(2.5).item() == 2.5 and ts.tensor(2.5).shape == ()
    assert ts.tensor([1, 2], dtype=ts.float64).dtype == ts.float64
    source = np.ones(2)
    t = ts.Tensor(source)
    source[0] = 5
    assert t.array[0] == 1                                              # data is copied


def test_helpers():
    assert ts.zeros(2, 3).shape == (2, 3) and ts.zeros((2, 3)).shape == (2, 3)
    assert np.all(ts.ones(4).array == 1) and ts.full((2,), 7.0).array.tolist() == [7, 7]
    ts.manual_seed(3)
    a = ts.randn(5).array
    ts.manual_seed(3)
    assert np.array_equal(a, ts.randn(5).array)
    r = ts.rand(1000).array
    assert r.min() >= 0 and r.max() < 1
    x = ts.randn(2, 3, dtype=ts.float64)
    assert ts.zeros_like(x).dtype == ts.float64 and ts.ones_like(x).shape == (2, 3)
    assert ts.arange(4).array.tolist() == [0, 1, 2, 3] and ts.arange(4).dtype == ts.int64
    assert ts.arange(0, 1, 0.5).dtype == ts.float32
    assert ts.ones(2, requires_grad=True).requires_grad


def test_properties():
    x = ts.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.dim() == 2 and x.dtype == ts.float64
    assert x.size == 6 and x.size() == (2, 3) and x.size(1) == 3 and x.numel() == 6
    assert x.numpy() is x.array and x[1, 2].item() == 5.0 and x.grad is None
    assert len(x) == 2 and [r.shape for r in x] == [(3,), (3,)]


def test_repr_shows_data_and_op():
    x = ts.Tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    y = x * 2
    assert repr(y) == "tensor([2., 4.], op=mul)"
    assert "dtype=int64" in repr(ts.Tensor([1, 2]))


def test_scalars_take_the_tensor_dtype():
    x = ts.ones(2)
    assert (x * 2.0).dtype == ts.float32 and (2.0 - x).dtype == ts.float32
    assert (x ** 2).dtype == ts.float32
    i = ts.Tensor([1, 2])
    assert (i * 2).dtype == ts.int64 and (i * 0.5).dtype == ts.float32
    assert (i / 2).dtype == ts.float32 and (i + x).dtype == ts.float32
    assert i.exp().dtype == ts.float32 and i.mean().item() == 1.5


def test_comparisons_are_not_differentiable():
    x = ts.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = x > 1.5
    assert m.dtype == ts.bool_ and m.grad_fn is None and m.array.tolist() == [False, True, True]
    assert (x == 2.0).array.tolist() == [False, True, False]
    assert {x: 1}[x] == 1                                              # still hashable
    assert x.argmax().item() == 2


def test_float32_gradients_stay_float32():
    x = ts.randn(3, 4, requires_grad=True)
    w = ts.randn(4, 2, requires_grad=True)
    y = ts.maximum((x @ w).sigmoid(), 0.5).amax(dim=1).logsumexp(dim=0)
    y = y + x.abs().min() + x.clamp(-1, 1).sum() + x.log_softmax(-1).mean()
    y.backward()
    assert x.grad.dtype == ts.float32 and w.grad.dtype == ts.float32


def test_cast_is_differentiable_between_floats():
    x = ts.Tensor([1.0, 2.0], requires_grad=True)
    y = x.double() * 3
    assert y.dtype == ts.float64
    y.sum().backward()
    assert x.grad.dtype == ts.float32 and x.grad.array.tolist() == [3, 3]
    assert x.float() is x
