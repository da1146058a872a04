"""Making tensors, with PyTorch's names, arguments and dtype rules: tensor, from_numpy,
as_tensor, zeros, ones, full, empty, eye, arange, linspace, rand, randn, randint, randperm and
the *_like forms. Every one takes dtype=, device= (the CPU; see device.py) and requires_grad=.
Random ones draw from the package generator (ts.manual_seed).
"""
import numpy as np

from . import device as _device
from .generator import rng
from .tensor import Tensor, _shape_arg, as_dtype, bool_, get_default_dtype, int64


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of data (numbers, nested lists, arrays or a Tensor)."""
    _device.check(device, "tensor")
    return Tensor(data, dtype=None if dtype is None else as_dtype(dtype, "tensor"),
                  requires_grad=requires_grad)


def from_numpy(array):
    """A tensor sharing the numpy array's memory (changes to one show in the other)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy array, got {type(array).__name__}")
    as_dtype(array.dtype, "from_numpy")
    return Tensor._make(array, None, 0)


def as_tensor(data, dtype=None, device=None):
    """data as a tensor, sharing memory when it is already an array (or tensor) of that dtype."""
    _device.check(device, "as_tensor")
    dtype = None if dtype is None else as_dtype(dtype, "as_tensor")
    if isinstance(data, Tensor):
        return data if dtype is None or dtype == data.dtype else data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or dtype == data.dtype) and \
            (data.dtype.kind != "f" or data.dtype.itemsize in (4, 8)):
        return from_numpy(data)
    return Tensor(data, dtype=dtype)


def _filled(what, fill, size, dtype, device, requires_grad):
    _device.check(device, what)
    dtype = get_default_dtype() if dtype is None else as_dtype(dtype, what)
    size = _shape_arg(size)
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0
               for n in size):
        raise ValueError(f"{what}: sizes must be non-negative integers, got {size}")
    return Tensor(fill(size, dtype), requires_grad=requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _filled("zeros", np.zeros, size, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _filled("ones", np.ones, size, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of the given size; its values are zeros here (PyTorch leaves them undefined)."""
    return _filled("empty", np.zeros, size, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor of `size` filled with fill_value; its dtype follows the value as in PyTorch
    (bool, int64 for an int, the default float dtype for a float) unless dtype is given."""
    if dtype is None and isinstance(fill_value, (bool, int, np.integer)):
        dtype = bool_ if isinstance(fill_value, bool) else int64
    return _filled("full", lambda s, d: np.full(s, fill_value, d), (size,), dtype, device,
                   requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The n x m identity matrix (m = n by default)."""
    return _filled("eye", lambda s, d: np.eye(n, m, dtype=d), (n, n if m is None else m),
                   dtype, device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1), from the package generator (see manual_seed)."""
    return _filled("rand", lambda s, d: rng().random(s).astype(d), size, dtype, device,
                   requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False):
    """Standard normal, from the package generator (see manual_seed)."""
    return _filled("randn", lambda s, d: rng().standard_normal(s).astype(d), size, dtype,
                   device, requires_grad)


def randint(low=0, high=None, size=None, dtype=None, device=None, requires_grad=False):
    """Integers uniform on [low, high) (randint(high, size) counts from 0), int64 by default."""
    if size is None and isinstance(high, (tuple, list)):     # randint(high, size)
        low, high, size = 0, low, high
    if size is None or high is None:
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size), "
                        "e.g. randint(0, 10, (3,))")
    if not low < high:
        raise ValueError(f"randint: expected low < high, got low={low}, high={high}")
    return _filled("randint", lambda s, d: rng().integers(low, high, s).astype(d), (size,),
                   int64 if dtype is None else dtype, device, requires_grad)


def randperm(n, dtype=None, device=None, requires_grad=False):
    """A random permutation of 0..n-1, int64 by default."""
    return _filled("randperm", lambda s, d: rng().permutation(n).astype(d), (n,),
                   int64 if dtype is None else dtype, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Like torch.arange: integers give int64, any float argument gives the default dtype."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must not be zero")
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = int64 if is_int else get_default_dtype()
    return _filled("arange", lambda s, d: np.arange(start, end, step, dtype=d), (),
                   dtype, device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """`steps` values evenly spaced from start to end, both included."""
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative integer, got {steps!r}")
    return _filled("linspace", lambda s, d: np.linspace(start, end, steps, dtype=d), (),
                   dtype, device, requires_grad)


def _like(make, t, dtype, device, requires_grad):
    return make(t.shape, dtype=t.dtype if dtype is None else dtype, device=device,
                requires_grad=requires_grad)


def zeros_like(input, dtype=None, device=None, requires_grad=False):
    return _like(zeros, input, dtype, device, requires_grad)


def ones_like(input, dtype=None, device=None, requires_grad=False):
    return _like(ones, input, dtype, device, requires_grad)


def empty_like(input, dtype=None, device=None, requires_grad=False):
    return _like(empty, input, dtype, device, requires_grad)


def rand_like(input, dtype=None, device=None, requires_grad=False):
    return _like(rand, input, dtype, device, requires_grad)


def randn_like(input, dtype=None, device=None, requires_grad=False):
    return _like(randn, input, dtype, device, requires_grad)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):
    return full(input.shape, fill_value, dtype=input.dtype if dtype is None else dtype,
                device=device, requires_grad=requires_grad)
