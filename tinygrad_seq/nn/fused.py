"""Fused recurrent layers: one tape node per layer and direction, forward over the whole sequence,
backward through time in reverse. The same numbers as the composed cells in cells.py, faster.

The recipe (cuDNN's, and PyTorch's CPU kernels'):
- one GEMM per step for everything the gates need from the previous state *and* the input: the
  step's operand is `hx[s] = [h_{s-1} | 1 | x_s]` (B, H + 1 + I), the weights are stacked to match,
  `w = [W_hh^T ; b ; W_ih^T]` (H + 1 + I, G*H). The ones column carries the biases and the input
  columns carry the input projection, so a small input (the seed workload has one feature, whose
  projection for all steps at once is a memory-bound write) costs a few more rows of a GEMM that
  runs anyway. All steps' operands live in one array, filled as the loop goes;
- the gate non-linearities in the element-wise cell kernels of tinygrad_seq.kernels;
- only what backward needs is saved: `hx`, the gate activations, the cell states;
- backward runs the steps in reverse, computing the gate gradients with the cell kernels and
  `dh_{s-1} = dgates_s W_hh` (one GEMM per step); every weight and bias gradient comes from
  GEMMs over chunks of steps (about 1,024 rows each, where OpenBLAS runs these shapes
  fastest; only a chunk of gate gradients is alive): `dw^T += sum_s dgates_s^T hx[s]`
  (G*H, H + 1 + I), and the input's gradient from `dx = dgates W_ih`.

The time loop is Python: its own cost, measured at a size where a step's work is nothing
(batch 2, hidden 4), is 7-10 us per step for forward and backward together, against about
0.7 ms of GEMMs and kernels per step and lane on the seed and charlm workloads: about 1%.
Moving it into numba could win no more than that, and numba's `np.dot` needs SciPy.

Steps are numbered in the order they run: step s is time `order[s]` (s, or T-1-s in reverse).
With `lengths`, a sequence whose length has passed keeps its state and outputs zeros, as the
composed layers' `where` masks do; its rows of the gate gradients are zero and the state's
gradient flows past the step unchanged. (The layers zero the input's padding before either
path, so that a non-finite padding cannot reach a gradient through 0 * nan.)

Lanes: a large batch is split into lanes of rows (at least MIN_LANE_ROWS each, one per thread
of threads.get_num_threads()). Sequences in a batch never mix, so each lane runs the whole
forward (and backward) on its own arrays in its own thread; numpy's GEMMs and the numba kernels
release the GIL. Only the weight gradients and the pictures' norms are added up at the end.

After backward each node keeps `step_grad_norms`: {"h": [||dL/dh_t|| for t in range(T)]} (and
"c" for the LSTM), the norm of the total gradient reaching each step's hidden (cell) state, by
time step; `fused` says which composed graph the node stands for. Both are for pictures, as is
`gate_activations()`, which reads the sigmoid gates back from the saved buffers while they live
(nothing is computed for it during training).
"""
import collections
import sys
import threading

import numpy as np

from .. import threads
from ..autograd import Function
from ..kernels import backend


_POOL = collections.OrderedDict()  # (shape, dtype) -> workspace arrays, last used last
_POOL_DEPTH = 8     # per shape and thread: live nodes (and lanes) of one shape at once
_POOL_SHAPES = 32   # shapes kept (a loop over many sequence lengths must not hoard memory)
_POOL_LOCK = threading.Lock()
MIN_LANE_ROWS = 64  # split a batch into lanes of no fewer rows (charlm's 32 rows run as one)


def _unused_refcount():
    """What sys.getrefcount reports for a pooled array that nobody else holds: the pool's list
    and the call's argument (measured, not assumed: CPython versions count borrowed references
    differently)."""
    probe = [np.empty(0)]
    return sys.getrefcount(probe[0])


_UNUSED = _unused_refcount()


def _workspace(shape, dtype):
    """An uninitialised array for a whole sequence's gates, states or gradients.

    Fresh arrays of tens of MB cost more in page faults (first touch of new memory) than the
    cell kernels that fill them, every training step; so arrays are kept here and handed out
    again once no node holds them any more (after backward frees its saved buffers), which the
    reference count says. The pool keeps the last _POOL_SHAPES shapes used.
    """
    key = (shape, np.dtype(dtype))
    with _POOL_LOCK:
        arrays = _POOL.pop(key, [])
        _POOL[key] = arrays
        if len(_POOL) > _POOL_SHAPES:
            _POOL.popitem(last=False)   # the least recently used shape
        for i in range(len(arrays)):
            if sys.getrefcount(arrays[i]) == _UNUSED:
                return arrays[i]
        a = np.empty(shape, dtype)
        if len(arrays) < _POOL_DEPTH * threads.get_num_threads():
            arrays.append(a)
        return a


def _lanes(B):
    """The batch's rows as slices, one lane per thread (see the module's docstring)."""
    n = max(1, min(threads.get_num_threads(), B // MIN_LANE_ROWS))
    bounds = [B * k // n for k in range(n + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


def _stack_operands(x, h0, reverse):
    """hx (T + 1, B, H + 1 + I): row block s = [h_{s-1} | 1 | x at step s]; h_{-1} = h0 filled,
    the states of later steps filled by the loop."""
    T, B, I = x.shape
    H = h0.shape[1]
    hx = _workspace((T + 1, B, H + 1 + I), x.dtype)
    hx[0, :, :H] = h0
    hx[:, :, H] = 1
    hx[:T, :, H + 1:] = x[::-1] if reverse else x
    hx[T, :, H + 1:] = 0
    return hx


def _stack_weights(w_ih, w_hh, bias):
    """[W_hh^T ; bias ; W_ih^T]: the weights of hx's columns (bias None: a zero row)."""
    w = np.empty((w_hh.shape[1] + 1 + w_ih.shape[1], w_hh.shape[0]), w_hh.dtype)
    H = w_hh.shape[1]
    w[:H] = w_hh.T
    w[H] = 0 if bias is None else bias
    w[H + 1:] = w_ih.T
    return w


def _as_steps(x):
    """x (T, B, I), or (B, I) for one step (a fused cell, which thus needs no reshape node)."""
    return x if x.ndim == 3 else x[None]


def _order(T, reverse):
    """The time of step s: s, or T - 1 - s in reverse."""
    return np.arange(T)[::-1] if reverse else np.arange(T)


def _valid(order, lengths):
    """(T, B) bool, is step s inside each sequence; None without lengths."""
    return None if lengths is None else order[:, None] < np.asarray(lengths)[None, :]


def _from_above(grad_out, t, valid, s, rows):
    """The gradient of step s's output (time t) from the layers above: zero past a sequence's
    end, where the output is zero whatever the state (selected, not multiplied: 0 * nan)."""
    return grad_out[t, rows] if valid is None else np.where(valid[s, rows, None],
                                                            grad_out[t, rows], 0)


def _step_squares(grad, valid, s, rows):
    """||grad||^2 over the sequences still running at step s: past its end a sequence's cell
    output gets no gradient in the composed graph (its state goes around the cell)."""
    flat = (grad if valid is None else grad * valid[s, rows, None]).reshape(-1)
    return float(np.dot(flat, flat))


def _add_up(parts):
    """The lanes' weight gradients and squared step norms -> their sums and the step norms."""
    dw = [sum(grads) for grads in zip(*(p[0] for p in parts))]
    norms = [np.sqrt(sum(squares)).tolist() for squares in zip(*(p[1] for p in parts))]
    return dw, norms


def _split_weight_grad(dw_t, H, has_bias):
    """dw^T (G*H, H + 1 + I) -> dW_ih (G*H, I), dW_hh (G*H, H), db (G*H,) or None."""
    return (np.ascontiguousarray(dw_t[:, H + 1:]), np.ascontiguousarray(dw_t[:, :H]),
            dw_t[:, H].copy() if has_bias else None)


_CHUNK_ROWS = 1024   # rows of the weight-gradient GEMMs: OpenBLAS runs best near this
ALL = slice(None)


class _GateGrads:
    """The gate gradients of a chunk of steps at a time, and what is accumulated from them.

    Backward fills one chunk of steps (going down); `flush` then adds the chunk's products
    into the weight gradients, `dw_t += dgates^T operand`, one GEMM each, and fills the
    chunk's rows of the input's gradient `dx` (steps in run order), `dx = dgates W_ih` (from
    buffer 0). Only one chunk of gate gradients is alive at a time.
    """

    def __init__(self, dx, T, B, widths, dtype):
        self.steps = min(T, max(1, _CHUNK_ROWS // max(B, 1)))
        self.bufs = [_workspace((self.steps, B, w), dtype) for w in widths]
        self.dx, self.T, self.B = dx, T, B

    def at(self, s):
        """The gradient buffers of step s."""
        return [buf[s % self.steps] for buf in self.bufs]

    def flush(self, s, products, w_ih):
        """After step s, if it starts a chunk: products is a list of (dw_t, buffer index,
        column slice of the buffer, operand (T, B, n) whose columns those gradients multiply)."""
        if s % self.steps:
            return
        n = min(self.steps, self.T - s)
        rows = lambda a: a.reshape(n * self.B, a.shape[-1])  # noqa: E731
        for dw_t, k, cols, operand in products:
            dw_t += rows(self.bufs[k][:n, :, cols]).T @ rows(operand[s:s + n])
        if self.dx is not None:
            self.dx[s:s + n] = (rows(self.bufs[0][:n]) @ w_ih).reshape(self.dx[s:s + n].shape)


def _input_grad(node, x_shape, dtype):
    """An array for the input's gradient, steps in run order (None if x needs none)."""
    return None if node.parents[0] is None else np.empty(x_shape, dtype)


def _time_order(dx, order, shape):
    """dx with the steps put back in time order, shaped as x was ((B, I) for one step)."""
    return None if dx is None else (dx if order[0] == 0 else dx[order]).reshape(shape)


def _gate_activations(node, act_of_lane, gates):
    """{gate: (T, B, H) values in time order} of the sigmoid gates named in `gates` (name ->
    block of the lanes' act arrays), and the (T, B) mask of steps inside each sequence (None:
    every step). Read from the buffers forward saved: None once backward has freed them (call
    backward(retain_graph=True) to keep them)."""
    if not node.saved:
        return None
    lanes, order, valid = node.saved[0], node.saved[3], node.saved[4]
    act = np.concatenate([act_of_lane(arrays) for _, arrays in lanes], axis=1)[order]
    H = node.fused["hidden_size"]
    return ({name: act[:, :, k * H:(k + 1) * H] for name, k in gates.items()},
            None if valid is None else valid[order])


class LSTMSequence(Function):
    """An LSTM layer over T steps (see cells.lstm_cell for the gate equations).

    forward(x (T, B, I) or (B, I), h0, c0 (B, H), w_ih (4H, I), w_hh (4H, H)[, b_ih, b_hh (4H,)])
        -> output (T, B, H), h_n, c_n (B, H)
    """

    def gate_activations(self):
        """The input, forget and output gates (see _gate_activations), for pictures."""
        return _gate_activations(self, lambda arrays: arrays[1], {"i": 0, "f": 1, "o": 3})

    def forward(self, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, lengths=None,
                layer=0):
        x = _as_steps(x)
        T, B, _ = x.shape
        H = h0.shape[1]
        self.fused = {"cell": "LSTM", "steps": T, "layer": layer,
                      "direction": "reverse" if reverse else "forward", "hidden_size": H}
        w = _stack_weights(w_ih, w_hh, None if b_ih is None else b_ih + b_hh)
        order = _order(T, reverse)
        valid = _valid(order, lengths)
        out = np.empty((T, B, H), x.dtype)
        h_n, c_n = np.empty((B, H), x.dtype), np.empty((B, H), x.dtype)
        cell = backend.impl.lstm_cell_forward

        def lane(rows):
            hx = _stack_operands(x[:, rows], h0[rows], reverse)
            Bl = hx.shape[1]
            act = _workspace((T, Bl, 4 * H), x.dtype)
            c = _workspace((T + 1, Bl, H), x.dtype)
            tanh_c = _workspace((T, Bl, H), x.dtype)
            gates = np.empty((Bl, 4 * H), x.dtype)
            scratch = np.empty((Bl, H), x.dtype)
            c[0] = c0[rows]
            for s in range(T):
                np.dot(hx[s], w, out=gates)
                # the new state: straight into the output, or (lengths) masked into it
                h = out[order[s], rows] if valid is None else scratch
                cell(gates, c[s], act[s], c[s + 1], tanh_c[s], h)
                if valid is not None:
                    done = ~valid[s, rows]
                    h[done], c[s + 1][done] = hx[s, done, :H], c[s][done]
                    np.multiply(h, valid[s, rows, None], out=out[order[s], rows])
                hx[s + 1, :, :H] = h
            h_n[rows], c_n[rows] = hx[T, :, :H], c[T]   # h0, c0 when T = 0
            return rows, (hx, act, c, tanh_c)

        lanes = threads.run_parallel(lane, _lanes(B))
        self.save_for_backward(lanes, w_ih, w_hh, order, valid, b_ih is not None)
        return out, h_n, c_n

    def backward(self, grad_out, grad_h, grad_c):
        lanes, w_ih, w_hh, order, valid, has_bias = self.saved
        T, B, H = grad_out.shape
        dtype = grad_out.dtype
        dx = _input_grad(self, (T, B, w_ih.shape[1]), dtype)
        dh0, dc0 = np.empty((B, H), dtype), np.empty((B, H), dtype)
        cell = backend.impl.lstm_cell_backward

        def lane(rows_saved):
            rows, (hx, act, c, tanh_c) = rows_saved
            Bl = hx.shape[1]
            grads = _GateGrads(None if dx is None else dx[:, rows], T, Bl, [4 * H], dtype)
            dw_t = np.zeros((4 * H, hx.shape[2]), dtype)
            dh, dc = grad_h[rows], np.ascontiguousarray(grad_c[rows])
            squares_h, squares_c = np.empty(T), np.empty(T)
            dc_total = np.empty((Bl, H), dtype)
            for s in range(T - 1, -1, -1):
                t = order[s]
                dh = dh + _from_above(grad_out, t, valid, s, rows)
                dc_prev = np.empty((Bl, H), dtype)
                (dgates,) = grads.at(s)
                cell(act[s], c[s], tanh_c[s], dh, dc, dgates, dc_total, dc_prev)
                if valid is not None:   # finished sequences: no gates, the state's gradient passes
                    done = ~valid[s, rows]
                    dgates[done], dc_prev[done] = 0, dc[done]
                squares_h[t] = _step_squares(dh, valid, s, rows)
                squares_c[t] = _step_squares(dc_total, valid, s, rows)
                dh_prev = dgates @ w_hh
                if valid is not None:
                    dh_prev[done] = dh[done]
                dh, dc = dh_prev, dc_prev
                grads.flush(s, [(dw_t, 0, ALL, hx)], w_ih)
            dh0[rows], dc0[rows] = dh, dc
            return [dw_t], [squares_h, squares_c]

        (dw_t,), (norms_h, norms_c) = _add_up(threads.run_parallel(lane, lanes))
        self.step_grad_norms = {"h": norms_h, "c": norms_c}
        dw_ih, dw_hh, db = _split_weight_grad(dw_t, H, has_bias)
        dx = _time_order(dx, order, self.in_shapes[0])
        return (dx, dh0, dc0, dw_ih, dw_hh) + ((db, db) if has_bias else ())


class GRUSequence(Function):
    """A GRU layer over T steps (see cells.gru_cell for both formulations).

    forward(x (T, B, I) or (B, I), h0 (B, H), w_ih (3H, I), w_hh (3H, H)[, b_ih, b_hh (3H,)])
        -> output (T, B, H), h_n (B, H)

    The step's gx = [1 | x_s] [b_ih ; W_ih^T] and gh = [h | 1] [W_hh^T ; b_hh] come from two
    GEMMs on column ranges of hx (the reset gate needs them apart). reset_after=False (Cho et
    al.) needs r before the n block's recurrent product, so that block runs as its own GEMM on
    rh = [r * h | 1] after the r, z gates: n = tanh(gx_n + rh [W_hn^T ; b_hn]).
    """

    def gate_activations(self):
        """The reset and update gates (see _gate_activations), for pictures."""
        return _gate_activations(self, lambda arrays: arrays[2], {"r": 0, "z": 1})

    def forward(self, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reset_after=True, reverse=False,
                lengths=None, layer=0):
        x = _as_steps(x)
        T, B, I = x.shape
        H = h0.shape[1]
        self.fused = {"cell": "GRU", "steps": T, "layer": layer,
                      "direction": "reverse" if reverse else "forward", "hidden_size": H}
        order = _order(T, reverse)
        valid = _valid(order, lengths)
        w_h = np.empty((H + 1, 3 * H), x.dtype)            # rows of [h | 1]
        w_h[:H], w_h[H] = w_hh.T, 0 if b_hh is None else b_hh
        w_x = np.empty((1 + I, 3 * H), x.dtype)            # rows of [1 | x]
        w_x[0], w_x[1:] = 0 if b_ih is None else b_ih, w_ih.T
        out = np.empty((T, B, H), x.dtype)
        h_n = np.empty((B, H), x.dtype)
        cell = backend.impl.gru_cell_forward

        def lane(rows):
            hx = _stack_operands(x[:, rows], h0[rows], reverse)
            Bl = hx.shape[1]
            act = _workspace((T, Bl, 3 * H), x.dtype)
            hs = _workspace((T + 1, Bl, H), x.dtype)     # states, contiguous for the kernels
            gx = np.empty((Bl, 3 * H), x.dtype)
            hs[0] = h0[rows]
            if reset_after:
                gh_or_rh = gh = _workspace((T, Bl, 3 * H), x.dtype)
            else:
                gh_or_rh = rh = _workspace((T, Bl, H + 1), x.dtype)
                rh[:, :, H] = 1
                gh_rz = np.empty((Bl, 2 * H), x.dtype)
            for s in range(T):
                np.dot(hx[s, :, H:], w_x, out=gx)
                h, h_new = hs[s], hs[s + 1]
                if reset_after:
                    np.dot(hx[s, :, :H + 1], w_h, out=gh[s])
                    cell(gx, gh[s], h, act[s], h_new)
                else:
                    np.dot(hx[s, :, :H + 1], w_h[:, :2 * H], out=gh_rz)
                    rz = act[s, :, :2 * H]
                    rz[...] = backend.sigmoid_forward(gx[:, :2 * H] + gh_rz)
                    np.multiply(rz[:, :H], h, out=rh[s, :, :H])
                    n = act[s, :, 2 * H:]
                    n[...] = backend.tanh_forward(gx[:, 2 * H:] + rh[s] @ w_h[:, 2 * H:])
                    np.add(n, rz[:, H:] * (h - n), out=h_new)  # (1 - z) n + z h
                if valid is None:
                    out[order[s], rows] = h_new
                else:
                    done = ~valid[s, rows]
                    h_new[done] = h[done]
                    np.multiply(h_new, valid[s, rows, None], out=out[order[s], rows])
                hx[s + 1, :, :H] = h_new
            h_n[rows] = hs[T]
            return rows, (hx, hs, act, gh_or_rh)

        lanes = threads.run_parallel(lane, _lanes(B))
        self.save_for_backward(lanes, w_ih, w_hh, order, valid, b_ih is not None, reset_after)
        return out, h_n

    def backward(self, grad_out, grad_h):
        lanes, w_ih, w_hh, order, valid, has_bias, reset_after = self.saved
        T, B, H = grad_out.shape
        dtype = grad_out.dtype
        dx = _input_grad(self, (T, B, w_ih.shape[1]), dtype)
        dh0 = np.empty((B, H), dtype)
        cell = backend.impl.gru_cell_backward

        def lane(rows_saved):
            rows, (hx, hs, act, gh_or_rh) = rows_saved
            Bl = hx.shape[1]
            grads = _GateGrads(None if dx is None else dx[:, rows], T, Bl, [3 * H, 3 * H], dtype)
            dw_x_t = np.zeros((3 * H, hx.shape[2] - H), dtype)   # [db_ih | dW_ih]
            dw_h_t = np.zeros((3 * H, H + 1), dtype)             # [dW_hh | db_hh]
            if reset_after:
                products = [(dw_x_t, 0, ALL, hx[:, :, H:]), (dw_h_t, 1, ALL, hx[:, :, :H + 1])]
            else:   # the n block's recurrent product is on rh
                products = [(dw_x_t, 0, ALL, hx[:, :, H:]),
                            (dw_h_t[:2 * H], 1, slice(0, 2 * H), hx[:, :, :H + 1]),
                            (dw_h_t[2 * H:], 1, slice(2 * H, None), gh_or_rh)]
            dh = grad_h[rows]
            squares_h = np.empty(T)
            for s in range(T - 1, -1, -1):
                t = order[s]
                dh = dh + _from_above(grad_out, t, valid, s, rows)
                squares_h[t] = _step_squares(dh, valid, s, rows)
                h = hs[s]
                dh_prev = np.empty((Bl, H), dtype)
                dgx, dgh = grads.at(s)
                if reset_after:
                    cell(act[s], gh_or_rh[s], h, dh, dgx, dgh, dh_prev)
                else:   # dgh's n block is the gradient of rh's product, as dgx's
                    r, z, n = act[s, :, :H], act[s, :, H:2 * H], act[s, :, 2 * H:]
                    dn = dh * (1 - z) * (1 - n * n)
                    drh = dn @ w_hh[2 * H:]
                    dgx[:, :H] = dgh[:, :H] = drh * h * r * (1 - r)
                    dgx[:, H:2 * H] = dgh[:, H:2 * H] = dh * (h - n) * z * (1 - z)
                    dgx[:, 2 * H:] = dgh[:, 2 * H:] = dn
                    np.add(dh * z, drh * r, out=dh_prev)
                if valid is not None:
                    done = ~valid[s, rows]
                    dgx[done], dgh[done] = 0, 0
                    dh_prev[done] = dh[done]
                if reset_after:
                    dh_prev += dgh @ w_hh
                else:
                    dh_prev += dgh[:, :2 * H] @ w_hh[:2 * H]
                dh = dh_prev
                grads.flush(s, products, w_ih)
            dh0[rows] = dh
            return [dw_x_t, dw_h_t], [squares_h]

        (dw_x_t, dw_h_t), (norms_h,) = _add_up(threads.run_parallel(lane, lanes))
        self.step_grad_norms = {"h": norms_h}
        dw_grads = (np.ascontiguousarray(dw_x_t[:, 1:]), np.ascontiguousarray(dw_h_t[:, :H]))
        biases = (dw_x_t[:, 0].copy(), dw_h_t[:, H].copy()) if has_bias else ()
        return (_time_order(dx, order, self.in_shapes[0]), dh0) + dw_grads + biases


class RNNSequence(Function):
    """An Elman RNN layer over T steps: h_s = tanh(hx[s] [W_hh^T ; b_ih + b_hh ; W_ih^T]) (or relu).

    forward(x (T, B, I) or (B, I), h0 (B, H), w_ih (H, I), w_hh (H, H)[, b_ih, b_hh (H,)])
        -> output (T, B, H), h_n (B, H)
    """

    def forward(self, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh",
                reverse=False, lengths=None, layer=0):
        x = _as_steps(x)
        T, B, _ = x.shape
        H = h0.shape[1]
        self.fused = {"cell": "RNN", "steps": T, "layer": layer,
                      "direction": "reverse" if reverse else "forward", "hidden_size": H}
        w = _stack_weights(w_ih, w_hh, None if b_ih is None else b_ih + b_hh)
        order = _order(T, reverse)
        valid = _valid(order, lengths)
        relu = nonlinearity == "relu"
        out = np.empty((T, B, H), x.dtype)
        h_n = np.empty((B, H), x.dtype)
        cell = backend.impl.rnn_cell_forward

        def lane(rows):
            hx = _stack_operands(x[:, rows], h0[rows], reverse)
            Bl = hx.shape[1]
            hs = _workspace((T + 1, Bl, H), x.dtype)   # hs[s + 1]: the cell's output at step s
            pre = np.empty((Bl, H), x.dtype)
            for s in range(T):
                np.dot(hx[s], w, out=pre)
                cell(pre, hs[s + 1], relu)
                if valid is None:
                    out[order[s], rows] = hs[s + 1]
                    hx[s + 1, :, :H] = hs[s + 1]
                else:
                    keep = valid[s, rows, None]
                    np.multiply(hs[s + 1], keep, out=out[order[s], rows])
                    hx[s + 1, :, :H] = np.where(keep, hs[s + 1], hx[s, :, :H])
            h_n[rows] = hx[T, :, :H]
            return rows, (hx, hs)

        lanes = threads.run_parallel(lane, _lanes(B))
        self.save_for_backward(lanes, w_ih, w_hh, order, valid, relu, b_ih is not None)
        return out, h_n

    def backward(self, grad_out, grad_h):
        lanes, w_ih, w_hh, order, valid, relu, has_bias = self.saved
        T, B, H = grad_out.shape
        dtype = grad_out.dtype
        dx = _input_grad(self, (T, B, w_ih.shape[1]), dtype)
        dh0 = np.empty((B, H), dtype)
        cell = backend.impl.rnn_cell_backward

        def lane(rows_saved):
            rows, (hx, hs) = rows_saved
            Bl = hx.shape[1]
            grads = _GateGrads(None if dx is None else dx[:, rows], T, Bl, [H], dtype)
            dw_t = np.zeros((H, hx.shape[2]), dtype)
            dh = grad_h[rows]
            squares_h = np.empty(T)
            for s in range(T - 1, -1, -1):
                t = order[s]
                dh = dh + _from_above(grad_out, t, valid, s, rows)
                squares_h[t] = _step_squares(dh, valid, s, rows)
                (dpre,) = grads.at(s)
                cell(hs[s + 1], dh, dpre, relu)
                if valid is None:
                    dh = dpre @ w_hh
                else:
                    done = ~valid[s, rows]
                    dpre[done] = 0
                    dh = np.where(done[:, None], dh, dpre @ w_hh)
                grads.flush(s, [(dw_t, 0, ALL, hx)], w_ih)
            dh0[rows] = dh
            return [dw_t], [squares_h]

        (dw_t,), (norms_h,) = _add_up(threads.run_parallel(lane, lanes))
        self.step_grad_norms = {"h": norms_h}
        dw_ih, dw_hh, db = _split_weight_grad(dw_t, H, has_bias)
        dx = _time_order(dx, order, self.in_shapes[0])
        return (dx, dh0, dw_ih, dw_hh) + ((db, db) if has_bias else ())


SEQUENCES = {"LSTM": LSTMSequence, "GRU": GRUSequence, "RNN": RNNSequence}


def fused_direction(mode, x, state, params, *, reverse=False, lengths=None, layer=0, **options):
    """One layer, one direction of an RNN/LSTM/GRU as one node: x (T, B, I) (or (B, I), one
    step: the output is then (1, B, H)), state [h0 (, c0)], params (w_ih, w_hh, b_ih, b_hh)
    with None biases -> output (T, B, H), [h_n (, c_n)]."""
    w_ih, w_hh, b_ih, b_hh = params
    weights = (w_ih, w_hh) if b_ih is None else params
    out, *last = SEQUENCES[mode].apply(x, *state, *weights, reverse=reverse, lengths=lengths,
                                       layer=layer, **options)
    return out, last


def fused_cell(mode, x, state, params, **options):
    """One step of a cell as one node: x (B, I), state [h (, c)] -> [h' (, c')]."""
    return fused_direction(mode, x, state, params, **options)[1]
