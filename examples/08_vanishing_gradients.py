"""Vanishing gradients: a tanh RNN against an LSTM and a GRU on the adding problem.

What it teaches: the seed tutorial's recursion dL/dh_t = dL/dh_{t+1} * dh_{t+1}/dh_t multiplies
one Jacobian per step. For a tanh RNN each factor is diag(1 - h^2) W_hh, usually smaller than 1,
so the gradient reaching early steps shrinks geometrically: the first marked number of the
adding problem sends the loss almost no gradient, and the network cannot learn to remember it.
The LSTM's cell state (c_t = f * c_{t-1} + ..., a forget gate near 1) and the GRU's
interpolation (h_t = z * h_{t-1} + ...) give the gradient a path that is multiplied by gates
instead of by W_hh: it shrinks much more slowly. Gradient clipping (clip_grad_norm_) treats the
opposite problem, exploding gradients; it cannot bring back a gradient that vanished.

The example measures ||dL/dh_t|| for every step (`h.retain_grad()` keeps the gradient of a
non-leaf tensor), trains each model briefly, measures again, and draws each unrolled graph with
`viz.draw(loss, view="cell")`: steps coloured by the gradient reaching them.

The adding problem (data.adding_problem): answering 1 always scores MSE 0.167; only a model that
carries the first marked value across the sequence does better. The training here is brief:
the tanh RNN stays at the baseline; which gated model leaves it first within a few hundred
steps depends on the seed and the learning rate (try --steps 1000, or --lr 0.03).

    python examples/08_vanishing_gradients.py [--length T] [--steps N] [--out DIR] [--quick]
"""
import argparse
import os

import numpy as np

import tinygrad_seq as ts
import tinygrad_seq.nn.functional as F
from tinygrad_seq import data, nn, optim, viz

CELLS = {"rnn": ("tanh RNN", nn.RNNCell), "lstm": ("LSTM", nn.LSTMCell),
         "gru": ("GRU", nn.GRUCell)}
BASELINE = 1 / 6     # MSE of always answering 1, the mean of the target


class Recurrent(nn.Module):
    """A cell unrolled over the sequence and a linear read-out of the last hidden state."""

    def __init__(self, kind, hidden_size):
        super().__init__()
        self.kind = kind
        self.cell = CELLS[kind][1](2, hidden_size)
        self.head = nn.Linear(hidden_size, 1)
        if kind == "lstm":   # forget gate bias 1: start by remembering (Jozefowicz et al. 2015)
            H = hidden_size
            with ts.no_grad():   # changing parameters in place is not for the tape
                self.cell.bias_ih[H:2 * H], self.cell.bias_hh[H:2 * H] = 1.0, 0.0

    def forward(self, x):
        """x (T, batch, 2) -> prediction (batch, 1) and the hidden states h_t, one per step."""
        state, hidden_states = None, []
        for t in range(x.shape[0]):
            with ts.scope(self.kind, step=t):      # the step tag groups ops in the pictures
                state = self.cell(x[t], state)
            h = state[0] if isinstance(state, tuple) else state
            h.retain_grad()                        # keep dL/dh_t after backward
            hidden_states.append(h)
        return self.head(h), hidden_states


def gradient_flow(model, x, y):
    """The loss on one batch and ||dL/dh_t|| for every step t."""
    model.zero_grad()
    prediction, hidden_states = model(x)
    loss = F.mse_loss(prediction, y)
    loss.backward()
    return loss, np.array([np.linalg.norm(h.grad.numpy()) for h in hidden_states])


def print_flow(title, flows):
    T = len(next(iter(flows.values())))
    steps = sorted({0, T // 4, T // 2, 3 * T // 4, T - 1})
    print(f"{title}\n  ||dL/dh_t|| at step t " + "".join(f"{t:>10d}" for t in steps)
          + "   first / last")
    for kind, norms in flows.items():
        print(f"  {CELLS[kind][0]:<22}" + "".join(f"{norms[t]:10.1e}" for t in steps)
              + f"   {norms[0] / norms[-1]:.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=40, help="sequence length T")
    parser.add_argument("--steps", type=int, default=300, help="training steps per model")
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--out", default="out/vanishing", help="folder for the pictures")
    parser.add_argument("--quick", action="store_true", help="T=20 and 20 steps: a few seconds")
    args = parser.parse_args()
    if args.quick:
        args.length, args.steps = 20, 20
    os.makedirs(args.out, exist_ok=True)

    ts.manual_seed(0)
    rng = np.random.default_rng(0)
    models = {kind: Recurrent(kind, args.hidden_size) for kind in CELLS}
    x, y = (ts.tensor(a) for a in data.adding_problem(args.batch_size, args.length, rng))
    print_flow(f"adding problem, T = {args.length}: gradient flow at initialisation",
               {kind: gradient_flow(m, x, y)[1] for kind, m in models.items()})

    print(f"\ntraining each model for {args.steps} steps (Adam, lr {args.lr}, gradient norm "
          f"clipped to 1); baseline MSE {BASELINE:.3f}")
    for kind, model in models.items():
        optimizer = optim.Adam(model.parameters(), lr=args.lr)
        recent = []
        for step in range(args.steps):
            batch = (ts.tensor(a) for a in data.adding_problem(args.batch_size, args.length, rng))
            loss, _ = gradient_flow(model, *batch)
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            recent = (recent + [loss.item()])[-20:]
        mse = float(np.mean(recent))
        verdict = "learned to remember" if mse < BASELINE / 2 else "no better than the baseline"
        print(f"  {CELLS[kind][0]:<9} MSE over the last 20 steps {mse:.4f}: {verdict}")

    flows = {}
    for kind, model in models.items():
        loss, flows[kind] = gradient_flow(model, x, y)
        title = f"{CELLS[kind][0]}, adding problem, T = {args.length}, after training"
        viz.save(viz.draw(loss, view="cell", title=title),
                 os.path.join(args.out, f"{kind}_cells.svg"))
    print()
    print_flow("gradient flow after training", flows)
    print(f"\npictures in {args.out}: one box per time step, coloured by the gradient reaching it "
          f"(pale: vanished)")


if __name__ == "__main__":
    main()
