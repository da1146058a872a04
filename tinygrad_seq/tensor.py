"""Tensor: a numpy array, the node that made it, and methods that call the ops in ops/."""
import collections
import math

import numpy as np

from . import autograd, device as _device, ops
from .tensor_inplace import InPlaceOps
from .tensor_shape import ShapeOps, _shape_arg

float32, float64, int64, int32, int16, int8, uint8, bool_ = (np.dtype(n) for n in (
    "float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool"))
_FLOATS = (float32, float64)
_TYPE_NAMES = {float32: "torch.FloatTensor", float64: "torch.DoubleTensor",   # Tensor.type()
               int64: "torch.LongTensor", int32: "torch.IntTensor", int16: "torch.ShortTensor",
               int8: "torch.CharTensor", uint8: "torch.ByteTensor", bool_: "torch.BoolTensor"}
_default_dtype = float32


def set_default_dtype(dtype):
    """Dtype of tensors made from Python numbers and of the creation helpers (float32 or float64)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype not in _FLOATS:
        raise TypeError(f"set_default_dtype: expected float32 or float64, got {dtype}")
    _default_dtype = dtype


def get_default_dtype():
    return _default_dtype


def _check_dtype(dtype, what):
    if dtype.kind not in "fiub":
        raise TypeError(f"{what}: unsupported dtype {dtype}; expected a float, integer or bool type")
    return dtype


def as_dtype(dtype, what):
    """A dtype argument (ts.float32, np.float64, "int64", Python's float/int/bool as PyTorch
    takes them) as a numpy dtype, or a clear error; float16 and complex types are refused."""
    if isinstance(dtype, str) and dtype in _TYPE_NAMES.values():   # x.type("torch.LongTensor")
        dtype = next(d for d, name in _TYPE_NAMES.items() if name == dtype)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{what}: {dtype!r} is not a dtype (expected e.g. ts.float32, "
                        f"ts.float64, ts.long, ts.bool)") from None
    if dtype.kind == "f" and dtype not in _FLOATS:
        raise TypeError(f"{what}: {dtype} is not supported; tinygrad_seq computes in float32 "
                        f"or float64")
    return _check_dtype(dtype, what)


def to_arguments(args, dtype, device):
    """(dtype, device) from the positional forms of Tensor.to and Module.to: a dtype, a device,
    or a tensor (its dtype), after the dtype=/device= keywords."""
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif _device.is_device(a):
            device = a
        else:
            dtype = a
    return dtype, device


class _Size(int):
    """Number of elements that is also callable: `x.size` (numpy) and `x.size()`, `x.size(0)`
    (PyTorch) both work."""

    def __new__(cls, shape):
        self = super().__new__(cls, int(np.prod(shape)))
        self.shape = shape
        return self

    def __call__(self, dim=None):
        return self.shape if dim is None else self.shape[ops._axis("size", dim, len(self.shape))]


class RemovableHandle:
    """Returned by `register_hook`; `handle.remove()` takes the hook away."""
    _next_id = 0

    def __init__(self, hooks):
        self.hooks, self.id = hooks, RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        self.hooks.pop(self.id, None)


ValuesIndices = collections.namedtuple("ValuesIndices", ["values", "indices"])   # torch.return_types


class Tensor(InPlaceOps, ShapeOps):
    """An n-dimensional array that records the ops applied to it for reverse-mode autodiff.

    `Tensor(data, dtype=None, requires_grad=False)`: data is a numpy array (its float32/float64/
    integer/bool dtype is kept), a nested list, a Python number or a Tensor (the data is copied).
    Python floats become the default dtype (float32; see `set_default_dtype`), Python ints int64.

    `t.array` is the numpy array itself (shared, not copied; so is `t.numpy()`); `t.data` is, as
    in PyTorch, a Tensor sharing that memory with no history.

    The methods come in families: here the core (data, gradients, versions, autograd),
    element-wise math, reductions, dtypes and devices; in tensor_shape.py the shape and
    indexing methods; in tensor_inplace.py the in-place ones (add_, +=, x[i] = v, ...).
    """

    __slots__ = ("array", "requires_grad", "_node", "_index", "_counter", "__dict__",
                 "__weakref__")
    # set on few tensors (leaves, hooked, named, views): class defaults until then, which
    # `_make`, run for every op's result, need not store
    _grad = _hooks = _name = _view_rebases = None
    __array_priority__ = 1000  # numpy array (op) Tensor dispatches to Tensor's reflected ops

    def __init__(self, data, dtype=None, requires_grad=False):
        if isinstance(data, Tensor):
            data = data.array
        if dtype is not None:
            array = np.array(data, dtype=_check_dtype(np.dtype(dtype), "Tensor"))
        elif isinstance(data, (np.ndarray, np.generic)):
            array = np.array(data)
            if array.dtype.kind == "f" and array.dtype not in _FLOATS:
                array = array.astype(_default_dtype)     # float16, longdouble
        else:
            array = np.array(data)
            if array.dtype.kind == "f":
                array = array.astype(_default_dtype)
        _check_dtype(array.dtype, "Tensor")
        self.array, self._node, self._index, self._counter = array, None, 0, None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_()

    def _operand(self, value):
        """value as a Tensor to meet this one in an op (a Python number takes its dtype)."""
        return value if isinstance(value, Tensor) else _as_tensor(value, self)

    @staticmethod
    def _make(data, node, index):
        """Wrap an op's result without copying or checks (the fast path every op takes)."""
        t = object.__new__(Tensor)
        t.array = data if type(data) is np.ndarray else np.asarray(data)
        t._node, t._index, t._counter = node, index, None
        t.requires_grad = node is not None
        return t

    # ---------------------------------------------------------------- .grad, .data, versions
    @property
    def grad(self):
        """The gradient accumulated by backward (a Tensor of this shape and dtype), or None."""
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"grad: expected a Tensor or None, got {type(value).__name__} "
                                f"(to clear it, assign None; to set it, a Tensor of shape "
                                f"{self.shape} {self.dtype})")
            if value.shape != self.shape or value.dtype != self.dtype:
                raise ValueError(f"grad: assigned a gradient of shape {value.shape} "
                                 f"{value.dtype} to a tensor of shape {self.shape} {self.dtype}")
        self._grad = value

    @property
    def data(self):
        """This tensor's memory as a Tensor with no history (PyTorch's .data): in-place changes
        to it are not recorded and not version-checked; `.numpy()` gives the array."""
        return Tensor._make(self.array, None, 0)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a Tensor, got {type(value).__name__}; write "
                            f"t.data = ts.tensor(...), or t.copy_(...) to fill the same memory")
        self.array = value.array

    @property
    def _version(self):
        """How many times this tensor's memory was written in place (as PyTorch's _version)."""
        return 0 if self._counter is None else self._counter.writes

    def _version_counter(self):
        if self._counter is None:
            self._counter = autograd.Version()
        return self._counter

    def __array__(self, dtype=None, copy=None):
        """np.asarray(t) is t's array (numpy functions accept tensors, as they do PyTorch's)."""
        if copy:
            return np.array(self.array, dtype=dtype)
        return self.array if dtype is None else self.array.astype(dtype, copy=False)

    # ---------------------------------------------------------------- properties
    shape = property(lambda self: self.array.shape)
    ndim = property(lambda self: self.array.ndim)
    dtype = property(lambda self: self.array.dtype)
    size = property(lambda self: _Size(self.array.shape))
    is_leaf = property(lambda self: self._node is None)
    grad_fn = property(lambda self: self._node, doc="The node that made this tensor, or None.")

    def dim(self):
        return self.array.ndim

    def numel(self):
        return self.array.size

    def numpy(self):
        return self.array

    def item(self):
        if self.array.size != 1:
            raise ValueError(f"item: only a one-element tensor converts to a Python number, "
                             f"this one has shape {self.shape}")
        return self.array.item()

    def tolist(self):
        return self.array.tolist()

    @property
    def name(self):
        """An optional label (`h_t`, `c_t`, a parameter's path) for tapes and pictures."""
        if self._node is not None and self._node.names:
            return self._node.names.get(self._index)
        return self._name

    @name.setter
    def name(self, value):
        if self._node is None:
            self._name = value
        else:
            if self._node.names is None:
                self._node.names = {}
            self._node.names[self._index] = value

    def __repr__(self):
        body = np.array2string(self.array, separator=", ", precision=4, threshold=50,
                               prefix="tensor(")
        extra = [] if self.dtype == _default_dtype else [f"dtype={self.dtype}"]
        if self._node is not None:
            extra.append(f"op={self._node.op}")
            if self._node.scope is not None:
                extra.append(f"scope={self._node.scope}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        if self.name:
            extra.append(f"name={self.name!r}")
        return f"tensor({body}{''.join(', ' + e for e in extra)})"

    def __format__(self, spec):
        """f"{loss:.4f}" formats a one-element tensor's value, as PyTorch does for 0-d ones."""
        if self.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    __hash__ = object.__hash__  # == is element-wise, so hash by identity

    # ---------------------------------------------------------------- autograd
    def requires_grad_(self, requires_grad=True):
        if self._node is not None:
            raise RuntimeError("requires_grad_: only leaf tensors can change requires_grad; "
                               "use .detach() to make a new leaf from this result")
        if requires_grad and self.dtype.kind != "f":
            raise TypeError(f"requires_grad: only floating-point tensors can require gradients, "
                            f"this one is {self.dtype} (integer tensors hold indices and targets)")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """A new leaf sharing this tensor's data (and its version count), cut off from the graph."""
        t = Tensor._make(self.array, None, 0)
        autograd.share_version(self, t)
        return t

    def backward(self, gradient=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into the `.grad` of every leaf this tensor depends on.

        A scalar needs no `gradient`; any other shape needs one of the same shape (the vector
        in the vector-Jacobian product). The graph's saved buffers are freed unless
        `retain_graph=True`.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no graph; "
                               "was it computed under no_grad() or from tensors that all have "
                               "requires_grad=False?")
        if gradient is None:
            if self.array.size != 1:
                raise RuntimeError(f"backward: gradient can only be left out for a scalar "
                                   f"output, this one has shape {self.shape}; pass "
                                   f"gradient= with that shape")
            seed = np.ones(self.shape, dtype=self.dtype)
        else:
            seed = np.asarray(gradient.array if isinstance(gradient, Tensor) else gradient)
            if seed.shape != self.shape:
                raise ValueError(f"backward: gradient has shape {seed.shape}, expected the "
                                 f"output's shape {self.shape}")
            seed = seed.astype(self.dtype, copy=False)
        autograd.backward(self, seed, retain_graph)

    def retain_grad(self):
        """Keep this non-leaf tensor's gradient in `.grad` after backward."""
        if self._node is not None:
            autograd.retain(self._node, self._index, self)
        elif not self.requires_grad:
            raise RuntimeError("retain_grad: this tensor does not require grad")

    def register_hook(self, hook):
        """Call `hook(grad)` with the gradient flowing into this tensor during backward; a
        returned tensor replaces the gradient. Returns a handle with `.remove()`."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: this tensor does not require grad")
        if self._node is None:
            if self._hooks is None:
                self._hooks = {}
            hooks = self._hooks
        else:
            if self._node.hooks is None:
                self._node.hooks = {}
            hooks = self._node.hooks.setdefault(self._index, {})
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    # ---------------------------------------------------------------- element-wise
    def add(self, other, alpha=1):
        """self + alpha * other"""
        return ops.Add.apply(*_operands("add", self, _scaled(other, alpha)))

    def sub(self, other, alpha=1):
        """self - alpha * other"""
        return ops.Sub.apply(*_operands("sub", self, _scaled(other, alpha)))

    def mul(self, other):
        return ops.Mul.apply(*_operands("mul", self, other))

    def div(self, other):
        return ops.Div.apply(*_operands("div", _true_div(self), _true_div(other)))

    def neg(self):
        return ops.Neg.apply(self)

    def pow(self, exponent):
        """self ** exponent; integers to integer powers stay integers (negative powers are
        refused, as in PyTorch), anything else is computed in floating point."""
        if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
            base = self if self.dtype.kind in "iu" and isinstance(exponent, int) else \
                _floating(self)
            return ops.Pow.apply(base, exponent=exponent)
        return ops.PowTensor.apply(*_operands("pow", self, exponent))

    def exp(self):
        return ops.Exp.apply(_floating(self))

    def log(self):
        return ops.Log.apply(_floating(self))

    def sqrt(self):
        return ops.Sqrt.apply(_floating(self))

    def tanh(self):
        return ops.Tanh.apply(_floating(self))

    def sigmoid(self):
        return ops.Sigmoid.apply(_floating(self))

    def relu(self):
        return ops.Relu.apply(self)

    def abs(self):
        return ops.Abs.apply(self)

    def sin(self):
        return ops.Sin.apply(_floating(self))

    def cos(self):
        return ops.Cos.apply(_floating(self))

    def log1p(self):
        return ops.Log1p.apply(_floating(self))

    def expm1(self):
        return ops.Expm1.apply(_floating(self))

    def rsqrt(self):
        return ops.Rsqrt.apply(_floating(self))

    def erf(self):
        return ops.Erf.apply(_floating(self))

    def square(self):
        """self * self (an integer tensor stays integer)"""
        return self * self

    def reciprocal(self):
        return 1 / self

    def sign(self):
        return ops.Sign.apply(self)

    def floor(self):
        """Rounded down; integer tensors are returned as they are (as in PyTorch)."""
        return self if self.dtype.kind != "f" else ops.Floor.apply(self)

    def ceil(self):
        return self if self.dtype.kind != "f" else ops.Ceil.apply(self)

    def round(self, decimals=0):
        """Rounded to `decimals` places, halves to even (PyTorch's and numpy's rule)."""
        return self if self.dtype.kind != "f" else ops.Round.apply(self, decimals=decimals)

    def masked_fill(self, mask, value):
        """value where mask is True (mask broadcasts to this shape), this tensor elsewhere."""
        mask = _bool_mask("masked_fill", mask, self.shape)
        value = value if isinstance(value, Tensor) else _as_tensor(value, self)
        if value.ndim:
            raise RuntimeError(f"masked_fill: value must be a number or a 0-d tensor, got "
                               f"shape {value.shape}")
        return ops.Where.apply(mask, *_operands("masked_fill", value.to(self.dtype), self))

    def maximum(self, other):
        return ops.Maximum.apply(*_operands("maximum", self, other))

    def minimum(self, other):
        return ops.Minimum.apply(*_operands("minimum", self, other))

    def clamp(self, min=None, max=None):
        if min is None and max is None:
            raise ValueError("clamp: give at least one of min and max")
        if isinstance(min, Tensor) or isinstance(max, Tensor):   # tensor bounds: element-wise
            out = self if min is None else self.maximum(min)
            return out if max is None else out.minimum(max)
        return ops.Clamp.apply(self, lo=min, hi=max)

    clip = clamp

    def clamp_min(self, min):
        return self.clamp(min=min)

    def clamp_max(self, max):
        return self.clamp(max=max)

    # ---------------------------------------------------------------- dtypes and devices
    device = property(lambda self: _device.CPU, doc="Always the CPU (see device.py).")
    is_cuda = False

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False,
           memory_format=None):
        """As torch's: to(dtype), to(device), to(device, dtype), to(other_tensor), and the
        dtype=/device= keywords. A new dtype is differentiable between float types; an
        integer or bool result has no gradient, as in PyTorch. Devices other than the CPU are
        refused (see device.py)."""
        dtype, device = to_arguments(args, dtype, device)
        _device.check(device, "to")
        if dtype is None or as_dtype(dtype, "to") == self.dtype:
            return self.clone() if copy else self
        dtype = as_dtype(dtype, "to")
        if dtype.kind != "f":
            return Tensor._make(self.array.astype(dtype), None, 0)
        return ops.Cast.apply(self, dtype=dtype)

    def type(self, dtype=None):
        """With no dtype, PyTorch's name of this tensor's type ("torch.FloatTensor"); else
        this tensor as that dtype (a dtype or such a name)."""
        if dtype is None:
            return _TYPE_NAMES.get(self.dtype, f"torch.{self.dtype}")
        return self.to(dtype)

    def type_as(self, other):
        return self.to(other.dtype)

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def long(self):
        return self.to(int64)

    def int(self):
        return self.to(int32)

    def bool(self):
        return self.to(bool_)

    def cpu(self):
        return self

    def cuda(self, *args, **kwargs):
        _device.check("cuda", "cuda")

    def is_floating_point(self):
        return self.dtype.kind == "f"

    def element_size(self):
        return self.dtype.itemsize

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        """A new tensor from data, with this tensor's dtype unless another is given."""
        _device.check(device, "new_tensor")
        return Tensor(data, dtype=self.dtype if dtype is None else as_dtype(dtype, "new_tensor"),
                      requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        _device.check(device, "new_full")
        dtype = self.dtype if dtype is None else as_dtype(dtype, "new_full")
        return Tensor(np.full(_shape_arg((size,)), fill_value, dtype),
                      requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return self.new_full(_shape_arg(size), 0, dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return self.new_full(_shape_arg(size), 1, dtype, device, requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return self.new_full(_shape_arg(size), 0, dtype, device, requires_grad)

    def clone(self):
        """A copy of this tensor in new memory, on the graph (its gradient flows back)."""
        return ops.Clone.apply(self)

    __add__ = __radd__ = add
    __sub__, __mul__, __truediv__, __pow__, __neg__ = sub, mul, div, pow, neg
    __rmul__ = mul
    __abs__ = abs

    def __rsub__(self, other):
        return ops.Sub.apply(*_operands("sub", other, self))

    def __rtruediv__(self, other):
        return ops.Div.apply(*_operands("div", _true_div(other), _true_div(self)))

    def __rpow__(self, base):
        return ops.PowTensor.apply(*_operands("pow", base, self))

    # comparisons: not differentiable, give bool tensors
    def __lt__(self, other):
        return _compare(np.less, self, other)

    def __le__(self, other):
        return _compare(np.less_equal, self, other)

    def __gt__(self, other):
        return _compare(np.greater, self, other)

    def __ge__(self, other):
        return _compare(np.greater_equal, self, other)

    def __eq__(self, other):
        return _compare(np.equal, self, other)

    def __ne__(self, other):
        return _compare(np.not_equal, self, other)

    lt, le, gt, ge, eq, ne = __lt__, __le__, __gt__, __ge__, __eq__, __ne__

    # logic on bool (and bitwise on integer) tensors: not differentiable
    def __invert__(self):
        if self.dtype.kind not in "biu":
            raise TypeError(f"~: expects a bool or integer tensor, got {self.dtype}")
        return Tensor._make(~self.array, None, 0)

    def __and__(self, other):
        return _logic(np.bitwise_and, "&", self, other)

    def __or__(self, other):
        return _logic(np.bitwise_or, "|", self, other)

    def __xor__(self, other):
        return _logic(np.bitwise_xor, "^", self, other)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def logical_not(self):
        return Tensor._make(np.logical_not(self.array), None, 0)

    def logical_and(self, other):
        return _logic(np.logical_and, "logical_and", self, other)

    def logical_or(self, other):
        return _logic(np.logical_or, "logical_or", self, other)

    # ---------------------------------------------------------------- matmul
    def matmul(self, other):
        return ops.Matmul.apply(*_operands("matmul", self, other))

    __matmul__ = matmul

    def __rmatmul__(self, other):
        return ops.Matmul.apply(*_operands("matmul", other, self))

    # ---------------------------------------------------------------- reductions
    def sum(self, dim=None, keepdim=False):
        return ops.Sum.apply(self, dim=dim, keepdim=keepdim)

    def mean(self, dim=None, keepdim=False):
        return ops.Mean.apply(_floating(self), dim=dim, keepdim=keepdim)

    def max(self, dim=None, keepdim=False):
        """As torch.max: with no dim the largest value; with an int dim the named tuple
        (values, indices) of the maxima along it (the gradient goes to the index returned);
        with a Tensor the element-wise maximum."""
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        if dim is None:
            return ops.Max.apply(self, dim=None)
        return self._along("max", np.argmax, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        """As torch.min: the smallest value, (values, indices) along dim, or the element-wise
        minimum with a Tensor."""
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        if dim is None:
            return ops.Min.apply(self, dim=None)
        return self._along("min", np.argmin, dim, keepdim)

    def _along(self, op, arg, dim, keepdim):
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
            raise TypeError(f"{op}: dim must be an int (for several dims use amax/amin), got "
                            f"{dim!r}")
        (axis,) = ops._normalize_dims(op, dim, self.ndim) or (None,)
        if self.ndim == 0:     # a 0-d tensor is its own maximum, at index 0
            return ValuesIndices(self.reshape(()), Tensor._make(np.zeros((), np.int64), None, 0))
        if self.shape[axis] == 0:
            raise IndexError(f"{op}: cannot take the {op} along dim {dim} of size 0 "
                             f"(shape {self.shape})")
        indices = arg(self.array, axis=axis, keepdims=True)
        along = ops.MaxAlong if op == "max" else ops.MinAlong
        values = along.apply(self, indices=indices, dim=axis, keepdim=keepdim)
        return ValuesIndices(values, Tensor._make(indices if keepdim else indices.squeeze(axis),
                                           None, 0))

    def amax(self, dim=None, keepdim=False):
        """Largest values over dim (int, tuple or None); ties share the gradient evenly."""
        return ops.Max.apply(self, dim=dim, keepdim=keepdim)

    def amin(self, dim=None, keepdim=False):
        """Smallest values over dim (int, tuple or None); ties share the gradient evenly."""
        return ops.Min.apply(self, dim=dim, keepdim=keepdim)

    def argmax(self, dim=None, keepdim=False):
        """Index of the largest value (in the flattened tensor when dim is None), int64."""
        return self._arg(np.argmax, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return self._arg(np.argmin, dim, keepdim)

    def _arg(self, arg, dim, keepdim):
        if dim is None:
            out = arg(self.array.reshape(-1))
            return Tensor._make(np.asarray(out).reshape((1,) * self.ndim if keepdim else ()),
                                None, 0)
        (axis,) = ops._normalize_dims(arg.__name__, dim, self.ndim) or (None,)
        if self.ndim == 0:
            return Tensor._make(np.zeros((), np.int64), None, 0)
        return Tensor._make(arg(self.array, axis=axis, keepdims=keepdim).astype(np.int64),
                            None, 0)

    def logsumexp(self, dim=None, keepdim=False):
        return ops.LogSumExp.apply(_floating(self), dim=dim, keepdim=keepdim)

    def prod(self, dim=None, keepdim=False):
        """The product over one dim, or of all elements."""
        if dim is not None:
            dim = ops._axis("prod", dim, self.ndim)
            if self.ndim == 0:
                return self.reshape(())
        return ops.Prod.apply(self, dim=dim, keepdim=keepdim)

    def cumsum(self, dim):
        """Running sums along dim."""
        dim = ops._axis("cumsum", dim, self.ndim)
        if self.ndim == 0:
            return self.reshape(())
        return ops.Cumsum.apply(self, dim=dim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """sum((x - mean)^2) / (n - correction) over dim; correction=1 (the default, or
        unbiased=True) is Bessel's, 0 the population variance. From primitives."""
        if unbiased is not None and correction is not None:
            raise ValueError("var: give unbiased or correction, not both")
        correction = (1 if unbiased is None or unbiased else 0) if correction is None \
            else correction
        x = _floating(self)
        dims = ops._normalize_dims("var", dim, x.ndim)
        n = math.prod(x.shape[d] for d in dims)
        centered = x - x.mean(dim=dims, keepdim=True)
        return (centered * centered).sum(dim=dims, keepdim=keepdim) / max(n - correction, 0)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """The square root of var (same arguments)."""
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    def norm(self, p="fro", dim=None, keepdim=False):
        """The p-norm over dim (or all elements): "fro" and 2 the Euclidean norm, inf the
        largest magnitude, any other positive p (sum |x|^p)^(1/p)."""
        p = 2.0 if p == "fro" else float(p)
        if not p > 0:
            raise ValueError(f"norm: p must be positive (or 'fro' or inf), got {p}")
        return ops.Norm.apply(_floating(self), p=p, dim=dim, keepdim=keepdim)

    def any(self, dim=None, keepdim=False):
        """Is any element true (non-zero)? A bool tensor, no gradient."""
        dims = ops._normalize_dims("any", dim, self.ndim) if dim is not None else None
        return Tensor._make(np.asarray(np.any(self.array, axis=dims, keepdims=keepdim)), None, 0)

    def all(self, dim=None, keepdim=False):
        """Are all elements true (non-zero)? A bool tensor, no gradient."""
        dims = ops._normalize_dims("all", dim, self.ndim) if dim is not None else None
        return Tensor._make(np.asarray(np.all(self.array, axis=dims, keepdims=keepdim)), None, 0)

    def sort(self, dim=-1, descending=False, stable=False):
        """(values, indices) sorted along dim; the gradient goes back through the indices.
        Ties keep their order (numpy's stable sort), which PyTorch promises with stable=True."""
        axis = ops._axis("sort", dim, self.ndim)
        if self.ndim == 0:
            return ValuesIndices(self.reshape(()), Tensor._make(np.zeros((), np.int64), None, 0))
        indices = _argsort(self.array, axis, descending)
        return ValuesIndices(ops.TakeAlong.apply(self, indices=indices, dim=axis, keepdim=True),
                      Tensor._make(indices, None, 0))

    def argsort(self, dim=-1, descending=False, stable=False):
        return self.sort(dim, descending, stable).indices

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """(values, indices) of the k largest (or smallest) along dim, largest first."""
        axis = ops._axis("topk", dim, self.ndim)
        n = self.shape[axis] if self.ndim else 1
        if not 0 <= k <= n:
            raise IndexError(f"topk: k={k} is out of range for dim {dim} of size {n} "
                             f"(shape {self.shape})")
        if self.ndim == 0:
            return self.sort(dim)
        indices = np.take(_argsort(self.array, axis, largest), range(k), axis=axis)
        return ValuesIndices(ops.TakeAlong.apply(self, indices=indices, dim=axis, keepdim=True),
                      Tensor._make(indices, None, 0))

    def softmax(self, dim=-1):
        if self.ndim == 0:    # a single value: softmax is 1, along the only "dim" there is
            ops._normalize_dims("softmax", dim, 0)
            return self.reshape(1).softmax(0).reshape(())
        return ops.Softmax.apply(_floating(self), dim=dim)

    def log_softmax(self, dim=-1):
        if self.ndim == 0:
            ops._normalize_dims("log_softmax", dim, 0)
            return self.reshape(1).log_softmax(0).reshape(())
        return ops.LogSoftmax.apply(_floating(self), dim=dim)

# ---------------------------------------------------------------------------------------------
# operand handling: Python numbers take the tensor's dtype; float32 never meets float64 silently
# ---------------------------------------------------------------------------------------------
def _as_tensor(value, like):
    """A Python number takes the dtype of the tensor it meets (`x * 2.0` stays float32), except
    that a float meeting an integer tensor gives the default float dtype; arrays and lists are
    converted as by Tensor()."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float)):
        if isinstance(value, float) and like.dtype.kind != "f":
            dtype = _default_dtype
        elif like.dtype.kind == "b" and not isinstance(value, bool):
            dtype = int64
        else:
            dtype = like.dtype
        return Tensor._make(np.asarray(value, dtype=dtype), None, 0)
    return Tensor(value)


def _operands(op, a, b):
    """Both operands as Tensors of one dtype, or a clear error where a mix would lose precision."""
    if type(a) is Tensor and type(b) is Tensor and a.array.dtype is b.array.dtype:
        return a, b                   # the usual case, without the conversions below
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):   # two numbers: ts.where(m, 1, 3)
        a = Tensor(a)
    a = _as_tensor(a, b) if not isinstance(a, Tensor) else a
    b = _as_tensor(b, a)
    if a.dtype == b.dtype:
        return a, b
    fa, fb = a.dtype.kind == "f", b.dtype.kind == "f"
    if fa and fb:
        raise TypeError(f"{op}: cannot mix {a.dtype} and {b.dtype} tensors (shapes {a.shape} "
                        f"and {b.shape}); the result would silently change precision. Convert one "
                        f"explicitly with .float() or .double()")
    if fa or fb:  # integers and bools join the float operand's dtype
        return (a, b.to(a.dtype)) if fa else (a.to(b.dtype), b)
    dtype = np.promote_types(a.dtype, b.dtype)
    return a.to(dtype), b.to(dtype)


def _true_div(x):
    """Division of integers gives floats (of the default dtype), as in PyTorch."""
    if isinstance(x, Tensor) and x.dtype.kind != "f":
        return x.to(_default_dtype)
    return x


def _floating(t):
    """Integer tensors meet float-only ops (exp, mean, ...) as the default float dtype."""
    if t.dtype.kind != "f":
        return t.to(_default_dtype)
    return t


def _logic(ufunc, op, a, b):
    a, b = _operands(op, a, b)
    if a.dtype.kind not in "biu":
        raise TypeError(f"{op}: expects bool or integer tensors, got {a.dtype}")
    return Tensor._make(ufunc(a.array, b.array), None, 0)


def _compare(ufunc, a, b):
    a, b = _operands(ufunc.__name__, a, b)
    return Tensor._make(ufunc(a.array, b.array), None, 0)


def _argsort(a, axis, descending):
    """Stable argsort along axis (descending: by the negated keys, so ties keep their order)."""
    keys = a.astype(np.int8) if a.dtype == bool else a
    return np.argsort(-keys if descending else keys, axis=axis, kind="stable")


def _bool_mask(op, mask, shape):
    """mask as a bool Tensor that broadcasts to shape, or a clear error."""
    mask = np.asarray(mask.array if isinstance(mask, Tensor) else mask)
    if mask.dtype != bool:
        raise TypeError(f"{op}: mask must be a bool tensor, got {mask.dtype}")
    try:
        fits = np.broadcast_shapes(mask.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"{op}: a mask of shape {mask.shape} does not broadcast to {shape}")
    return Tensor._make(mask, None, 0)


def _scaled(other, alpha):
    """alpha * other for add/sub's alpha= (no extra node when alpha is 1)."""
    return other if alpha == 1 else other * alpha


def _same_dtype(op, tensors):
    if isinstance(tensors, Tensor):
        raise TypeError(f"{op}: expected a sequence of tensors, got one Tensor; write "
                        f"{op}([a, b, ...])")
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected a sequence of Tensors, got {type(t).__name__} at "
                            f"position {i} (wrap arrays with ts.tensor(...))")
    dtype = tensors[0].array.dtype
    for t in tensors:
        if t.array.dtype != dtype:
            dtypes = sorted({str(t.dtype) for t in tensors})
            raise TypeError(f"{op}: all tensors need one dtype, got {dtypes}")
    return tensors
