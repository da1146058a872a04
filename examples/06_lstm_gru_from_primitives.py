"""LSTM and GRU written from their equations, checked against nn.LSTM and nn.GRU.

What it teaches: a gated cell is a handful of affine maps, sigmoids, tanh and element-wise
products; how PyTorch-style layers store the gates (weight_ih stacks the input weights of every
gate: i, f, g, o for the LSTM, where g is the seed's candidate c; r, z, n for the GRU); the two
bias vectors of a PyTorch layer add up to the seed tutorial's single b. The cells below use the
seed's notation, W for input weights and U for recurrent ones (the seed writes W for both),
with two corrections to the seed's GRU:

  * the reset gate scales the previous state, not the input:
        h~_t = tanh(W_h x_t + U_h (r_t * h_{t-1}) + b_h)       (Cho et al. 2014)
    this is nn.GRU(reset_after=False); PyTorch's default, reset_after=True, applies r after the
    projection: tanh(W_h x_t + b_ih + r_t * (U_h h_{t-1} + b_hh));
  * PyTorch writes h_t = (1 - z_t) * h~_t + z_t * h_{t-1}: its z is the seed's 1 - z (keeping
    the old state). The code follows PyTorch so the weights can be copied over.

    python examples/06_lstm_gru_from_primitives.py [--seq-len T]
"""
import argparse

import numpy as np

import tinygrad_seq as ts
from tinygrad_seq import nn


def lstm_step(x, h, c, p):
    i = (x @ p["W_i"] + h @ p["U_i"] + p["b_i"]).sigmoid()     # input gate
    f = (x @ p["W_f"] + h @ p["U_f"] + p["b_f"]).sigmoid()     # forget gate
    o = (x @ p["W_o"] + h @ p["U_o"] + p["b_o"]).sigmoid()     # output gate
    c = f * c + i * (x @ p["W_c"] + h @ p["U_c"] + p["b_c"]).tanh()
    return o * c.tanh(), c


def gru_step(x, h, p):
    r = (x @ p["W_r"] + h @ p["U_r"] + p["b_r"]).sigmoid()     # reset gate
    z = (x @ p["W_z"] + h @ p["U_z"] + p["b_z"]).sigmoid()     # update gate
    candidate = (x @ p["W_h"] + (r * h) @ p["U_h"] + p["b_h"]).tanh()
    return (1 - z) * candidate + z * h


def gate_weights(layer, gates):
    """Per-gate leaf tensors copied out of a PyTorch-layout layer (rows stacked gate by gate).

    Weights are transposed to (in, hidden) so that a step reads x @ W, as in the equations, and
    the layer's two biases are folded into one, b = b_ih + b_hh.
    """
    H = layer.hidden_size
    w_ih, w_hh = layer.weight_ih_l0.numpy(), layer.weight_hh_l0.numpy()
    b_ih, b_hh = layer.bias_ih_l0.numpy(), layer.bias_hh_l0.numpy()
    params = {}
    for k, g in enumerate(gates):
        rows = slice(k * H, (k + 1) * H)
        params[f"W_{g}"] = w_ih[rows].T.copy()
        params[f"U_{g}"] = w_hh[rows].T.copy()
        params[f"b_{g}"] = b_ih[rows] + b_hh[rows]
    return {name: ts.tensor(a, requires_grad=True) for name, a in params.items()}


def compare(name, layer, gates, step, x, weights, n_states):
    """Run our unrolled cell and the layer on x, backward the same loss, compare everything."""
    own = gate_weights(layer, gates)
    T, B, _ = x.shape
    states = [ts.zeros(B, layer.hidden_size) for _ in range(n_states)]
    outputs = []
    for t in range(T):
        states = step(x[t], *states, own)
        states = states if isinstance(states, tuple) else (states,)
        outputs.append(states[0])
    own_out = ts.stack(outputs)
    (own_out * weights).sum().backward()

    out, _ = layer(x)
    (out * weights).sum().backward()

    H = layer.hidden_size
    worst = float(np.abs(own_out.numpy() - out.numpy()).max())
    print(f"{name}: outputs (T={T}, B={B}, H={H}) differ by at most {worst:.1e}")
    for k, g in enumerate(gates):
        rows = slice(k * H, (k + 1) * H)
        pairs = [(f"W_{g}", own[f"W_{g}"].grad.numpy().T, layer.weight_ih_l0.grad.numpy()[rows]),
                 (f"U_{g}", own[f"U_{g}"].grad.numpy().T, layer.weight_hh_l0.grad.numpy()[rows]),
                 # a folded bias b = b_ih + b_hh gets the gradient of each of them
                 (f"b_{g}", own[f"b_{g}"].grad.numpy(), layer.bias_ih_l0.grad.numpy()[rows])]
        for pname, ours, theirs in pairs:
            diff = float(np.abs(ours - theirs).max())
            worst = max(worst, diff)
            print(f"  dL/d{pname:<4} from rows {rows.start}:{rows.stop} of the layer's weights: "
                  f"max difference {diff:.1e}")
    assert worst < 1e-5, f"{name} disagrees with the layer by {worst}"
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=20)
    args = parser.parse_args()

    ts.manual_seed(0)
    rng = np.random.default_rng(0)
    T, B, I, H = args.seq_len, 3, 4, 5
    x = ts.tensor(rng.standard_normal((T, B, I)).astype(np.float32))
    weights = ts.tensor(rng.standard_normal((T, B, H)).astype(np.float32))  # loss = sum(out * w)

    compare("LSTM", nn.LSTM(I, H), "ifco", lstm_step, x, weights, n_states=2)
    print("our LSTM cell and its gradients match nn.LSTM\n")
    compare("GRU", nn.GRU(I, H, reset_after=False), "rzh", gru_step, x, weights, n_states=1)
    print("our GRU cell (Cho et al. 2014) and its gradients match nn.GRU(reset_after=False)")


if __name__ == "__main__":
    main()
