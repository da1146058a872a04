"""Time to draw an unrolled LSTM: building the picture from the tape, and rendering it to SVG.

draw() builds the DOT: it reads the tape, and for pictures with time steps (the op and cell
views) runs dot once to measure the steps and the rest, then places them on a snake grid
(viz/layout.py). Rendering is graph.pipe(format="svg"): neato -n2 only draws a placed
picture, dot lays out the others. Each variant is measured in interleaved rounds (the machine
is shared: the spread is printed), for the composed LSTM (one node per op) and the fused one
(one node per layer, expanded into cells in the cell view).

    python benchmarks/render.py [--steps 100] [--rounds 5]
"""
import argparse
import statistics
import time

from common import machine

import tinygrad_seq as ts
from tinygrad_seq import nn, viz


def loss_for(steps, fused):
    ts.manual_seed(0)
    lstm, head = nn.LSTM(8, 16, fused=fused), nn.Linear(16, 1)
    out, _ = lstm(ts.randn(steps, 4, 8))
    loss = (head(out[-1]) ** 2).mean()
    loss.backward()
    return loss


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    variants = [(f"composed, op view, {args.steps} steps", args.steps, False, "op"),
                (f"composed, cell view, {args.steps} steps", args.steps, False, "cell"),
                (f"fused, cell view, {args.steps} steps", args.steps, True, "cell"),
                (f"fused, op view, {args.steps} steps", args.steps, True, "op"),
                ("composed, op view, 12 steps", 12, False, "op"),
                ("fused, cell view, 24 steps", 24, True, "cell")]
    losses = {name: loss_for(steps, fused) for name, steps, fused, _ in variants}
    times = {name: ([], []) for name, *_ in variants}
    sizes = {}
    for _ in range(args.rounds):                 # interleaved: noise hits every variant alike
        for name, _, _, view in variants:
            draw_s, graph = timed(lambda: viz.draw(losses[name], view=view, max_nodes=None))
            render_s, svg = timed(lambda: graph.pipe(format="svg"))
            times[name][0].append(draw_s)
            times[name][1].append(render_s)
            sizes[name] = sum(1 for line in graph.source.splitlines()
                              if "[" in line and " -> " not in line and "style=invis" not in line)
    print(f"{'variant':<30}{'nodes':>7}{'draw s':>9}{'(min-max)':>14}{'svg s':>8}{'(min-max)':>14}")
    for name, (draws, renders) in times.items():
        print(f"{name:<30}{sizes[name]:>7}{statistics.median(draws):>9.3f}"
              f"{f'{min(draws):.2f}-{max(draws):.2f}':>14}{statistics.median(renders):>8.2f}"
              f"{f'{min(renders):.2f}-{max(renders):.2f}':>14}")
    print("medians of", args.rounds, "interleaved rounds; draw = DOT built from the tape, steps "
          "measured by one dot run and placed; svg = rendering that DOT")


if __name__ == "__main__":
    main()
