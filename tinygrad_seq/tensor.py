"""Tensor: a numpy array, the node that made it, and methods that call the ops in ops/."""
import collections
import math

import numpy as np

from . import autograd, ops

float32, float64, int64, int32, bool_ = (np.dtype(n) for n in
                                         ("float32", "float64", "int64", "int32", "bool"))
_FLOATS = (float32, float64)
_default_dtype = float32
_rng = np.random.default_rng()


def set_default_dtype(dtype):
    """Dtype of tensors made from Python numbers and of the creation helpers (float32 or float64)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype not in _FLOATS:
        raise TypeError(f"set_default_dtype: expected float32 or float64, got {dtype}")
    _default_dtype = dtype


def get_default_dtype():
    return _default_dtype


def manual_seed(seed):
    """Seed the generator behind rand, randn, dropout and parameter initialisation."""
    global _rng
    _rng = np.random.default_rng(seed)


def rng():
    """The package's random generator (numpy.random.Generator)."""
    return _rng


def _check_dtype(dtype, what):
    if dtype.kind not in "fiub":
        raise TypeError(f"{what}: unsupported dtype {dtype}; expected a float, integer or bool type")
    return dtype


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


MaxMin = collections.namedtuple("MaxMin", ["values", "indices"])   # torch.return_types.max


class Tensor:
    """An n-dimensional array that records the ops applied to it for reverse-mode autodiff.

    `Tensor(data, dtype=None, requires_grad=False)`: data is a numpy array (its float32/float64/
    integer/bool dtype is kept), a nested list, a Python number or a Tensor (the data is copied).
    Python floats become the default dtype (float32; see `set_default_dtype`), Python ints int64.

    `t.array` is the numpy array itself (shared, not copied; so is `t.numpy()`); `t.data` is, as
    in PyTorch, a Tensor sharing that memory with no history.
    """

    __slots__ = ("array", "_grad", "requires_grad", "_node", "_index", "_hooks", "_name",
                 "_counter", "_view_rebases", "__weakref__")
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
        self.array, self._grad, self._node, self._index = array, None, None, 0
        self._hooks = self._name = self._counter = self._view_rebases = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_()

    @staticmethod
    def _make(data, node, index):
        """Wrap an op's result without copying or checks (the fast path every op takes)."""
        t = object.__new__(Tensor)
        t.array = data if type(data) is np.ndarray else np.asarray(data)
        t._grad, t._node, t._index, t._hooks, t._name = None, node, index, None, None
        t._counter = t._view_rebases = None
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

    def _grad_edge(self):
        """Where this tensor's gradient goes: its node and output index, itself (a leaf), or None."""
        if self._node is not None:
            return (self._node, self._index)
        return self if self.requires_grad else None

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

    def maximum(self, other):
        return ops.Maximum.apply(*_operands("maximum", self, other))

    def minimum(self, other):
        return ops.Minimum.apply(*_operands("minimum", self, other))

    def clamp(self, min=None, max=None):
        if min is None and max is None:
            raise ValueError("clamp: give at least one of min and max")
        return ops.Clamp.apply(self, lo=min, hi=max)

    clip = clamp

    def to(self, dtype):
        """This tensor as another dtype (differentiable between float types; an integer or
        bool result has no gradient, as in PyTorch)."""
        dtype = _check_dtype(np.dtype(dtype), "to")
        if dtype == self.dtype:
            return self
        if dtype.kind != "f":
            return Tensor._make(self.array.astype(dtype), None, 0)
        return ops.Cast.apply(self, dtype=dtype)

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def long(self):
        return self.to(int64)

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

    # ---------------------------------------------------------------- in place
    # As in PyTorch: `x.add_(y)`, `x += y`, `x[i] = v` write into x's own memory (views of x see
    # the change) and bump its version. Each is its out-of-place op followed by a write, so the
    # formulas live in one place (ops/).
    def add_(self, other, alpha=1):
        return self._in_place("add_", Tensor.add, _fitting("add_", self, other), alpha)

    def sub_(self, other, alpha=1):
        return self._in_place("sub_", Tensor.sub, _fitting("sub_", self, other), alpha)

    def mul_(self, other):
        return self._in_place("mul_", Tensor.mul, _fitting("mul_", self, other), keep_old=True)

    def div_(self, other):
        return self._in_place("div_", Tensor.div, _fitting("div_", self, other), keep_old=True)

    def clamp_(self, min=None, max=None):
        return self._in_place("clamp_", Tensor.clamp, min, max, keep_old=True)

    def fill_(self, value):
        """Set every element to value (a number or a 0-d tensor), cast to this dtype."""
        if isinstance(value, Tensor) and value.ndim:
            raise RuntimeError(f"fill_: expected a number or a 0-d tensor, got shape "
                               f"{value.shape}")
        return self.copy_(value)

    def zero_(self):
        return self.fill_(0)

    def copy_(self, src):
        """Copy src's values (broadcast to this shape, cast to this dtype) into this tensor."""
        src = _fitting("copy_", self, src)
        return self._in_place("copy_", _replaced, src if src.dtype == self.dtype else
                              src.to(self.dtype))

    def uniform_(self, a=0.0, b=1.0):
        """Fill with draws from U(a, b) (the package generator, see manual_seed)."""
        return self._in_place("uniform_", _replaced, Tensor._make(
            _rng.uniform(a, b, self.shape).astype(self.dtype), None, 0))

    def normal_(self, mean=0.0, std=1.0):
        """Fill with draws from N(mean, std^2) (the package generator, see manual_seed)."""
        return self._in_place("normal_", _replaced, Tensor._make(
            _rng.normal(mean, std, self.shape).astype(self.dtype), None, 0))

    def __setitem__(self, key, value):
        value = value if isinstance(value, Tensor) else _as_tensor(value, self)
        if value.dtype != self.dtype:
            value = value.to(self.dtype)     # assignment casts, as in PyTorch and numpy
        keys = _index_keys(key)
        self._in_place("setitem", lambda x, v: ops.SetItem.apply(x, v, keys=keys), value)

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def _in_place(self, op, compute, *args, keep_old=False):
        """Write compute(self, *args) into this tensor's memory; returns self.

        Under no_grad, or when nothing involved requires grad, the result is just written (an
        optimizer's `p -= lr * p.grad`). Otherwise the op is recorded and this tensor takes its
        node, so the gradient flows as for `x = compute(x)`; the op's input is then the old
        value (a copy when the op saves it for backward: keep_old). A leaf that requires grad
        is refused outside no_grad, as PyTorch does: its old value would be lost.
        """
        recording = autograd.is_grad_enabled() and (self.requires_grad or any(
            isinstance(a, Tensor) and a.requires_grad for a in args))
        if not self.array.flags.writeable:
            raise RuntimeError(f"{op}: this tensor's memory is read-only (an expand() result "
                               f"repeats each element in several places); use .clone() first")
        if recording:
            if self._node is None and self.requires_grad:
                raise RuntimeError(
                    f"{op}: a leaf tensor that requires grad (shape {self.shape}) cannot be "
                    f"changed in place while gradients are recorded; do it inside `with "
                    f"ts.no_grad():` (as an optimizer's step does), or on .data")
            if self._view_rebases is not None:
                raise RuntimeError(
                    f"{op}: this tensor (shape {self.shape}) is a view of another tensor's "
                    f"memory (a slice, reshape, transpose, chunk or detach() of it); changing it "
                    f"in place while recording would leave the other tensor's graph out of "
                    f"date. Use the out-of-place op (x = x + y, or base[i] = base[i] + y), or "
                    f"take .clone() first")
            old = self
            if keep_old:
                old = Tensor._make(self.array.copy(), self._node, self._index)
                old.requires_grad = self.requires_grad
            result = compute(old, *args)
        else:
            with autograd.no_grad():
                result = compute(self, *args)
        if result.shape != self.shape:
            raise RuntimeError(f"{op}: the result has shape {result.shape}, but the tensor it "
                               f"would be written into has shape {self.shape}")
        if not np.can_cast(result.dtype, self.dtype, "same_kind"):
            raise TypeError(f"{op}: the result is {result.dtype}, which a {self.dtype} tensor "
                            f"cannot hold (as in PyTorch); convert first, e.g. x = x.float()")
        if result.array is not self.array:
            np.copyto(self.array, result.array, casting="same_kind")
        if recording:
            self._node, self._index, self.requires_grad = result._node, result._index, True
            autograd.note_rebase(self._version_counter())
        else:
            self._version_counter().writes += 1
        return self

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
            return MaxMin(self.reshape(()), Tensor._make(np.zeros((), np.int64), None, 0))
        if self.shape[axis] == 0:
            raise IndexError(f"{op}: cannot take the {op} along dim {dim} of size 0 "
                             f"(shape {self.shape})")
        indices = arg(self.array, axis=axis, keepdims=True)
        along = ops.MaxAlong if op == "max" else ops.MinAlong
        values = along.apply(self, indices=indices, dim=axis, keepdim=keepdim)
        return MaxMin(values, Tensor._make(indices if keepdim else indices.squeeze(axis),
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

    # ---------------------------------------------------------------- shapes
    def reshape(self, *shape):
        return ops.Reshape.apply(self, shape=_resolve_shape(_shape_arg(shape), self.shape))

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        start, end = ops._axis("flatten", start_dim, self.ndim), ops._axis("flatten", end_dim,
                                                                          self.ndim)
        if self.ndim == 0:
            return self.reshape(1)
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                             f"(shape {self.shape})")
        return self.reshape(self.shape[:start] + (-1,) + self.shape[end + 1:])

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        dims = ops._normalize_dims("squeeze", dim, self.ndim)
        return self.reshape(tuple(n for i, n in enumerate(self.shape)
                                  if not (i in dims and n == 1)))

    def unsqueeze(self, dim):
        if not -self.ndim - 1 <= dim <= self.ndim:
            raise IndexError(f"unsqueeze: dim {dim} is out of range for a tensor with "
                             f"{self.ndim} dims (expected -{self.ndim + 1}..{self.ndim})")
        dim = dim % (self.ndim + 1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def permute(self, *dims):
        dims = _shape_arg(dims)
        if sorted(d % max(self.ndim, 1) for d in dims) != list(range(self.ndim)) or any(
                not -self.ndim <= d < self.ndim for d in dims):
            raise ValueError(f"permute: {dims} is not a permutation of the {self.ndim} dims of "
                             f"a tensor of shape {self.shape}")
        return ops.Permute.apply(self, dims=tuple(d % self.ndim for d in dims))

    def transpose(self, dim0, dim1):
        dim0, dim1 = ops._axis("transpose", dim0, self.ndim), ops._axis("transpose", dim1,
                                                                        self.ndim)
        if self.ndim == 0:
            return self.reshape(())
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return self.permute(*dims)

    @property
    def T(self):
        """The axes reversed (a valid permutation by construction, so unchecked)"""
        return ops.Permute.apply(self, dims=tuple(range(self.ndim - 1, -1, -1)))

    def expand(self, *sizes):
        sizes = _shape_arg(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise ValueError(f"expand: cannot expand shape {self.shape} to fewer dims {sizes}")
        shape = tuple(self.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes))
        return ops.Expand.apply(self, shape=shape)

    def expand_as(self, other):
        return self.expand(other.shape)

    def __getitem__(self, key):
        return ops.GetItem.apply(self, keys=_index_keys(key))

    def split(self, split_size_or_sections, dim=0):
        """Pieces of `split_size` along dim (the last may be smaller), or of the given sizes."""
        dim = ops._axis("split", dim, self.ndim)
        if self.ndim == 0:
            raise ValueError("split: a 0-d tensor has no dim to split")
        length = self.shape[dim]
        if isinstance(split_size_or_sections, (int, np.integer)):
            step = int(split_size_or_sections)
            if step <= 0:
                raise ValueError(f"split: split_size must be positive, got {step}")
            sizes = [min(step, length - i) for i in range(0, length, step)] or [0]
        else:
            sizes = list(split_size_or_sections)
            if not all(isinstance(n, (int, np.integer)) and n >= 0 for n in sizes):
                raise ValueError(f"split: sections must be non-negative integers, got {sizes}")
            if sum(sizes) != length:
                raise ValueError(f"split: sections {sizes} sum to {sum(sizes)}, but dim {dim} "
                                 f"of shape {self.shape} has {length}")
        return ops.Split.apply(self, sizes=sizes, dim=dim)

    def unbind(self, dim=0):
        """The slices along dim, without that dim (torch.unbind); one split node for all."""
        return tuple(piece.squeeze(dim) for piece in self.split(1, dim))

    def chunk(self, chunks, dim=0):
        """`chunks` pieces along dim, each of ceil(n / chunks) (the last may be smaller)."""
        if chunks <= 0:
            raise ValueError(f"chunk: chunks must be positive, got {chunks}")
        dim = ops._axis("chunk", dim, self.ndim)
        return self.split(-(-self.shape[dim] // chunks) or 1, dim)


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


def _compare(ufunc, a, b):
    a, b = _operands(ufunc.__name__, a, b)
    return Tensor._make(ufunc(a.array, b.array), None, 0)


def _shape_arg(shape):
    """Accept shapes as `f(2, 3)` and as `f((2, 3))`."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _resolve_shape(shape, from_shape):
    """A reshape target with its -1 filled in, or a clear error."""
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in shape):
        raise TypeError(f"reshape: sizes must be integers, got {shape}")
    count = math.prod(from_shape)
    known = math.prod([n for n in shape if n != -1])
    unknown = [i for i, n in enumerate(shape) if n == -1]
    if len(unknown) == 1 and known and count % known == 0:
        shape = shape[:unknown[0]] + (count // known,) + shape[unknown[0] + 1:]
    if len(unknown) > 1 or any(n < 0 for n in shape) or math.prod(shape) != count:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {from_shape} ({count} "
                         f"elements) into {shape}")
    return shape


def _index_arg(key):
    """Tensors and lists inside an index become numpy arrays."""
    if isinstance(key, Tensor):
        return key.array
    if isinstance(key, tuple):
        return tuple(k.array if isinstance(k, Tensor) else np.asarray(k) if isinstance(k, list)
                     else k for k in key)
    if isinstance(key, list):
        return np.asarray(key)
    return key


def _is_int(k):
    return (isinstance(k, (int, np.integer)) and not isinstance(k, bool)) or (
        isinstance(k, np.ndarray) and k.ndim == 0 and k.dtype.kind in "iu")


def _index_keys(key):
    """A PyTorch index as the numpy indexing steps that give the same result: one key, or two
    where integers meet index arrays. PyTorch selects with the integers first, so t[1, :, idx]
    of a (3, 5, 6) tensor is t[1][:, idx], shape (5, len(idx)); numpy would treat the 1 as an
    index array too and put idx's dim first."""
    key = _index_arg(key)
    if not (isinstance(key, tuple) and any(_is_int(k) for k in key) and any(
            isinstance(k, np.ndarray) and k.ndim > 0 for k in key)):
        return (key,)
    first, second = [], []
    for k in key:
        if _is_int(k):
            first.append(int(k))                        # select: the dim goes away
        elif k is None or k is Ellipsis:
            first.append(k)
            second.append(slice(None) if k is None else k)
        else:                                           # slices and index arrays: next step
            first.extend([slice(None)] * (k.ndim if isinstance(k, np.ndarray) and
                                          k.dtype == bool else 1))
            second.append(k)
    return (tuple(first), tuple(second))


def _scaled(other, alpha):
    """alpha * other for add/sub's alpha= (no extra node when alpha is 1)."""
    return other if alpha == 1 else other * alpha


def _fitting(op, target, value):
    """value as a Tensor that broadcasts to target's shape, or a clear error (in-place ops
    write into target, so they cannot grow it)."""
    value = value if isinstance(value, Tensor) else _as_tensor(value, target)
    try:
        fits = np.broadcast_shapes(target.shape, value.shape) == target.shape
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"{op}: a value of shape {value.shape} does not broadcast to the "
                           f"shape {target.shape} of the tensor changed in place")
    return value


def _replaced(x, value):
    """value broadcast to x's shape, as an op on the graph: the gradient goes to value and
    none to x's old contents (fill_, copy_, uniform_)."""
    return where(True, value, x)


# ---------------------------------------------------------------------------------------------
# package-level functions
# ---------------------------------------------------------------------------------------------
def tensor(data, dtype=None, requires_grad=False):
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def _filled(fill, size, dtype, requires_grad):
    dtype = _default_dtype if dtype is None else np.dtype(dtype)
    return Tensor(fill(_shape_arg(size), dtype), requires_grad=requires_grad)


def zeros(*size, dtype=None, requires_grad=False):
    return _filled(np.zeros, size, dtype, requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    return _filled(np.ones, size, dtype, requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False):
    """A tensor of `size` filled with fill_value; its dtype follows the value as in PyTorch
    (bool, int64 for an int, the default float dtype for a float) unless dtype is given."""
    if dtype is None and isinstance(fill_value, (bool, int, np.integer)):
        dtype = bool_ if isinstance(fill_value, bool) else int64
    return _filled(lambda s, d: np.full(s, fill_value, d), (size,), dtype, requires_grad)


def rand(*size, dtype=None, requires_grad=False):
    """Uniform on [0, 1), from the package generator (see manual_seed)."""
    return _filled(lambda s, d: _rng.random(s).astype(d), size, dtype, requires_grad)


def randn(*size, dtype=None, requires_grad=False):
    """Standard normal, from the package generator (see manual_seed)."""
    return _filled(lambda s, d: _rng.standard_normal(s).astype(d), size, dtype, requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return zeros(t.shape, dtype=t.dtype if dtype is None else dtype, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return ones(t.shape, dtype=t.dtype if dtype is None else dtype, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    """Like torch.arange: integers give int64, any float argument gives the default dtype."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = int64 if is_int else _default_dtype
    return Tensor(np.arange(start, end, step, dtype=dtype), requires_grad=requires_grad)


def cat(tensors, dim=0):
    """Join tensors along an existing dim (torch.cat)."""
    tensors = _same_dtype("cat", tensors)
    ref = tensors[0].shape
    for t in tensors[1:]:
        if t.ndim != len(ref) or any(a != b for i, (a, b) in enumerate(zip(ref, t.shape))
                                     if i != dim % len(ref)):
            raise ValueError(f"cat: shapes {[x.shape for x in tensors]} must match in every dim "
                             f"but dim {dim}")
    return ops.Cat.apply(*tensors, dim=dim)


def stack(tensors, dim=0):
    """Join tensors of one shape along a new dim (torch.stack)."""
    tensors = _same_dtype("stack", tensors)
    if len({t.shape for t in tensors}) != 1:
        raise ValueError(f"stack: all shapes must be equal, got {[t.shape for t in tensors]}")
    return ops.Stack.apply(*tensors, dim=dim)


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
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1:
        raise TypeError(f"{op}: all tensors need one dtype, got {sorted(map(str, dtypes))}")
    return tensors


def where(condition, input, other):
    """condition ? input : other, element-wise with broadcasting (torch.where)."""
    cond = condition.array if isinstance(condition, Tensor) else np.asarray(condition)
    a, b = _operands("where", input, other)
    return ops.Where.apply(Tensor._make(cond.astype(bool, copy=False), None, 0), a, b)


def maximum(a, b):
    """Element-wise max(a, b); at least one of them must be a Tensor (torch.maximum)."""
    return Tensor.maximum(*_operands("maximum", *_one_tensor("maximum", a, b)))


def minimum(a, b):
    """Element-wise min(a, b); at least one of them must be a Tensor (torch.minimum)."""
    return Tensor.minimum(*_operands("minimum", *_one_tensor("minimum", a, b)))


def _one_tensor(op, a, b):
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op}: expected at least one Tensor, got {type(a).__name__} and "
                        f"{type(b).__name__} (for numbers, use Python's max/min)")
    return a, b
