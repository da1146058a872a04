"""Tensors, broadcasting and the shapes of gradients.

What it teaches: a gradient always has the shape of the tensor it belongs to. When an input was
broadcast (a bias added to every row of a batch, a column times a row), its gradient is the
output's gradient summed over the broadcast dimensions. A matmul's gradients are matmuls:
dL/dX = G W^T and dL/dW = X^T G. Gradients accumulate: a second backward adds to `.grad`
until you reset it (what `optimizer.zero_grad()` is for).

    python examples/04_tensors_and_broadcasting.py
"""
import numpy as np

import tinygrad_seq as ts


def show(name, tensor, expected):
    ok = tensor.grad.shape == tensor.shape and np.allclose(tensor.grad.numpy(), expected)
    print(f"  d loss / d {name:<4} shape {str(tensor.grad.shape):<8} (the input's: "
          f"{str(tensor.shape):<8}) equals the hand-written formula: {ok}")
    assert ok


def main():
    ts.manual_seed(0)
    rng = np.random.default_rng(0)

    print("1. a linear layer on a batch: Y = X W + b, loss = sum(Y * C)")
    X = ts.randn(4, 3, requires_grad=True)        # (batch, in)
    W = ts.randn(3, 2, requires_grad=True)        # (in, out)
    b = ts.randn(2, requires_grad=True)           # (out,), broadcast over the 4 rows
    C = ts.tensor(rng.standard_normal((4, 2)).astype(np.float32))
    loss = ((X @ W + b) * C).sum()
    loss.backward()
    G = C.numpy()                                  # dL/dY
    show("X", X, G @ W.numpy().T)
    show("W", W, X.numpy().T @ G)
    show("b", b, G.sum(axis=0))                    # summed over the batch it was broadcast to

    print("2. an outer product by broadcasting: (3, 1) * (1, 4) -> (3, 4), loss = mean")
    col = ts.randn(3, 1, requires_grad=True)
    row = ts.randn(1, 4, requires_grad=True)
    loss = (col * row).mean()
    loss.backward()
    g = np.full((3, 4), 1 / 12)                    # d mean / d each of the 12 elements
    show("col", col, (g * row.numpy()).sum(axis=1, keepdims=True))
    show("row", row, (g * col.numpy()).sum(axis=0, keepdims=True))

    print("3. gradients accumulate: backward twice without zeroing")
    v = ts.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (v * v).sum().backward()
    first = v.grad.numpy().copy()
    (v * v).sum().backward()
    print(f"  after one backward {first}, after two {v.grad.numpy()} (2 v, then 2 v + 2 v)")
    assert np.allclose(v.grad.numpy(), 2 * first)
    print("  so a training loop sets .grad to None (optimizer.zero_grad()) before each backward")
    print("\nevery gradient has its input's shape, broadcasting undone by summing")


if __name__ == "__main__":
    main()
