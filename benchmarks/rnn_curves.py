"""Loss curves of the fused and the composed layers from the same seed: they must agree to
float32 noise.

The noise is measured, not assumed: the same composed model trained in float64 (the same
initial draws, before their rounding to float32) is the exact curve; how far each float32 path
sits from it is float32's noise on that path. Fused and composed should differ by no more than
that noise (the float32 kernels' tanh approximation, within a few units in the last place,
is part of it).

    seed    1,000 sequences of 50 uniform numbers labelled by mean > 0.5
            (data.sequence_classification), hidden 64, linear head, full batch, Adam lr 3e-3
    charlm  next-character prediction on data.load_corpus() (Python's documentation topics),
            one-hot input, batch 32, 64 steps, hidden 256, Adam lr 3e-3

    python benchmarks/rnn_curves.py [--steps 30] [--workload seed charlm] [--cell LSTM GRU RNN]
"""
import argparse

import numpy as np

import tinygrad_seq as ts
from tinygrad_seq import data, nn


def seed_batches(steps):
    x, y = data.sequence_classification(1000, 50, np.random.default_rng(0))
    return [(x, y)] * steps, 1, 2


def charlm_batches(steps):
    text = data.load_corpus()
    vocab = data.Vocab.from_text(text)
    ids, rng = vocab.encode(text), np.random.default_rng(0)
    eye = np.eye(len(vocab), dtype=np.float32)
    batches = []
    for _ in range(steps):
        inputs, targets = data.char_batches(ids, 32, 64, rng)
        batches.append((eye[inputs], targets.reshape(-1)))
    return batches, len(vocab), len(vocab)


WORKLOADS = {"seed": (seed_batches, 64), "charlm": (charlm_batches, 256)}   # batches, hidden
CELLS = ("LSTM", "GRU", "RNN")


def curve(cell, batches, input_size, classes, hidden, fused, dtype="float32"):
    ts.manual_seed(0)
    rnn = getattr(nn, cell)(input_size, hidden, fused=fused, dtype=dtype)
    head = nn.Linear(hidden, classes, dtype=dtype)
    opt = ts.optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=3e-3)
    losses = []
    for x, y in batches:
        opt.zero_grad()
        out, _ = rnn(ts.Tensor(x.astype(dtype)))
        feats = out[-1] if y.shape[0] == x.shape[1] else out.reshape(-1, hidden)
        loss = ts.cross_entropy(head(feats), ts.Tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--workload", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--cell", nargs="+", choices=CELLS, default=list(CELLS))
    args = parser.parse_args()
    print("| workload | cell | composed: first, middle, last loss | fused: first, middle, last "
          "loss | max relative difference: fused vs composed | composed vs float64 | fused vs "
          "float64 |")
    print("|---|---|---|---|---|---|---|")
    for workload in args.workload:
        make, hidden = WORKLOADS[workload]
        batches, input_size, classes = make(args.steps)
        for cell in args.cell:
            composed, fused, composed64 = (
                curve(cell, batches, input_size, classes, hidden, f, dtype)
                for f, dtype in ((False, "float32"), (True, "float32"), (False, "float64")))
            pick = lambda c: ", ".join(f"{c[i]:.5f}" for i in (0, len(c) // 2, -1))  # noqa: E731
            diff = lambda a, b: np.max(np.abs(a - b) / np.abs(b))  # noqa: E731
            print(f"| {workload} | {cell} | {pick(composed)} | {pick(fused)} | "
                  f"{diff(fused, composed):.1e} | {diff(composed, composed64):.1e} | "
                  f"{diff(fused, composed64):.1e} |", flush=True)


if __name__ == "__main__":
    main()
