"""Watch backpropagation happen: step through the forward and backward pass in the browser.

What it teaches: the tape is a Wengert list, one line per op, and backward is that list run in
reverse, each op's backward turning the gradient of its output into gradients for its inputs. A
tensor used twice (x below, or an RNN's weight at every step) gets one share of gradient per use,
added together: the page shows each share arriving and the norm of the sum growing, until it is
the tensor's .grad.

`ts.viz.explore` writes one HTML page that works offline in any browser: the graph (as the
pictures draw it, coloured by gradient) beside the Wengert list, and a player. Press the right
arrow to run the next op, keep pressing to run backward, space to play. A long LSTM opens as a
chain of cells: click one to see its ops.

The pages written here (each graph recorded inside `ts.Tape(record_values=True)`, which keeps
summaries of every value and gradient for the page):

    explore_wengert.html   f = tanh(x * y + x): three lines, x used twice
    explore_rnn.html       the README's example: a two-step RNN sharing one weight W
    explore_lstm.html      an LSTM unrolled over 3 steps, its cells built from primitives
    explore_lstm100.html   the same LSTM over 100 steps (the cell view; cells expand on click)

    python examples/10_explore_backprop.py [--out DIR] [--open NAME | --no-open] [--quick]
"""
import argparse
import os
import webbrowser

import numpy as np

import tinygrad_seq as ts
from tinygrad_seq import nn, viz


def wengert_graph():
    """f = tanh(x * y + x): the three-line Wengert list of the gallery. Returns f and the leaves."""
    x = ts.tensor(0.5, dtype=ts.float64, requires_grad=True)
    y = ts.tensor(-1.5, dtype=ts.float64, requires_grad=True)
    x.name, y.name = "x", "y"
    with ts.Tape(record_values=True) as tape:
        f = (x * y + x).tanh()
    f.backward()
    return f, tape, {"x": x, "y": y}


def readme_graph():
    """The README's example: h = tanh(x W + h W) for two steps, and loss = sum(h)."""
    ts.manual_seed(0)
    W = ts.randn(4, 4, dtype=ts.float64, requires_grad=True)
    W.name = "W"
    x = ts.randn(3, 4, dtype=ts.float64)
    with ts.Tape(record_values=True) as tape:
        h = ts.zeros(3, 4, dtype=ts.float64)
        for t in range(2):
            with ts.scope("rnn", step=t):
                h = (x @ W + h @ W).tanh()
        loss = h.sum()
    loss.backward()
    return loss, tape, {"W": W}


def lstm_graph(steps):
    """An LSTM (input 2, hidden 8) unrolled over `steps` steps, its cells from primitives
    (fused=False), a linear head on the last output and a squared loss, on a batch of 2."""
    ts.manual_seed(0)
    lstm = nn.LSTM(2, 8, fused=False, dtype=ts.float64)
    head = nn.Linear(8, 1, dtype=ts.float64)
    x = ts.Tensor(np.random.default_rng(0).standard_normal((steps, 2, 2)))
    with ts.Tape(record_values=True) as tape:
        out, _ = lstm(x)
        loss = (head(out[-1]) ** 2).mean()
    loss.backward()
    return loss, tape, {p.name: p for p in [*lstm.parameters(), *head.parameters()]}


PAGES = {"wengert": ("f = tanh(x * y + x)", wengert_graph),
         "rnn": ("the README's RNN: two steps sharing W", readme_graph),
         "lstm": ("an LSTM from primitives, 3 steps", lambda: lstm_graph(3)),
         "lstm100": ("an LSTM from primitives, 100 steps", lambda: lstm_graph(100))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/explore", help="folder for the pages")
    parser.add_argument("--open", choices=sorted(PAGES), default="lstm",
                        help="the page to open in the browser (default: lstm)")
    parser.add_argument("--no-open", action="store_true", help="write the pages only")
    parser.add_argument("--quick", action="store_true", help="skip the 100-step page")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, (title, make) in PAGES.items():
        if args.quick and name == "lstm100":
            continue
        output, tape, _ = make()
        page = viz.explore(output, os.path.join(args.out, f"explore_{name}.html"), title=title)
        print(f"{page.path}: {page.ops} ops ({len(tape)} lines on the tape), {page.view} view, "
              f"{len(page.html.encode()) / 1e6:.2f} MB")
    print("each page is one file with everything inline: open it in any browser, offline")
    chosen = os.path.abspath(os.path.join(args.out, f"explore_{args.open}.html"))
    if not args.no_open and os.path.exists(chosen):
        webbrowser.open("file://" + chosen)


if __name__ == "__main__":
    main()
