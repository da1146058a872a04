"""Render time of an LSTM unrolled 100 steps, at op level and at cell level.

Median of repeated runs of draw() (building the DOT from the tape) and of rendering it to SVG
with Graphviz's dot, for the composed LSTM (one node per op) and the fused one (one node per
layer, expanded into cells in the cell view).

    python benchmarks/render.py [--steps 100] [--repeat 3]
"""
import argparse
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


def timed(fn, repeat):
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
    return sorted(runs)[len(runs) // 2], result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"{'LSTM, ' + str(args.steps) + ' steps':<28}{'nodes':>7}{'draw s':>9}{'dot->svg s':>12}")
    for fused, view in ((False, "op"), (False, "cell"), (True, "cell"), (True, "op")):
        loss = loss_for(args.steps, fused)
        draw_s, graph = timed(lambda: viz.draw(loss, view=view, max_nodes=None), args.repeat)
        render_s, _ = timed(lambda: graph.pipe(format="svg"), args.repeat)
        nodes = sum(1 for line in graph.source.splitlines() if "[label=" in line)
        name = f"{'fused' if fused else 'composed'}, {view} view"
        print(f"{name:<28}{nodes:>7}{draw_s:>9.3f}{render_s:>12.2f}")


if __name__ == "__main__":
    main()
