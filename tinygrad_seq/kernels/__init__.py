"""Kernels for the hot paths, and the one backend object the ops call them through.

    from tinygrad_seq.kernels import backend
    dx = backend.tanh_backward(out, g)          # what ops.Tanh.backward does

Every kernel exists twice with the same signature: a numba loop in loops.py and a numpy
reference in reference.py. Both fill preallocated outputs. `set_backend("numpy")` runs every
kernel's reference; `set_backend("numba")` (the default, or TINYGRAD_SEQ_BACKEND=numpy|numba in
the environment) runs the numba kernel where it beat the reference in benchmarks/kernels.py and
the reference where it did not: see NUMBA_UP_TO. Importing this package imports no numba: the
first call of a numba kernel imports loops.py, and each kernel compiles on its first call per
dtype (float32 or float64), cached on disk (cache.py: keyed by every kernel file's source).

The methods of `backend` check their inputs (one dtype, float32 or float64; fitting shapes),
allocate the outputs and return them. Element-wise kernels take any shapes and layouts; the
others take the layouts below and copy non-contiguous inputs.

Activations (any shape; `out` is the op's saved output, `g` the gradient flowing into it):
    tanh_backward(out, g) -> dx              dx = g * (1 - out^2)
    sigmoid_backward(out, g) -> dx           dx = g * out * (1 - out)
    relu_backward(out, g) -> dx              dx = g * [out > 0]
    tanh_forward(x) -> out, sigmoid_forward(x) -> out   (float32: a rational approximation,
                                             max abs error ~2e-7; float64: libm)
    erf(x) -> out                            the error function (libm's, in float64)
    dropout(x, key, threshold, scale) -> out  out = x * (scale where kept, else 0): element i
                                             (C order) kept where the 53 high bits of
                                             splitmix64(key + (i + 1) 0x9E3779B97F4A7C15)
                                             reach threshold (ceil(p 2^53)); nan * 0 stays nan
Along axes `dims` (a tuple; numbered from 0):
    softmax_forward(x, dims) -> out          softmax_backward(out, g, dims) -> dx
    log_softmax_forward(x, dims) -> out      log_softmax_backward(out, g, dims) -> dx
Cross-entropy from logits (N, C) with integer targets (N,):
    cross_entropy_forward(logits, target, ignore_index) -> (losses (N,), probs (N, C))
        losses[i] = logsumexp(logits[i]) - logits[i, target[i]], 0 where ignored
    cross_entropy_backward(probs, target, ignore_index, scale (N,)) -> dlogits (N, C)
        dlogits[i] = scale[i] * (probs[i] - onehot(target[i])), 0 where ignored
Negative log-likelihood of log-probabilities x (N, C) with integer targets (N,):
    nll_loss_forward(x, target, weight (C,) or None, ignore_index) -> (losses (N,), w (N,))
        w[i] = weight[target[i]] (1 without weights), losses[i] = -w[i] x[i, target[i]];
        both 0 where ignored
    nll_loss_backward(target, ignore_index, values (N,), classes) -> dx (N, C)
        dx[i, target[i]] = values[i], 0 elsewhere and on ignored rows
Scatter and reduce:
    embedding_backward(indices (any shape, ints), g (*indices.shape, D), num_embeddings)
        -> dweight (num_embeddings, D)       repeated indices add up
    sum_to_shape(g, shape) -> g summed over its leading axes to `shape` (a suffix of g.shape)
    outer(a (M,), b (N,)) -> out (M, N)  out[i, j] = a[i] * b[j] (a product with K = 1)
Optimizers, in place on arrays of one shape (grad, velocity/m/v like param; C-contiguous,
but for adam_update, which updates views with numpy):
    sgd_update(param, grad, velocity, lr, momentum=0, weight_decay=0, nesterov=False)
        d = grad + wd * param; velocity = momentum * velocity + d;
        param -= lr * (d + momentum * velocity if nesterov else velocity)
        (zeros as the first velocity reproduce PyTorch's first step when dampening is 0)
    adam_update(param, grad, m, v, step, lr, beta1=0.9, beta2=0.999, eps=1e-8,
                weight_decay=0, decoupled=False)    step counts from 1; decoupled=True is AdamW
    squared_norm(x) -> float                 sum of x^2 in float64; clip by the root of the sum
Recurrent cells, element-wise part only (the caller does the GEMMs). B batch, H hidden size;
gate blocks side by side along the last axis in PyTorch's order:
    lstm_cell_forward(gates (B, 4H) i,f,g,o pre-activations, c (B, H))
        -> act (B, 4H) [sigmoid i, sigmoid f, tanh g, sigmoid o], c_new, tanh_c, h_new (B, H)
        c_new = f * c + i * g;  h_new = o * tanh(c_new)
    lstm_cell_backward(act, c, tanh_c, dh, dc_new) -> dgates (B, 4H), dc_total, dc (B, H)
        dh, dc_new: gradients of h_new and c_new from later; dc_total: the whole gradient of
        c_new (dc_new + dh o (1 - tanh_c^2)); dc: of the previous cell state c
    gru_cell_forward(gx (B, 3H), gh (B, 3H), h (B, H)) -> act (B, 3H) [r, z, n], h_new (B, H)
        gx = x W_ih^T + b_ih, gh = h W_hh^T + b_hh, both r,z,n; r = sigmoid(gx_r + gh_r),
        z = sigmoid(gx_z + gh_z), n = tanh(gx_n + r * gh_n), h_new = (1 - z) * n + z * h
    gru_cell_backward(act, gh, h, dh_new) -> dgx (B, 3H), dgh (B, 3H), dh (B, H)
        dh is the direct path only (h_new = ... + z * h); add dgh @ W_hh for the rest
    rnn_cell_forward(pre (B, H), nonlinearity="tanh"|"relu") -> h_new (B, H)
    rnn_cell_backward(h_new, dh_new, nonlinearity) -> dpre (B, H)
`backend.impl.<name>` is the raw fill-the-outputs kernel, unchecked, with the layouts of
reference.py, for callers that manage their own buffers.

Beside the backend, for the fused recurrent layers' jitted time loops (nn/fused/loops.py):
gemm.py (a matrix product for few rows, on weights packed once; its numpy twins in
reference.py), recurrent.py (the LSTM, GRU and RNN loops, calling the cell kernels above),
sync.py (a barrier for threads inside jitted loops) and simd.py (the vector type and atomics
they are written with). They are imported on first use, with numba.
"""
import importlib
import math
import os
import types

import numpy as np

from . import reference

# The largest size (elements) at which the "numba" backend runs each kernel's numba version;
# above it, the numpy reference. From benchmarks/kernels.py on the 2-core machine (float32,
# numpy 2.4, numba 0.68): numba wins everywhere except where it needs exp, which it calls as
# scalar libm (no SVML) while numpy's exp is SIMD. Those win only on small arrays, where
# numpy's several passes cost more in call overhead than in arithmetic (32x64: 1.4-2.9x
# faster; 64x1000: 2-3x slower). Re-measure before changing an entry.
ALWAYS, SMALL, NEVER = float("inf"), 4096, 0
NUMBA_UP_TO = {
    "tanh_backward": ALWAYS,
    "sigmoid_backward": ALWAYS,
    "relu_backward": ALWAYS,
    "tanh_forward": SMALL,            # a rational polynomial vs numpy's SIMD tanh: 1.0x large
    "sigmoid_forward": ALWAYS,
    "softmax_forward": SMALL,
    "softmax_backward": SMALL,
    "log_softmax_forward": SMALL,
    "log_softmax_backward": NEVER,    # 1.0x at 32x64, 0.3x at 64x1000
    "cross_entropy_forward": SMALL,
    "cross_entropy_backward": ALWAYS,
    "nll_loss_forward": ALWAYS,       # one pass for numpy's ~10 calls: 10-20x, 1x18 to 1024x256
    "nll_loss_backward": ALWAYS,      # 2.6-16x
    "embedding_backward": ALWAYS,
    "sum_rows": ALWAYS,
    "outer": ALWAYS,                  # 2-5x numpy's broadcast multiply, 18x185 to 4096x512
    "sgd_update": ALWAYS,
    "adam_update": ALWAYS,
    "squared_norm": ALWAYS,
    "lstm_cell_forward": ALWAYS,
    "lstm_cell_backward": ALWAYS,
    "gru_cell_forward": ALWAYS,
    "gru_cell_backward": ALWAYS,
    "rnn_cell_forward": SMALL,        # its tanh, as tanh_forward: 0.9x at B=1000 H=64
    "rnn_cell_backward": ALWAYS,
    "erf": ALWAYS,                    # libm's erf per element; numpy has none at all
    "dropout": ALWAYS,                # one pass for numpy's 8 (demo, 524k floats: 0.2 ms vs 1.2)
}
BACKENDS = ("numba", "numpy")


class _Lazy:
    """Stands in for a numba kernel until its first call: imports loops.py, puts the jitted
    kernel in its place in `impl` and runs it (so numba is imported only when needed)."""

    def __init__(self, impl, name):
        self.impl, self.name = impl, name

    def __call__(self, *args):
        kernel = getattr(importlib.import_module(".loops", __name__), self.name)
        setattr(self.impl, self.name, kernel)
        return kernel(*args)


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _float_dtype(kernel, *arrays):
    """The one float dtype of `arrays`, or a TypeError naming the kernel, shapes and dtypes."""
    dtype = arrays[0].dtype
    if dtype not in _FLOATS or any(a.dtype != dtype for a in arrays):
        raise TypeError(f"{kernel}: expected arrays of one dtype, float32 or float64; got "
                        + ", ".join(f"{a.shape} {a.dtype}" for a in arrays))
    return dtype


def _same_shapes(kernel, *arrays):
    if any(a.shape != arrays[0].shape for a in arrays):
        raise ValueError(f"{kernel}: expected arrays of one shape; got "
                         + ", ".join(f"{a.shape} {a.dtype}" for a in arrays))


def _rows(kernel, *arrays, width=None):
    """Check that arrays are 2-D (B, n) with one B (and n == width when given); C-contiguous."""
    B = arrays[0].shape[0] if arrays[0].ndim == 2 else None
    for a in arrays:
        if a.ndim != 2 or a.shape[0] != B or (width is not None and a.shape[1] != width):
            raise ValueError(f"{kernel}: shapes do not fit: "
                             + ", ".join(f"{a.shape} {a.dtype}" for a in arrays))
    return tuple(np.ascontiguousarray(a) for a in arrays)


def _to_rows(x, dims):
    """x with the axes `dims` moved last and flattened: a C-contiguous (rows, n) array, and the
    shape (moved) to give the result back with `_from_rows`."""
    last = tuple(range(x.ndim - len(dims), x.ndim))
    moved = np.moveaxis(x, dims, last) if dims != last else x
    n = math.prod([x.shape[d] for d in dims])
    rows = moved.size // n if n else math.prod(moved.shape[:x.ndim - len(dims)])
    return np.ascontiguousarray(moved).reshape(rows, n), moved.shape


def _from_rows(y, moved_shape, dims, ndim):
    last = tuple(range(ndim - len(dims), ndim))
    y = y.reshape(moved_shape)
    return np.moveaxis(y, last, dims) if dims != last else y


def _nonlinearity(kernel, name):
    if name not in ("tanh", "relu"):
        raise ValueError(f"{kernel}: nonlinearity must be 'tanh' or 'relu', got {name!r}")
    return name == "relu"


class Backend:
    """The kernels, from numba or from the numpy reference (see the module docstring)."""

    def __init__(self, name):
        self.set(name)

    def set(self, name):
        if name not in BACKENDS:
            raise ValueError(f"set_backend: backend must be one of {BACKENDS}, got {name!r}")
        self.name = name
        self.impl = types.SimpleNamespace()     # kernel name -> the kernel to call
        self.up_to = {}                         # kernel name -> the largest size for impl
        for kernel, up_to in NUMBA_UP_TO.items():
            use_numba = name == "numba" and up_to > 0
            setattr(self.impl, kernel,
                    _Lazy(self.impl, kernel) if use_numba else getattr(reference, kernel))
            self.up_to[kernel] = up_to if use_numba else ALWAYS

    def _pick(self, kernel, size):
        """The kernel's implementation for arrays of `size` elements (see NUMBA_UP_TO)."""
        return getattr(self.impl if size <= self.up_to[kernel] else reference, kernel)

    def __repr__(self):
        return f"<kernel backend {self.name}>"

    # -------------------------------------------------------------------------- element-wise
    # written out per arity: these run for every activation on the tape, so they stay lean
    def _unary(self, kernel, name, x):
        if x.dtype not in _FLOATS:
            _float_dtype(name, x)
        out = np.empty(x.shape, x.dtype)
        kernel(x.ravel(), out.ravel())
        return out

    def _binary(self, kernel, name, out, g):
        if g.dtype is not out.dtype or out.dtype not in _FLOATS or g.shape != out.shape:
            _float_dtype(name, out, g)
            _same_shapes(name, out, g)
        dx = np.empty(out.shape, out.dtype)
        kernel(out.ravel(), g.ravel(), dx.ravel())
        return dx

    def tanh_backward(self, out, g):
        return self._binary(self.impl.tanh_backward, "tanh_backward", out, g)

    def sigmoid_backward(self, out, g):
        return self._binary(self.impl.sigmoid_backward, "sigmoid_backward", out, g)

    def relu_backward(self, out, g):
        return self._binary(self.impl.relu_backward, "relu_backward", out, g)

    def tanh_forward(self, x):
        return self._unary(self._pick("tanh_forward", x.size), "tanh_forward", x)

    def sigmoid_forward(self, x):
        return self._unary(self.impl.sigmoid_forward, "sigmoid_forward", x)

    def erf(self, x):
        return self._unary(self.impl.erf, "erf", x)

    def dropout(self, x, key, threshold, scale):
        if x.dtype not in _FLOATS:
            _float_dtype("dropout", x)
        out = np.empty(x.shape, x.dtype)   # x's shape: ascontiguousarray makes a 0-d x 1-d
        x = np.ascontiguousarray(x)   # element i in C order, whatever x's layout
        self.impl.dropout(x.reshape(-1), np.uint64(key), np.uint64(threshold), float(scale),
                          out.reshape(-1))
        return out

    # -------------------------------------------------------------------------- along axes
    def _along(self, kernel, dims, *arrays):
        if arrays[-1].shape != arrays[0].shape or arrays[-1].dtype is not arrays[0].dtype:
            _same_shapes(kernel, *arrays)   # (at most two arrays: the usual case costs one test)
        dtype = arrays[0].dtype
        if dtype not in _FLOATS or arrays[-1].dtype is not dtype:
            _float_dtype(kernel, *arrays)
        x = arrays[0]
        if x.ndim == 2 and dims == (1,) and x.flags.c_contiguous and \
                arrays[-1].flags.c_contiguous:     # rows already: (N, C) along C, every layer
            out = np.empty(x.shape, dtype)
            self._pick(kernel, out.size)(*arrays, out)
            return out
        rows = [_to_rows(a, dims) for a in arrays]
        out = np.empty(rows[0][0].shape, dtype)
        self._pick(kernel, out.size)(*[r for r, _ in rows], out)
        return _from_rows(out, rows[0][1], dims, arrays[0].ndim)

    def softmax_forward(self, x, dims):
        return self._along("softmax_forward", dims, x)

    def softmax_backward(self, out, g, dims):
        return self._along("softmax_backward", dims, out, g)

    def log_softmax_forward(self, x, dims):
        return self._along("log_softmax_forward", dims, x)

    def log_softmax_backward(self, out, g, dims):
        return self._along("log_softmax_backward", dims, out, g)

    # -------------------------------------------------------------------------- losses
    def _targets(self, kernel, logits, target, ignore_index):
        if logits.ndim != 2 or target.shape != logits.shape[:1] or target.dtype.kind not in "iu":
            raise ValueError(f"{kernel}: expected logits (N, C) and integer targets (N,); got "
                             f"{logits.shape} {logits.dtype} and {target.shape} {target.dtype}")
        target = np.ascontiguousarray(target, dtype=np.int64)
        bad = (target != ignore_index) & ((target < 0) | (target >= logits.shape[1]))
        if bad.any():
            raise IndexError(f"{kernel}: target {target[bad][0]} is out of range for "
                             f"{logits.shape[1]} classes (ignore_index={ignore_index})")
        return target

    def cross_entropy_forward(self, logits, target, ignore_index=-100):
        target = self._targets("cross_entropy_forward", logits, target, ignore_index)
        logits = np.ascontiguousarray(logits)
        losses = np.empty(len(target), _float_dtype("cross_entropy_forward", logits))
        probs = np.empty_like(logits)
        self._pick("cross_entropy_forward", logits.size)(logits, target, ignore_index, losses,
                                                         probs)
        return losses, probs

    def cross_entropy_backward(self, probs, target, ignore_index, scale):
        target = self._targets("cross_entropy_backward", probs, target, ignore_index)
        scale = np.ascontiguousarray(np.broadcast_to(scale, target.shape), dtype=probs.dtype)
        dx = np.empty(probs.shape, _float_dtype("cross_entropy_backward", probs))
        self.impl.cross_entropy_backward(np.ascontiguousarray(probs), target, ignore_index,
                                         scale, dx)
        return dx

    def _nll_targets(self, kernel, target, rows):
        if target.shape != (rows,) or target.dtype.kind not in "iu":
            raise ValueError(f"{kernel}: expected {rows} integer targets (N,); got "
                             f"{target.shape} {target.dtype}")
        return np.ascontiguousarray(target, dtype=np.int64)

    def _out_of_range(self, kernel, bad, target, classes, ignore_index):
        if bad >= 0:
            raise IndexError(f"{kernel}: target {target[bad]} is out of range for {classes} "
                             f"classes (ignore_index={ignore_index})")

    def nll_loss_forward(self, x, target, weight=None, ignore_index=-100):
        if x.ndim != 2 or x.dtype not in _FLOATS or (weight is not None and (
                weight.dtype is not x.dtype or weight.shape != x.shape[1:])):
            raise ValueError(f"nll_loss_forward: expected x (N, C) float32 or float64 and a "
                             f"weight (C,) of its dtype or None; got {x.shape} {x.dtype}, "
                             + ("None" if weight is None else f"{weight.shape} {weight.dtype}"))
        target = self._nll_targets("nll_loss_forward", target, x.shape[0])
        losses, w = np.empty(x.shape[0], x.dtype), np.empty(x.shape[0], x.dtype)
        weight = np.empty(0, x.dtype) if weight is None else np.ascontiguousarray(weight)
        bad = self.impl.nll_loss_forward(np.ascontiguousarray(x), target, weight, ignore_index,
                                         losses, w)
        self._out_of_range("nll_loss_forward", bad, target, x.shape[1], ignore_index)
        return losses, w

    def nll_loss_backward(self, target, ignore_index, values, classes):
        if values.ndim != 1 or values.dtype not in _FLOATS:
            raise ValueError(f"nll_loss_backward: expected values (N,) float32 or float64, got "
                             f"{values.shape} {values.dtype}")
        target = self._nll_targets("nll_loss_backward", target, values.shape[0])
        dx = np.empty((target.shape[0], classes), values.dtype)
        bad = self.impl.nll_loss_backward(target, ignore_index, np.ascontiguousarray(values),
                                          dx)
        self._out_of_range("nll_loss_backward", bad, target, classes, ignore_index)
        return dx

    # -------------------------------------------------------------------------- scatter, reduce
    def embedding_backward(self, indices, g, num_embeddings):
        if g.shape[:-1] != indices.shape or indices.dtype.kind not in "iu":
            raise ValueError(f"embedding_backward: expected integer indices I and g of shape "
                             f"(*I, D); got indices {indices.shape} {indices.dtype}, g {g.shape}")
        flat = np.ascontiguousarray(indices.reshape(-1), dtype=np.int64)
        if flat.size and (flat.min() < 0 or flat.max() >= num_embeddings):
            raise IndexError(f"embedding_backward: indices must be in [0, {num_embeddings}), "
                             f"got {flat.min()}..{flat.max()}")
        dweight = np.empty((num_embeddings, g.shape[-1]),
                           _float_dtype("embedding_backward", g))
        self.impl.embedding_backward(flat, np.ascontiguousarray(g).reshape(flat.size, -1),
                                     dweight)
        return dweight

    def sum_to_shape(self, g, shape):
        if tuple(shape) != g.shape[g.ndim - len(shape):]:
            raise ValueError(f"sum_to_shape: {tuple(shape)} is not a suffix of {g.shape}")
        n = math.prod(shape)
        out = np.empty(n, _float_dtype("sum_to_shape", g))
        rows = g.size // n if n else 0
        self.impl.sum_rows(np.ascontiguousarray(g).reshape(rows, n), out)
        return out.reshape(shape)

    def outer(self, a, b):
        if a.ndim != 1 or b.ndim != 1:
            raise ValueError(f"outer: expected two 1-D arrays, got {a.shape} and {b.shape}")
        out = np.empty((a.size, b.size), _float_dtype("outer", a, b))
        self.impl.outer(np.ascontiguousarray(a), np.ascontiguousarray(b), out)
        return out

    # -------------------------------------------------------------------------- optimizers
    @staticmethod
    def _writeable(kernel, *arrays):
        for a in arrays:
            if not a.flags.writeable:
                raise ValueError(f"{kernel}: updates in place need writeable arrays; got a "
                                 f"read-only one of shape {a.shape}")

    @classmethod
    def _in_place(cls, kernel, param, *state):
        _float_dtype(kernel, param, *state)
        _same_shapes(kernel, param, *state)
        for a in (param, *state):
            if not a.flags.c_contiguous:
                raise ValueError(f"{kernel}: updates in place need C-contiguous arrays; got one "
                                 f"of shape {a.shape} with strides {a.strides}")
        cls._writeable(kernel, param, *state)
        return [a.reshape(-1) for a in (param, *state)]

    def sgd_update(self, param, grad, velocity, lr, momentum=0.0, weight_decay=0.0,
                   nesterov=False):
        param, velocity = self._in_place("sgd_update", param, velocity)
        grad = np.ravel(grad)
        _float_dtype("sgd_update", param, grad)
        _same_shapes("sgd_update", param, grad)
        self.impl.sgd_update(param, grad, velocity, float(lr), float(momentum),
                             float(weight_decay), bool(nesterov))

    def adam_update(self, param, grad, m, v, step, lr, beta1=0.9, beta2=0.999, eps=1e-8,
                    weight_decay=0.0, decoupled=False):
        if step < 1:
            raise ValueError(f"adam_update: step counts from 1, got {step}")
        args = (float(lr), float(beta1), float(beta2), float(eps), float(weight_decay),
                bool(decoupled), int(step))
        if not all(a.flags.c_contiguous for a in (param, m, v)):
            # views (a parameter given as a slice): numpy updates them where they lie
            _float_dtype("adam_update", param, m, v, np.asarray(grad))
            _same_shapes("adam_update", param, m, v, np.asarray(grad))
            self._writeable("adam_update", param, m, v)
            reference.adam_update(param, grad, m, v, *args)
            return
        param, m, v = self._in_place("adam_update", param, m, v)
        grad = np.ravel(grad)
        _float_dtype("adam_update", param, grad)
        _same_shapes("adam_update", param, grad)
        self.impl.adam_update(param, grad, m, v, *args)

    def squared_norm(self, x):
        _float_dtype("squared_norm", x)
        return float(self.impl.squared_norm(np.ravel(x)))

    # -------------------------------------------------------------------------- recurrent cells
    def lstm_cell_forward(self, gates, c):
        gates, c = _rows("lstm_cell_forward", gates, c)
        dtype = _float_dtype("lstm_cell_forward", gates, c)
        if gates.shape[1] != 4 * c.shape[1]:
            raise ValueError(f"lstm_cell_forward: gates {gates.shape} must be (B, 4H) for c "
                             f"{c.shape} (B, H)")
        act = np.empty(gates.shape, dtype)
        c_new, tanh_c, h_new = (np.empty(c.shape, dtype) for _ in range(3))
        self.impl.lstm_cell_forward(gates, c, act, c_new, tanh_c, h_new)
        return act, c_new, tanh_c, h_new

    def lstm_cell_backward(self, act, c, tanh_c, dh, dc_new):
        H = c.shape[1] if c.ndim == 2 else -1
        (act,) = _rows("lstm_cell_backward", act, width=4 * H)
        c, tanh_c, dh, dc_new = _rows("lstm_cell_backward", c, tanh_c, dh, dc_new, width=H)
        dtype = _float_dtype("lstm_cell_backward", act, c, tanh_c, dh, dc_new)
        if act.shape[0] != c.shape[0]:
            raise ValueError(f"lstm_cell_backward: act {act.shape} and c {c.shape} differ in B")
        dgates, dc_total, dc = (np.empty(act.shape, dtype), np.empty(c.shape, dtype),
                                np.empty(c.shape, dtype))
        self.impl.lstm_cell_backward(act, c, tanh_c, dh, dc_new, dgates, dc_total, dc)
        return dgates, dc_total, dc

    def gru_cell_forward(self, gx, gh, h):
        H = h.shape[1] if h.ndim == 2 else -1
        gx, gh = _rows("gru_cell_forward", gx, gh, width=3 * H)
        (h,) = _rows("gru_cell_forward", h)
        dtype = _float_dtype("gru_cell_forward", gx, gh, h)
        if gx.shape[0] != h.shape[0]:
            raise ValueError(f"gru_cell_forward: gx {gx.shape} and h {h.shape} differ in B")
        act, h_new = np.empty(gx.shape, dtype), np.empty(h.shape, dtype)
        self.impl.gru_cell_forward(gx, gh, h, act, h_new)
        return act, h_new

    def gru_cell_backward(self, act, gh, h, dh_new):
        H = h.shape[1] if h.ndim == 2 else -1
        act, gh = _rows("gru_cell_backward", act, gh, width=3 * H)
        h, dh_new = _rows("gru_cell_backward", h, dh_new, width=H)
        dtype = _float_dtype("gru_cell_backward", act, gh, h, dh_new)
        if act.shape[0] != h.shape[0]:
            raise ValueError(f"gru_cell_backward: act {act.shape} and h {h.shape} differ in B")
        dgx, dgh, dh = np.empty(act.shape, dtype), np.empty(act.shape, dtype), \
            np.empty(h.shape, dtype)
        self.impl.gru_cell_backward(act, gh, h, dh_new, dgx, dgh, dh)
        return dgx, dgh, dh

    def rnn_cell_forward(self, pre, nonlinearity="tanh"):
        relu = _nonlinearity("rnn_cell_forward", nonlinearity)
        (pre,) = _rows("rnn_cell_forward", pre)
        h_new = np.empty(pre.shape, _float_dtype("rnn_cell_forward", pre))
        self._pick("rnn_cell_forward", pre.size)(pre, h_new, relu)
        return h_new

    def rnn_cell_backward(self, h_new, dh_new, nonlinearity="tanh"):
        relu = _nonlinearity("rnn_cell_backward", nonlinearity)
        h_new, dh_new = _rows("rnn_cell_backward", h_new, dh_new, width=h_new.shape[-1])
        dpre = np.empty(h_new.shape, _float_dtype("rnn_cell_backward", h_new, dh_new))
        self.impl.rnn_cell_backward(h_new, dh_new, dpre, relu)
        return dpre


backend = Backend(os.environ.get("TINYGRAD_SEQ_BACKEND", "numba"))


def set_backend(name):
    """Run kernels with "numba" (the default: numba where it wins) or "numpy" (references)."""
    backend.set(name)
