"""The CLI's sequence-to-sequence training, done by PyTorch: the same models (module for
module, parameter names equal), the same initial weights (copied from tinygrad_seq's model
built from the same seed), the same batches in the same order, Adam with the same settings,
the same clipping and the same held-out sets, decoded greedily. Prints the held-out scores as
`tinygrad-seq train` does.

    python benchmarks/seq2seq_torch.py --task reverse --model seq2seq-attention --seq-len 16 \\
        --hidden 64 --steps 3000

Needs PyTorch (`.venv/bin/pip install torch==2.13.0`). PyTorch runs on one thread here: these
models' ops are tiny, and on a shared 2-core machine its two threads spun against each other
and the other processes (100 steps took 100 s on two threads, 3 s on one, at a load of 5).
The time is not what this script measures (benchmarks/attention.py is, on both libraries'
defaults).
"""
import argparse
import time

import numpy as np
import torch
from torch import nn

from tinygrad_seq import data, training


class Additive(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.query_proj = nn.Linear(size, size, bias=False)
        self.key_proj = nn.Linear(size, size)
        self.score = nn.Linear(size, 1, bias=False)

    def forward(self, query, keys, key_padding_mask):
        scores = self.score(torch.tanh(self.query_proj(query).unsqueeze(1)
                                       + self.key_proj(keys))).squeeze(-1)
        if key_padding_mask is not None:
            scores = scores.masked_fill(key_padding_mask, float("-inf"))
        weights = scores.softmax(-1)
        return (weights.unsqueeze(1) @ keys).squeeze(1)


class Seq2Seq(nn.Module):
    """tinygrad_seq.nn.Seq2Seq with a GRU, in PyTorch."""

    def __init__(self, V, E, H, attention):
        super().__init__()
        context = H if attention else 0
        self.src_embed, self.tgt_embed = nn.Embedding(V, E), nn.Embedding(V, E)
        self.encoder = nn.GRU(E, H)
        self.decoder = nn.GRUCell(E + context, H)
        self.attention = Additive(H) if attention else None
        self.out = nn.Linear(H + context, V)

    def step(self, y_prev, h, keys, mask):
        x = self.tgt_embed(y_prev)
        if self.attention is not None:
            context = self.attention(h, keys, mask)
            x = torch.cat([x, context], -1)
        h = self.decoder(x, h)
        return self.out(h if self.attention is None else torch.cat([h, context], -1)), h

    def forward(self, src, tgt_in, mask):
        memory, h = self.encoder(self.src_embed(src))
        h, keys, logits = h[0], memory.transpose(0, 1), []
        for t in range(tgt_in.shape[0]):
            logit, h = self.step(tgt_in[t], h, keys, mask)
            logits.append(logit)
        return torch.stack(logits)

    def greedy(self, src, steps, mask):
        memory, h = self.encoder(self.src_embed(src))
        h, keys = h[0], memory.transpose(0, 1)
        y, tokens = torch.full((src.shape[1],), data.BOS), []
        for _ in range(steps):
            logit, h = self.step(y, h, keys, mask)
            y = logit.argmax(-1)
            tokens.append(y)
        return torch.stack(tokens)


class Positions(nn.Module):
    def __init__(self, pe):
        super().__init__()
        self.register_buffer("pe", torch.tensor(pe))

    def forward(self, x):
        return x + self.pe[:x.shape[0]].unsqueeze(1)


class TransformerSeq2Seq(nn.Module):
    """tinygrad_seq.nn.TransformerSeq2Seq in PyTorch."""

    def __init__(self, V, d, layers, pe):
        super().__init__()
        self.d = d
        self.src_embed, self.tgt_embed = nn.Embedding(V, d), nn.Embedding(V, d)
        self.positions = Positions(pe)
        self.transformer = nn.Transformer(d, training.TRANSFORMER_HEADS, layers, layers, 2 * d,
                                          0.0)
        self.out = nn.Linear(d, V)

    def encode(self, src, mask):
        return self.transformer.encoder(self.positions(self.src_embed(src)),
                                        src_key_padding_mask=mask)

    def decode(self, tgt_in, memory, mask):
        causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[0])
        return self.out(self.transformer.decoder(
            self.positions(self.tgt_embed(tgt_in)), memory, tgt_mask=causal,
            tgt_is_causal=True, memory_key_padding_mask=mask))

    def forward(self, src, tgt_in, mask):
        return self.decode(tgt_in, self.encode(src, mask), mask)

    def greedy(self, src, steps, mask):
        memory = self.encode(src, mask)
        prefix = torch.full((1, src.shape[1]), data.BOS)
        for _ in range(steps):
            nxt = self.decode(prefix, memory, mask)[-1].argmax(-1)
            prefix = torch.cat([prefix, nxt.unsqueeze(0)])
        return prefix[1:]


class Net(nn.Module):
    """The `net.` prefix of training.Seq2SeqModel's parameter names."""

    def __init__(self, inner):
        super().__init__()
        self.net = inner


def twin(config, ours):
    """The PyTorch twin of `ours` (training.build(config)'s model), with its weights."""
    V = config["symbols"]
    if config["model"] == "transformer":
        inner = TransformerSeq2Seq(V, config["hidden"], config["layers"],
                                   ours.net.positions.pe.numpy())
    else:
        inner = Seq2Seq(V, config["embedding"], config["hidden"],
                        config["model"] == "seq2seq-attention")
    model = Net(inner)
    model.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()},
                          strict=True)
    return model


def as_torch(batch):
    mask = None if batch.mask is None else torch.tensor(batch.mask.numpy())
    return torch.tensor(batch.src.numpy()), torch.tensor(batch.tgt_in.numpy()), mask


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--task", choices=training.SEQ2SEQ_TASKS, default="reverse")
    p.add_argument("--model", choices=training.MODELS, default="seq2seq-attention")
    p.add_argument("--seq-len", type=int, default=16)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    config = dict(task=args.task, cell="gru", model=args.model, hidden=args.hidden,
                  layers=args.layers, seq_len=args.seq_len, batch=32, lr=3e-3, clip=1.0,
                  embedding=32, seed=args.seed, tbptt=0)
    training.check_config(config)
    task, ours, _ = training.build(config)
    model, V = twin(config, ours), config["symbols"]
    opt = torch.optim.Adam(model.parameters(), lr=config["lr"])
    rng = np.random.default_rng(config["seed"])
    start = time.perf_counter()
    for step in range(args.steps):
        batch, y = task.batch(rng, config)
        src, tgt_in, mask = as_torch(batch)
        opt.zero_grad()
        logits = model.net(src, tgt_in, mask)
        loss = nn.functional.cross_entropy(logits.reshape(-1, V),
                                           torch.tensor(y.numpy()).reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config["clip"])
        opt.step()
    seconds = time.perf_counter() - start
    model.eval()
    scores, right = {}, []
    with torch.no_grad():
        for length in task.eval_lengths(config["seq_len"]):
            src_np, tgt = task.make(task.held_out_per_length, length,
                                    np.random.default_rng(config["seed"] + 10_000 + length))
            src, _, mask = as_torch(training.Seq2SeqBatch(src_np, tgt))
            correct = (model.net.greedy(src, tgt.shape[0], mask).numpy() == tgt).all(axis=0)
            right.append(correct)
            scores[f"sequence accuracy at {task.unit} {length}"] = float(correct.mean())
    scores = {"sequence accuracy": float(np.concatenate(right).mean()), **scores}
    print(f"step {args.steps}: training cross-entropy: loss {loss.item():.4f} ({seconds:.0f} s, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads)")
    print("held-out: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
