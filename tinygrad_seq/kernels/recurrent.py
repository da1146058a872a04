"""The fused recurrent layers' time loops, in numba: one call runs a whole sequence's forward
(or backward) through time, so no Python runs between steps.

Parts and threads. The layer's H hidden units are cut into n equal parts of h units; part k
owns units [k h, (k + 1) h) and the G gate rows that compute them (i, f, g, o of its units for
the LSTM; r, z, n for the GRU), `rows[k]` in the weights' PyTorch row order, so that each part
is an ordinary recurrent layer of h units for the cell kernels of loops.py, which run
unchanged. A call is thread t of m (threads.Team) and runs parts t n / m .. (t + 1) n / m - 1:
m = n threads, one part each, meeting at a barrier (sync.py) once per time step, where the
parts exchange their new state; or m = 1 thread running every part in turn, without barriers.
The arithmetic is the same either way, so are the numbers. (nn/fused/loops.py also runs lanes
of a batch's rows, each with n = 1.)

What the caller lays out, steps in run order (step s is time order[s]):
    hx (T + 1, B, H + 1 + I)  row block s = [h_{s-1} | 1 | x_s]: step s's operand; h_{-1} = h0,
                         and the loop writes h_s into block s + 1 as it goes ((T + 1, B,
                         H + 1), without x, for a one-hot input: see sym)
    valid (T, B) uint8   is step s inside each sequence (all ones without lengths): past its
                         end a sequence keeps its state, outputs zeros, gets no gradient
    sym (T, B) int64     for an input of one-hot rows (one_hot_symbols), the symbol of each
                         (-1 for a row of zeros), else a (0, B) array: the input's product is
                         then a row of a table, x_s W_ih^T = W_ih^T[sym[s]], instead of I
                         columns of the step's product, and its weight gradient a
                         scatter-add of the gate gradients' rows
Each thread packs its parts' weights once per call (gemm.pack_columns, pack_rows): forward,
[W_hh^T ; b ; W_ih^T]'s columns of the part's gates; backward, the part's rows of W_hh (every
unit's column) and of W_ih (for the input's gradient).

Backward: a step's gate gradients go into a ring of R steps, dG (n, R B, G h + a pad: the
rows are longer, see nn/fused/loops.py's _ring, and the loops use the first G h); before the
step's barrier each part multiplies its own by its rows of W_hh, share_k = dG_k W_hh[rows[k]]
(B, H), and after it part k's gradient of the previous state is sum_j share_j[:, units of
k]. Every R steps, once a chunk of the ring is complete, each part adds the chunk's products
to its weight gradient, dW_k^T += hx^T dG_k (one product of R B rows, while they are hot in
the cache), and fills its share of the input's gradient, dx_k = dG_k W_ih[rows[k]] (n partial
sums the caller adds up). At the end each part writes its rows of dW_ih, dW_hh and the bias.
A layer in one part whose ring holds one step (a lane of a large batch) runs each backward
step in blocks of rows instead (`block`: the most rows of one): the cell, the state's product
and the weight gradient's on one block, then the next.

`stats[t]` (int64) gets thread t's cycles (the CPU's cycle counter): [WAITED] at barriers,
[TOTAL] in the whole call, [PRODUCTS] in matrix products, [CELLS] in the cell kernels.
threads.Team reads the first two to decide how many threads to run; benchmarks/rnn_profile.py
all four.
"""
import numba
import numpy as np

from . import cache
from .gemm import gemm, gemm_rows, pack_columns, pack_rows, panel_shape
from .loops import (gru_cell_backward, gru_cell_forward, lstm_cell_backward, lstm_cell_forward,
                    rnn_cell_backward, rnn_cell_forward)
from .sync import barrier

if numba.config.DISABLE_JIT:   # the counter and prefetch are LLVM intrinsics: Python stand-ins
    from time import perf_counter_ns as cycles

    def prefetch(a, i):
        pass
else:
    from .simd import cycles, prefetch


WAITED, TOTAL, PRODUCTS, CELLS = 0, 1, 2, 3   # the columns of stats


# ------------------------------------------------------------------------------ shared pieces
def _parts(t, m, n):
    """The parts thread t of m runs."""
    return t * n // m, (t + 1) * n // m


def _meet(flags, t, m, stats):
    """Wait for every other thread at the barrier (m > 1); False if the team was aborted."""
    if m == 1:
        return True
    waited = barrier(flags, t, m)
    stats[t, WAITED] += waited
    return waited >= 0


def one_hot_symbols(x, sym):
    """True, with sym (T, B) the symbol of each row of x (T, B, I), if every row is one-hot
    or all zeros (symbol -1: a sequence's padding); False as soon as one is not."""
    for t in range(x.shape[0]):
        for b in range(x.shape[1]):
            sym[t, b] = -1
            for v in range(x.shape[2]):
                if x[t, b, v] == 0:
                    continue
                if x[t, b, v] != 1 or sym[t, b] >= 0:
                    return False
                sym[t, b] = v
    return True


def _prefetch(a):
    """Start loading a's cache lines (a contiguous array) into L2: the next step's saved
    activations and operand rows, while this step's products run (the backward's cells and
    the weight gradient's product then find them)."""
    for i in range(0, a.size, 64 // a.itemsize):
        prefetch(a, i)


def _gather(tab, symbols, out):
    """out[b] = tab[symbols[b]]: a one-hot input's product for a step's rows (a zero row,
    symbol -1, takes the table's last row: the bias alone)."""
    last = tab.shape[0] - 1
    for b in range(out.shape[0]):
        v = symbols[b]
        v = v if v >= 0 else last
        for j in range(out.shape[1]):
            out[b, j] = tab[v, j]


def _emit(keep, state, prev, new, out, u):
    """Part of the new state (rows, h), units u.., into hx's next block (new; prev: this
    step's) and the output's rows; past a sequence's end (keep 0) the state is the previous
    one and the output zero."""
    for b in range(state.shape[0]):
        kept = keep[b]   # a local: read in the loop, it might alias the stores (no vectors)
        for j in range(state.shape[1]):
            if not kept:
                state[b, j] = prev[b, u + j]
            new[b, u + j] = state[b, j]
            out[b, u + j] = state[b, j] if kept else 0


def _add_from_above(keep, grad_out, i, r0, u, dh):
    """dh += the output's gradient grad_out[i] (none if i = -1; rows r0.., units u..) on the
    rows inside their sequence (a select, not a product: a nan arriving on a padded output
    reaches nothing)."""
    for b in range(dh.shape[0] if i >= 0 else 0):
        if keep[b]:
            for j in range(dh.shape[1]):
                dh[b, j] += grad_out[i, r0 + b, u + j]


def _squares(keep, g):
    """sum of g^2 (float64) over the rows inside their sequence, for step_grad_norms."""
    total = 0.0
    for b in range(g.shape[0]):
        if keep[b]:
            for j in range(g.shape[1]):
                total += np.float64(g[b, j]) * np.float64(g[b, j])
    return total


def _zero_done(keep, grads):
    """Past a sequence's end its gate gradients are zero."""
    for b in range(grads.shape[0]):
        if not keep[b]:
            for j in range(grads.shape[1]):
                grads[b, j] = 0


def _pass_done(keep, new, old):
    """Past a sequence's end the state's gradient passes the step unchanged."""
    for b in range(new.shape[0]):
        if not keep[b]:
            for j in range(new.shape[1]):
                new[b, j] = old[b, j]


def _block_rows(B, whole, most):
    """How many rows each block of a backward step has (the last may have fewer): all B
    (whole), else B cut into as few blocks of at most `most` rows as it takes, each rounded up
    to whole tiles of 4 rows where `most` allows (B = 65, most 64: blocks of 36 and 29; see
    nn/fused/loops.py)."""
    blocks = 1 if whole else max(1, (B + most - 1) // most)
    rows = (B + blocks - 1) // blocks
    return max(1, rows if whole else min(most, (rows + 3) // 4 * 4))


def _next_block(s, b1, B):
    """The step and first row of the block backward runs after (step s, rows .. b1): the
    step's next rows, or the previous step's first."""
    return (s, b1) if b1 < B else (s - 1, 0)


def _forward_weights(blocks, rows, k0, k1, K):
    """(k1 - k0, P, K, NR): part k's columns of the blocks' transposes stacked, blocks[0].T
    on blocks[1].T on ..., their first K rows (a one-hot input's W_ih block is left out),
    packed; blocks are (G H, n_i) arrays: [W_hh^T ; b ; W_ih^T] for the LSTM and RNN."""
    wf = np.empty((k1 - k0,) + panel_shape(rows.shape[1], K, blocks[0]), blocks[0].dtype)
    for k in range(k0, k1):
        top = 0
        for block in blocks:
            if top < K:
                pack_columns(block, rows[k], top, wf[k - k0])
            top += block.shape[1]
    return wf


def _tables(w_ih, bias, rows, k0, k1, gather):
    """(k1 - k0, I + 1, G h): part k's products for a one-hot row of each symbol v,
    tab[v, j] = w_ih[rows[k, j], v] + bias[rows[k, j]], and for a row of zeros, tab[I, j] =
    bias[rows[k, j]] ((.., 0, ..) unless gather)."""
    I = w_ih.shape[1]
    tab = np.empty((k1 - k0, I + 1 if gather else 0, rows.shape[1]), w_ih.dtype)
    for k in range(k0, k1):   # tab's rows in order (as gemm.pack_columns)
        for v in range(I if gather else 0):
            for j in range(tab.shape[2]):
                tab[k - k0, v, j] = w_ih[rows[k, j], v] + bias[rows[k, j], 0]
        for j in range(tab.shape[2] if gather else 0):
            tab[k - k0, I, j] = bias[rows[k, j], 0]
    return tab


def _backward_weights(w_hh, w_ih, rows, k0, k1, with_dx):
    """wb (k1 - k0, P, G h, NR): [k] = W_hh[rows[k]], every unit's column, packed (part k's
    gate gradients times it: its share of every unit's state gradient); wx (k1 - k0, P, G h,
    NR): W_ih[rows[k]], packed, for the input's gradient (no panels unless with_dx)."""
    Gh, H = rows.shape[1], w_hh.shape[1]
    I = w_ih.shape[1] if with_dx else 0
    wb = np.empty((k1 - k0,) + panel_shape(H, Gh, w_hh), w_hh.dtype)
    wx = np.empty((k1 - k0,) + panel_shape(I, Gh, w_ih), w_ih.dtype)
    for k in range(k0, k1):
        pack_rows(w_hh, rows[k], 0, H, wb[k - k0])
        if with_dx:
            pack_rows(w_ih, rows[k], 0, I, wx[k - k0])
    return wb, wx


def _own_shares(dG, slot, B, wb, k0, k1, shares):
    """Before the step's barrier, parts split (shares (n, B, H)): shares[k] = part k's gate
    gradients at the step times W_hh[rows[k]], its terms of every unit's state gradient. Each
    thread multiplies only the gate gradients it has just written: reading the partner's from
    the other core slowed the product 48 -> 58-60 us (the charlm LSTM's), and the shares it
    reads back after the barrier are a quarter of their size."""
    for k in range(k0, k1 if shares.shape[0] else k0):
        gemm(dG[k, slot * B:(slot + 1) * B, 0:wb.shape[2]], wb[k - k0], shares[k], False)


def _exchange(dG, slot, B, wb, k0, k1, shares, flags, t, m, stats):
    """The step's own shares (_own_shares, counted as products), then its barrier: every
    part's share is complete on return (False: the team was aborted)."""
    tick = cycles()
    _own_shares(dG, slot, B, wb, k0, k1, shares)
    stats[t, PRODUCTS] += cycles() - tick
    return _meet(flags, t, m, stats)


def _state_grad(dg, wb, shares, k, dh_new, add):
    """After the barrier, dh_new = part k's units of the previous state's gradient (add: dh_new
    += ...): the parts' shares added in part order (the same sum on one thread or several),
    or, for a layer in one part, its product itself, dg (its gate gradients' rows) @ wb.
    The shares' rows are the whole step's: parts (shares.shape[0] > 0) never run in blocks."""
    if not shares.shape[0]:
        gemm(dg[:, 0:wb.shape[1]], wb, dh_new, add)
        return
    h = dh_new.shape[1]
    for j in range(shares.shape[0]):
        for b in range(dh_new.shape[0]):
            src, dst = shares[j, b, k * h:(k + 1) * h], dh_new[b]
            if j == 0 and not add:
                for u in range(h):
                    dst[u] = src[u]
            else:
                for u in range(h):
                    dst[u] += src[u]


def _ring_steps(ring, B):
    """R, the steps a ring of gate gradients (n, R B, G h) holds."""
    return max(1, ring.shape[1] // max(B, 1))


def _chunk(s, T, R):
    """The steps of the ring's chunk that step s completes (0 if it completes none)."""
    return 0 if s % R else min(R, T - s)


def _flat_rows(a, first, count):
    """Rows first .. first + count - 1 of a (S, B, C) as (S B, C): steps' rows, flat."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2])[first:first + count]


def _flush(operand, grads, dWt, symbols, dtab, wx, dx):
    """A chunk's products over its rows (steps' rows of a block, flat): dWt += operand^T grads
    (operand: the rows of hx's K columns, dWt (K, G h)); a one-hot input's scatter, dtab[v] +=
    the gradient rows of symbol v (symbols empty without one); the input's gradient dx =
    grads @ W_ih[rows] (wx empty where it is not needed)."""
    if operand.shape[0]:
        gemm_rows(operand.T, grads, dWt, True)
    for r in range(symbols.shape[0]):
        v = symbols[r]
        if v >= 0:
            for j in range(dtab.shape[1]):
                dtab[v, j] += grads[r, j]
    if wx.shape[0] and operand.shape[0]:
        gemm(grads[:, 0:wx.shape[1]], wx, dx, False)


def _unpack(src, rows, dst):
    """dst[rows[j], c] = src[c, j]: a part's transposed gradient (C, G h) back in the
    weights' rows (dst (G H, C)), in blocks of 16 x 16 (column by column, each read of src
    would be a new cache line: 2.4x slower on the charlm LSTM's)."""
    C, J = dst.shape[1], len(rows)
    for j0 in range(0, J, 16):
        for c0 in range(0, C, 16):
            for j in range(j0, min(j0 + 16, J)):
                r = rows[j]
                for c in range(c0, min(c0 + 16, C)):
                    dst[r, c] = src[c, j]


def _unpack_stacked(dwt, dtab, gather, rows, dw_hh, db, dw_ih):
    """A part's stacked gradient [dW_hh^T ; db ; dW_ih^T] (G h columns) back in the weights'
    rows; for a one-hot input dW_ih^T is the table's, dtab."""
    H = dw_hh.shape[1]
    _unpack(dwt[:H], rows, dw_hh)
    _unpack(dwt[H:H + 1], rows, db)
    _unpack(dtab if gather else dwt[H + 1:], rows, dw_ih)


# ------------------------------------------------------------------------------ LSTM
def lstm_forward(t, m, flags, stats, order, valid, sym, w_ih, w_hh, bias, rows, hx, act, c,
                 tanh_c, out, r0):
    """bias (4H, 1): b_ih + b_hh (zeros without biases); act (n, T, B, 4h), c (n, T + 1, B, h)
    (c[k, 0] = part k's c0), tanh_c (n, T, B, h) saved for backward; out (T, B', H) the
    layer's output, of which this batch is rows r0 .. r0 + B - 1."""
    start = cycles()
    n, T, B, h = act.shape[0], act.shape[1], act.shape[2], c.shape[3]
    H, gather = n * h, sym.shape[0] > 0
    K = H + 1 if gather else hx.shape[2]
    k0, k1 = _parts(t, m, n)
    hx2 = hx.reshape(hx.shape[0] * B, hx.shape[2])   # steps' rows, sliced into operands
    wf = _forward_weights((w_hh, bias, w_ih), rows, k0, k1, K)
    tab = _tables(w_ih, np.zeros_like(bias), rows, k0, k1, gather)
    gates, h_new = np.empty((B, 4 * h), w_hh.dtype), np.empty((B, h), w_hh.dtype)
    for s in range(T):
        if s and not _meet(flags, t, m, stats):   # h_{s-1} is complete
            return
        for k in range(k0, k1):
            if gather:   # the gathered rows, to which the product adds; else it overwrites
                _gather(tab[k - k0], sym[s], gates)
            tick = cycles()
            gemm(hx2[s * B:(s + 1) * B, 0:K], wf[k - k0], gates, gather)
            tock = cycles()
            lstm_cell_forward(gates, c[k, s], act[k, s], c[k, s + 1], tanh_c[k, s], h_new)
            stats[t, PRODUCTS] += tock - tick
            stats[t, CELLS] += cycles() - tock
            _emit(valid[s], h_new, hx[s], hx[s + 1], out[order[s], r0:r0 + B], k * h)
            _pass_done(valid[s], c[k, s + 1], c[k, s])
    stats[t, TOTAL] += cycles() - start


def lstm_backward(t, m, flags, stats, order, valid, sym, w_ih, w_hh, rows, grad_out, at, r0,
                  block, hx, act, c, tanh_c, dG, dh, dc, shares, dx, squares, dw_ih, dw_hh, db):
    """grad_out (S, B', H), rows r0..: the output's gradient, step time's grad_out[at[time]]
    (at (T,), -1 where it is zero: out[-1]'s gradient is one step); block: the most rows of a
    step's block (one part, ring of one step: _block_rows); dh, dc (n, 2, B, h) ping-pong
    state gradients: [k, 0] = part k's grad_h, grad_c on entry, [k, T % 2] = dh0, dc0 on
    return; shares (2, n, B, H) the parts' shares of the state gradients, of steps of either
    parity ((2, 0, ...) for one part: _own_shares); dx (n, T, B, I) the parts' shares of the
    input's gradient ((n, 0, ...) when it is not needed); squares (n, 2, T): the part's
    ||dh_t||^2 and ||dc_t||^2 (time order); dw_ih (4H, I), dw_hh (4H, H), db (4H, 1): the
    part's rows are written."""
    start = cycles()
    n, T, B, h = act.shape[0], act.shape[1], act.shape[2], c.shape[3]
    H, gather, R = n * h, sym.shape[0] > 0, _ring_steps(dG, B)
    K = H + 1 if gather else hx.shape[2]
    k0, k1 = _parts(t, m, n)
    hx2 = hx.reshape(hx.shape[0] * B, hx.shape[2])   # steps' rows, sliced into operands
    wb, wx = _backward_weights(w_hh, w_ih, rows, k0, k1, dx.shape[1] > 0)
    dWt = np.zeros((k1 - k0, K, 4 * h), w_hh.dtype)
    dtab = np.zeros((k1 - k0, w_ih.shape[1] if gather else 0, 4 * h), w_hh.dtype)
    dc_total = np.empty((B, h), w_hh.dtype)
    sym2, mb = sym.reshape(sym.size), _block_rows(B, n > 1 or R > 1, block)
    cur = 0
    for s in range(T - 1, -1, -1):
        time, slot, steps = order[s], s % R, _chunk(s, T, R)
        squares[k0:k1, :, time] = 0
        for b0 in range(0, B, mb):
            b1 = min(B, b0 + mb)
            keep, first, count = valid[s, b0:b1], s * B + b0, steps * (b1 - b0)
            for k in range(k0, k1):
                dh_s, dc_s = dh[k, cur, b0:b1], dc[k, cur, b0:b1]
                dg, dc_t = dG[k, slot * B + b0:slot * B + b1], dc_total[b0:b1]
                _add_from_above(keep, grad_out, at[time], r0 + b0, k * h, dh_s)
                squares[k, 0, time] += _squares(keep, dh_s)
                tick = cycles()
                lstm_cell_backward(act[k, s, b0:b1], c[k, s, b0:b1], tanh_c[k, s, b0:b1], dh_s,
                                   dc_s, dg, dc_t, dc[k, 1 - cur, b0:b1])
                stats[t, CELLS] += cycles() - tick
                squares[k, 1, time] += _squares(keep, dc_t)
                _zero_done(keep, dg)
                _pass_done(keep, dc[k, 1 - cur, b0:b1], dc_s)
            if not _exchange(dG, slot, B, wb, k0, k1, shares[s % 2], flags, t, m, stats):
                return
            tick = cycles()
            ns, nb = _next_block(s, b1, B)
            for k in range(k0, k1):
                if ns >= 0:
                    _prefetch(act[k, ns, nb:nb + mb])
                    _prefetch(c[k, ns, nb:nb + mb])
                    _prefetch(tanh_c[k, ns, nb:nb + mb])
                    if R == 1:   # the next block's products read them (else a chunk's later)
                        _prefetch(hx[ns, nb:nb + mb])
                _state_grad(dG[k, slot * B + b0:slot * B + b1], wb[k - k0], shares[s % 2], k,
                            dh[k, 1 - cur, b0:b1], False)
                _pass_done(keep, dh[k, 1 - cur, b0:b1], dh[k, cur, b0:b1])
                _flush(hx2[first:first + count, 0:K], dG[k, b0:b0 + count], dWt[k - k0],
                       sym2[first:first + count], dtab[k - k0], wx[k - k0],
                       _flat_rows(dx[k], first, count))
            stats[t, PRODUCTS] += cycles() - tick
        cur = 1 - cur
    for k in range(k0, k1):
        _unpack_stacked(dWt[k - k0], dtab[k - k0], gather, rows[k], dw_hh, db, dw_ih)
    stats[t, TOTAL] += cycles() - start


# ------------------------------------------------------------------------------ GRU
# PyTorch's GRU (reset_after=True): the step's gx = [1 | x_s] [b_ih ; W_ih^T] and
# gh = [h_{s-1} | 1] [W_hh^T ; b_hh] are two products on column ranges of hx (the reset gate
# needs them apart). (Cho et al.'s variant, reset_after=False, runs in nn/fused/steps.py.)
def gru_forward(t, m, flags, stats, order, valid, sym, w_ih, w_hh, b_ih, b_hh, rows, hx, hs,
                act, gh, out, r0):
    """b_ih, b_hh (3H, 1) (zeros without biases); hs (n, T + 1, B, h) the states (hs[k, 0] =
    part k's h0), act (n, T, B, 3h) [r, z, n], gh (n, T, B, 3h) saved for backward."""
    start = cycles()
    n, T, B, h = act.shape[0], act.shape[1], act.shape[2], hs.shape[3]
    H, gather = n * h, sym.shape[0] > 0
    k0, k1 = _parts(t, m, n)
    hx2 = hx.reshape(hx.shape[0] * B, hx.shape[2])   # steps' rows, sliced into operands
    wh = _forward_weights((w_hh, b_hh), rows, k0, k1, H + 1)
    wx = _forward_weights((b_ih, w_ih), rows, k0, k1, 0 if gather else 1 + w_ih.shape[1])
    tab = _tables(w_ih, b_ih, rows, k0, k1, gather)
    gx = np.empty((B, 3 * h), w_hh.dtype)
    for s in range(T):
        if s and not _meet(flags, t, m, stats):
            return
        for k in range(k0, k1):
            tick = cycles()
            if gather:
                _gather(tab[k - k0], sym[s], gx)
            else:
                gemm(hx2[s * B:(s + 1) * B, H:hx.shape[2]], wx[k - k0], gx, False)
            gemm(hx2[s * B:(s + 1) * B, 0:H + 1], wh[k - k0], gh[k, s], False)
            tock = cycles()
            gru_cell_forward(gx, gh[k, s], hs[k, s], act[k, s], hs[k, s + 1])
            stats[t, PRODUCTS] += tock - tick
            stats[t, CELLS] += cycles() - tock
            _emit(valid[s], hs[k, s + 1], hx[s], hx[s + 1], out[order[s], r0:r0 + B], k * h)
    stats[t, TOTAL] += cycles() - start


def gru_backward(t, m, flags, stats, order, valid, sym, w_ih, w_hh, rows, grad_out, at, r0,
                 block, hx, hs, act, gh, dGx, dGh, dh, shares, dx, squares, dw_ih, dw_hh, db_ih,
                 db_hh):
    """As lstm_backward: dGx, dGh (n, R B, 3h) the rings of gx's and gh's gradients; dh
    (n, 2, B, h); squares (n, 1, T); db_ih, db_hh (3H, 1)."""
    start = cycles()
    n, T, B, h = act.shape[0], act.shape[1], act.shape[2], hs.shape[3]
    H, gather, R = n * h, sym.shape[0] > 0, _ring_steps(dGx, B)
    Kx = 1 if gather else 1 + w_ih.shape[1]
    k0, k1 = _parts(t, m, n)
    hx2 = hx.reshape(hx.shape[0] * B, hx.shape[2])   # steps' rows, sliced into operands
    wb, wx = _backward_weights(w_hh, w_ih, rows, k0, k1, dx.shape[1] > 0)
    dWh = np.zeros((k1 - k0, H + 1, 3 * h), w_hh.dtype)   # [dW_hh^T ; db_hh]
    dWx = np.zeros((k1 - k0, Kx, 3 * h), w_hh.dtype)      # [db_ih ; dW_ih^T]
    dtab = np.zeros((k1 - k0, w_ih.shape[1] if gather else 0, 3 * h), w_hh.dtype)
    sym2, mb = sym.reshape(sym.size), _block_rows(B, n > 1 or R > 1, block)
    cur = 0
    for s in range(T - 1, -1, -1):
        time, slot, steps = order[s], s % R, _chunk(s, T, R)
        squares[k0:k1, :, time] = 0
        for b0 in range(0, B, mb):
            b1 = min(B, b0 + mb)
            keep, first, count = valid[s, b0:b1], s * B + b0, steps * (b1 - b0)
            one = slice(slot * B + b0, slot * B + b1)
            for k in range(k0, k1):
                dh_s = dh[k, cur, b0:b1]
                _add_from_above(keep, grad_out, at[time], r0 + b0, k * h, dh_s)
                squares[k, 0, time] += _squares(keep, dh_s)
                tick = cycles()
                gru_cell_backward(act[k, s, b0:b1], gh[k, s, b0:b1], hs[k, s, b0:b1], dh_s,
                                  dGx[k, one], dGh[k, one], dh[k, 1 - cur, b0:b1])
                stats[t, CELLS] += cycles() - tick
                _zero_done(keep, dGx[k, one])
                _zero_done(keep, dGh[k, one])
            if not _exchange(dGh, slot, B, wb, k0, k1, shares[s % 2], flags, t, m, stats):
                return
            tick = cycles()
            ns, nb = _next_block(s, b1, B)
            for k in range(k0, k1):
                if ns >= 0:
                    _prefetch(act[k, ns, nb:nb + mb])
                    _prefetch(gh[k, ns, nb:nb + mb])
                    _prefetch(hs[k, ns, nb:nb + mb])
                    if R == 1:   # the next block's products read them (else a chunk's later)
                        _prefetch(hx[ns, nb:nb + mb])
                _state_grad(dGh[k, one], wb[k - k0], shares[s % 2], k, dh[k, 1 - cur, b0:b1],
                            True)   # + the direct part
                _pass_done(keep, dh[k, 1 - cur, b0:b1], dh[k, cur, b0:b1])
                dxk = _flat_rows(dx[k], first, count)
                _flush(hx2[first:first + count, 0:H + 1], dGh[k, b0:b0 + count], dWh[k - k0],
                       sym2[0:0], dtab[k - k0], wx[k - k0, :0], dxk)
                _flush(hx2[first:first + count, H:H + Kx], dGx[k, b0:b0 + count], dWx[k - k0],
                       sym2[first:first + count], dtab[k - k0], wx[k - k0], dxk)
            stats[t, PRODUCTS] += cycles() - tick
        cur = 1 - cur
    for k in range(k0, k1):
        _unpack(dWh[k - k0, :H], rows[k], dw_hh)
        _unpack(dWh[k - k0, H:], rows[k], db_hh)
        _unpack(dWx[k - k0, :1], rows[k], db_ih)
        _unpack(dtab[k - k0] if gather else dWx[k - k0, 1:], rows[k], dw_ih)
    stats[t, TOTAL] += cycles() - start


# ------------------------------------------------------------------------------ RNN
def rnn_forward(t, m, flags, stats, order, valid, sym, w_ih, w_hh, bias, rows, relu, hx, hs,
                out, r0):
    """As lstm_forward; hs (n, T + 1, B, h) the states saved for backward (hs[k, 0] = part
    k's h0); relu: the non-linearity is relu, not tanh."""
    start = cycles()
    n, T, B, h = hs.shape[0], hs.shape[1] - 1, hs.shape[2], hs.shape[3]
    H, gather = n * h, sym.shape[0] > 0
    K = H + 1 if gather else hx.shape[2]
    k0, k1 = _parts(t, m, n)
    hx2 = hx.reshape(hx.shape[0] * B, hx.shape[2])   # steps' rows, sliced into operands
    wf = _forward_weights((w_hh, bias, w_ih), rows, k0, k1, K)
    tab = _tables(w_ih, np.zeros_like(bias), rows, k0, k1, gather)
    pre = np.empty((B, h), w_hh.dtype)
    for s in range(T):
        if s and not _meet(flags, t, m, stats):
            return
        for k in range(k0, k1):
            if gather:
                _gather(tab[k - k0], sym[s], pre)
            tick = cycles()
            gemm(hx2[s * B:(s + 1) * B, 0:K], wf[k - k0], pre, gather)
            tock = cycles()
            rnn_cell_forward(pre, hs[k, s + 1], relu)
            stats[t, PRODUCTS] += tock - tick
            stats[t, CELLS] += cycles() - tock
            _emit(valid[s], hs[k, s + 1], hx[s], hx[s + 1], out[order[s], r0:r0 + B], k * h)
    stats[t, TOTAL] += cycles() - start


def rnn_backward(t, m, flags, stats, order, valid, sym, w_ih, w_hh, rows, relu, grad_out, at, r0,
                 block, hx, hs, dG, dh, shares, dx, squares, dw_ih, dw_hh, db):
    """As lstm_backward: dG (n, R B, h); dh (n, 2, B, h); squares (n, 1, T)."""
    start = cycles()
    n, T, B, h = hs.shape[0], hs.shape[1] - 1, hs.shape[2], hs.shape[3]
    H, gather, R = n * h, sym.shape[0] > 0, _ring_steps(dG, B)
    K = H + 1 if gather else hx.shape[2]
    k0, k1 = _parts(t, m, n)
    hx2 = hx.reshape(hx.shape[0] * B, hx.shape[2])   # steps' rows, sliced into operands
    wb, wx = _backward_weights(w_hh, w_ih, rows, k0, k1, dx.shape[1] > 0)
    dWt = np.zeros((k1 - k0, K, h), w_hh.dtype)
    dtab = np.zeros((k1 - k0, w_ih.shape[1] if gather else 0, h), w_hh.dtype)
    sym2, mb = sym.reshape(sym.size), _block_rows(B, n > 1 or R > 1, block)
    cur = 0
    for s in range(T - 1, -1, -1):
        time, slot, steps = order[s], s % R, _chunk(s, T, R)
        squares[k0:k1, :, time] = 0
        for b0 in range(0, B, mb):
            b1 = min(B, b0 + mb)
            keep, first, count = valid[s, b0:b1], s * B + b0, steps * (b1 - b0)
            for k in range(k0, k1):
                dh_s, dg = dh[k, cur, b0:b1], dG[k, slot * B + b0:slot * B + b1]
                _add_from_above(keep, grad_out, at[time], r0 + b0, k * h, dh_s)
                squares[k, 0, time] += _squares(keep, dh_s)
                tick = cycles()
                rnn_cell_backward(hs[k, s + 1, b0:b1], dh_s, dg, relu)
                stats[t, CELLS] += cycles() - tick
                _zero_done(keep, dg)
            if not _exchange(dG, slot, B, wb, k0, k1, shares[s % 2], flags, t, m, stats):
                return
            tick = cycles()
            ns, nb = _next_block(s, b1, B)
            for k in range(k0, k1):
                if ns >= 0:
                    _prefetch(hs[k, ns + 1, nb:nb + mb])
                    if R == 1:   # the next block's products read them (else a chunk's later)
                        _prefetch(hx[ns, nb:nb + mb])
                _state_grad(dG[k, slot * B + b0:slot * B + b1], wb[k - k0], shares[s % 2], k,
                            dh[k, 1 - cur, b0:b1], False)
                _pass_done(keep, dh[k, 1 - cur, b0:b1], dh[k, cur, b0:b1])
                _flush(hx2[first:first + count, 0:K], dG[k, b0:b0 + count], dWt[k - k0],
                       sym2[first:first + count], dtab[k - k0], wx[k - k0],
                       _flat_rows(dx[k], first, count))
            stats[t, PRODUCTS] += cycles() - tick
        cur = 1 - cur
    for k in range(k0, k1):
        _unpack_stacked(dWt[k - k0], dtab[k - k0], gather, rows[k], dw_hh, db, dw_ih)
    stats[t, TOTAL] += cycles() - start


# ------------------------------------------------------------------------------ jit
# The helpers are inlined into the loops, which compile once per dtype and are cached: each
# function numba compiles on its own costs it ~0.2 s on a first run (empty cache), and inlined
# the demo's first step compiled in 12.2-14.6 s instead of 14.3-16.4 (three alternating runs),
# running as fast. None is called with a constant for an argument that varies (numba would
# compile it again for each constant: literal types).
if not numba.config.DISABLE_JIT:
    _jit = cache.njit(error_model="numpy", nogil=True)
    _inline = numba.njit(inline="always", error_model="numpy", nogil=True)
    _parts, _meet, _prefetch, _gather, _emit = map(
        _inline, (_parts, _meet, _prefetch, _gather, _emit))
    _add_from_above, _zero_done, _pass_done = map(
        _inline, (_add_from_above, _zero_done, _pass_done))
    _forward_weights, _tables, _backward_weights, _state_grad, _ring_steps, _chunk = map(
        _inline, (_forward_weights, _tables, _backward_weights, _state_grad, _ring_steps, _chunk))
    _own_shares, _exchange, _flat_rows = map(_inline, (_own_shares, _exchange, _flat_rows))
    _flush, _unpack, _unpack_stacked, _block_rows, _next_block = map(
        _inline, (_flush, _unpack, _unpack_stacked, _block_rows, _next_block))
    # a sum for pictures, not for gradients: reassociated, so that it vectorizes
    _squares = cache.njit(error_model="numpy", nogil=True,
                          fastmath={"reassoc"})(_squares)
    one_hot_symbols = _jit(one_hot_symbols)
    lstm_forward, lstm_backward = _jit(lstm_forward), _jit(lstm_backward)
    gru_forward, gru_backward = _jit(gru_forward), _jit(gru_backward)
    rnn_forward, rnn_backward = _jit(rnn_forward), _jit(rnn_backward)
