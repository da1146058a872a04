"""numpy references: the same signatures as the numba kernels in loops.py and cells.py.

Each function fills its preallocated output arrays (and returns nothing, except
`squared_norm`, whose result is one number, and the nll_loss kernels, which return the first
row whose target is out of range, -1 for none: the check costs nothing inside their loops).
The layouts are those of the kernels (see the package docstring): element-wise kernels get
1-D arrays, row kernels 2-D (rows, n) arrays.
These are the definitions the numba kernels are tested against, written for clarity.
"""
import math

import numpy as np


# ------------------------------------------------------------------------------ activations
def tanh_backward(out, g, dx):
    """dx = g * (1 - out^2), out = tanh(x)"""
    np.multiply(g, 1 - out * out, out=dx)


def sigmoid_backward(out, g, dx):
    """dx = g * out * (1 - out), out = sigmoid(x)"""
    np.multiply(g * out, 1 - out, out=dx)


def relu_backward(out, g, dx):
    """dx = g where out > 0, else 0;  out = max(x, 0)"""
    np.multiply(g, out > 0, out=dx)


def tanh_forward(x, out):
    """out = tanh(x)"""
    np.tanh(x, out=out)


def erf(x, out):
    """out = erf(x) = 2/sqrt(pi) * integral_0^x e^(-t^2) dt (math.erf per element: numpy has
    no erf)"""
    out[...] = [math.erf(v) for v in x.tolist()]


def sigmoid_forward(x, out):
    """out = 1 / (1 + e^-x), without overflow for large |x|"""
    e = np.exp(-np.abs(x))
    np.divide(np.where(x >= 0, 1, e), 1 + e, out=out)


# ------------------------------------------------------------------------------ softmax family
def softmax_forward(x, out):
    """out[r] = e^x[r] / sum e^x[r], for each row r of x (rows, n)"""
    e = np.exp(x - np.max(x, axis=1, keepdims=True)) if x.size else x
    np.divide(e, np.sum(e, axis=1, keepdims=True), out=out)


def softmax_backward(out, g, dx):
    """dx[r] = out[r] * (g[r] - sum(g[r] * out[r]))"""
    np.multiply(out, g - np.sum(g * out, axis=1, keepdims=True), out=dx)


def log_softmax_forward(x, out):
    """out[r] = x[r] - logsumexp(x[r])"""
    shifted = x - np.max(x, axis=1, keepdims=True) if x.size else x
    np.subtract(shifted, np.log(np.sum(np.exp(shifted), axis=1, keepdims=True)), out=out)


def log_softmax_backward(out, g, dx):
    """dx[r] = g[r] - e^out[r] * sum(g[r])"""
    np.subtract(g, np.exp(out) * np.sum(g, axis=1, keepdims=True), out=dx)


def cross_entropy_forward(logits, target, ignore_index, losses, probs):
    """losses[i] = logsumexp(logits[i]) - logits[i, target[i]] (0 where target[i] ==
    ignore_index); probs = softmax(logits), kept for the backward pass."""
    shifted = logits - np.max(logits, axis=1, keepdims=True) if logits.size else logits
    lse = np.log(np.sum(np.exp(shifted), axis=1))
    np.exp(shifted - lse[:, None], out=probs)
    valid = target != ignore_index
    picked = shifted[np.arange(len(target)), np.where(valid, target, 0)] if logits.size else lse
    np.multiply(lse - picked, valid, out=losses)


def cross_entropy_backward(probs, target, ignore_index, scale, dx):
    """dx[i] = scale[i] * (probs[i] - onehot(target[i])), 0 where target[i] == ignore_index"""
    valid = target != ignore_index
    np.multiply(probs, (scale * valid)[:, None], out=dx)
    rows = np.flatnonzero(valid)
    dx[rows, target[rows]] -= scale[rows]


def nll_loss_forward(x, target, weight, ignore_index, losses, w):
    """w[r] = weight[target[r]] (1 where weight is empty), losses[r] = -x[r, target[r]] w[r];
    both 0 where target[r] == ignore_index. Returns the first row whose target is out of range
    (-1: none), before its outputs are complete."""
    valid = target != ignore_index
    bad = np.flatnonzero(valid & ((target < 0) | (target >= x.shape[1])))
    if bad.size:
        return int(bad[0])
    picked = target * valid                      # ignored rows pick class 0, weighted 0
    np.multiply(weight[picked] if weight.size else 1, valid, out=w)
    # (an ignored row's pick is left out, not weighted by 0: it may be -inf)
    np.multiply(np.where(valid, -x[np.arange(len(target)), picked], 0), w, out=losses)
    return -1


def nll_loss_backward(target, ignore_index, values, dx):
    """dx = 0, then dx[r, target[r]] = values[r] where target[r] != ignore_index. Returns the
    first row whose target is out of range (-1: none)."""
    valid = target != ignore_index
    bad = np.flatnonzero(valid & ((target < 0) | (target >= dx.shape[1])))
    if bad.size:
        return int(bad[0])
    dx[...] = 0
    rows = np.flatnonzero(valid)
    dx[rows, target[rows]] = values[rows]
    return -1


# ------------------------------------------------------------------------------ scatter, reduce
def embedding_backward(indices, g, dweight):
    """dweight = 0, then dweight[indices[i]] += g[i] for each i (repeated indices add up)"""
    dweight[...] = 0
    np.add.at(dweight, indices, g)


def sum_rows(g, out):
    """out = g (rows, n) summed over its rows: a broadcast gradient reduced to its input"""
    np.sum(g, axis=0, out=out)


def outer(a, b, out):
    """out[i, j] = a[i] * b[j]: a matrix product with K = 1 (a batch-1 weight gradient)"""
    np.multiply(a[:, None], b[None, :], out=out)


# ------------------------------------------------------------------------------ dropout
# Element i of a dropout with key k is kept where the 53 high bits of splitmix64(k + (i + 1) G)
# reach the threshold ceil(p 2^53): a counter-based draw, so that backward recomputes the mask
# from the key instead of keeping it, and one pass draws, tests and multiplies.
GOLDEN, MIX1, MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), \
    np.uint64(0x94D049BB133111EB)
SHIFTS = tuple(np.uint64(n) for n in (30, 27, 31, 11))


def dropout(x, key, threshold, scale, out):
    """out[i] = x[i] * (scale if element i is kept else 0)"""
    z = key + np.arange(1, x.size + 1, dtype=np.uint64) * GOLDEN   # (arrays of uint64 wrap)
    z = (z ^ (z >> SHIFTS[0])) * MIX1
    z = (z ^ (z >> SHIFTS[1])) * MIX2
    z ^= z >> SHIFTS[2]
    np.multiply(x, np.where(z >> SHIFTS[3] >= threshold, scale, 0).astype(x.dtype), out=out)


# ------------------------------------------------------------------------------ optimizers
def sgd_update(param, grad, velocity, lr, momentum, weight_decay, nesterov):
    """In place: d = grad + weight_decay * param; velocity = momentum * velocity + d;
    param -= lr * (d + momentum * velocity if nesterov else velocity)"""
    d = grad + weight_decay * param
    velocity *= momentum
    velocity += d
    param -= lr * (d + momentum * velocity if nesterov else velocity)


def adam_update(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step):
    """In place, Adam (decoupled=False: weight decay added to the gradient) or AdamW
    (decoupled=True: param *= 1 - lr * weight_decay); `step` counts from 1. PyTorch's
    operations in its order (torch.optim.Adam's single-tensor loop), so the same numbers:
    m = lerp(m, d, 1 - beta1); v = beta2 v + (1 - beta2) d^2;
    param -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)"""
    d = grad
    if decoupled:
        param *= 1 - lr * weight_decay
    elif weight_decay:
        d = grad + weight_decay * param
    m += (1 - beta1) * (d - m)                     # lerp, as PyTorch computes it
    v *= beta2
    v += (1 - beta2) * d * d
    denom = np.sqrt(v) / math.sqrt(1 - beta2 ** step) + eps
    param -= (lr / (1 - beta1 ** step)) * m / denom


def squared_norm(x):
    """sum of x^2, accumulated in float64 (the grad-norm for clipping is the root of the
    sum of this over all parameters)"""
    return float(np.sum(np.square(x, dtype=np.float64)))


# ------------------------------------------------------------------------------ recurrent cells
def lstm_cell_forward(gates, c, act, c_new, tanh_c, h_new):
    """gates (B, 4H) pre-activations in order i, f, g, o; c (B, H) the previous cell state.
    act = [sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)]; c_new = f*c + i*g;
    tanh_c = tanh(c_new); h_new = o * tanh_c."""
    H = c.shape[1]
    sigmoid_forward(gates[:, :2 * H], act[:, :2 * H])
    np.tanh(gates[:, 2 * H:3 * H], out=act[:, 2 * H:3 * H])
    sigmoid_forward(gates[:, 3 * H:], act[:, 3 * H:])
    i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
    np.add(f * c, i * g, out=c_new)
    np.tanh(c_new, out=tanh_c)
    np.multiply(o, tanh_c, out=h_new)


def lstm_cell_backward(act, c, tanh_c, dh, dc_new, dgates, dc_total, dc):
    """From the forward's act, c (previous state) and tanh_c, and the gradients dh (of h_new)
    and dc_new (of c_new, from the next step): dgates (B, 4H) of the pre-activations,
    dc_total (B, H) the whole gradient of c_new (dc_new and through h_new) and dc (B, H) of the
    previous cell state."""
    H = c.shape[1]
    i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
    np.add(dc_new, dh * o * (1 - tanh_c * tanh_c), out=dc_total)
    np.multiply(dc_total * g, i * (1 - i), out=dgates[:, :H])
    np.multiply(dc_total * c, f * (1 - f), out=dgates[:, H:2 * H])
    np.multiply(dc_total * i, 1 - g * g, out=dgates[:, 2 * H:3 * H])
    np.multiply(dh * tanh_c, o * (1 - o), out=dgates[:, 3 * H:])
    np.multiply(dc_total, f, out=dc)


def gru_cell_forward(gx, gh, h, act, h_new):
    """gx (B, 3H) = x W_ih^T + b_ih and gh (B, 3H) = h W_hh^T + b_hh, each in order r, z, n;
    h (B, H) the previous state. act = [r, z, n] with r = sigmoid(gx_r + gh_r),
    z = sigmoid(gx_z + gh_z), n = tanh(gx_n + r * gh_n); h_new = (1 - z) * n + z * h."""
    H = h.shape[1]
    sigmoid_forward(gx[:, :2 * H] + gh[:, :2 * H], act[:, :2 * H])
    r, z, n = act[:, :H], act[:, H:2 * H], act[:, 2 * H:]
    np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:], out=n)
    np.add((1 - z) * n, z * h, out=h_new)


def gru_cell_backward(act, gh, h, dh_new, dgx, dgh, dh):
    """Gradients of gx, gh (B, 3H) and of h through the gate arithmetic only (the caller adds
    dgh @ W_hh for the path through gh)."""
    H = h.shape[1]
    r, z, n = act[:, :H], act[:, H:2 * H], act[:, 2 * H:]
    dn_pre = dh_new * (1 - z) * (1 - n * n)
    dr_pre = dn_pre * gh[:, 2 * H:] * r * (1 - r)
    dz_pre = dh_new * (h - n) * z * (1 - z)
    for d in (dgx, dgh):
        d[:, :H], d[:, H:2 * H] = dr_pre, dz_pre
    dgx[:, 2 * H:] = dn_pre
    np.multiply(dn_pre, r, out=dgh[:, 2 * H:])
    np.multiply(dh_new, z, out=dh)


def rnn_cell_forward(pre, h_new, relu):
    """h_new = relu(pre) if relu else tanh(pre);  pre (B, H) = x W_ih^T + b_ih + h W_hh^T + b_hh"""
    if relu:
        np.maximum(pre, 0, out=h_new)
    else:
        np.tanh(pre, out=h_new)


def rnn_cell_backward(h_new, dh_new, dpre, relu):
    """dpre = dh_new * relu'(pre) or dh_new * (1 - h_new^2), from the forward's output h_new"""
    (relu_backward if relu else tanh_backward)(h_new, dh_new, dpre[:, :h_new.shape[1]])


# ------------------------------------------------------------------------------ small GEMM
def pack_rows(w, rows, col0, ncols, out):
    """out (P, R, NR)[p, r, j] = w[rows[r], col0 + p * NR + j] for p * NR + j < ncols, else 0:
    the matrix w[rows, col0:col0 + ncols] in panels of NR columns, each panel's rows
    contiguous"""
    P, R, NR = out.shape
    padded = np.zeros((R, P * NR), out.dtype)
    padded[:, :ncols] = w[rows, col0:col0 + ncols]
    out[...] = padded.reshape(R, P, NR).transpose(1, 0, 2)


def pack_columns(w, rows, k0, out):
    """out[p, k0 + c, j] = w[rows[p * NR + j], c], 0 where p * NR + j >= len(rows): w[rows].T
    (w.shape[1] rows) packed into out's rows k0.. (the other rows untouched)"""
    P, _, NR = out.shape
    padded = np.zeros((w.shape[1], P * NR), out.dtype)
    padded[:, :len(rows)] = w[rows].T
    out[:, k0:k0 + w.shape[1]] = padded.reshape(w.shape[1], P, NR).transpose(1, 0, 2)


def gemm(A, Bp, C, add):
    """C += A @ w (add) or C = A @ w; A (M, K), w (K, N) the matrix packed in Bp"""
    P, K, NR = Bp.shape
    gemm_rows(A, Bp.transpose(1, 0, 2).reshape(K, P * NR), C, add)


def gemm_rows(A, B, C, add):
    """C += A @ B[:, :N] (add) or C = A @ B[:, :N], N = C's columns"""
    if add:
        C += A @ B[:, :C.shape[1]]
    else:
        C[...] = A @ B[:, :C.shape[1]]
