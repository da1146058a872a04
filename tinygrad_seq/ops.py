"""Primitive ops: each one forward and its backward side by side, on numpy arrays.

A docstring gives the formula: `g` is the gradient flowing into the op's output, `da` the
gradient it sends to input `a`. backward may return a gradient with the output's broadcast
shape; `autograd.unbroadcast` reduces it to the input's shape in one place. backward returns
None for an input that needs no gradient (`self.needs(i)` tells which do).
"""
import math

import numpy as np

from .autograd import Function, unbroadcast
from .kernels import backend


def _axis(op, dim, ndim):
    """One dim (negatives count from the end) -> a non-negative axis, or a clear error. As in
    PyTorch, a 0-d tensor accepts dim 0 and -1."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an integer, got {dim!r}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dims "
                         f"(expected {-n}..{n - 1})")
    return int(dim) % n


def _normalize_dims(op, dim, ndim):
    """dim (None, int or tuple, negatives allowed) -> sorted tuple of non-negative axes; a 0-d
    tensor has none to reduce (dim 0 or -1 is accepted and reduces nothing)."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = [_axis(op, d, ndim) for d in dims]
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dim} names the same axis twice")
    return tuple(sorted(out)) if ndim else ()


def _keep_reduced(g, in_shape, dims, keepdim):
    """Give a reduced gradient back its reduced axes (as size 1) so it broadcasts to the input."""
    if not keepdim and g.ndim:
        g = np.expand_dims(g, dims)
    return g


def _broadcast_copy(g, shape):
    """g broadcast to shape, as a new array (faster than np.broadcast_to for small arrays)."""
    out = np.empty(shape, dtype=g.dtype)
    out[...] = g
    return out


class _Op(Function):
    def needs(self, i):
        return self.parents[i] is not None


# ------------------------------------------------------------------------------ element-wise
class Add(_Op):
    """out = a + b;  da = g, db = g"""
    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(_Op):
    """out = a - b;  da = g, db = -g"""
    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, -g


class Mul(_Op):
    """out = a * b;  da = g * b, db = g * a"""
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, g):
        a, b = self.saved
        return (g * b if self.needs(0) else None), (g * a if self.needs(1) else None)


class Div(_Op):
    """out = a / b;  da = g / b, db = -g * a / b^2"""
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, g):
        a, b = self.saved
        da = g / b if self.needs(0) else None
        db = -g * a / (b * b) if self.needs(1) else None
        return da, db


class Neg(_Op):
    """out = -a;  da = -g"""
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Pow(_Op):
    """out = a ** p (p a Python number);  da = g * p * a^(p-1), and 0 when p = 0"""
    def forward(self, a, exponent):
        self.exponent = exponent
        self.save_for_backward(a)
        return a ** exponent

    def backward(self, g):
        (a,) = self.saved
        if self.exponent == 0:          # a^0 = 1 everywhere, also at a = 0 (0 * 0^-1 is nan)
            return np.zeros(a.shape, g.dtype)
        return g * self.exponent * a ** (self.exponent - 1)


class PowTensor(_Op):
    """out = a ** b;  da = g * b * a^(b-1) (0 where b = 0), db = g * out * log(a) (0 where
    a = 0 and b >= 0: the limit, as PyTorch takes it)"""
    op = "pow"

    def forward(self, a, b):
        out = a ** b
        self.save_for_backward(a, b, out)
        return out

    def backward(self, g):
        a, b, out = self.saved
        da = db = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.needs(0):
                da = np.where(b == 0, 0, g * b * a ** (b - 1))
            if self.needs(1):
                db = g * np.where((a == 0) & (b >= 0), 0, out * np.log(a))
        return da, db


class Exp(_Op):
    """out = e^a;  da = g * out"""
    def forward(self, a):
        out = np.exp(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return g * out


class Log(_Op):
    """out = ln a;  da = g / a"""
    def forward(self, a):
        self.save_for_backward(a)
        return np.log(a)

    def backward(self, g):
        (a,) = self.saved
        return g / a


class Sqrt(_Op):
    """out = sqrt(a);  da = g / (2 out)"""
    def forward(self, a):
        out = np.sqrt(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return g / (2 * out)


class Tanh(_Op):
    """out = tanh(a);  da = g * (1 - out^2)"""
    def forward(self, a):
        out = np.tanh(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return backend.tanh_backward(out, g)


class Sigmoid(_Op):
    """out = 1 / (1 + e^-a);  da = g * out * (1 - out)"""
    def forward(self, a):
        out = backend.sigmoid_forward(a)   # one pass; stable at any |a| (kernels/__init__.py)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return backend.sigmoid_backward(out, g)


class Relu(_Op):
    """out = max(a, 0);  da = g * [a > 0]"""
    def forward(self, a):
        out = np.maximum(a, 0)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return backend.relu_backward(out, g)


class Abs(_Op):
    """out = |a|;  da = g * sign(a)"""
    def forward(self, a):
        self.save_for_backward(a)
        return np.abs(a)

    def backward(self, g):
        (a,) = self.saved
        return g * np.sign(a)


class Maximum(_Op):
    """out = max(a, b);  da = g * [a > b], db = g * [b > a], ties split the gradient in half"""
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return np.maximum(a, b)

    def backward(self, g):
        a, b = self.saved
        to_a = ((a > b) + 0.5 * (a == b)).astype(g.dtype)
        return g * to_a, g * (1 - to_a)


class Minimum(_Op):
    """out = min(a, b);  da = g * [a < b], db = g * [b < a], ties split the gradient in half"""
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return np.minimum(a, b)

    def backward(self, g):
        a, b = self.saved
        to_a = ((a < b) + 0.5 * (a == b)).astype(g.dtype)
        return g * to_a, g * (1 - to_a)


class Where(_Op):
    """out = cond ? a : b;  da = g * cond, db = g * !cond (cond gets no gradient)"""
    def forward(self, cond, a, b):
        self.save_for_backward(cond)
        return np.where(cond, a, b)

    def backward(self, g):
        (cond,) = self.saved
        zero = np.zeros((), g.dtype)
        return None, np.where(cond, g, zero), np.where(cond, zero, g)


class Clamp(_Op):
    """out = min(max(a, lo), hi);  da = g * [lo <= a <= hi]"""
    def forward(self, a, lo=None, hi=None):
        self.save_for_backward(a)
        self.lo, self.hi = lo, hi
        return np.clip(a, lo, hi)

    def backward(self, g):
        (a,) = self.saved
        inside = np.ones(a.shape, dtype=bool)
        if self.lo is not None:
            inside &= a >= self.lo
        if self.hi is not None:
            inside &= a <= self.hi
        return g * inside


class Clone(_Op):
    """out = a copy of a (new memory);  da = g"""
    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return g


class Cast(_Op):
    """out = a as another float dtype;  da = g as a's dtype"""
    def forward(self, a, dtype):
        self.in_dtype = a.dtype
        return a.astype(dtype)

    def backward(self, g):
        return g.astype(self.in_dtype)


# ------------------------------------------------------------------------------ matmul, linear
def _product(a, b):
    """a @ b for 2-D a and b, avoiding two shapes OpenBLAS runs slowly (measured on one core)."""
    if a.shape[1] == 1:
        # an outer product: the same numbers, 4x faster than its GEMM with K = 1
        # (a (1000, 1) input times (1, 256) weights, every step of the seed example)
        return a * b
    if a.shape[0] <= 32 and b.flags.f_contiguous and b.size >= 16384:
        # x @ W.T with a few rows, as every recurrent step: computed as (W @ x.T).T,
        # 1.4x faster at 32 x 256 @ 256 x 768; equal up to rounding (mostly bit for bit)
        return np.ascontiguousarray((b.T @ a.T).T)
    return a @ b


class Matmul(_Op):
    """out = a @ b (numpy rules: 1-D operands, broadcast batch dims);  da = g @ b^T, db = a^T @ g"""
    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("both operands need at least 1 dimension")
        k_a = a.shape[-1]
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if k_a != k_b:
            raise ValueError(f"inner dimensions differ: {a.shape} @ {b.shape}; expected "
                             f"a.shape[-1] ({k_a}) == b.shape[-2] ({k_b})")
        self.save_for_backward(a, b)
        return _product(a, b) if a.ndim == b.ndim == 2 else a @ b

    def backward(self, g):
        a, b = self.saved
        # treat vectors as matrices (a row, b a column) so one formula covers every case
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        da = db = None
        if self.needs(0):
            da = unbroadcast(g @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape)
        if self.needs(1):
            if a.ndim == b.ndim == 2 and b.flags.f_contiguous and not b.flags.c_contiguous:
                # b is a transposed weight (x @ W.T): computing db in b's layout, as PyTorch
                # does, makes W's gradient contiguous; 1.45x faster at 32 x 256 @ 256 x 1024
                db = (g.T @ a).T
            else:
                db = unbroadcast(a2.swapaxes(-1, -2) @ g, b2.shape).reshape(b.shape)
        return da, db


class Linear(_Op):
    """out = x W^T + b (x (..., in), W (out, in), b (out,));  dx = g W, dW = g^T x, db = g summed

    One node for an affine map, as torch.nn.functional.linear: the layers and the recurrent
    cells' projections. W's gradient comes out in W's own layout, with no transpose node.
    """
    def forward(self, x, weight, bias=None):   # shapes checked in nn.functional.linear
        rows = x.reshape(math.prod(x.shape[:-1]), x.shape[-1])
        self.save_for_backward(rows, weight)
        self.has_bias = bias is not None
        out = _product(rows, weight.T)
        if bias is not None:
            out += bias   # out is a new array
        return out.reshape(x.shape[:-1] + weight.shape[:1])

    def backward(self, g):
        rows, weight = self.saved
        g = g.reshape(rows.shape[0], weight.shape[0])
        dx = (g @ weight).reshape(self.in_shapes[0]) if self.needs(0) else None
        dw = g.T @ rows if self.needs(1) else None
        if not self.has_bias:
            return dx, dw
        db = unbroadcast(g, weight.shape[:1]) if self.needs(2) else None
        return dx, dw, db


# ------------------------------------------------------------------------------ reductions
class Sum(_Op):
    """out = sum of a over dim;  da = g broadcast back over dim"""
    def forward(self, a, dim=None, keepdim=False):
        self.dims, self.keepdim = _normalize_dims("sum", dim, a.ndim), keepdim
        return np.asarray(a.sum(axis=self.dims, keepdims=keepdim))

    def backward(self, g):
        return _broadcast_copy(_keep_reduced(g, self.in_shapes[0], self.dims, self.keepdim),
                               self.in_shapes[0])


class Mean(_Op):
    """out = mean of a over dim;  da = g / n broadcast back over dim"""
    def forward(self, a, dim=None, keepdim=False):
        self.dims, self.keepdim = _normalize_dims("mean", dim, a.ndim), keepdim
        self.count = int(np.prod([a.shape[d] for d in self.dims]))
        return np.asarray(a.mean(axis=self.dims, keepdims=keepdim))

    def backward(self, g):
        g = _keep_reduced(g, self.in_shapes[0], self.dims, self.keepdim) / self.count
        return _broadcast_copy(g, self.in_shapes[0])


class TakeAlong(_Op):
    """out = a at `indices` along dim;  da = g scattered back to those indices"""

    def forward(self, a, indices, dim, keepdim):
        self.indices, self.dim, self.keepdim = indices, dim, keepdim
        out = np.take_along_axis(a, indices, axis=dim)
        return out if keepdim else out.squeeze(dim)

    def backward(self, g):
        da = np.zeros(self.in_shapes[0], g.dtype)
        g = g if self.keepdim else np.expand_dims(g, self.dim)
        np.put_along_axis(da, self.indices, g, axis=self.dim)
        return da


class MaxAlong(TakeAlong):
    """out = the max along dim, at the indices argmax found;  da = g at those indices only"""
    op = "max"


class MinAlong(TakeAlong):
    """out = the min along dim, at the indices argmin found;  da = g at those indices only"""
    op = "min"


class Max(_Op):
    """out = max of a over dim;  da = g at the maxima (split evenly between ties)"""
    reduce = staticmethod(np.max)

    def forward(self, a, dim=None, keepdim=False):
        self.dims, self.keepdim = _normalize_dims(self.op, dim, a.ndim), keepdim
        if a.size == 0:
            raise ValueError("cannot reduce an empty tensor")
        out = np.asarray(self.reduce(a, axis=self.dims, keepdims=True))
        self.save_for_backward(a, out)
        return out if keepdim else out.reshape([n for i, n in enumerate(out.shape)
                                                if i not in self.dims])

    def backward(self, g):
        a, out = self.saved
        hits = a == out
        g = _keep_reduced(g, a.shape, self.dims, self.keepdim)
        return g * hits / hits.sum(axis=self.dims, keepdims=True).astype(g.dtype)


class Min(Max):
    """out = min of a over dim;  da = g at the minima (split evenly between ties)"""
    reduce = staticmethod(np.min)


class LogSumExp(_Op):
    """out = log sum e^a over dim (shifted by the max);  da = g * e^(a - out)"""
    def forward(self, a, dim=None, keepdim=False):
        self.dims, self.keepdim = _normalize_dims("logsumexp", dim, a.ndim), keepdim
        m = np.max(a, axis=self.dims, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        out = np.log(np.sum(np.exp(a - m), axis=self.dims, keepdims=True)) + m
        self.save_for_backward(a, out)
        return out if keepdim else np.squeeze(out, axis=self.dims)

    def backward(self, g):
        a, out = self.saved
        return _keep_reduced(g, a.shape, self.dims, self.keepdim) * np.exp(a - out)


class Softmax(_Op):
    """out = e^a / sum e^a over dim;  da = out * (g - sum(g * out))"""
    def forward(self, a, dim):
        self.dim = _normalize_dims("softmax", dim, a.ndim)
        out = backend.softmax_forward(a, self.dim)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return backend.softmax_backward(out, g, self.dim)


class LogSoftmax(_Op):
    """out = a - logsumexp(a) over dim;  da = g - e^out * sum(g)"""
    op = "log_softmax"

    def forward(self, a, dim):
        self.dim = _normalize_dims("log_softmax", dim, a.ndim)
        out = backend.log_softmax_forward(a, self.dim)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return backend.log_softmax_backward(out, g, self.dim)


# ------------------------------------------------------------------------------ shapes
class Reshape(_Op):
    """out = a with a new shape (same elements);  da = g reshaped back"""
    view = True

    def forward(self, a, shape):
        return a.reshape(shape)

    def backward(self, g):
        return g.reshape(self.in_shapes[0])


class Permute(_Op):
    """out = a with its axes reordered;  da = g with the inverse order"""
    view = True

    def forward(self, a, dims):
        self.dims = dims
        return a.transpose(dims)

    def backward(self, g):
        return g.transpose(np.argsort(self.dims))


class Expand(_Op):
    """out = a broadcast to a larger shape (a view);  da = g summed back (by unbroadcast)"""
    view = True

    def forward(self, a, shape):
        return np.broadcast_to(a, shape)

    def backward(self, g):
        return g


def _select(a, keys):
    """a[keys[0]][keys[1]]...: an index in numpy steps (tensor._index_keys makes them); all
    steps but the last are basic, so they give views."""
    for key in keys:
        a = a[key]
    return a


class GetItem(_Op):
    """out = a[key];  da = g scattered back into zeros (repeated indices add up)"""
    view = True

    def forward(self, a, keys):
        self.keys = keys
        return _select(a, keys)

    def backward(self, g):
        da = np.zeros(self.in_shapes[0], dtype=g.dtype)
        target, key = _select(da, self.keys[:-1]), self.keys[-1]
        if _is_basic_index(key):
            target[key] = g     # basic indexing never selects an element twice
        else:
            np.add.at(target, key, g)
        return da


class SetItem(_Op):
    """out = a with out[key] = v (written into a's memory: x[key] = v is in place);
    da = g with zeros at key, dv = g[key] (summed back to v's shape)"""
    def forward(self, a, v, keys):
        self.keys = keys
        _select(a, keys[:-1])[keys[-1]] = v
        return a

    def backward(self, g):
        da = None
        if self.needs(0):
            da = g.copy()
            _select(da, self.keys[:-1])[self.keys[-1]] = 0
        dv = _select(g, self.keys) if self.needs(1) else None
        return da, dv


def _is_basic_index(key):
    parts = key if isinstance(key, tuple) else (key,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) for p in parts)


class Cat(_Op):
    """out = the inputs joined along dim;  da_i = the slice of g that came from input i"""
    def forward(self, *arrays, dim=0):
        self.dim = dim
        return np.concatenate(arrays, axis=dim)

    def backward(self, g):
        cuts = np.cumsum([s[self.dim] for s in self.in_shapes])[:-1]
        return tuple(np.split(g, cuts, axis=self.dim))


class Stack(_Op):
    """out = the inputs stacked along a new axis dim;  da_i = g[..., i, ...]"""
    def forward(self, *arrays, dim=0):
        self.dim = dim
        return np.stack(arrays, axis=dim)

    def backward(self, g):
        return tuple(np.moveaxis(g, self.dim, 0))


class Split(_Op):
    """outs = consecutive pieces of a along dim, of the given sizes;  da = the pieces' g joined"""
    view = True

    def forward(self, a, sizes, dim):
        self.dim = dim
        index, start, pieces = [slice(None)] * a.ndim, 0, []
        for n in sizes:     # views, as np.split makes, at a tenth of its cost
            index[dim] = slice(start, start + n)
            pieces.append(a[tuple(index)])
            start += n
        return tuple(pieces)

    def backward(self, *grads):
        return np.concatenate(grads, axis=self.dim)


# ------------------------------------------------------------------------------ nn primitives
class Dropout(_Op):
    """out = a * mask (mask holds 0 or 1/(1-p));  da = g * mask"""
    def forward(self, a, mask):
        self.save_for_backward(mask)
        return a * mask

    def backward(self, g):
        (mask,) = self.saved
        return g * mask


class Embedding(_Op):
    """out = weight[indices];  dweight = g rows added into the rows they came from"""
    def forward(self, weight, indices, padding_idx=None):
        self.save_for_backward(indices)
        self.padding_idx = padding_idx
        return weight[indices]

    def backward(self, g):
        (indices,) = self.saved
        dweight = backend.embedding_backward(indices, g, self.in_shapes[0][0])
        if self.padding_idx is not None:
            dweight[self.padding_idx] = 0
        return dweight, None


class CrossEntropy(_Op):
    """loss_i = logsumexp(x_i) - x_i[t_i];  dx_i = g_i * (softmax(x_i) - onehot(t_i))

    logits (N, C) with targets (N,), or (C,) with a scalar target; targets equal to
    ignore_index add nothing and are left out of the mean.
    """
    op = "cross_entropy"

    def forward(self, logits, target, ignore_index=-100, reduction="mean"):
        classes = logits.shape[-1]
        t = target.reshape(-1)
        losses, probs = backend.cross_entropy_forward(logits.reshape(-1, classes), t,
                                                      ignore_index)
        self.save_for_backward(probs, t)
        self.ignore_index, self.reduction = ignore_index, reduction
        self.count = int(np.count_nonzero(t != ignore_index))
        if reduction == "none":
            return losses.reshape(target.shape)
        total = losses.sum()
        return np.asarray(total / self.count if reduction == "mean" else total,
                          dtype=logits.dtype)

    def backward(self, g):
        probs, t = self.saved
        # the gradient of each row's loss: g itself ("none"), or g shared by all rows
        scale = g.reshape(-1) if self.reduction == "none" else \
            g / self.count if self.reduction == "mean" else g
        dx = backend.cross_entropy_backward(probs, t, self.ignore_index, scale)
        return dx.reshape(self.in_shapes[0]), None


class BinaryCrossEntropyWithLogits(_Op):
    """loss = max(x, 0) - x*t + log(1 + e^-|x|);  dx = g * (sigmoid(x) - t), dt = -g * x"""
    op = "binary_cross_entropy_with_logits"

    def forward(self, x, t):
        self.save_for_backward(x, t)
        return np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))

    def backward(self, g):
        x, t = self.saved
        e = np.exp(-np.abs(x))
        sig = np.where(x >= 0, 1, e) / (1 + e)
        return g * (sig - t), (-g * x if self.needs(1) else None)
