"""Shape ops: reshape, permute, expand, indexing, joining and splitting."""
import numpy as np

from ..autograd import unbroadcast
from .base import _Op


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
