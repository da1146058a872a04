"""Sequence to sequence with and without attention: reversing a sequence of symbols.

What it teaches: an encoder-decoder (Sutskever et al. 2014, Cho et al. 2014) reads the input
with one GRU and writes the output with another, started from the encoder's last state; that
one vector must hold the whole input. Reversed, the first output is the last input symbol
(easy) and the last output is the first one, 2 x length steps back along the recurrent chain.
With attention (Bahdanau et al. 2015) each decoder step also reads a weighted sum of all the
encoder's states, so every input symbol is one step away.

Both models have about the same number of parameters and are trained the same way, on the same
batches (teacher forcing: the decoder reads the right previous symbol), then decode held-out
sequences greedily (each step reads its own previous guess). The gradient-path report shows
why: the gradient of the last output reaching each encoder state, through every path, through
the recurrent chain alone and through attention's one hop.

    python examples/12_seq2seq_with_and_without_attention.py [--length T] [--steps N]
"""
import argparse

import numpy as np

import tinygrad_seq as ts
import tinygrad_seq.nn.functional as F
from tinygrad_seq import data, nn, optim, training, viz

V = 12          # PAD, BOS and the symbols 0 .. 9


def train(attention, hidden, steps, length):
    ts.manual_seed(0)
    model = nn.Seq2Seq(V, V, 32, hidden, cell="gru", attention=attention)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)                 # the same batches for both models
    for _ in range(steps):
        src, tgt = data.reverse_sequence(32, int(rng.integers(1, length + 1)), rng)
        batch = training.Seq2SeqBatch(src, tgt)     # tgt_in: BOS, then tgt without its last
        logits, _ = model(batch.src, batch.tgt_in)  # teacher forcing
        loss = F.cross_entropy(logits.reshape(-1, V), ts.Tensor(tgt).reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return model


@ts.no_grad()
def accuracy(model, length):
    """Held-out sequence accuracy: every symbol of the greedy decoding right."""
    src, tgt = data.reverse_sequence(200, length, np.random.default_rng(10_000 + length))
    tokens, _ = model.greedy(ts.Tensor(src), length, data.BOS)
    return (tokens.numpy() == tgt).all(axis=0).mean()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--length", type=int, default=8)
    p.add_argument("--steps", type=int, default=1000)
    args = p.parse_args()
    lengths = sorted({max(1, round(args.length * k / 4)) for k in range(1, 5)})
    print(f"reversing 1-{args.length} symbols, {args.steps} steps of batch 32 each\n"
          f"held-out sequence accuracy at length " + "".join(f"{n:>7d}" for n in lengths))
    src, tgt = data.reverse_sequence(64, args.length, np.random.default_rng(20_000))
    batch = training.Seq2SeqBatch(src, tgt)
    reports = []
    for attention, hidden in ((None, 84), ("additive", 64)):     # ~60,000 parameters each
        model = train(attention, hidden, args.steps, args.length)
        name = "with attention" if attention else "without attention"
        print(f"  {name:<34}" + "".join(f"{accuracy(model, n):7.1%}" for n in lengths))
        reports.append(viz.gradient_paths(model, batch.src, batch.tgt_in, ts.Tensor(tgt),
                                          name=name))
    for report in reports:
        print(f"\n{report}")


if __name__ == "__main__":
    main()
