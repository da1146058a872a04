"""Tensor: a numpy array, the node that made it, and methods that call the ops in ops.py."""
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
        return self.shape if dim is None else self.shape[dim]


class RemovableHandle:
    """Returned by `register_hook`; `handle.remove()` takes the hook away."""
    _next_id = 0

    def __init__(self, hooks):
        self.hooks, self.id = hooks, RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        self.hooks.pop(self.id, None)


class Tensor:
    """An n-dimensional array that records the ops applied to it for reverse-mode autodiff.

    `Tensor(data, dtype=None, requires_grad=False)`: data is a numpy array (its float32/float64/
    integer/bool dtype is kept), a nested list, a Python number or a Tensor (the data is copied).
    Python floats become the default dtype (float32; see `set_default_dtype`), Python ints int64.
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "_index", "_hooks", "_name",
                 "__weakref__")
    __array_priority__ = 1000  # numpy array (op) Tensor dispatches to Tensor's reflected ops

    def __init__(self, data, dtype=None, requires_grad=False):
        if isinstance(data, Tensor):
            data = data.data
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
        self.data, self.grad, self._node, self._index = array, None, None, 0
        self._hooks = self._name = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_()

    @staticmethod
    def _make(data, node, index):
        """Wrap an op's result without copying or checks (the fast path every op takes)."""
        t = object.__new__(Tensor)
        t.data = data if type(data) is np.ndarray else np.asarray(data)
        t.grad, t._node, t._index, t._hooks, t._name = None, node, index, None, None
        t.requires_grad = node is not None
        return t

    # ---------------------------------------------------------------- properties
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    size = property(lambda self: _Size(self.data.shape))
    is_leaf = property(lambda self: self._node is None)
    grad_fn = property(lambda self: self._node, doc="The node that made this tensor, or None.")

    def dim(self):
        return self.data.ndim

    def numel(self):
        return self.data.size

    def numpy(self):
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only a one-element tensor converts to a Python number, "
                             f"this one has shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

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
        body = np.array2string(self.data, separator=", ", precision=4, threshold=50,
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
        """A new leaf sharing this tensor's data, cut off from the graph."""
        return Tensor._make(self.data, None, 0)

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
            if self.data.size != 1:
                raise RuntimeError(f"backward: gradient can only be left out for a scalar "
                                   f"output, this one has shape {self.shape}; pass "
                                   f"gradient= with that shape")
            seed = np.ones(self.shape, dtype=self.dtype)
        else:
            seed = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient)
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
    def add(self, other):
        return ops.Add.apply(*_operands("add", self, other))

    def sub(self, other):
        return ops.Sub.apply(*_operands("sub", self, other))

    def mul(self, other):
        return ops.Mul.apply(*_operands("mul", self, other))

    def div(self, other):
        return ops.Div.apply(*_operands("div", _true_div(self), _true_div(other)))

    def neg(self):
        return ops.Neg.apply(self)

    def pow(self, exponent):
        if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
            return ops.Pow.apply(_floating(self), exponent=exponent)
        return ops.PowTensor.apply(*_operands("pow", _floating(self), exponent))

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
        """This tensor as another dtype (differentiable between float types)."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        if self.requires_grad and dtype.kind != "f":
            raise TypeError(f"to: cannot cast a tensor that requires grad to {dtype}")
        return ops.Cast.apply(self, dtype=_check_dtype(dtype, "to"))

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def long(self):
        return self.to(int64)

    __add__ = __radd__ = add
    __sub__, __mul__, __truediv__, __pow__, __neg__ = sub, mul, div, pow, neg
    __rmul__ = mul
    __abs__ = abs

    def __rsub__(self, other):
        return ops.Sub.apply(*_operands("sub", other, self))

    def __rtruediv__(self, other):
        return ops.Div.apply(*_operands("div", _true_div(other), _true_div(self)))

    def __rpow__(self, base):
        return ops.PowTensor.apply(*_operands("pow", base, _floating(self)))

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
        """Largest value over dim (a tensor, like torch.amax; use argmax for the indices)."""
        return ops.Max.apply(self, dim=dim, keepdim=keepdim)

    def min(self, dim=None, keepdim=False):
        """Smallest value over dim (a tensor, like torch.amin; use argmin for the indices)."""
        return ops.Min.apply(self, dim=dim, keepdim=keepdim)

    amax, amin = max, min

    def argmax(self, dim=None, keepdim=False):
        return Tensor._make(np.argmax(self.data, axis=dim, keepdims=keepdim), None, 0)

    def argmin(self, dim=None, keepdim=False):
        return Tensor._make(np.argmin(self.data, axis=dim, keepdims=keepdim), None, 0)

    def logsumexp(self, dim=None, keepdim=False):
        return ops.LogSumExp.apply(_floating(self), dim=dim, keepdim=keepdim)

    def softmax(self, dim=-1):
        return ops.Softmax.apply(_floating(self), dim=dim)

    def log_softmax(self, dim=-1):
        return ops.LogSoftmax.apply(_floating(self), dim=dim)

    # ---------------------------------------------------------------- shapes
    def reshape(self, *shape):
        return ops.Reshape.apply(self, shape=_resolve_shape(_shape_arg(shape), self.shape))

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        start, end = start_dim % self.ndim, end_dim % self.ndim
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
        return ops.GetItem.apply(self, key=_index_arg(key))

    def split(self, split_size_or_sections, dim=0):
        """Pieces of `split_size` along dim (the last may be smaller), or of the given sizes."""
        length = self.shape[dim]
        if isinstance(split_size_or_sections, (int, np.integer)):
            step = int(split_size_or_sections)
            if step <= 0:
                raise ValueError(f"split: split_size must be positive, got {step}")
            sizes = [min(step, length - i) for i in range(0, length, step)] or [0]
        else:
            sizes = list(split_size_or_sections)
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
    return Tensor._make(ufunc(a.data, b.data), None, 0)


def _shape_arg(shape):
    """Accept shapes as `f(2, 3)` and as `f((2, 3))`."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _resolve_shape(shape, from_shape):
    """A reshape target with its -1 filled in, or a clear error."""
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
    """Tensors inside an index become their numpy arrays."""
    if isinstance(key, Tensor):
        return key.data
    if isinstance(key, tuple):
        return tuple(k.data if isinstance(k, Tensor) else k for k in key)
    if isinstance(key, list):
        return np.asarray(key)
    return key


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
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1:
        raise TypeError(f"{op}: all tensors need one dtype, got {sorted(map(str, dtypes))}")
    return tensors


def where(condition, input, other):
    """condition ? input : other, element-wise with broadcasting (torch.where)."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    a, b = _operands("where", input, other)
    return ops.Where.apply(Tensor._make(cond.astype(bool, copy=False), None, 0), a, b)


def maximum(a, b):
    return Tensor.maximum(*_operands("maximum", a, b))


def minimum(a, b):
    return Tensor.minimum(*_operands("minimum", a, b))
