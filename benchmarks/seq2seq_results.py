"""The README's sequence-to-sequence results table, from the command line: each model trained
by `tinygrad-seq train` with one budget (steps, batch 32, Adam 3e-3, clipping 1.0, seed 0),
then held-out sequence accuracy (every symbol right, greedy decoding) by length, and with
--torch the same training done by PyTorch (benchmarks/seq2seq_torch.py: same models, initial
weights, batches and held-out sets) for the rows named.

    python benchmarks/seq2seq_results.py                       # the whole table (~40 minutes)
    python benchmarks/seq2seq_results.py --task reverse --steps 300     # a quick look
    python benchmarks/seq2seq_results.py --torch reverse:seq2seq-attention

Sizes are matched (about 60,000 parameters each): seq2seq hidden 84, seq2seq-attention 64 (its
decoder also reads a context vector), transformer d_model 52 (one encoder and one decoder
layer, 4 heads, feed-forward 104). Each run is its own process, one after the other.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

from common import machine

HERE = os.path.dirname(os.path.abspath(__file__))
SEQ_LEN = {"reverse": 16, "dates": 3}
HIDDEN = {"seq2seq": 84, "seq2seq-attention": 64, "transformer": 52}
MODELS = tuple(HIDDEN)


def held_out(stdout):
    line = next(line for line in stdout.splitlines() if line.startswith("held-out: "))
    return {k.strip(): float(v) for k, v in re.findall(r"([a-z ]+?[a-z0-9]*) ([0-9.]+)(?:,|$)",
                                                         line[len("held-out: "):])}


def parameters(task, model):
    from tinygrad_seq import training
    config = dict(task=task, cell="gru", model=model, hidden=HIDDEN[model], layers=1,
                  seq_len=SEQ_LEN[task], batch=32, lr=3e-3, clip=1.0, embedding=32, seed=0,
                  tbptt=0)
    _, net, _ = training.build(config)
    return sum(p.numel() for p in net.parameters())


def run(command):
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=HERE)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return held_out(done.stdout), time.perf_counter() - start


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--task", choices=tuple(SEQ_LEN), action="append")
    p.add_argument("--model", choices=MODELS, action="append")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--torch", action="append", default=[], metavar="TASK:MODEL",
                   help="also train this row with PyTorch")
    args = p.parse_args()
    rows = []
    for task in args.task or SEQ_LEN:
        for model in args.model or MODELS:
            common = ["--task", task, "--model", model, "--seq-len", str(SEQ_LEN[task]),
                      "--hidden", str(HIDDEN[model]), "--steps", str(args.steps), "--seed", "0"]
            with tempfile.TemporaryDirectory() as out:
                scores, seconds = run([sys.executable, "-m", "tinygrad_seq", "train", *common,
                                       "--batch", "32", "--lr", "3e-3", "--clip", "1.0",
                                       "--out", out])
            rows.append((task, model, "tinygrad_seq", parameters(task, model), scores, seconds))
            print(rows[-1], flush=True)
            if f"{task}:{model}" in args.torch:
                scores, seconds = run([sys.executable, os.path.join(HERE, "seq2seq_torch.py"),
                                       *common[:-2]])
                rows.append((task, model, "PyTorch", rows[-1][3], scores, seconds))
                print(rows[-1], flush=True)
    print(f"\n{machine()}; {args.steps} steps of batch 32 each\n")
    for task in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in rows if r[0] == task]
        lengths = [k for k in mine[0][4] if k.startswith("sequence accuracy at")]
        print("| model | trained by | parameters | " + " | ".join(
            k.removeprefix("sequence accuracy at ") for k in lengths) + " | all | time |")
        print("|---" * (len(lengths) + 5) + "|")
        for _, model, lib, n, scores, seconds in mine:
            print(f"| {model} | {lib} | {n:,} | " + " | ".join(
                f"{scores[k]:.1%}" for k in lengths) + f" | {scores['sequence accuracy']:.1%} | "
                f"{seconds / 60:.1f} min |")
        print()


if __name__ == "__main__":
    main()
