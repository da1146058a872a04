"""Per-op overhead: `(a*b + a).tanh().sum()` forward and backward on (32, 64) float32.

Small tensors make the autograd bookkeeping, not the arithmetic, the cost. PyTorch CPU runs in
the same process when installed; the ratio is ours / PyTorch's (below 1 means faster).

    python benchmarks/overhead.py
"""
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

    rows = [("tinygrad_seq fwd+bwd", median_time(ours)),
            ("numpy forward only", median_time(numpy_forward))]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        ta = torch.tensor(a_np, requires_grad=True)
        tb = torch.tensor(b_np, requires_grad=True)

        def theirs():
            ta.grad = tb.grad = None
            (ta * tb + ta).tanh().sum().backward()

        rows.append((f"PyTorch {torch.__version__} fwd+bwd", median_time(theirs)))
    print(f"machine: {machine()}")
    print(f"{'what':<32}{'median us':>12}")
    for name, seconds in rows:
        print(f"{name:<32}{seconds * 1e6:>12.1f}")
    if torch is not None:
        print(f"ratio tinygrad_seq / PyTorch: {rows[0][1] / rows[2][1]:.2f}")
    else:
        print("PyTorch not installed: no peer in this run (pip install torch==2.13.0)")


if __name__ == "__main__":
    main()
