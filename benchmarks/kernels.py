"""Each kernel against its numpy reference: median time per call, warm numba cache.

Both get the same preallocated arrays (the raw fill-the-outputs kernels, without the backend's
checks, which cost the same for both). Where a numba kernel is slower than its reference,
kernels.NUMBA_UP_TO keeps the reference in use for that kernel at that size.

    python benchmarks/kernels.py [--dtype float64] [--only softmax]
"""
import argparse

import numpy as np

from common import machine, median_time

from tinygrad_seq.kernels import gemm, loops, reference


def cases(dtype):
    rng = np.random.default_rng(0)

    def arr(*shape, low=-3.0, high=3.0):
        return rng.uniform(low, high, shape).astype(dtype)

    def empty(*shape):
        return np.empty(shape, dtype)

    for n, label in ((32 * 64, "32x64"), (1024 * 256, "1024x256")):
        out = np.tanh(arr(n))
        yield "tanh_backward", label, (out, arr(n), empty(n))
        yield "sigmoid_backward", label, (0.5 * out + 0.5, arr(n), empty(n))
        yield "relu_backward", label, (np.maximum(out, 0), arr(n), empty(n))
        yield "tanh_forward", label, (arr(n), empty(n))
        yield "sigmoid_forward", label, (arr(n), empty(n))
    for rows, n in ((1, 18), (32, 64), (64, 1000), (1024, 256)):
        label = f"{rows}x{n}"
        x = arr(rows, n)
        sm, lsm = empty(rows, n), empty(rows, n)
        reference.softmax_forward(x, sm)
        reference.log_softmax_forward(x, lsm)
        yield "softmax_forward", label, (x, empty(rows, n))
        yield "softmax_backward", label, (sm, arr(rows, n), empty(rows, n))
        yield "log_softmax_forward", label, (x, empty(rows, n))
        yield "log_softmax_backward", label, (lsm, arr(rows, n), empty(rows, n))
        target = rng.integers(0, n, rows)
        target[::7] = -100
        yield "cross_entropy_forward", label, (x, target, -100, empty(rows), empty(rows, n))
        yield "cross_entropy_backward", label, (sm, target, -100, arr(rows), empty(rows, n))
        yield "nll_loss_forward", label, (lsm, target, arr(0), -100, empty(rows), empty(rows))
        yield "nll_loss_backward", label, (target, -100, arr(rows), empty(rows, n))
    for tokens, vocab, dim in ((32 * 35, 100, 64), (64 * 35, 10000, 256)):
        indices = rng.integers(0, vocab, tokens)
        yield "embedding_backward", f"{tokens} of {vocab}x{dim}", \
            (indices, arr(tokens, dim), empty(vocab, dim))
    for rows, n in ((32, 64), (32, 1024), (1024, 256)):
        yield "sum_rows", f"{rows}x{n}", (arr(rows, n), empty(n))
    for n in (64 * 256, 1 << 20):
        p, g = arr(n), arr(n)
        yield "sgd_update", f"{n}", (p, g, arr(n), 0.01, 0.9, 1e-4, False)
        yield "adam_update", f"{n}", (p, g, arr(n), arr(n, low=0, high=1), 1e-3, 0.9, 0.999,
                                      1e-8, 1e-2, True, 10)
        yield "squared_norm", f"{n}", (g,)
    for B, H in ((32, 64), (1000, 64), (32, 512)):
        label = f"B={B} H={H}"
        gates, c = arr(B, 4 * H), arr(B, H)
        act, c_new, tanh_c, h_new = empty(B, 4 * H), empty(B, H), empty(B, H), empty(B, H)
        reference.lstm_cell_forward(gates, c, act, c_new, tanh_c, h_new)
        yield "lstm_cell_forward", label, (gates, c, act, c_new, tanh_c, h_new)
        yield "lstm_cell_backward", label, (act, c, tanh_c, arr(B, H), arr(B, H),
                                            empty(B, 4 * H), empty(B, H), empty(B, H))
        gx, gh, h = arr(B, 3 * H), arr(B, 3 * H), arr(B, H)
        gact = empty(B, 3 * H)
        reference.gru_cell_forward(gx, gh, h, gact, empty(B, H))
        yield "gru_cell_forward", label, (gx, gh, h, empty(B, 3 * H), empty(B, H))
        yield "gru_cell_backward", label, (gact, gh, h, arr(B, H), empty(B, 3 * H),
                                           empty(B, 3 * H), empty(B, H))
        yield "rnn_cell_forward", label, (arr(B, H), empty(B, H), False)
        yield "rnn_cell_backward", label, (np.tanh(arr(B, H)), arr(B, H), empty(B, H), False)
    # the charlm LSTM's products, per thread of two (kernels/recurrent.py): the forward's
    # [h | 1] @ its gates' packed weights, the state gradient's, and the weight gradient's
    # from a ring of gate gradients whose rows are a cache line longer (nn/fused/loops.py)
    NR, zeros = gemm.panel_width(dtype), lambda *shape: np.zeros(shape, dtype)
    ring = arr(256, 512 + 64 // dtype.itemsize)
    for name, label, a, b, c in (
            ("gemm", "32x257 @ 257x512", arr(32, 257), arr(512 // NR, 257, NR), zeros(32, 512)),
            ("gemm", "32x512 @ 512x128", arr(32, 512), arr(128 // NR, 512, NR), zeros(32, 128)),
            ("gemm_rows", "257x256 @ 256x512", arr(256, 257).T, ring, zeros(257, 512))):
        yield name, label, (a, b, c, True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--only", default="", help="run the kernels whose names contain this")
    args = parser.parse_args()
    print(f"machine: {machine()}, {args.dtype}")
    print(f"{'kernel':<24}{'shape':<20}{'numpy us':>11}{'numba us':>11}{'speedup':>9}")
    for name, label, kernel_args in cases(np.dtype(args.dtype)):
        if args.only not in name:
            continue
        # updates in place: each timed call works on the state the previous one left
        fresh = [a.copy() if isinstance(a, np.ndarray) else a for a in kernel_args]
        t_numpy = median_time(lambda: getattr(reference, name)(*fresh), min_seconds=0.05)
        fresh = [a.copy() if isinstance(a, np.ndarray) else a for a in kernel_args]
        numba_kernel = getattr(gemm if name.startswith("gemm") else loops, name)
        t_numba = median_time(lambda: numba_kernel(*fresh), min_seconds=0.05)
        print(f"{name:<24}{label:<20}{t_numpy * 1e6:>11.1f}{t_numba * 1e6:>11.1f}"
              f"{t_numpy / t_numba:>8.1f}x")


if __name__ == "__main__":
    main()
