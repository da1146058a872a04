"""PyTorch's indexing rules, as numpy indexing steps (GetItem and SetItem in ops/shape.py)."""
import numpy as np


def _index_arg(key):
    """Tensors (anything with an .array) and lists inside an index become numpy arrays."""
    if hasattr(key, "array"):
        return key.array
    if isinstance(key, tuple):
        return tuple(k.array if hasattr(k, "array") else np.asarray(k) if isinstance(k, list)
                     else k for k in key)
    if isinstance(key, list):
        return np.asarray(key)
    return key


def _is_int(k):
    return (isinstance(k, (int, np.integer)) and not isinstance(k, bool)) or (
        isinstance(k, np.ndarray) and k.ndim == 0 and k.dtype.kind in "iu")


def index_keys(key):
    """A PyTorch index as the numpy indexing steps that give the same result: one key, or two
    where integers meet index arrays. PyTorch selects with the integers first, so t[1, :, idx]
    of a (3, 5, 6) tensor is t[1][:, idx], shape (5, len(idx)); numpy would treat the 1 as an
    index array too and put idx's dim first."""
    if type(key) is int or type(key) is slice:     # the usual x[i], x[a:b]: one step as it is
        return (key,)
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
