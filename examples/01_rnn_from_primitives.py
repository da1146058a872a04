"""An RNN built from primitives, trained by backpropagation through time.

What it teaches: a recurrent cell is only matmul, add and tanh; unrolling it over the sequence
is a Python loop; `loss.backward()` walks the tape of the whole unrolled graph in reverse.

The task (as in the seed tutorial's example): each sequence holds 20 numbers, and its label is
1 when their sum is positive. Run:

    python examples/01_rnn_from_primitives.py [--steps N]
"""
import argparse

import numpy as np

import tinygrad_seq as ts
import tinygrad_seq.nn.functional as F


def make_data(rng, n=256, length=20):
    x = rng.standard_normal((length, n, 1)).astype(np.float32)   # (time, batch, features)
    y = (x.sum(axis=(0, 2)) > 0).astype(np.int64)
    return ts.Tensor(x), ts.Tensor(y)


def init(rng, *shape):
    bound = 1 / np.sqrt(shape[0])
    return ts.Tensor(rng.uniform(-bound, bound, shape).astype(np.float32), requires_grad=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    hidden = 16
    w_xh, w_hh, b_h = init(rng, 1, hidden), init(rng, hidden, hidden), init(rng, hidden)
    w_hy, b_y = init(rng, hidden, 2), init(rng, 2)
    params = [w_xh, w_hh, b_h, w_hy, b_y]
    for p, name in zip(params, ["W_xh", "W_hh", "b_h", "W_hy", "b_y"]):
        p.name = name                                         # names show on the tape
    x, y = make_data(rng)
    x_test, y_test = make_data(rng)

    def forward(x):
        h = ts.zeros(x.shape[1], hidden)
        for t in range(x.shape[0]):
            with ts.scope("rnn", step=t):
                h = (x[t] @ w_xh + h @ w_hh + b_h).tanh()     # h_t = tanh(x_t U + h_{t-1} W + b)
        return h @ w_hy + b_y                                 # logits from the last state

    with ts.Tape() as tape:          # the tape of one step, to show what backward will walk
        loss = F.cross_entropy(forward(x[:2]), y)
    print(f"one forward pass over 2 steps records {len(tape)} nodes:\n{tape}\n")

    lr = 0.05
    for step in range(1, args.steps + 1):
        loss = F.cross_entropy(forward(x), y)
        loss.backward()                                       # BPTT through all 20 steps
        with ts.no_grad():
            for p in params:
                p -= lr * p.grad                          # in place: p stays the same leaf
                p.grad = None
        if step % 25 == 0 or step == 1:
            with ts.no_grad():
                accuracy = (forward(x_test).argmax(dim=1) == y_test).float().mean().item()
            print(f"step {step:4d}  loss {loss.item():.4f}  held-out accuracy {accuracy:.2f}")


if __name__ == "__main__":
    main()
