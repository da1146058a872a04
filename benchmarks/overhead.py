"""Per-op overhead: `(a*b + a).tanh().sum()` forward and backward on (32, 64) float32.

Small tensors make the autograd bookkeeping, not the arithmetic, the cost. PyTorch CPU runs in
the same process when installed; the ratio is ours / PyTorch's (below 1 means faster).

    python benchmarks/overhead.py
"""
import statistics

import numpy as np

from common import machine, median_time

import tinygrad_seq as ts


def main():
    rng = np.random.default_rng(0)
    a_np, b_np = rng.standard_normal((2, 32, 64)).astype(np.float32)
    a = ts.Tensor(a_np, requires_grad=True)
    b = ts.Tensor(b_np, requires_grad=True)

    def ours():
        a.grad = b.grad = None
        (a * b + a).tanh().sum().backward()

    def numpy_forward():
        np.tanh(a_np * b_np + a_np).sum()

    try:
        import torch
    except ImportError:
        torch = None
    peers = {"tinygrad_seq fwd+bwd": ours, "numpy forward only": numpy_forward}
    if torch is not None:
        ta = torch.tensor(a_np, requires_grad=True)
        tb = torch.tensor(b_np, requires_grad=True)

        def theirs():
            ta.grad = tb.grad = None
            (ta * tb + ta).tanh().sum().backward()

        peers[f"PyTorch {torch.__version__} fwd+bwd"] = theirs
    # rounds that time every peer back to back, so a burst of load on this shared machine hits
    # both sides of a ratio alike; medians over the rounds
    rounds = {name: [] for name in peers}
    for _ in range(15):
        for name, fn in peers.items():
            rounds[name].append(median_time(fn, repeat=1, number=1000))
    print(f"machine: {machine()}")
    print(f"{'what':<32}{'median us':>12}")
    for name, times in rounds.items():
        print(f"{name:<32}{statistics.median(times) * 1e6:>12.1f}")
    if torch is not None:
        ours_t, theirs_t = rounds["tinygrad_seq fwd+bwd"], rounds[list(peers)[-1]]
        ratios = sorted(a / b for a, b in zip(ours_t, theirs_t))
        print(f"ratio tinygrad_seq / PyTorch: median {statistics.median(ratios):.2f} "
              f"(rounds from {ratios[0]:.2f} to {ratios[-1]:.2f})")
    else:
        print("PyTorch not installed: no peer in this run (pip install torch==2.13.0)")


if __name__ == "__main__":
    main()
