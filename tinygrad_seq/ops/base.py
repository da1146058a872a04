"""What every op shares: the `_Op` base class and the handling of `dim` arguments."""
import numpy as np

from ..autograd import Function


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
    if type(dim) is int and -ndim <= dim < ndim:     # the usual case, without the checks below
        return (dim % ndim,)
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
