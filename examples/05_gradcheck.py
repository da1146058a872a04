"""Checking gradients with finite differences: how to trust a backward you wrote yourself.

What it teaches: for each input element, (f(x + eps) - f(x - eps)) / (2 eps) approximates the
derivative; `ts.gradcheck` compares that with what backward computed, in float64 (in float32 the
rounding error of f swamps the difference for any useful eps). A new op is a `ts.Function`
subclass with forward and backward side by side; gradcheck is how you find out that its backward
is wrong before a model silently trains badly.

    python examples/05_gradcheck.py
"""
import numpy as np

import tinygrad_seq as ts
from tinygrad_seq import nn


class Softplus(ts.Function):
    """out = log(1 + exp(a));  da = g * sigmoid(a)"""
    def forward(self, a):
        self.save_for_backward(a)
        return np.logaddexp(0, a)

    def backward(self, g):
        (a,) = self.saved
        return g / (1 + np.exp(-a))


class WrongSoftplus(Softplus):
    """The same forward with a classic slip in backward: d/da log(1 + e^a) taken as 1/(1 + e^a)."""
    def backward(self, g):
        (a,) = self.saved
        return g / (1 + np.exp(a))


def leaf(rng, *shape):
    return ts.tensor(rng.standard_normal(shape), dtype=ts.float64, requires_grad=True)


def main():
    rng = np.random.default_rng(0)

    print("1. the finite difference itself, float64 against float32, for d tanh(x)/dx at x = 0.5")
    exact = 1 - np.tanh(0.5) ** 2
    for dtype in (np.float64, np.float32):
        for eps in (1e-2, 1e-4, 1e-6):
            x = dtype(0.5)
            estimate = (np.tanh(x + dtype(eps)) - np.tanh(x - dtype(eps))) / dtype(2 * eps)
            print(f"  {np.dtype(dtype).name}  eps {eps:.0e}: error {abs(estimate - exact):.1e}")
    print("  (float64 with eps 1e-6 is what gradcheck uses)\n")

    print("2. gradcheck an expression and an LSTM cell written from primitives")
    a, b = leaf(rng, 3, 4), leaf(rng, 4)
    ts.gradcheck(lambda a, b: ((a * b).tanh() + a.sigmoid() / (1 + b * b)).sum(dim=1), a, b)
    print("  ((a * b).tanh() + sigmoid(a) / (1 + b^2)).sum(1): passed")
    cell = nn.LSTMCell(3, 5, dtype=ts.float64)
    x, h, c = leaf(rng, 2, 3), leaf(rng, 2, 5), leaf(rng, 2, 5)
    ts.gradcheck(lambda x, h, c, *w: nn.lstm_cell(x, h, c, *w)[1], x, h, c,
                 cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    print("  nn.lstm_cell, gradients for x, h, c and all four weights: passed\n")

    print("3. a new op, Softplus, with a correct and with a wrong backward")
    x = leaf(rng, 5)
    ts.gradcheck(lambda x: Softplus.apply(x), x)
    print("  Softplus: passed")
    try:
        ts.gradcheck(lambda x: WrongSoftplus.apply(x), x)
    except ts.GradcheckError as e:
        print(f"  WrongSoftplus: {e}")
        print("\ngradcheck caught the wrong backward")
    else:
        raise SystemExit("gradcheck missed the wrong backward")


if __name__ == "__main__":
    main()
