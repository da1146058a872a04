"""A character-level language model on the Python documentation, then text sampled from it.

What it teaches: the whole pipeline of a real sequence model. Text becomes ids through a
character vocabulary (data.Vocab; characters it has never seen map to an unknown symbol instead
of crashing); random windows of the corpus are the batches, each target the next character;
Embedding -> LSTM -> Linear gives a distribution over the next character at every step, trained
with cross-entropy; the held-out loss is measured on the last 10% of the text, which training
never reads. The vocabulary is saved with the checkpoint, since the model's ids mean nothing
without it; the reloaded model samples the same text. Sampling feeds the model one character at
a time, carrying its state (h, c) forward.

Losses are in nats per character; divide by ln 2 for bits. Two baselines: guessing uniformly
among the vocabulary (ln |V|) and the unigram model (character frequencies, no context).

The corpus is the standard library's documentation topics (data.load_corpus(), ~465,000
characters, no download); pass --text FILE for your own UTF-8 text.

    python examples/09_char_language_model.py [--steps N] [--text FILE] [--out DIR] [--quick]

About 20 s on two idle cores. On a busy machine, `OPENBLAS_NUM_THREADS=1 python ...` can be
several times faster: a recurrent network makes many small matrix products, and between them
idle BLAS threads spin, competing with whatever else runs (90 s against 12 s, measured here).
"""
import argparse
import math
import os

import numpy as np

import tinygrad_seq as ts
import tinygrad_seq.nn.functional as F
from tinygrad_seq import data, nn, optim


class CharLM(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
        """ids (T, batch) int64 -> logits (T, batch, vocab_size) and the final (h, c)."""
        output, state = self.lstm(self.embedding(ids), state)
        return self.head(output), state


def loss_on(model, inputs, targets):
    logits, _ = model(ts.tensor(inputs))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ts.tensor(targets.reshape(-1)))


@ts.no_grad()
def sample(model, vocab, prompt, length, temperature, rng):
    """Continue `prompt` by `length` characters drawn from the model's softmax / temperature."""
    ids = vocab.encode(prompt)
    logits, state = model(ts.tensor(ids[:, None]))          # read the prompt, (T, 1)
    out = []
    for _ in range(length):
        p = (logits[-1, 0] / temperature).softmax(-1).numpy().astype(np.float64)
        next_id = int(rng.choice(len(p), p=p / p.sum()))
        out.append(next_id)
        logits, state = model(ts.tensor([[next_id]]), state)
    return prompt + vocab.decode(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", help="a UTF-8 text file (default: the Python docs topics)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.005)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--out", default="out/char_lm", help="folder for the checkpoint")
    parser.add_argument("--quick", action="store_true", help="a tiny model, a few steps")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.hidden_size, args.seq_len = 5, 32, 16
    os.makedirs(args.out, exist_ok=True)

    ts.manual_seed(0)
    rng = np.random.default_rng(0)
    text = data.load_corpus(args.text)
    vocab = data.Vocab.from_text(text)
    train, held_out = data.split_corpus(vocab.encode(text))
    counts = np.bincount(train, minlength=len(vocab))[1:]
    freq = counts[counts > 0] / counts.sum()
    print(f"corpus: {len(text):,} characters, vocabulary of {len(vocab)} symbols "
          f"(id 0: unknown); {len(train):,} for training, {len(held_out):,} held out")
    print(f"baselines: uniform {math.log(len(vocab)):.2f} nats/char, unigram "
          f"{-(freq * np.log(freq)).sum():.2f}\n")

    model = CharLM(len(vocab), 32, args.hidden_size)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    held_batch = data.char_batches(held_out, 64, args.seq_len, np.random.default_rng(1))
    report = max(1, args.steps // 6)
    for step in range(1, args.steps + 1):
        optimizer.zero_grad()
        loss = loss_on(model, *data.char_batches(train, args.batch_size, args.seq_len, rng))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % report == 0 or step == args.steps:
            with ts.no_grad():
                held = loss_on(model, *held_batch).item()
            print(f"step {step:4d}  training loss {loss.item():.3f}  held-out loss {held:.3f} "
                  f"({held / math.log(2):.2f} bits/char)")

    prompt = "The λ function "           # λ is not in the corpus: it encodes to the unknown id
    print(f"\nthe prompt {prompt!r} encodes to {vocab.encode(prompt).tolist()}")
    text_out = sample(model, vocab, prompt, 200, args.temperature, np.random.default_rng(2))
    print(f"sample at temperature {args.temperature}:\n{text_out}\n")

    path = os.path.join(args.out, "char_lm.npz")
    nn.utils.save(path, model, vocab=vocab.to_list(), hidden_size=args.hidden_size)
    reloaded = CharLM(len(vocab), 32, args.hidden_size)
    extra = nn.utils.load(path, reloaded)
    reloaded_vocab = data.Vocab.from_list(extra["vocab"])
    again = sample(reloaded, reloaded_vocab, prompt, 200, args.temperature,
                   np.random.default_rng(2))
    print(f"checkpoint with its vocabulary: {path}")
    print(f"sample from the reloaded model is identical: {again == text_out}")
    assert again == text_out


if __name__ == "__main__":
    main()
