"""Reductions: sums, means, max/min, logsumexp, softmax."""
import numpy as np

from ..kernels import backend
from .base import _Op, _normalize_dims, _keep_reduced, _broadcast_copy


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


class Prod(_Op):
    """out = product of a along dim (or of all elements);  da = g * the product of the others
    (left and right running products: exact where a holds zeros, unlike out / a)"""
    def forward(self, a, dim=None, keepdim=False):
        self.dim, self.keepdim = dim, keepdim
        self.save_for_backward(a)
        return np.asarray(np.prod(a, axis=dim, keepdims=keepdim))

    def backward(self, g):
        (a,) = self.saved
        flat = a.reshape(-1) if self.dim is None else a
        axis = 0 if self.dim is None else self.dim
        ones = np.ones_like(np.take(flat, [0], axis=axis))
        left = np.concatenate([ones, np.cumprod(flat, axis=axis)], axis=axis)
        right = np.flip(np.cumprod(np.flip(flat, axis), axis=axis), axis)
        right = np.concatenate([right, ones], axis=axis)
        n = flat.shape[axis]
        others = np.take(left, range(n), axis=axis) * np.take(right, range(1, n + 1), axis=axis)
        if self.dim is None:
            return (g * others).reshape(a.shape)
        return (g if self.keepdim else np.expand_dims(g, self.dim)) * others


class Cumsum(_Op):
    """out[i] = a[0] + ... + a[i] along dim;  da[i] = g[i] + ... + g[n-1] (the sum reversed)"""
    def forward(self, a, dim):
        self.dim = dim
        return np.cumsum(a, axis=dim)

    def backward(self, g):
        return np.flip(np.cumsum(np.flip(g, self.dim), axis=self.dim), self.dim)


class Norm(_Op):
    """out = (sum |a|^p)^(1/p) over dim (p = inf: max |a|);  da = g * sign(a) |a|^(p-1) /
    out^(p-1) (0 where out is 0; for inf, g shared by the largest |a|)"""
    def forward(self, a, p=2.0, dim=None, keepdim=False):
        self.p, self.dims, self.keepdim = p, _normalize_dims("norm", dim, a.ndim), keepdim
        size = np.abs(a)
        if p == np.inf:
            out = size.max(axis=self.dims, keepdims=True)
        elif p == 2:
            out = np.sqrt((a * a).sum(axis=self.dims, keepdims=True))
        else:
            out = (size ** p).sum(axis=self.dims, keepdims=True) ** (1 / p)
        self.save_for_backward(a, out)
        return out if keepdim else out.reshape([n for i, n in enumerate(out.shape)
                                                if i not in self.dims])

    def backward(self, g):
        a, out = self.saved
        g = _keep_reduced(g, a.shape, self.dims, self.keepdim)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.p == np.inf:
                hits = np.abs(a) == out
                share = hits / hits.sum(axis=self.dims, keepdims=True)
                da = g * np.sign(a) * share
            elif self.p == 2:
                da = g * a / out
            else:
                da = g * np.sign(a) * np.abs(a) ** (self.p - 1) / out ** (self.p - 1)
        return np.where(out == 0, 0, da)


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
