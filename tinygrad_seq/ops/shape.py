"""Shape ops: reshape, permute, expand, indexing, joining and splitting."""
import numpy as np

from ..autograd import SliceGrad, unbroadcast
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
    """out = a[key];  da = g scattered back into zeros (repeated indices add up; a basic
    index's as an autograd.SliceGrad, filled when a node needs it)"""
    view = True

    def forward(self, a, keys):
        self.keys = keys
        return _select(a, keys)

    def backward(self, g):
        key = self.keys[-1]
        if _is_basic_index(key):   # basic indexing never selects an element twice
            return SliceGrad(self.in_shapes[0], g.dtype, self.keys, g)
        da = np.zeros(self.in_shapes[0], dtype=g.dtype)
        np.add.at(_select(da, self.keys[:-1]), key, g)
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


def _pieces(a, sizes, dim):
    """Consecutive slices of a along dim, of the given sizes: views, as np.split makes, at a
    tenth of its cost."""
    index, start, pieces = [slice(None)] * a.ndim, 0, []
    for n in sizes:
        index[dim] = slice(start, start + n)
        pieces.append(a[tuple(index)])
        start += n
    return tuple(pieces)


class Cat(_Op):
    """out = the inputs joined along dim;  da_i = the slice of g that came from input i"""
    def forward(self, *arrays, dim=0):
        self.dim = dim
        return np.concatenate(arrays, axis=dim)

    def backward(self, g):
        return _pieces(g, [shape[self.dim] for shape in self.in_shapes], self.dim)


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
        return _pieces(a, sizes, dim)

    def backward(self, *grads):
        return np.concatenate(grads, axis=self.dim)


class Flip(_Op):
    """out = a reversed along dims (a view);  da = g reversed along them"""
    view = True

    def forward(self, a, dims):
        self.dims = dims
        return np.flip(a, dims)

    def backward(self, g):
        return np.flip(g, self.dims)


class Roll(_Op):
    """out = a shifted cyclically by shifts along dims (flattened when dims is None);
    da = g shifted back"""
    def forward(self, a, shifts, dims):
        self.shifts, self.dims = shifts, dims
        return np.roll(a, shifts, dims)

    def backward(self, g):
        back = -np.asarray(self.shifts) if self.dims is not None else -self.shifts
        return np.roll(g, tuple(back) if np.ndim(back) else int(back), self.dims)


class Repeat(_Op):
    """out = a tiled reps times along each dim (PyTorch's repeat; a's shape is padded with
    leading 1s to len(reps));  da = g summed over the copies"""
    def forward(self, a, reps):
        self.reps = reps
        return np.tile(a, reps)

    def backward(self, g):
        shape = (1,) * (len(self.reps) - len(self.in_shapes[0])) + self.in_shapes[0]
        split = [n for r, s in zip(self.reps, shape) for n in (r, s)]
        summed = g.reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        return summed.reshape(self.in_shapes[0])


class Triu(_Op):
    """out = a with the elements below diagonal k of its last two dims set to 0;
    da = g likewise"""
    def forward(self, a, diagonal=0):
        self.diagonal = diagonal
        return np.triu(a, diagonal)

    def backward(self, g):
        return np.triu(g, self.diagonal)


class Tril(_Op):
    """out = a with the elements above diagonal k of its last two dims set to 0;
    da = g likewise"""
    def forward(self, a, diagonal=0):
        self.diagonal = diagonal
        return np.tril(a, diagonal)

    def backward(self, g):
        return np.tril(g, self.diagonal)


class Pad(_Op):
    """out = a with `before` and `after` elements of `value` added on each dim (negative
    amounts crop);  da = the part of g that came from a"""
    def forward(self, a, before, after, value=0.0):
        shape = tuple(n + b + e for n, b, e in zip(a.shape, before, after))
        if any(n < 0 for n in shape):
            raise ValueError(f"padding {list(zip(before, after))} leaves a negative size")
        # the overlap: where a's elements land in out (dest), and which of them do (src)
        self.dest = tuple(slice(max(b, 0), max(b, 0) + n + min(b, 0) + min(e, 0))
                          for n, b, e in zip(a.shape, before, after))
        self.src = tuple(slice(-min(b, 0), n + min(e, 0)) for n, b, e in zip(a.shape, before,
                                                                               after))
        out = np.full(shape, value, a.dtype)
        out[self.dest] = a[self.src]
        return out

    def backward(self, g):
        da = np.zeros(self.in_shapes[0], g.dtype)
        da[self.src] = g[self.dest]
        return da
