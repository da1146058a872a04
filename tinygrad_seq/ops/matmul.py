"""Matrix products: `a @ b` and the affine map `x W^T + b`."""
import math

import numpy as np

from .. import threads
from ..autograd import unbroadcast
from ..kernels import backend
from .base import _Op


# A product of at least this many floating-point operations (2 M K N) is split over our
# threads (threads.split_ways), each block of rows or columns one single-threaded BLAS call:
# measured on the 2-core machine (float32, one OpenBLAS thread each), split / whole took 1.28x
# at 8.4 MFLOP (256 x 128 x 128: handing a block to a pool thread costs ~50 us), 0.73-0.78x
# at 33 MFLOP, 0.60x at 68 MFLOP (the charlm head, 2048 x 256 x 65), 0.53x at 268 MFLOP.
SPLIT_FLOPS = 3.2e7


def _product(a, b):
    """a @ b for 2-D a and b, avoiding two shapes OpenBLAS runs slowly (measured on one core),
    split over our threads when it is large."""
    if a.shape[1] == 1:
        # an outer product (K = 1): the batch-1 weight gradients, two per step of a batch-1
        # RNN, and the seed example's (1000, 1) input times (1, 256) weights every step.
        # Exact products either way; the numba loop takes 1/2 to 1/5 of the time of numpy's
        # broadcast a * b, itself 1/4 of BLAS's with K = 1
        if a.dtype == b.dtype and a.dtype.kind == "f":
            return backend.outer(a[:, 0], b[0])
        return a * b
    if a.shape[0] <= 32 and b.flags.f_contiguous and b.size >= 16384:
        # x @ W.T with a few rows, as every recurrent step: computed as (W @ x.T).T,
        # 1.4x faster at 32 x 256 @ 256 x 768; equal up to rounding (mostly bit for bit)
        return np.ascontiguousarray((b.T @ a.T).T)
    if 2 * a.shape[0] * a.shape[1] * b.shape[1] >= SPLIT_FLOPS and a.dtype == b.dtype and \
            a.dtype.kind == "f":
        n = threads.split_ways()
        if n > 1:
            return _split_product(a, b, n)
    return a @ b


def _split_product(a, b, n):
    """a @ b in n blocks along its longest dimension: of rows or of columns side by side (the
    same numbers up to rounding: bit for bit on most shapes; where BLAS picks other kernels
    for a block's edges, within a few units in the last place), or of the sum over k, the
    blocks' products added at the end (a weight gradient g^T x over many rows: the charlm
    head's (65 x 2048) @ (2048 x 256) took 272 us a half split by columns, 236 by k)."""
    M, K, N = a.shape[0], a.shape[1], b.shape[1]
    out = np.empty((M, N), a.dtype)
    cuts = np.linspace(0, max(M, N, K), n + 1).astype(int)
    parts = [out]      # the products to add up: more than one when split over k
    if K > max(M, N):
        parts += [np.empty((M, N), a.dtype) for _ in range(n - 1)]

        def block(k):
            np.matmul(a[:, cuts[k]:cuts[k + 1]], b[cuts[k]:cuts[k + 1]], out=parts[k])
    elif M >= N:
        def block(k):
            np.matmul(a[cuts[k]:cuts[k + 1]], b, out=out[cuts[k]:cuts[k + 1]])
    else:
        def block(k):
            np.matmul(a, b[:, cuts[k]:cuts[k + 1]], out=out[:, cuts[k]:cuts[k + 1]])
    threads.run_parallel(block, range(n))
    for part in parts[1:]:
        out += part
    return out


def _matmul(a, b):
    """a @ b, through _product when both are matrices (the backward's products)."""
    return _product(a, b) if a.ndim == b.ndim == 2 else a @ b


class Matmul(_Op):
    """out = a @ b (numpy rules: 1-D operands, broadcast batch dims);  da = g @ b^T, db = a^T @ g"""
    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("both operands need at least 1 dimension")
        k_a = a.shape[-1]
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if k_a != k_b:
            raise ValueError(f"inner dimensions differ: {a.shape} @ {b.shape}; expected "
                             f"a.shape[-1] ({k_a}) == b.shape[-2] ({k_b})")
        self.save_for_backward(a, b)
        return _matmul(a, b)

    def backward(self, g):
        a, b = self.saved
        # treat vectors as matrices (a row, b a column) so one formula covers every case
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        da = db = None
        if self.needs(0):
            da = unbroadcast(_matmul(g, b2.swapaxes(-1, -2)), a2.shape).reshape(a.shape)
        if self.needs(1):
            if a.ndim == b.ndim == 2 and b.flags.f_contiguous and not b.flags.c_contiguous:
                # b is a transposed weight (x @ W.T): computing db in b's layout, as PyTorch
                # does, makes W's gradient contiguous; 1.45x faster at 32 x 256 @ 256 x 1024
                db = _product(g.T, a).T
            else:
                db = unbroadcast(_matmul(a2.swapaxes(-1, -2), g), b2.shape).reshape(b.shape)
        return da, db


class Linear(_Op):
    """out = x W^T + b (x (..., in), W (out, in), b (out,));  dx = g W, dW = g^T x, db = g summed

    One node for an affine map, as torch.nn.functional.linear: the layers and the recurrent
    cells' projections. W's gradient comes out in W's own layout, with no transpose node.
    """
    def forward(self, x, weight, bias=None):   # shapes checked in nn.functional.linear
        rows = x if x.ndim == 2 else x.reshape(math.prod(x.shape[:-1]), x.shape[-1])
        self.save_for_backward(rows, weight)
        self.has_bias = bias is not None
        out = _product(rows, weight.T)
        if bias is not None:
            out += bias   # out is a new array
        return out if x.ndim == 2 else out.reshape(x.shape[:-1] + weight.shape[:1])

    def backward(self, g):
        rows, weight = self.saved
        if g.ndim != 2:
            g = g.reshape(rows.shape[0], weight.shape[0])
        dx = _product(g, weight).reshape(self.in_shapes[0]) if self.needs(0) else None
        dw = _product(g.T, rows) if self.needs(1) else None   # (batch 1: an outer product)
        if not self.has_bias:
            return dx, dw
        db = unbroadcast(g, weight.shape[:1]) if self.needs(2) else None
        return dx, dw, db


class Einsum(_Op):
    """out = einsum(equation, *operands) (explicit subscripts "ij,jk->ik", no "...");
    d operand_i = einsum("out,others->subscripts_i", g, *the other operands), broadcast over
    the letters only operand i has (they were summed out)"""
    def forward(self, *operands, inputs, output):
        self.inputs, self.output = inputs, output
        self.save_for_backward(*operands)
        return np.asarray(np.einsum(f"{','.join(inputs)}->{output}", *operands))

    def backward(self, g):
        operands = self.saved
        grads = []
        for i, subscripts in enumerate(self.inputs):
            if not self.needs(i):
                grads.append(None)
                continue
            others = [s for k, s in enumerate(self.inputs) if k != i]
            known = set(self.output).union(*others)
            kept = "".join(c for c in subscripts if c in known)
            grad = np.einsum(f"{','.join([self.output] + others)}->{kept}", g,
                             *[a for k, a in enumerate(operands) if k != i])
            for axis, c in enumerate(subscripts):   # letters only this operand had: broadcast
                if c not in known:
                    grad = np.expand_dims(grad, axis)
            grads.append(np.broadcast_to(grad, operands[i].shape).copy())
        return tuple(grads)
