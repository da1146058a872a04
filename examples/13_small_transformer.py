"""A small Transformer: an encoder-decoder of nn.Transformer layers, reversing sequences.

What it teaches: a Transformer has no recurrent chain at all. Each layer is self-attention
(every position reads every other in one hop) and a position-wise feed-forward network, each
inside a residual connection with a layer norm. Attention alone does not know the order of the
positions, so sinusoidal position encodings are added to the embeddings (Vaswani et al. 2017).
The decoder reads its own previous outputs through a causal mask: position t may attend to
positions <= t only, so training can feed the whole target at once (teacher forcing) and still
never let a step see the symbol it must predict. The example checks that: changing a later
target symbol changes no earlier prediction.

    python examples/13_small_transformer.py [--length T] [--steps N]
"""
import argparse

import numpy as np

import tinygrad_seq as ts
import tinygrad_seq.nn.functional as F
from tinygrad_seq import data, nn, optim, training

V = 12          # PAD, BOS and the symbols 0 .. 9


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--length", type=int, default=8)
    p.add_argument("--steps", type=int, default=1000)
    args = p.parse_args()
    print("the causal mask for 4 target steps (added to the scores; -inf: may not attend):")
    print(nn.Transformer.generate_square_subsequent_mask(4).numpy())

    ts.manual_seed(0)
    # d_model 52, 4 heads, one encoder and one decoder layer, feed-forward 104: ~58,000 parameters
    model = nn.TransformerSeq2Seq(V, V, 52, 4, 1, 104, max_len=args.length + 1)
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters")
    opt = optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(args.steps):
        src, tgt = data.reverse_sequence(32, int(rng.integers(1, args.length + 1)), rng)
        batch = training.Seq2SeqBatch(src, tgt)
        logits, _ = model(batch.src, batch.tgt_in)          # the whole target at once
        loss = F.cross_entropy(logits.reshape(-1, V), ts.Tensor(tgt).reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    print(f"after {args.steps} steps: training loss {loss.item():.3f}")

    with ts.no_grad():
        src, tgt = data.reverse_sequence(1, args.length, np.random.default_rng(1))
        batch = training.Seq2SeqBatch(src, tgt)
        before, _ = model(batch.src, batch.tgt_in)
        changed = batch.tgt_in.numpy().copy()
        changed[-1] = 2 + (changed[-1] - 1) % 10                     # another symbol at the end
        after, _ = model(batch.src, ts.Tensor(changed))
        moved = np.abs(after.numpy() - before.numpy()).max(axis=(1, 2))
        print(f"changing the last target input moves the predictions at steps 0-{args.length - 2} "
              f"by {moved[:-1].max():.1e}, at step {args.length - 1} by {moved[-1]:.1e}")

        lengths = sorted({max(1, round(args.length * k / 4)) for k in range(1, 5)})
        scores = []
        for n in lengths:
            src, tgt = data.reverse_sequence(200, n, np.random.default_rng(10_000 + n))
            tokens, _ = model.greedy(ts.Tensor(src), n, data.BOS)
            scores.append((tokens.numpy() == tgt).all(axis=0).mean())
    print("held-out sequence accuracy at length " + ", ".join(
        f"{n}: {s:.1%}" for n, s in zip(lengths, scores)))


if __name__ == "__main__":
    main()
