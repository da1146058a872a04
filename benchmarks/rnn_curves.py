"""Loss curves of the fused and the composed layers from the same seed: they must agree to
float32 noise.

    seed    1,000 sequences of 50 uniform numbers labelled by mean > 0.5
            (data.sequence_classification), hidden 64, linear head, full batch, Adam lr 3e-3
    charlm  next-character prediction on data.load_corpus() (Python's documentation topics),
            one-hot input, batch 32, 64 steps, hidden 256, Adam lr 3e-3

    python benchmarks/rnn_curves.py [--steps 30]
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


def curve(cell, batches, input_size, classes, hidden, fused):
    ts.manual_seed(0)
    rnn, head = getattr(nn, cell)(input_size, hidden, fused=fused), nn.Linear(hidden, classes)
    opt = ts.optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=3e-3)
    losses = []
    for x, y in batches:
        opt.zero_grad()
        out, _ = rnn(ts.Tensor(x))
        feats = out[-1] if y.shape[0] == x.shape[1] else out.reshape(-1, hidden)
        loss = ts.cross_entropy(head(feats), ts.Tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    print("| workload | cell | composed: first, middle, last loss | fused: first, middle, last "
          "loss | max relative difference |")
    print("|---|---|---|---|---|")
    for workload, make, hidden in (("seed", seed_batches, 64), ("charlm", charlm_batches, 256)):
        batches, input_size, classes = make(args.steps)
        for cell in ("LSTM", "GRU", "RNN"):
            composed, fused = (curve(cell, batches, input_size, classes, hidden, f)
                               for f in (False, True))
            pick = lambda c: ", ".join(f"{c[i]:.5f}" for i in (0, len(c) // 2, -1))  # noqa: E731
            diff = np.max(np.abs(fused - composed) / np.abs(composed))
            print(f"| {workload} | {cell} | {pick(composed)} | {pick(fused)} | {diff:.1e} |",
                  flush=True)


if __name__ == "__main__":
    main()
