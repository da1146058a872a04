"""A matrix product for few rows, with the weights packed once: C = A @ B (or C += A @ B).

The recurrent layers' per-step products have few rows (a batch of 32) and the same weights at
every step. OpenBLAS re-packs the weight matrix on every call and runs these shapes at 64-86
GFLOP/s on one core of the machine this was written on (the core's vector peak 117), 100-105 on
today's Sapphire Rapids (peak 201-207). Packing the weights once per sequence and running a
register-blocked micro-kernel over them reaches 110-115 there, 170-200 here (`python
benchmarks/kernels.py --only gemm`), and being numba it can run inside a jitted time loop.

    gemm(A (M, K), Bp (P, K, NR), C (M, N), add)
                                       C += A @ w (add) or C = A @ w, w (K, N) the matrix Bp
                                       packs: Bp[p, k, j] = w[k, p * NR + j], zeros past N
    gemm_rows(A (M, K), B (K, N'), C (M, N), add)
                                       C (+)= A @ B[:, :N] (B unpacked, N <= N', rows
                                       contiguous)
Without add, C's old values are never read (it may hold anything, nan included): the tiles of
the first block of K start from zero instead of loading C, which saves the caller a pass
zeroing C (the seed LSTM's forward zeroed 512 kB of gates a step). The entries pass bool(add)
on, so that the product compiles once: numba specialises a jitted callee on each constant it
is called with (literal types), and the callers pass True or False.
Packing, from a matrix's rows (the recurrent layers pack each part's gates, kernels/recurrent.py):
    pack_rows(w, rows, col0, ncols, out (P, len(rows), NR))
                                       packs w[rows, col0:col0 + ncols]
    pack_columns(w, rows, k0, out (P, K', NR))
                                       packs w[rows].T into out's rows k0 .. k0 + w.shape[1] - 1

A and C may be views with any row stride (A any strides at all: a transposed view is read as
such); C's and B's rows must be contiguous. NR = 4 vectors (64 float32 or 32 float64 where the
CPU has AVX-512).

How: C is cut into tiles of 4 rows x NR columns, each held in 16 vector accumulators (simd.py)
while k runs over a block of K: per k, 4 vector loads of the panel's row k, 4 broadcasts of
A's elements and 16 fused multiply-adds. K is cut into equal blocks of at most KC_PACKED rows
(packed B) or KC_ROWS (unpacked B, whose rows are far apart), and every tile of C runs the
block before the next: a panel's block (128 rows x 256 bytes, 32 kB) then stays in the 48 kB
L1 cache for all of C's rows, where a whole panel of K = 257 or 512 rows is read from L2 for
each tile. On the charlm LSTM's shapes, Sapphire Rapids, one core: (32 x 257) @ (257 x 512)
packed 158 -> 171 GFLOP/s (medians of 15 interleaved rounds), (32 x 512) @ (512 x 128) 162 ->
176, and the weight gradient's (257 x 256) @ (256 x 512) from an unpacked ring 101 -> 137
(blocks of 64; with 128, 97). Each element of C is still summed over k in order, with one
rounding per multiply-add (as BLAS kernels do; no reassociation, no fastmath): between blocks
the accumulators go to C and come back, at C's precision. Rows past the
last multiple of 4 run tiles of one row by NR columns (4 accumulators: four chains of
multiply-adds, enough to hide their latency; the weight gradients' products have 66 or 257
rows, and one-vector tiles, a single chain each, made the seed LSTM's 9% slower), and columns
past the last whole panel tiles of one row by one vector, the last one loading and storing
only the columns that exist (masked loads and stores): the recurrent layers' shapes (128 or
more columns) seldom need them, and fewer tile shapes compile sooner.

The numpy twins in reference.py have the same signatures; under NUMBA_DISABLE_JIT=1 they are
what this module exports.
"""
import numba
import numpy as np

from . import cache, reference
from .simd import VECTOR_BYTES, vfma, vload, vload_first, vsplat, vstore, vstore_first, width

MR, NV = 4, 4   # a tile: rows x vectors (16 accumulators, half of AVX-512's registers)
KC_PACKED, KC_ROWS = 128, 64   # the longest blocks of K, B packed or not (see above)


def panel_width(dtype):
    """NR, the columns of a packed panel for `dtype`."""
    return NV * width(dtype)


def panels(n, dtype):
    """How many panels hold n columns."""
    nr = panel_width(dtype)
    return (n + nr - 1) // nr


# ------------------------------------------------------------------------------ tiles
# One function per tile shape, written out: the accumulators must be separate SSA values for
# LLVM to keep them in registers. A tile adds its product to C's values (load) or to zeros,
# and stores it in C. `b` is the flat offset of the tile's first column in B's row 0, `rb` B's
# row stride; `c` the flat offset of the tile's first element in C, `rc` C's row stride; `n`
# (the one-vector tile) how many columns exist.
def _tile_4x4(A, i, k0, k1, B, b, rb, C, c, rc, load):
    W = VECTOR_BYTES // C.itemsize
    if load:
        c00, c01, c02, c03 = (vload(C, c), vload(C, c + W), vload(C, c + 2 * W),
                              vload(C, c + 3 * W))
        d = c + rc
        c10, c11, c12, c13 = (vload(C, d), vload(C, d + W), vload(C, d + 2 * W),
                              vload(C, d + 3 * W))
        d = c + 2 * rc
        c20, c21, c22, c23 = (vload(C, d), vload(C, d + W), vload(C, d + 2 * W),
                              vload(C, d + 3 * W))
        d = c + 3 * rc
        c30, c31, c32, c33 = (vload(C, d), vload(C, d + W), vload(C, d + 2 * W),
                              vload(C, d + 3 * W))
    else:
        z = vsplat(C.dtype.type(0))
        c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = z
        c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = z
    for k in range(k0, k1):
        o = b + k * rb
        b0, b1, b2, b3 = vload(B, o), vload(B, o + W), vload(B, o + 2 * W), vload(B, o + 3 * W)
        a = vsplat(A[i, k])
        c00, c01, c02, c03 = vfma(a, b0, c00), vfma(a, b1, c01), vfma(a, b2, c02), \
            vfma(a, b3, c03)
        a = vsplat(A[i + 1, k])
        c10, c11, c12, c13 = vfma(a, b0, c10), vfma(a, b1, c11), vfma(a, b2, c12), \
            vfma(a, b3, c13)
        a = vsplat(A[i + 2, k])
        c20, c21, c22, c23 = vfma(a, b0, c20), vfma(a, b1, c21), vfma(a, b2, c22), \
            vfma(a, b3, c23)
        a = vsplat(A[i + 3, k])
        c30, c31, c32, c33 = vfma(a, b0, c30), vfma(a, b1, c31), vfma(a, b2, c32), \
            vfma(a, b3, c33)
    vstore(C, c, c00)
    vstore(C, c + W, c01)
    vstore(C, c + 2 * W, c02)
    vstore(C, c + 3 * W, c03)
    d = c + rc
    vstore(C, d, c10)
    vstore(C, d + W, c11)
    vstore(C, d + 2 * W, c12)
    vstore(C, d + 3 * W, c13)
    d = c + 2 * rc
    vstore(C, d, c20)
    vstore(C, d + W, c21)
    vstore(C, d + 2 * W, c22)
    vstore(C, d + 3 * W, c23)
    d = c + 3 * rc
    vstore(C, d, c30)
    vstore(C, d + W, c31)
    vstore(C, d + 2 * W, c32)
    vstore(C, d + 3 * W, c33)


def _tile_1x4(A, i, k0, k1, B, b, rb, C, c, rc, load):
    W = VECTOR_BYTES // C.itemsize
    if load:
        c0, c1, c2, c3 = vload(C, c), vload(C, c + W), vload(C, c + 2 * W), vload(C, c + 3 * W)
    else:
        c0 = c1 = c2 = c3 = vsplat(C.dtype.type(0))
    for k in range(k0, k1):
        o = b + k * rb
        a = vsplat(A[i, k])
        c0, c1 = vfma(a, vload(B, o), c0), vfma(a, vload(B, o + W), c1)
        c2, c3 = vfma(a, vload(B, o + 2 * W), c2), vfma(a, vload(B, o + 3 * W), c3)
    vstore(C, c, c0)
    vstore(C, c + W, c1)
    vstore(C, c + 2 * W, c2)
    vstore(C, c + 3 * W, c3)


def _tile_1x1(A, i, k0, k1, B, b, rb, C, c, rc, load, n):
    c0 = vload_first(C, c, n) if load else vsplat(C.dtype.type(0))
    for k in range(k0, k1):
        c0 = vfma(vsplat(A[i, k]), vload_first(B, b + k * rb, n), c0)
    vstore_first(C, c, c0, n)


def _gemm(A, B, panel_stride, row_stride, C, add):
    """C (+)= A @ w, where w[k, j] is B's element p * panel_stride + k * row_stride + j % NR
    (p = j // NR), counting from B's data pointer (B 2-D, whichever layout it holds)."""
    M, K = A.shape
    N = C.shape[1]
    W = VECTOR_BYTES // C.itemsize
    NR = NV * W
    rc = C.strides[0] // C.itemsize
    whole = M - M % MR
    kc = KC_PACKED if row_stride == NR else KC_ROWS
    blocks = max(1, (K + kc - 1) // kc)
    kb = max(1, (K + blocks - 1) // blocks)   # K cut in equal blocks of at most kc rows
    if K == 0 and not add:   # no block of K: C = the empty sum
        for i in range(M):
            for j in range(N):
                C[i, j] = 0
    for k0 in range(0, K, kb):
        k1 = min(K, k0 + kb)
        load = add or k0 > 0
        for p in range((N + NR - 1) // NR):
            j, b = p * NR, p * panel_stride
            if j + NR <= N:     # a whole panel: 4 x NR tiles, the last rows 1 x NR
                for i in range(0, whole, MR):
                    _tile_4x4(A, i, k0, k1, B, b, row_stride, C, i * rc + j, rc, load)
                for i in range(whole, M):
                    _tile_1x4(A, i, k0, k1, B, b, row_stride, C, i * rc + j, rc, load)
            else:               # the last columns: one vector at a time
                for v in range(j, N, W):
                    for i in range(M):
                        _tile_1x1(A, i, k0, k1, B, b + v - j, row_stride, C, i * rc + v, rc,
                                  load, min(W, N - v))


def _check(A, B, C, K_B, N_B):
    """The shapes fit, w being (K_B, N_B) (the tiles read and write through raw pointers: a
    wrong shape would not raise but overwrite memory); B 2-D."""
    if A.shape[0] != C.shape[0] or K_B != A.shape[1] or N_B < C.shape[1]:
        raise ValueError("gemm: shapes do not fit")
    if (B.size and B.strides[1] != B.itemsize) or (C.size and (
            C.strides[1] != C.itemsize or C.strides[0] < C.shape[1] * C.itemsize)):
        raise ValueError("gemm: B's and C's rows must be contiguous, C's rows apart")


def gemm(A, Bp, C, add):
    P, K, NR = Bp.shape
    if NR != NV * (VECTOR_BYTES // Bp.itemsize):
        raise ValueError("gemm: Bp's panels are not NR wide")
    B = Bp.reshape(P * K, NR)    # one type of B for both entry points: one compiled _gemm
    _check(A, B, C, K, P * NR)
    _gemm(A, B, K * NR, NR, C, bool(add))


def gemm_rows(A, B, C, add):
    _check(A, B, C, B.shape[0], B.shape[1])
    _gemm(A, B, NV * (VECTOR_BYTES // B.itemsize), B.strides[0] // B.itemsize, C, bool(add))


# ------------------------------------------------------------------------------ packing
def panel_shape(n, K, like):
    """(P, K, NR): the shape of n columns of K rows packed, for like's dtype (jittable)."""
    NR = NV * (VECTOR_BYTES // like.itemsize)
    return (n + NR - 1) // NR, K, NR


def pack_rows(w, rows, col0, ncols, out):
    NR = out.shape[2]
    for p in range(out.shape[0]):
        n = max(0, min(NR, ncols - p * NR))   # the panel's columns that exist, then zeros
        for r in range(len(rows)):   # (copy loops without a branch: 9x faster than with one)
            src, dst = w[rows[r], col0 + p * NR:col0 + p * NR + n], out[p, r]
            for j in range(n):
                dst[j] = src[j]
            for j in range(n, NR):
                dst[j] = 0


def pack_columns(w, rows, k0, out):
    # out's rows in order, each gathered from NR rows of w (their NR cache lines stay in L1
    # for 16 of out's rows): 85 us for the charlm LSTM's forward weights, where writing
    # out column by column, a new cache line at every write, took 203
    NR, C = out.shape[2], w.shape[1]
    for p in range(out.shape[0]):
        n = max(0, min(NR, len(rows) - p * NR))
        for c in range(C):
            dst = out[p, k0 + c]
            for j in range(n):
                dst[j] = w[rows[p * NR + j], c]
            for j in range(n, NR):
                dst[j] = 0


# ------------------------------------------------------------------------------ jit
# The products compile once per dtype and layout of A (the recurrent loops pass every A as a
# slice, layout 'A'); the packing is inlined into its callers, so that the constants it is
# called with (a column, a row) do not compile it again. The tiles are inlined into _gemm:
# called as functions, the 4 x 4 tile ran products with K = 64 (the seed LSTM's) at 102-105
# GFLOP/s instead of 106-112 (one call per tile, whose loop over k is only 64 long), and
# inlined they compile sooner (3.0 s instead of 3.4 for both dtypes from an empty cache).
if numba.config.DISABLE_JIT:    # the vector intrinsics need the JIT: numpy twins instead
    gemm, gemm_rows = reference.gemm, reference.gemm_rows
    pack_rows, pack_columns = reference.pack_rows, reference.pack_columns
else:
    _jit = cache.njit(error_model="numpy", nogil=True)
    _inline = numba.njit(inline="always", error_model="numpy", nogil=True)
    _tile_4x4, _tile_1x4, _tile_1x1 = _inline(_tile_4x4), _inline(_tile_1x4), _inline(_tile_1x1)
    _gemm = _jit(_gemm)
    _check, gemm, gemm_rows = _jit(_check), _jit(gemm), _jit(gemm_rows)
    pack_rows, pack_columns, panel_shape = (_inline(pack_rows), _inline(pack_columns),
                                            _inline(panel_shape))
