"""Reverse-mode autodiff by hand, then by the tape, on a two-step scalar RNN.

What it teaches: backpropagation is the chain rule applied from the loss backwards, one local
derivative per operation; a weight used at every step (w, u) collects one contribution per use,
added together; the seed tutorial's recursion

    dL/dh_t = dL/do_t * do_t/dh_t + dL/dh_{t+1} * dh_{t+1}/dh_t

is exactly what the backward walk computes. The tape records each operation as it runs (the
Wengert list printed below); `loss.backward()` walks it in reverse.

    python examples/03_autodiff_by_hand.py
"""
import math

import numpy as np

import tinygrad_seq as ts


def main():
    x1, x2, h0, y = 0.5, -1.0, 0.3, 0.25        # inputs, initial state and target
    w, u = 0.8, -0.6                             # input weight and recurrent weight

    # ---- forward and backward by hand -------------------------------------------------------
    a1 = w * x1 + u * h0
    h1 = math.tanh(a1)                           # h_1 = tanh(w x_1 + u h_0)
    a2 = w * x2 + u * h1
    h2 = math.tanh(a2)                           # h_2 = tanh(w x_2 + u h_1)
    loss = (h2 - y) ** 2                         # L = (h_2 - y)^2

    dh2 = 2 * (h2 - y)                           # dL/dh_2
    da2 = dh2 * (1 - h2 ** 2)                    # tanh'(a) = 1 - tanh(a)^2
    dh1 = da2 * u                                # dL/dh_1 = dL/dh_2 * dh_2/dh_1
    da1 = dh1 * (1 - h1 ** 2)
    by_hand = {
        "w": da2 * x2 + da1 * x1,                # w is used at both steps: contributions add
        "u": da2 * h1 + da1 * h0,
        "h0": da1 * u,
        "h1": dh1,
    }

    # ---- the same with the tape --------------------------------------------------------------
    def leaf(value, name):
        t = ts.tensor(value, dtype=ts.float64, requires_grad=True)
        t.name = name
        return t

    tw, tu, th0 = leaf(w, "w"), leaf(u, "u"), leaf(h0, "h0")
    with ts.Tape() as tape:
        th1 = (tw * x1 + tu * th0).tanh()
        th1.retain_grad()                        # keep dL/dh_1, an intermediate gradient
        th2 = (tw * x2 + tu * th1).tanh()
        tloss = (th2 - y) ** 2
    print(f"the tape of the forward pass ({len(tape)} ops):\n{tape}\n")
    tloss.backward()

    by_tape = {"w": tw.grad.item(), "u": tu.grad.item(), "h0": th0.grad.item(),
               "h1": th1.grad.item()}
    print(f"loss by hand {loss:.10f}, by the tape {tloss.item():.10f}\n")
    print(f"{'gradient':>10} {'by hand':>16} {'by the tape':>16}")
    for name in by_hand:
        print(f"{'dL/d' + name:>10} {by_hand[name]:16.12f} {by_tape[name]:16.12f}")
    assert math.isclose(loss, tloss.item(), rel_tol=1e-12)
    assert np.allclose(list(by_hand.values()), list(by_tape.values()), rtol=1e-12, atol=0)
    print("\nthe tape agrees with the chain rule by hand")


if __name__ == "__main__":
    main()
