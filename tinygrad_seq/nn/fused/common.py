"""What the two implementations of the fused layers share (see __init__.py): the workspace
pool, the order of the steps, the masks of lengths, the stacked weights, the batch's lanes."""
import collections
import sys
import threading

import numpy as np

from ... import threads

POOL = collections.OrderedDict()  # (shape, dtype) -> workspace arrays, last used last
POOL_DEPTH = 8     # per shape and thread: live nodes (and lanes) of one shape at once
POOL_SHAPES = 32   # shapes kept (a loop over many sequence lengths must not hoard memory)
_LOCK = threading.Lock()
MIN_LANE_ROWS = 64  # split a batch into lanes of no fewer rows (charlm's 32 rows run as one)


def _unused_refcount():
    """What sys.getrefcount reports for a pooled array that nobody else holds: the pool's list
    and the call's argument (measured, not assumed: CPython versions count borrowed references
    differently)."""
    probe = [np.empty(0)]
    return sys.getrefcount(probe[0])


_UNUSED = _unused_refcount()


def workspace(shape, dtype):
    """An uninitialised array for a whole sequence's gates, states or gradients.

    Fresh arrays of tens of MB cost more in page faults (first touch of new memory) than the
    cell kernels that fill them, every training step; so arrays are kept here and handed out
    again once no node holds them any more (after backward frees its saved buffers), which the
    reference count says. The pool keeps the last POOL_SHAPES shapes used.
    """
    key = (shape, np.dtype(dtype))
    with _LOCK:
        arrays = POOL.pop(key, [])
        POOL[key] = arrays
        if len(POOL) > POOL_SHAPES:
            POOL.popitem(last=False)   # the least recently used shape
        for i in range(len(arrays)):
            if sys.getrefcount(arrays[i]) == _UNUSED:
                return arrays[i]
        a = np.empty(shape, dtype)
        if len(arrays) < POOL_DEPTH * threads.get_num_threads():
            arrays.append(a)
        return a


def batch_lanes(B):
    """The batch's rows as slices: a lane per thread, of at least MIN_LANE_ROWS rows each."""
    n = max(1, min(threads.get_num_threads(), B // MIN_LANE_ROWS))
    bounds = [B * k // n for k in range(n + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


def stack_weights(w_ih, w_hh, bias):
    """[W_hh^T ; bias ; W_ih^T]: the weights of hx's columns (bias None: a zero row)."""
    w = np.empty((w_hh.shape[1] + 1 + w_ih.shape[1], w_hh.shape[0]), w_hh.dtype)
    H = w_hh.shape[1]
    w[:H] = w_hh.T
    w[H] = 0 if bias is None else bias
    w[H + 1:] = w_ih.T
    return w


def operands(x, h0, reverse, with_input=True, fill=True):
    """hx (T + 1, B, H + 1 + I): row block s = [h_{s-1} | 1 | x at step s], the step's operand
    of [W_hh^T ; b ; W_ih^T]; h_{-1} = h0 filled, the states of later steps filled by the
    loop as it goes. with_input=False leaves x out, (T + 1, B, H + 1): for a one-hot input,
    which the loops read as symbols (a row gather) instead. fill=False: hx not filled yet,
    and a function that fills it (for a lane's thread to call)."""
    T, B, I = x.shape
    H = h0.shape[1]
    hx = workspace((T + 1, B, H + 1 + (I if with_input else 0)), x.dtype)

    def filled():
        hx[0, :, :H] = h0
        hx[:, :, H] = 1
        if with_input:
            hx[:T, :, H + 1:] = x[::-1] if reverse else x
            hx[T, :, H + 1:] = 0
        return hx
    return filled() if fill else (hx, filled)


def as_steps(x):
    """x (T, B, I), or (B, I) for one step (a fused cell, which thus needs no reshape node)."""
    return x if x.ndim == 3 else x[None]


def step_order(T, reverse):
    """The time of step s: s, or T - 1 - s in reverse."""
    return np.arange(T)[::-1] if reverse else np.arange(T)


def valid_steps(order, lengths):
    """(T, B) bool, is step s inside each sequence; None without lengths."""
    return None if lengths is None else order[:, None] < np.asarray(lengths)[None, :]


def add_up(parts):
    """The lanes' weight gradients and squared step norms -> their sums and the step norms."""
    dw = [sum(grads) for grads in zip(*(p[0] for p in parts))]
    norms = [np.sqrt(sum(squares)).tolist() for squares in zip(*(p[1] for p in parts))]
    return dw, norms


def split_weight_grad(dw_t, H, has_bias):
    """dw^T (G*H, H + 1 + I) -> dW_ih (G*H, I), dW_hh (G*H, H), db (G*H,) or None."""
    return (np.ascontiguousarray(dw_t[:, H + 1:]), np.ascontiguousarray(dw_t[:, :H]),
            dw_t[:, H].copy() if has_bias else None)


def input_grad(node, x_shape, dtype):
    """An array for the input's gradient, steps in run order (None if x needs none)."""
    return None if node.parents[0] is None else np.empty(x_shape, dtype)


def time_order(dx, order, shape):
    """dx with the steps put back in time order, shaped as x was ((B, I) for one step)."""
    return None if dx is None else (dx if order[0] == 0 else dx[order]).reshape(shape)


def gate_values(act, order, valid, H, gates):
    """{gate: (T, B, H) values in time order} of the sigmoid gates named in `gates` (name ->
    block of act (T, B, G*H), steps in run order, as the cell kernels write it), and the (T, B)
    mask of steps inside each sequence (None: every step); for pictures (viz), read from the
    buffers forward saved while they live (backward(retain_graph=True) keeps them)."""
    act = act[order]
    return ({name: act[:, :, k * H:(k + 1) * H] for name, k in gates.items()},
            None if valid is None else valid[order])
