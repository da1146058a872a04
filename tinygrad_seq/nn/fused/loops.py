"""The fused layers with the time loops in numba (kernels/recurrent.py, where the layout is
described): one jitted call per thread runs the whole sequence's forward (or backward), with
the per-step products in kernels/gemm.py on weights packed once per call.

Work is split in one of two ways (`split` from __init__.plan):
- parts: a small batch's hidden units in n parts, run by threads.team(n) (n threads meeting at
  a barrier every step, or one thread running the parts in turn while the machine is busy);
- lanes: a large batch's rows, each lane a layer of one part on its own arrays, in its own
  thread (threads.run_parallel); weight gradients and norms are added up at the end.

A one-hot input (every row of x is zeros but for a single one, the charlm benchmark's; rows
of zeros allowed, a padding) is detected here and passed as its symbols: its product with W_ih is a row of a table and its
weight gradient a scatter-add, instead of I columns of every step's product (the numbers are
those of the product, to rounding: the same terms, added in another order); the steps'
operands then leave x out.
"""
import importlib

import numpy as np

from ... import threads
from ...autograd import Function, SliceGrad, dense
from .common import (as_steps, gate_values, input_grad, operands, step_order, time_order,
                     valid_steps, workspace)

CHUNK_ROWS = 256   # rows of the ring of gate gradients: a chunk's product stays in L2
# A lane whose ring holds one step (the seed LSTM's 500 rows) runs each backward step in blocks
# of at most BLOCK_ROWS rows (kernels/recurrent.py): the cell and both products on one block's
# gate gradients (70 kB) while they are in the cache, where the whole step's 512 kB went through
# L2 three times. Seed LSTM backward 15.75 -> 14.5 ms, GRU 15.5 -> 14.6 (medians of alternating
# runs), RNN unchanged; blocks of 128 rows as fast, of 32 slower. The forward's gates in blocks
# gained nothing (12.4 -> 12.8 ms): it stays whole.
BLOCK_ROWS = 64


def _kernels():
    """kernels.recurrent, imported on first use (it imports numba)."""
    return importlib.import_module("...kernels.recurrent", __package__)


def _part_rows(G, H, n):
    """(n, G*h) int64: part k's rows of the weights, its h units of each of the G gates."""
    h = H // n
    return np.arange(G * H).reshape(G, n, h).transpose(1, 0, 2).reshape(n, G * h).copy()


def _symbols(x, reverse):
    """x's symbols (T, B), steps in run order, if every row of x is one-hot or zero, else an
    empty (0, B) array (see the module's docstring)."""
    T, B, _ = x.shape
    sym = np.empty((T, B), np.int64)
    if x.size and _kernels().one_hot_symbols(np.ascontiguousarray(x), sym):
        return np.ascontiguousarray(sym[::-1]) if reverse else sym
    return np.zeros((0, B), np.int64)


def _valid(order, lengths, B):
    """(T, B) uint8: is step s inside each sequence (all ones without lengths)."""
    valid = valid_steps(order, lengths)
    return np.ones((len(order), B), np.uint8) if valid is None else valid.astype(np.uint8)


def _split(a, n):
    """(B, n*h) -> (n, B, h): the parts' units."""
    return a.reshape(a.shape[0], n, a.shape[1] // n).transpose(1, 0, 2)


def _join(parts):
    """(n, B, h) -> (B, n*h): the parts' units side by side."""
    n, B, h = parts.shape
    return np.ascontiguousarray(parts.transpose(1, 0, 2)).reshape(B, n * h)


PROFILE = None   # a list: each run appends its threads' stats (benchmarks/rnn_profile.py)


def _run(split, job, prepare=None):
    """job(lane, t, m, flags, stats) on the split's threads: one lane on the parts' team, or
    each lane on a thread of its own (t = 0, m = 1); prepare[lane]() first (the lane's
    operands: in its own thread, the seed LSTM's two lanes fill theirs in 0.4 ms a step
    instead of 0.75 in turn)."""
    lanes, n = split
    prepare = prepare or [lambda: None] * len(lanes)
    if n > 1:
        prepare[0]()
        team = threads.team(n)
        team.run(lambda t, m, flags, stats: job(0, t, m, flags, stats))
        used = [team.stats[:team.history[-1][0]].copy()]
    else:
        from ...kernels import sync
        used = [np.zeros((1, 4), np.int64) for _ in lanes]
        threads.run_parallel(lambda i: (prepare[i](), job(i, 0, 1, sync.new_flags(1), used[i])),
                             range(len(lanes)))
    if PROFILE is not None:
        PROFILE.append(np.concatenate(used))


def _chunk_rows(T, B, n):
    """The ring's rows: R steps of B rows, at least 2 steps for parts (n > 1: their threads
    may be a step apart), else 1 (a lane of the seed LSTM's 500 rows: a ring of 2 steps,
    1.1 MB, left less of the 2 MB L2 cache for the step's saved activations, prefetched;
    backward 16.9-17.7 -> 16.2 ms, three alternating runs)."""
    return min(T, max(2 if n > 1 else 1, CHUNK_ROWS // max(B, 1))) * B


def _ring(n, rows, width, dtype):
    """A ring of gate gradients (n, rows, width + a cache line): the kernels use the first
    width columns. The weight gradient's product reads a block of columns from every row,
    and rows a multiple of 2 kB apart (the charlm LSTM's 512 float32 gates) all fall in the
    same few sets of the L1 cache and evict each other: 101-106 GFLOP/s, one line longer
    136-145. (A view of the first width columns would cost more than it saves: numba
    compiles the cell kernels for it as strided arrays, which run 2x slower.)"""
    return workspace((n, rows, width + 64 // np.dtype(dtype).itemsize), dtype)


def _output_grad(grad_out, T):
    """The output's gradient as (rows (S, B, H), at (T,) int64), step t's gradient rows[at[t]],
    none where at[t] = -1: a SliceGrad of whole steps (out[-1], out[a:b]) as the steps it has,
    any other gradient as every step's."""
    key = grad_out.keys[0] if type(grad_out) is SliceGrad and len(grad_out.keys) == 1 else None
    if not isinstance(key, (int, np.integer, slice)) or isinstance(key, bool):
        return np.ascontiguousarray(dense(grad_out)), np.arange(T)
    times = np.atleast_1d(np.arange(T)[key])
    at = np.full(T, -1, np.int64)
    at[times] = np.arange(len(times))
    return np.ascontiguousarray(grad_out.values).reshape((len(times),) + grad_out.shape[1:]), at


def _column(b, rows, dtype):
    """A bias as a (rows, 1) array for the loops (zeros for none)."""
    return np.zeros((rows, 1), dtype) if b is None else np.ascontiguousarray(b)[:, None]


class _Loops(Function):
    """What the three cells' nodes share: the lanes' operands and masks going forward; the
    state gradients, input gradient and step norms coming back. A subclass sets the cell's
    name, G (its gates) and the jitted forward and backward (kernels/recurrent.py)."""

    slice_grads = True   # the output's gradient may come as whole steps (_output_grad)

    def _start(self, x, h0, reverse, lengths, layer, split):
        """The layer's steps (T, B, I) and, per lane, its rows, valid mask, symbols and hx, and
        the functions that fill the lanes' hx (operands)."""
        x = as_steps(x)
        T, B, I = x.shape
        H = h0.shape[1]
        self.fused = {"cell": self.cell, "steps": T, "layer": layer,
                      "direction": "reverse" if reverse else "forward", "hidden_size": H}
        order = step_order(T, reverse)
        sym = _symbols(x, reverse)
        hx = [operands(x[:, lane], h0[lane], reverse, with_input=not sym.shape[0], fill=False)
              for lane in split[0]]
        lanes = [(lane, _valid(order, None if lengths is None else lengths[lane],
                               lane.stop - lane.start), np.ascontiguousarray(sym[:, lane]), h)
                 for lane, (h, _) in zip(split[0], hx)]
        return x, order, _part_rows(self.G, H, split[1]), lanes, [fill for _, fill in hx]

    def _gate_activations(self, k, gates):
        """common.gate_values of the lanes' parts' act arrays (item k of a lane's saved
        tuple, (n, T, Bl, G h)): None once backward has freed them."""
        if not self.saved:
            return None
        order, saved = self.saved[0], self.saved[1]
        acts, valid = [], []
        for arrays in saved:
            n, T, Bl, Gh = arrays[k].shape   # part j's gate g: units j h .. (j + 1) h - 1
            acts.append(arrays[k].reshape(n, T, Bl, self.G, Gh // self.G)
                        .transpose(1, 2, 3, 0, 4).reshape(T, Bl, self.G * n * Gh // self.G))
            valid.append(arrays[1].astype(bool))
        valid = np.concatenate(valid, axis=1)
        return gate_values(np.concatenate(acts, axis=1), order, None if valid.all() else valid,
                           self.fused["hidden_size"], gates)

    def _states(self, initial, lane, T):
        """(n, T + 1, Bl, h) states of a lane, [:, 0] = the initial state's parts."""
        n = self.split[1]
        Bl = lane.stop - lane.start
        states = workspace((n, T + 1, Bl, initial.shape[1] // n), initial.dtype)
        states[:, 0] = _split(initial[lane], n)
        return states

    def _state_grads(self, grads, T, I, dx):
        """Per lane: the ring(s) of gate gradients, the state gradients (n, 2, Bl, h) from grads
        (B, H) each (grad_h, and grad_c for the LSTM), the parts' shares of them (2, n, Bl, H;
        none for one part), dx's parts (n, T, Bl, I), squares (n, S, T) and the weight
        gradients the backward kernel writes."""
        lanes, n = self.split
        H, dtype = grads[0].shape[1], grads[0].dtype
        out = []
        for lane in lanes:
            Bl = lane.stop - lane.start
            rings = [_ring(n, _chunk_rows(T, Bl, n), self.G * H // n, dtype)
                     for _ in range(2 if self.cell == "GRU" else 1)]   # GRU: gx's and gh's
            states = []
            for g in grads:
                d = workspace((n, 2, Bl, H // n), dtype)
                d[:, 0] = _split(g[lane], n)
                states.append(d)
            shares = workspace((2, n if n > 1 else 0, Bl, H), dtype)   # (recurrent.py)
            out.append((rings, states, shares,
                        np.empty((n, 0 if dx is None else T, Bl, I), dtype),
                        np.empty((n, len(grads), T)), self._weight_grads(I, H, dtype)))
        return out

    def _finish(self, results, grads, dx, order, T):
        """dh0 (, dc0), dx (time order), the step norms, the lanes' weight gradients added."""
        finals = [np.empty(g.shape, g.dtype) for g in grads]
        for (lane, *_), (_, states, _, dx_parts, _, _) in zip(self.saved[1], results):
            for final, d in zip(finals, states):
                final[lane] = _join(d[:, T % 2])
            if dx is not None:
                dx[:, lane] = dx_parts.sum(axis=0)
        squares = np.sqrt(sum(r[4].sum(axis=0) for r in results))
        self.step_grad_norms = dict(zip("hc", squares.tolist()))
        weights = [sum(ws) for ws in zip(*(r[5] for r in results))]
        return time_order(dx, order, self.in_shapes[0]), finals, weights


class LSTMLoops(_Loops):
    """An LSTM layer over T steps (see cells.lstm_cell for the gate equations), as
    steps.LSTMSequence, with the time loops in numba.

    forward(x (T, B, I) or (B, I), h0, c0 (B, H), w_ih (4H, I), w_hh (4H, H)[, b_ih, b_hh (4H,)])
        -> output (T, B, H), h_n, c_n (B, H)
    """

    op, cell, G = "lstmsequence", "LSTM", 4

    def gate_activations(self):
        """The input, forget and output gates (see _Loops._gate_activations), for pictures."""
        return self._gate_activations(4, {"i": 0, "f": 1, "o": 3})

    def forward(self, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, lengths=None,
                layer=0, split=None):
        self.split = split
        x, order, rows, lanes, fill = self._start(x, h0, reverse, lengths, layer, split)
        T, B, H, n = x.shape[0], x.shape[1], h0.shape[1], split[1]
        w_ih, w_hh = np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh)
        bias = _column(None if b_ih is None else b_ih + b_hh, 4 * H, x.dtype)
        out = np.empty((T, B, H), x.dtype)
        saved = [(lane, valid, sym, hx, workspace((n, T, hx.shape[1], 4 * H // n), x.dtype),
                  self._states(c0, lane, T), workspace((n, T, hx.shape[1], H // n), x.dtype))
                 for lane, valid, sym, hx in lanes]

        def job(i, t, m, flags, stats):
            lane, valid, sym, hx, act, c, tanh_c = saved[i]
            _kernels().lstm_forward(t, m, flags, stats, order, valid, sym, w_ih, w_hh, bias,
                                    rows, hx, act, c, tanh_c, out, lane.start)
        _run(split, job, fill)
        h_n, c_n = np.empty((B, H), x.dtype), np.empty((B, H), x.dtype)
        for lane, _, _, hx, _, c, _ in saved:
            h_n[lane], c_n[lane] = hx[T, :, :H], _join(c[:, T])
        self.save_for_backward(order, saved, w_ih, w_hh, rows, b_ih is not None)
        return out, h_n, c_n

    def _weight_grads(self, I, H, dtype):
        return [np.empty((4 * H, I), dtype), np.empty((4 * H, H), dtype),
                np.empty((4 * H, 1), dtype)]

    def backward(self, grad_out, grad_h, grad_c):
        order, saved, w_ih, w_hh, rows, has_bias = self.saved
        T, B, H = grad_out.shape
        dx = input_grad(self, (T, B, w_ih.shape[1]), grad_out.dtype)
        grad_out, at = _output_grad(grad_out, T)
        grad_h, grad_c = dense(grad_h), dense(grad_c)
        results = self._state_grads([grad_h, grad_c], T, w_ih.shape[1], dx)

        def job(i, t, m, flags, stats):
            (lane, valid, sym, hx, act, c, tanh_c), (rings, states, shares, dx_parts, squares,
                                                      weights) = saved[i], results[i]
            _kernels().lstm_backward(t, m, flags, stats, order, valid, sym, w_ih, w_hh, rows,
                                     grad_out, at, lane.start, BLOCK_ROWS, hx, act, c, tanh_c,
                                     *rings, *states, shares, dx_parts, squares, *weights)
        _run(self.split, job)
        dx, (dh0, dc0), (dw_ih, dw_hh, db) = self._finish(results, [grad_h, grad_c], dx, order, T)
        return (dx, dh0, dc0, dw_ih, dw_hh) + ((db[:, 0], db[:, 0]) if has_bias else ())


class GRULoops(_Loops):
    """A GRU layer over T steps (PyTorch's, reset_after=True; see cells.gru_cell), as
    steps.GRUSequence, with the time loops in numba.

    forward(x (T, B, I) or (B, I), h0 (B, H), w_ih (3H, I), w_hh (3H, H)[, b_ih, b_hh (3H,)])
        -> output (T, B, H), h_n (B, H)
    """

    op, cell, G = "grusequence", "GRU", 3

    def gate_activations(self):
        """The reset and update gates (see _Loops._gate_activations), for pictures."""
        return self._gate_activations(5, {"r": 0, "z": 1})

    def forward(self, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reset_after=True, reverse=False,
                lengths=None, layer=0, split=None):
        self.split = split
        x, order, rows, lanes, fill = self._start(x, h0, reverse, lengths, layer, split)
        T, B, H, n = x.shape[0], x.shape[1], h0.shape[1], split[1]
        w_ih, w_hh = np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh)
        biases = _column(b_ih, 3 * H, x.dtype), _column(b_hh, 3 * H, x.dtype)
        out = np.empty((T, B, H), x.dtype)
        saved = [(lane, valid, sym, hx, self._states(h0, lane, T),
                  workspace((n, T, hx.shape[1], 3 * H // n), x.dtype),
                  workspace((n, T, hx.shape[1], 3 * H // n), x.dtype))
                 for lane, valid, sym, hx in lanes]

        def job(i, t, m, flags, stats):
            lane, valid, sym, hx, hs, act, gh = saved[i]
            _kernels().gru_forward(t, m, flags, stats, order, valid, sym, w_ih, w_hh, *biases,
                                   rows, hx, hs, act, gh, out, lane.start)
        _run(split, job, fill)
        h_n = np.empty((B, H), x.dtype)
        for lane, _, _, hx, *_ in saved:
            h_n[lane] = hx[T, :, :H]
        self.save_for_backward(order, saved, w_ih, w_hh, rows, b_ih is not None)
        return out, h_n

    def _weight_grads(self, I, H, dtype):
        return [np.empty((3 * H, I), dtype), np.empty((3 * H, H), dtype),
                np.empty((3 * H, 1), dtype), np.empty((3 * H, 1), dtype)]

    def backward(self, grad_out, grad_h):
        order, saved, w_ih, w_hh, rows, has_bias = self.saved
        T, B, H = grad_out.shape
        dx = input_grad(self, (T, B, w_ih.shape[1]), grad_out.dtype)
        grad_out, at = _output_grad(grad_out, T)
        grad_h = dense(grad_h)
        results = self._state_grads([grad_h], T, w_ih.shape[1], dx)

        def job(i, t, m, flags, stats):
            (lane, valid, sym, hx, hs, act, gh), (rings, states, shares, dx_parts, squares,
                                                  weights) = saved[i], results[i]
            _kernels().gru_backward(t, m, flags, stats, order, valid, sym, w_ih, w_hh, rows,
                                    grad_out, at, lane.start, BLOCK_ROWS, hx, hs, act, gh,
                                    *rings, *states, shares, dx_parts, squares, *weights)
        _run(self.split, job)
        dx, (dh0,), (dw_ih, dw_hh, db_ih, db_hh) = self._finish(results, [grad_h], dx, order, T)
        return (dx, dh0, dw_ih, dw_hh) + ((db_ih[:, 0], db_hh[:, 0]) if has_bias else ())


class RNNLoops(_Loops):
    """An Elman RNN layer over T steps (see steps.RNNSequence), with the time loops in numba.

    forward(x (T, B, I) or (B, I), h0 (B, H), w_ih (H, I), w_hh (H, H)[, b_ih, b_hh (H,)])
        -> output (T, B, H), h_n (B, H)
    """

    op, cell, G = "rnnsequence", "RNN", 1

    def forward(self, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh",
                reverse=False, lengths=None, layer=0, split=None):
        self.split = split
        x, order, rows, lanes, fill = self._start(x, h0, reverse, lengths, layer, split)
        T, B, H = x.shape[0], x.shape[1], h0.shape[1]
        w_ih, w_hh = np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh)
        bias = _column(None if b_ih is None else b_ih + b_hh, H, x.dtype)
        relu = nonlinearity == "relu"
        out = np.empty((T, B, H), x.dtype)
        saved = [(lane, valid, sym, hx, self._states(h0, lane, T))
                 for lane, valid, sym, hx in lanes]

        def job(i, t, m, flags, stats):
            lane, valid, sym, hx, hs = saved[i]
            _kernels().rnn_forward(t, m, flags, stats, order, valid, sym, w_ih, w_hh, bias, rows,
                                   relu, hx, hs, out, lane.start)
        _run(split, job, fill)
        h_n = np.empty((B, H), x.dtype)
        for lane, _, _, hx, _ in saved:
            h_n[lane] = hx[T, :, :H]
        self.save_for_backward(order, saved, w_ih, w_hh, rows, relu, b_ih is not None)
        return out, h_n

    def _weight_grads(self, I, H, dtype):
        return [np.empty((H, I), dtype), np.empty((H, H), dtype), np.empty((H, 1), dtype)]

    def backward(self, grad_out, grad_h):
        order, saved, w_ih, w_hh, rows, relu, has_bias = self.saved
        T, B, H = grad_out.shape
        dx = input_grad(self, (T, B, w_ih.shape[1]), grad_out.dtype)
        grad_out, at = _output_grad(grad_out, T)
        grad_h = dense(grad_h)
        results = self._state_grads([grad_h], T, w_ih.shape[1], dx)

        def job(i, t, m, flags, stats):
            (lane, valid, sym, hx, hs), (rings, states, shares, dx_parts, squares,
                                         weights) = saved[i], results[i]
            _kernels().rnn_backward(t, m, flags, stats, order, valid, sym, w_ih, w_hh, rows,
                                    relu, grad_out, at, lane.start, BLOCK_ROWS, hx, hs, *rings,
                                    *states, shares, dx_parts, squares, *weights)
        _run(self.split, job)
        dx, (dh0,), (dw_ih, dw_hh, db) = self._finish(results, [grad_h], dx, order, T)
        return (dx, dh0, dw_ih, dw_hh) + ((db[:, 0], db[:, 0]) if has_bias else ())
