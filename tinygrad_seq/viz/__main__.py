"""Draw an RNN, LSTM or GRU unrolled through time, with its gradient flow.

    python -m tinygrad_seq.viz --cell lstm --steps 5 --view cell --out lstm.svg

Builds a small layer, runs a sequence through it, takes a loss on the last output, runs
backward and saves the picture (the format follows the extension: .svg, .png, .pdf, .dot).
"""
import argparse
import sys

import numpy as np

import tinygrad_seq as ts
from tinygrad_seq import nn

from . import VIEWS, draw, save


def build_parser(prog="python -m tinygrad_seq.viz"):
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="lstm")
    parser.add_argument("--steps", type=int, default=4, help="time steps to unroll")
    parser.add_argument("--hidden", type=int, default=8)
    parser.add_argument("--input-size", type=int, default=2)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--view", choices=VIEWS, default=None,
                        help="default: op, or cell when the op view has more than --max-nodes")
    parser.add_argument("--no-backward", action="store_true", help="draw before backward")
    parser.add_argument("--max-nodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="graph.svg", help="output file (.svg .png .pdf .dot)")
    return parser


def model_loss(cell, steps, hidden, input_size=2, layers=1, bidirectional=False, seed=0):
    """A small recurrent layer on random data and a loss on its last output."""
    if steps < 1 or hidden < 1 or layers < 1:
        raise ValueError("steps, hidden and layers must be positive")
    ts.manual_seed(seed)
    layer_cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = layer_cls(input_size, hidden, num_layers=layers,
                                 bidirectional=bidirectional)
            self.head = nn.Linear(hidden * (2 if bidirectional else 1), 1)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out[-1])

    model = Model()
    x = ts.Tensor(np.random.default_rng(seed).standard_normal((steps, 2, input_size)),
                  dtype=ts.float32)
    return (model(x) ** 2).mean()


def main(argv=None, prog="python -m tinygrad_seq.viz"):
    args = build_parser(prog).parse_args(argv)
    try:
        loss = model_loss(args.cell, args.steps, args.hidden, args.input_size, args.layers,
                          args.bidirectional, args.seed)
        if not args.no_backward:
            loss.backward()
        graph = draw(loss, view=args.view, max_nodes=args.max_nodes,
                     title=f"{args.cell.upper()}, {args.steps} steps")
        print(f"wrote {save(graph, args.out)}")
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
