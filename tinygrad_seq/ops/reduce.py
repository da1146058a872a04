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
