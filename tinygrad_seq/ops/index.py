"""Ops that pick or place elements by index along one dim: gather, scatter, scatter_add.

PyTorch's rule, for dim d and an index of the input's rank: the element at position p of the
index says where along d to read (gather) or write (scatter); the other coordinates are p's
own. The index may be smaller than the input in every dim but d.
"""
import numpy as np

from .base import _Op


def _coordinates(index, dim):
    """The full coordinates that index (along dim) and its own positions (elsewhere) name."""
    grid = list(np.ogrid[tuple(slice(n) for n in index.shape)])
    grid[dim] = index
    return tuple(grid)


class Gather(_Op):
    """out[p] = a[p with its dim-th coordinate replaced by index[p]];  da = g added at those
    places (repeated indices add up)"""
    def forward(self, a, index, dim):
        self.coords = _coordinates(index, dim)
        return a[self.coords]

    def backward(self, g):
        da = np.zeros(self.in_shapes[0], g.dtype)
        np.add.at(da, self.coords, g)
        return da


class Scatter(_Op):
    """out = a with out[index positions] = src (src's first index.shape elements);  da = g
    with zeros where src was written, dsrc = g at those places"""
    def forward(self, a, src, index, dim):
        self.coords, self.part = _coordinates(index, dim), tuple(slice(n) for n in index.shape)
        out = a.copy()
        out[self.coords] = src[self.part]
        return out

    def backward(self, g):
        da = dsrc = None
        if self.needs(0):
            da = g.copy()
            da[self.coords] = 0
        if self.needs(1):
            dsrc = np.zeros(self.in_shapes[1], g.dtype)
            dsrc[self.part] = g[self.coords]
        return da, dsrc


class ScatterAdd(_Op):
    """out = a with src added at the index positions (repeated indices add up);  da = g,
    dsrc = g at those places"""
    op = "scatter_add"

    def forward(self, a, src, index, dim):
        self.coords, self.part = _coordinates(index, dim), tuple(slice(n) for n in index.shape)
        out = a.copy()
        np.add.at(out, self.coords, src[self.part])
        return out

    def backward(self, g):
        dsrc = None
        if self.needs(1):
            dsrc = np.zeros(self.in_shapes[1], g.dtype)
            dsrc[self.part] = g[self.coords]
        return g, dsrc
