"""Tensor's shape and indexing methods: reshape, permute, expand, indexing, split, and the ops
that pick or place elements by index. A family of methods of `Tensor` (tensor.py), kept in
its own file; each is a thin call of its op in ops/ (shape.py, index.py).
"""
import math

import numpy as np

from . import ops
from .indexing import index_keys


class ShapeOps:
    """The shape and indexing methods of Tensor (a base class of it)."""
    __slots__ = ()     # the storage is Tensor's

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
        return ops.GetItem.apply(self, keys=index_keys(key))

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

    def narrow(self, dim, start, length):
        """The slice [start, start + length) along dim (a view)."""
        dim = ops._axis("narrow", dim, self.ndim)
        size = self.shape[dim] if self.ndim else 1
        start = start + size if start < 0 else start
        if not (0 <= start <= size and 0 <= length <= size - start):
            raise IndexError(f"narrow: start {start} and length {length} do not fit in dim "
                             f"{dim} of size {size} (shape {self.shape})")
        return self[(slice(None),) * dim + (slice(start, start + length),)]

    def t(self):
        """The transpose of a matrix (a 0-d or 1-d tensor as it is), as torch.t."""
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with at most 2 dims, got shape {self.shape}; "
                             f"use transpose(dim0, dim1)")
        return self.transpose(0, 1) if self.ndim == 2 else self.reshape(self.shape)

    def contiguous(self):
        """This tensor if its memory is C-ordered, else a C-ordered copy (on the graph)."""
        return self if self.array.flags.c_contiguous else self.clone()

    def view_as(self, other):
        return self.reshape(other.shape)

    reshape_as = view_as

    def flip(self, *dims):
        dims = _shape_arg(dims)
        return ops.Flip.apply(self, dims=ops._normalize_dims("flip", dims, self.ndim))

    def roll(self, shifts, dims=None):
        """Shift elements cyclically along dims (of the flattened tensor when dims is None)."""
        if dims is None:
            if not isinstance(shifts, (int, np.integer)):
                raise ValueError(f"roll: without dims, shifts must be one integer, got {shifts}")
            return ops.Roll.apply(self, shifts=int(shifts), dims=None)
        shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
        dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
        if len(shifts) != len(dims):
            raise ValueError(f"roll: {len(shifts)} shifts for {len(dims)} dims")
        dims = tuple(ops._axis("roll", d, self.ndim) for d in dims)
        return ops.Roll.apply(self, shifts=shifts, dims=dims)

    def repeat(self, *sizes):
        """Tile this tensor sizes[i] times along each dim (torch's repeat; numpy's tile)."""
        sizes = _shape_arg(sizes)
        if len(sizes) < self.ndim or any(not isinstance(n, (int, np.integer)) or n < 0
                                         for n in sizes):
            raise ValueError(f"repeat: expected at least {self.ndim} non-negative repeat counts "
                             f"for shape {self.shape}, got {sizes}")
        return ops.Repeat.apply(self, reps=tuple(int(n) for n in sizes))

    def tile(self, *dims):
        """As repeat, but fewer counts than dims repeat the last dims (torch.tile)."""
        dims = _shape_arg(dims)
        return self.repeat((1,) * (self.ndim - len(dims)) + tuple(dims))

    def triu(self, diagonal=0):
        if self.ndim < 2:
            raise ValueError(f"triu: expects at least 2 dims, got shape {self.shape}")
        return ops.Triu.apply(self, diagonal=diagonal)

    def tril(self, diagonal=0):
        if self.ndim < 2:
            raise ValueError(f"tril: expects at least 2 dims, got shape {self.shape}")
        return ops.Tril.apply(self, diagonal=diagonal)

    def gather(self, dim, index):
        """out[p] = self[p with its dim-th coordinate replaced by index[p]] (torch.gather)."""
        dim, index = self._along_index("gather", dim, index)
        return ops.Gather.apply(self, index=index, dim=dim)

    def scatter(self, dim, index, src=None, *, value=None):
        """A copy with src's values (or a number: src or value=) written at index along dim;
        where an index repeats, which write wins is not defined (as in PyTorch)."""
        dim, index = self._along_index("scatter", dim, index)
        src = self._scatter_source("scatter", index, value if src is None else src)
        return ops.Scatter.apply(self, src, index=index, dim=dim)

    def scatter_add(self, dim, index, src):
        """A copy with src's values added at index along dim (repeated indices add up)."""
        dim, index = self._along_index("scatter_add", dim, index)
        src = self._scatter_source("scatter_add", index, src)
        return ops.ScatterAdd.apply(self, src, index=index, dim=dim)

    def index_select(self, dim, index):
        """The entries at the 1-d integer `index` along dim (repeats allowed)."""
        dim = ops._axis("index_select", dim, self.ndim)
        index = _integer_index("index_select", index)
        if index.ndim > 1:
            raise IndexError(f"index_select: index must be 1-d, got shape {index.shape}")
        return self[(slice(None),) * dim + (index.reshape(-1),)]

    def _along_index(self, op, dim, index):
        """dim as an axis and index as an int64 array of this rank that fits (PyTorch's rule:
        no bigger than self in the other dims, entries within the size of dim)."""
        dim = ops._axis(op, dim, self.ndim)
        index = _integer_index(op, index)
        if index.ndim != self.ndim or any(i > n for d, (i, n) in enumerate(
                zip(index.shape, self.shape)) if d != dim):
            raise IndexError(f"{op}: index of shape {index.shape} does not fit a tensor of "
                             f"shape {self.shape} along dim {dim} (same number of dims, no "
                             f"bigger in the others)")
        if index.size and (index.min() < 0 or index.max() >= self.shape[dim]):
            raise IndexError(f"{op}: index values must be in [0, {self.shape[dim]}) for dim "
                             f"{dim}, got {index.min()}..{index.max()}")
        return dim, index

    def _scatter_source(self, op, index, src):
        if src is None:
            raise TypeError(f"{op}: expected src, a tensor or a number")
        if not isinstance(src, ShapeOps):      # a number (every Tensor is a ShapeOps)
            return self._make(np.full(index.shape, src, self.dtype), None, 0)
        if src.ndim != index.ndim or any(i > n for i, n in zip(index.shape, src.shape)):
            raise IndexError(f"{op}: src of shape {src.shape} is smaller than the index "
                             f"{index.shape}")
        return src if src.dtype == self.dtype else src.to(self.dtype)


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


def _integer_index(op, index):
    index = np.asarray(getattr(index, "array", index))   # a Tensor's array, or array-like
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must hold integers (int64), got {index.dtype}")
    return index.astype(np.int64, copy=False)
