"""numba kernels: plain Python loops over preallocated arrays, jitted at the bottom of the module.

Same signatures as reference.py (the numpy twins they are tested against). Importing this
module imports numba; the backend (kernels/__init__.py) does that on the first call of a numba
kernel, and each kernel compiles on its first call per dtype (then loads from the disk cache).
With NUMBA_DISABLE_JIT=1 these are ordinary Python functions to step through in a debugger.

How they are written, and why (see /work/shared/NUMBA_NOTES.md):
- `error_model="numpy"`: no zero-division checks, so loops with a division vectorize;
- constants typed like the data (`one = x.dtype.type(1)`): a bare `1` would promote float32
  arithmetic to float64 and halve the SIMD width;
- short passes over contiguous rows rather than one loop body writing many arrays, which LLVM
  refuses to vectorize;
- serial, no `prange`: these run between BLAS GEMMs, and two thread pools on 2 cores
  oversubscribe (measured 5x slower); `parallel=True` would also triple compile times. They
  release the GIL (`nogil`), so the fused layers' lanes (threads.py) run them side by side;
- no fastmath (results are gradient-checked), except for the float64 sum in `squared_norm`,
  which may be reassociated so that it vectorizes.
"""
import math

import numba
import numpy as np

from . import cache, reference

if numba.config.DISABLE_JIT:   # an LLVM intrinsic: a Python stand-in
    def fma(x, y, z):
        """x * y + z, in float64, which holds a float32 product exactly (then rounded again)."""
        return np.result_type(x, y, z).type(np.float64(x) * np.float64(y) + np.float64(z))
else:
    from .simd import fma


# ------------------------------------------------------------------------------ activations
def tanh_backward(out, g, dx):
    one = out.dtype.type(1)
    for i in range(dx.size):
        dx[i] = g[i] * (one - out[i] * out[i])


def sigmoid_backward(out, g, dx):
    one = out.dtype.type(1)
    for i in range(dx.size):
        dx[i] = g[i] * out[i] * (one - out[i])


def relu_backward(out, g, dx):
    zero = out.dtype.type(0)
    for i in range(dx.size):
        dx[i] = g[i] if out[i] > zero else zero


# float32 tanh as a clamped odd rational polynomial (the coefficients of Eigen's
# generic_fast_tanh_float): only fused multiply-adds, a division and a clamp, so loops over it
# vectorize, unlike the scalar libm tanhf numba calls. Max abs error ~3e-7 (tests/test_kernels.py
# checks the whole float32 range). The Horner steps are explicit FMAs (simd.fma): without
# fastmath LLVM keeps each a multiply and an add, and the pass ran 0.36 ns an element instead
# of 0.25 (32k elements, Sapphire Rapids). float64 keeps exact libm: its results are
# gradient-checked.
_CLAMP = np.float32(7.99881172180175781)   # the first x it gives 1 at, with FMAs
_TINY = np.float32(0.0004)
_A1, _A3, _A5, _A7 = (np.float32(4.89352455891786e-03), np.float32(6.37261928875436e-04),
                      np.float32(1.48572235717979e-05), np.float32(5.12229709037114e-08))
_A9, _A11, _A13 = (np.float32(-8.60467152213735e-11), np.float32(2.00018790482477e-13),
                   np.float32(-2.76076847742355e-16))
_B0, _B2, _B4, _B6 = (np.float32(4.89352518554385e-03), np.float32(2.26843463243900e-03),
                      np.float32(1.18534705686654e-04), np.float32(1.19825839466702e-06))


def tanh32(x):
    """tanh of a float32 scalar by the rational approximation (vectorizable)."""
    c = min(max(x, -_CLAMP), _CLAMP)
    c2 = c * c
    p = fma(c2, fma(c2, fma(c2, _A13, _A11), _A9), _A7)
    p = fma(c2, fma(c2, fma(c2, p, _A5), _A3), _A1)
    q = fma(c2, fma(c2, fma(c2, _B6, _B4), _B2), _B0)
    return x if abs(x) < _TINY else c * p / q


def _tanh_pass(x, out):
    """out = tanh(x) over 1-D slices: the approximation for float32, libm for float64."""
    if out.itemsize == 4:
        for j in range(out.size):
            out[j] = tanh32(x[j])
    else:
        for j in range(out.size):
            out[j] = math.tanh(x[j])


def _sigmoid_pass(x, out):
    """out = sigmoid(x) over 1-D slices; float32 as 0.5 tanh(x/2) + 0.5."""
    half = out.dtype.type(0.5)
    if out.itemsize == 4:
        for j in range(out.size):
            out[j] = fma(half, tanh32(half * x[j]), half)
    else:
        for j in range(out.size):
            out[j] = 1.0 / (1.0 + math.exp(-x[j]))


def tanh_forward(x, out):
    _tanh_pass(x, out)


def sigmoid_forward(x, out):
    _sigmoid_pass(x, out)


# ------------------------------------------------------------------------------ softmax family
def softmax_forward(x, out):
    for r in range(x.shape[0]):
        m = x.dtype.type(-np.inf)
        for j in range(x.shape[1]):
            m = max(m, x[r, j])
        total = 0.0
        for j in range(x.shape[1]):
            e = np.exp(x[r, j] - m)
            out[r, j] = e
            total += e
        scale = 1.0 / total
        for j in range(x.shape[1]):
            out[r, j] *= scale


def softmax_backward(out, g, dx):
    for r in range(out.shape[0]):
        dot = 0.0
        for j in range(out.shape[1]):
            dot += g[r, j] * out[r, j]
        for j in range(out.shape[1]):
            dx[r, j] = out[r, j] * (g[r, j] - dot)


def log_softmax_forward(x, out):
    for r in range(x.shape[0]):
        m = x.dtype.type(-np.inf)
        for j in range(x.shape[1]):
            m = max(m, x[r, j])
        total = 0.0
        for j in range(x.shape[1]):
            total += np.exp(x[r, j] - m)
        shift = m + np.log(total)
        for j in range(x.shape[1]):
            out[r, j] = x[r, j] - shift


def log_softmax_backward(out, g, dx):
    for r in range(out.shape[0]):
        total = 0.0
        for j in range(out.shape[1]):
            total += g[r, j]
        for j in range(out.shape[1]):
            dx[r, j] = g[r, j] - np.exp(out[r, j]) * total


def cross_entropy_forward(logits, target, ignore_index, losses, probs):
    for r in range(logits.shape[0]):
        m = logits.dtype.type(-np.inf)
        for j in range(logits.shape[1]):
            m = max(m, logits[r, j])
        total = 0.0
        for j in range(logits.shape[1]):
            e = np.exp(logits[r, j] - m)
            probs[r, j] = e
            total += e
        scale = 1.0 / total
        for j in range(logits.shape[1]):
            probs[r, j] *= scale
        t = target[r]
        losses[r] = 0.0 if t == ignore_index else np.log(total) - (logits[r, t] - m)


def cross_entropy_backward(probs, target, ignore_index, scale, dx):
    for r in range(probs.shape[0]):
        s = scale[r] if target[r] != ignore_index else 0.0
        for j in range(probs.shape[1]):
            dx[r, j] = probs[r, j] * s
        if target[r] != ignore_index:
            dx[r, target[r]] -= s


def nll_loss_forward(x, target, weight, ignore_index, losses, w):
    for r in range(target.shape[0]):
        t = target[r]
        if t == ignore_index:
            w[r] = 0
            losses[r] = 0
        elif t < 0 or t >= x.shape[1]:
            return r
        else:
            w[r] = weight[t] if weight.shape[0] else 1
            losses[r] = -x[r, t] * w[r]
    return -1


def nll_loss_backward(target, ignore_index, values, dx):
    for r in range(target.shape[0]):
        t = target[r]
        for j in range(dx.shape[1]):
            dx[r, j] = 0
        if t != ignore_index:
            if t < 0 or t >= dx.shape[1]:
                return r
            dx[r, t] = values[r]
    return -1


# ------------------------------------------------------------------------------ scatter, reduce
def embedding_backward(indices, g, dweight):
    dweight[...] = 0
    for i in range(indices.shape[0]):
        row = indices[i]
        for j in range(g.shape[1]):
            dweight[row, j] += g[i, j]


def sum_rows(g, out):
    out[:] = 0
    for r in range(g.shape[0]):
        for j in range(g.shape[1]):
            out[j] += g[r, j]


def outer(a, b, out):
    for i in range(a.size):
        row, ai = out[i], a[i]
        for j in range(b.size):
            row[j] = ai * b[j]


# ------------------------------------------------------------------------------ dropout
_GOLDEN, _MIX1, _MIX2, _SHIFTS = reference.GOLDEN, reference.MIX1, reference.MIX2, \
    reference.SHIFTS


def dropout(x, key, threshold, scale, out):
    # the mask of reference.dropout, drawn, tested and applied in one pass (uint64 wraps)
    s, zero = out.dtype.type(scale), out.dtype.type(0)
    for i in range(x.size):
        z = key + np.uint64(i + 1) * _GOLDEN
        z = (z ^ (z >> _SHIFTS[0])) * _MIX1
        z = (z ^ (z >> _SHIFTS[1])) * _MIX2
        z = z ^ (z >> _SHIFTS[2])
        out[i] = x[i] * (s if z >> _SHIFTS[3] >= threshold else zero)


# ------------------------------------------------------------------------------ optimizers
def sgd_update(param, grad, velocity, lr, momentum, weight_decay, nesterov):
    lr, momentum, wd = param.dtype.type(lr), param.dtype.type(momentum), \
        param.dtype.type(weight_decay)
    for i in range(param.size):
        d = grad[i] + wd * param[i]
        v = momentum * velocity[i] + d
        velocity[i] = v
        param[i] -= lr * (d + momentum * v if nesterov else v)


def adam_update(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step):
    t = param.dtype.type
    decay, wd = t(1 - lr * weight_decay), t(weight_decay)
    c1, b2, c2 = t(1 - beta1), t(beta2), t(1 - beta2)
    # the reference's operations in its order, each rounded to the dtype: the same numbers
    step_size = t(lr / (1 - math.pow(beta1, step)))
    root_c2 = t(math.sqrt(1 - math.pow(beta2, step)))
    e = t(eps)
    for i in range(param.size):
        p = param[i] * decay if decoupled else param[i]
        d = grad[i] if decoupled or wd == 0 else grad[i] + wd * p
        mi = m[i] + c1 * (d - m[i])
        vi = v[i] * b2 + c2 * d * d
        m[i], v[i] = mi, vi
        param[i] = p - step_size * mi / (np.sqrt(vi) / root_c2 + e)


def squared_norm(x):
    total = 0.0
    for i in range(x.size):
        total += np.float64(x[i]) * np.float64(x[i])
    return total


# ------------------------------------------------------------------------------ recurrent cells
def _gates_pass32(x, out, scale, shift):
    """out = scale tanh(scale x) + shift over float32 1-D slices: sigmoid where (scale, shift)
    = (1/2, 1/2), as _sigmoid_pass, tanh where (1, 0)."""
    for j in range(out.size):
        out[j] = fma(scale[j], tanh32(scale[j] * x[j]), shift[j])


def lstm_cell_forward(gates, c, act, c_new, tanh_c, h_new):
    H = c.shape[1]
    # float32: a row's four gates in one pass of 4H (the same numbers as three passes of 2H, H
    # and H: 67 us a step instead of 96 for B=500, H=64, where short passes cost their setup)
    half, one, zero = act.dtype.type(0.5), act.dtype.type(1), act.dtype.type(0)
    scale, shift = np.full(4 * H, half), np.full(4 * H, half)
    scale[2 * H:3 * H], shift[2 * H:3 * H] = one, zero
    for b in range(c.shape[0]):
        if act.itemsize == 4:
            _gates_pass32(gates[b], act[b], scale, shift)
        else:
            _sigmoid_pass(gates[b, :2 * H], act[b, :2 * H])
            _tanh_pass(gates[b, 2 * H:3 * H], act[b, 2 * H:3 * H])
            _sigmoid_pass(gates[b, 3 * H:], act[b, 3 * H:])
        for j in range(H):
            c_new[b, j] = act[b, H + j] * c[b, j] + act[b, j] * act[b, 2 * H + j]
        _tanh_pass(c_new[b], tanh_c[b])
        for j in range(H):
            h_new[b, j] = act[b, 3 * H + j] * tanh_c[b, j]


def lstm_cell_backward(act, c, tanh_c, dh, dc_new, dgates, dc_total, dc):
    # one short pass per output block: a single loop body writing five arrays does not
    # vectorize (0.22 ms vs 0.17 for B=1000, H=64)
    H = c.shape[1]
    one = act.dtype.type(1)
    for b in range(c.shape[0]):
        a, d, dg, tc = act[b], dc_total[b], dgates[b], tanh_c[b]
        for j in range(H):
            d[j] = dc_new[b, j] + dh[b, j] * a[3 * H + j] * (one - tc[j] * tc[j])
        for j in range(H):
            dg[j] = d[j] * a[2 * H + j] * a[j] * (one - a[j])
        for j in range(H):
            dg[H + j] = d[j] * c[b, j] * a[H + j] * (one - a[H + j])
        for j in range(H):
            dg[2 * H + j] = d[j] * a[j] * (one - a[2 * H + j] * a[2 * H + j])
        for j in range(H):
            dg[3 * H + j] = dh[b, j] * tc[j] * a[3 * H + j] * (one - a[3 * H + j])
        for j in range(H):
            dc[b, j] = d[j] * a[H + j]


def gru_cell_forward(gx, gh, h, act, h_new):
    H = h.shape[1]
    one = h.dtype.type(1)
    pre = np.empty(3 * H, h.dtype)  # separate from act: in-place passes do not vectorize
    for b in range(h.shape[0]):
        for j in range(2 * H):
            pre[j] = gx[b, j] + gh[b, j]
        _sigmoid_pass(pre[:2 * H], act[b, :2 * H])
        for j in range(H):
            pre[2 * H + j] = gx[b, 2 * H + j] + act[b, j] * gh[b, 2 * H + j]
        _tanh_pass(pre[2 * H:], act[b, 2 * H:])
        for j in range(H):
            z, n = act[b, H + j], act[b, 2 * H + j]
            h_new[b, j] = (one - z) * n + z * h[b, j]


def gru_cell_backward(act, gh, h, dh_new, dgx, dgh, dh):
    H = h.shape[1]
    one = h.dtype.type(1)
    for b in range(h.shape[0]):
        for j in range(H):
            r, z, n = act[b, j], act[b, H + j], act[b, 2 * H + j]
            dn_pre = dh_new[b, j] * (one - z) * (one - n * n)
            dr_pre = dn_pre * gh[b, 2 * H + j] * r * (one - r)
            dz_pre = dh_new[b, j] * (h[b, j] - n) * z * (one - z)
            dgx[b, j] = dgh[b, j] = dr_pre
            dgx[b, H + j] = dgh[b, H + j] = dz_pre
            dgx[b, 2 * H + j] = dn_pre
            dgh[b, 2 * H + j] = dn_pre * r
            dh[b, j] = dh_new[b, j] * z


def rnn_cell_forward(pre, h_new, relu):
    zero = pre.dtype.type(0)
    for b in range(pre.shape[0]):
        if relu:
            for j in range(pre.shape[1]):
                h_new[b, j] = max(pre[b, j], zero)
        else:
            _tanh_pass(pre[b], h_new[b])


def rnn_cell_backward(h_new, dh_new, dpre, relu):
    H = h_new.shape[1]   # dpre's rows may be longer (the fused loops' padded ring)
    for b in range(h_new.shape[0]):
        if relu:
            relu_backward(h_new[b], dh_new[b], dpre[b, :H])
        else:
            tanh_backward(h_new[b], dh_new[b], dpre[b, :H])


# ------------------------------------------------------------------------------ special functions
def erf(x, out):
    for i in range(out.size):
        out[i] = math.erf(x[i])


# ------------------------------------------------------------------------------ jit
# Helpers first: kernels that call them find the jitted versions when they compile.
_jit = cache.njit(error_model="numpy", nogil=True)
tanh32 = _jit(tanh32)
_tanh_pass = _jit(_tanh_pass)
_sigmoid_pass = _jit(_sigmoid_pass)
_gates_pass32 = _jit(_gates_pass32)
tanh_backward = _jit(tanh_backward)
sigmoid_backward = _jit(sigmoid_backward)
relu_backward = _jit(relu_backward)
tanh_forward = _jit(tanh_forward)
sigmoid_forward = _jit(sigmoid_forward)
softmax_forward = _jit(softmax_forward)
softmax_backward = _jit(softmax_backward)
log_softmax_forward = _jit(log_softmax_forward)
log_softmax_backward = _jit(log_softmax_backward)
cross_entropy_forward = _jit(cross_entropy_forward)
cross_entropy_backward = _jit(cross_entropy_backward)
nll_loss_forward = _jit(nll_loss_forward)
nll_loss_backward = _jit(nll_loss_backward)
embedding_backward = _jit(embedding_backward)
sum_rows = _jit(sum_rows)
outer = _jit(outer)
sgd_update = _jit(sgd_update)
adam_update = _jit(adam_update)
squared_norm = cache.njit(error_model="numpy", nogil=True,
                          fastmath={"reassoc"})(squared_norm)
lstm_cell_forward = _jit(lstm_cell_forward)
lstm_cell_backward = _jit(lstm_cell_backward)
gru_cell_forward = _jit(gru_cell_forward)
gru_cell_backward = _jit(gru_cell_backward)
rnn_cell_forward = _jit(rnn_cell_forward)
rnn_cell_backward = _jit(rnn_cell_backward)
erf = _jit(erf)
if numba.config.DISABLE_JIT:   # numpy's uint64 scalars warn where they wrap: the twin
    dropout = reference.dropout
else:
    dropout = _jit(dropout)
