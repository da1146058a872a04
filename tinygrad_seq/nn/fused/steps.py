"""The fused layers with the time loop in Python: per step, one GEMM (numpy's, OpenBLAS) and
one call of a cell kernel (tinygrad_seq.kernels, numba or its numpy twin). The numpy backend's
path, and the one for shapes the jitted loops (loops.py) do not take (see __init__.py).

- one GEMM per step for everything the gates need from the previous state *and* the input:
  the step's operand is `hx[s] = [h_{s-1} | 1 | x_s]` (B, H + 1 + I), the weights are stacked
  to match, `w = [W_hh^T ; b ; W_ih^T]` (H + 1 + I, G*H). All steps' operands live in one
  array, filled as the loop goes;
- only what backward needs is saved: `hx`, the gate activations, the cell states;
- backward runs the steps in reverse, computing the gate gradients with the cell kernels and
  `dh_{s-1} = dgates_s W_hh` (one GEMM per step); every weight and bias gradient comes from
  GEMMs over chunks of steps (about 1,024 rows each, where OpenBLAS runs these shapes
  fastest; only a chunk of gate gradients is alive): `dw^T += sum_s dgates_s^T hx[s]`
  (G*H, H + 1 + I), and the input's gradient from `dx = dgates W_ih`.

The loop's own cost, measured at a size where a step's work is nothing (batch 2, hidden 4), is
7-10 us per step for forward and backward together.

Lanes (common.batch_lanes): a large batch is split into lanes of rows that run the whole forward
(and backward) on their own arrays, each in its own thread (threads.run_parallel); numpy's
GEMMs and the numba kernels release the GIL. Only the weight gradients and the pictures'
norms are added up at the end.
"""
import numpy as np

from ... import threads
from ...autograd import Function
from ...kernels import backend
from .common import (add_up, as_steps, batch_lanes, gate_values, input_grad, operands,
                     split_weight_grad, stack_weights, step_order, time_order, valid_steps,
                     workspace)


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
        self.bufs = [workspace((self.steps, B, w), dtype) for w in widths]
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


def _gate_activations(node, act_of_lane, gates):
    """common.gate_values of the lanes' act arrays (act_of_lane picks a lane's from its saved
    arrays): None once backward has freed them."""
    if not node.saved:
        return None
    lanes, order, valid = node.saved[0], node.saved[3], node.saved[4]
    act = np.concatenate([act_of_lane(arrays) for _, arrays in lanes], axis=1)
    return gate_values(act, order, valid, node.fused["hidden_size"], gates)


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
        x = as_steps(x)
        T, B, _ = x.shape
        H = h0.shape[1]
        self.fused = {"cell": "LSTM", "steps": T, "layer": layer,
                      "direction": "reverse" if reverse else "forward", "hidden_size": H}
        w = stack_weights(w_ih, w_hh, None if b_ih is None else b_ih + b_hh)
        order = step_order(T, reverse)
        valid = valid_steps(order, lengths)
        out = np.empty((T, B, H), x.dtype)
        h_n, c_n = np.empty((B, H), x.dtype), np.empty((B, H), x.dtype)
        cell = backend.impl.lstm_cell_forward

        def lane(rows):
            hx = operands(x[:, rows], h0[rows], reverse)
            Bl = hx.shape[1]
            act = workspace((T, Bl, 4 * H), x.dtype)
            c = workspace((T + 1, Bl, H), x.dtype)
            tanh_c = workspace((T, Bl, H), x.dtype)
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

        lanes = threads.run_parallel(lane, batch_lanes(B))
        self.save_for_backward(lanes, w_ih, w_hh, order, valid, b_ih is not None)
        return out, h_n, c_n

    def backward(self, grad_out, grad_h, grad_c):
        lanes, w_ih, w_hh, order, valid, has_bias = self.saved
        T, B, H = grad_out.shape
        dtype = grad_out.dtype
        dx = input_grad(self, (T, B, w_ih.shape[1]), dtype)
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

        (dw_t,), (norms_h, norms_c) = add_up(threads.run_parallel(lane, lanes))
        self.step_grad_norms = {"h": norms_h, "c": norms_c}
        dw_ih, dw_hh, db = split_weight_grad(dw_t, H, has_bias)
        dx = time_order(dx, order, self.in_shapes[0])
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
        x = as_steps(x)
        T, B, I = x.shape
        H = h0.shape[1]
        self.fused = {"cell": "GRU", "steps": T, "layer": layer,
                      "direction": "reverse" if reverse else "forward", "hidden_size": H}
        order = step_order(T, reverse)
        valid = valid_steps(order, lengths)
        w_h = np.empty((H + 1, 3 * H), x.dtype)            # rows of [h | 1]
        w_h[:H], w_h[H] = w_hh.T, 0 if b_hh is None else b_hh
        w_x = np.empty((1 + I, 3 * H), x.dtype)            # rows of [1 | x]
        w_x[0], w_x[1:] = 0 if b_ih is None else b_ih, w_ih.T
        out = np.empty((T, B, H), x.dtype)
        h_n = np.empty((B, H), x.dtype)
        cell = backend.impl.gru_cell_forward

        def lane(rows):
            hx = operands(x[:, rows], h0[rows], reverse)
            Bl = hx.shape[1]
            act = workspace((T, Bl, 3 * H), x.dtype)
            hs = workspace((T + 1, Bl, H), x.dtype)     # states, contiguous for the kernels
            gx = np.empty((Bl, 3 * H), x.dtype)
            hs[0] = h0[rows]
            if reset_after:
                gh_or_rh = gh = workspace((T, Bl, 3 * H), x.dtype)
            else:
                gh_or_rh = rh = workspace((T, Bl, H + 1), x.dtype)
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

        lanes = threads.run_parallel(lane, batch_lanes(B))
        self.save_for_backward(lanes, w_ih, w_hh, order, valid, b_ih is not None, reset_after)
        return out, h_n

    def backward(self, grad_out, grad_h):
        lanes, w_ih, w_hh, order, valid, has_bias, reset_after = self.saved
        T, B, H = grad_out.shape
        dtype = grad_out.dtype
        dx = input_grad(self, (T, B, w_ih.shape[1]), dtype)
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

        (dw_x_t, dw_h_t), (norms_h,) = add_up(threads.run_parallel(lane, lanes))
        self.step_grad_norms = {"h": norms_h}
        dw_grads = (np.ascontiguousarray(dw_x_t[:, 1:]), np.ascontiguousarray(dw_h_t[:, :H]))
        biases = (dw_x_t[:, 0].copy(), dw_h_t[:, H].copy()) if has_bias else ()
        return (time_order(dx, order, self.in_shapes[0]), dh0) + dw_grads + biases


class RNNSequence(Function):
    """An Elman RNN layer over T steps: h_s = tanh(hx[s] [W_hh^T ; b_ih + b_hh ; W_ih^T]) (or relu).

    forward(x (T, B, I) or (B, I), h0 (B, H), w_ih (H, I), w_hh (H, H)[, b_ih, b_hh (H,)])
        -> output (T, B, H), h_n (B, H)
    """

    def forward(self, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh",
                reverse=False, lengths=None, layer=0):
        x = as_steps(x)
        T, B, _ = x.shape
        H = h0.shape[1]
        self.fused = {"cell": "RNN", "steps": T, "layer": layer,
                      "direction": "reverse" if reverse else "forward", "hidden_size": H}
        w = stack_weights(w_ih, w_hh, None if b_ih is None else b_ih + b_hh)
        order = step_order(T, reverse)
        valid = valid_steps(order, lengths)
        relu = nonlinearity == "relu"
        out = np.empty((T, B, H), x.dtype)
        h_n = np.empty((B, H), x.dtype)
        cell = backend.impl.rnn_cell_forward

        def lane(rows):
            hx = operands(x[:, rows], h0[rows], reverse)
            Bl = hx.shape[1]
            hs = workspace((T + 1, Bl, H), x.dtype)   # hs[s + 1]: the cell's output at step s
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

        lanes = threads.run_parallel(lane, batch_lanes(B))
        self.save_for_backward(lanes, w_ih, w_hh, order, valid, relu, b_ih is not None)
        return out, h_n

    def backward(self, grad_out, grad_h):
        lanes, w_ih, w_hh, order, valid, relu, has_bias = self.saved
        T, B, H = grad_out.shape
        dtype = grad_out.dtype
        dx = input_grad(self, (T, B, w_ih.shape[1]), dtype)
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

        (dw_t,), (norms_h,) = add_up(threads.run_parallel(lane, lanes))
        self.step_grad_norms = {"h": norms_h}
        dw_ih, dw_hh, db = split_weight_grad(dw_t, H, has_bias)
        dx = time_order(dx, order, self.in_shapes[0])
        return (dx, dh0, dw_ih, dw_hh) + ((db, db) if has_bias else ())
