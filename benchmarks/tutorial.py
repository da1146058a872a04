"""Tutorial-scale programs beside PyTorch CPU: many ops on small tensors, where the cost of each
op's bookkeeping, not its arithmetic, decides the speed.

    names   PyTorch's character-level RNN name classifier ("NLP From Scratch"): an RNN cell
            from two nn.Linear on torch.cat((input, hidden), 1), batch 1, a one-hot letter
            (57) per step, hidden 128, 18 classes, LogSoftmax + NLLLoss, a backward per name
            and the tutorial's manual SGD (p.data.add_(p.grad.data, alpha=-lr)); time per name
            of 7 letters
    poly    "Learning PyTorch with Examples": y = a + b x + c x^2 + d x^3 fitted to sin(x) at
            2,000 points with pow and manual SGD on four 0-d tensors; time per iteration

The same code runs on both libraries (`lib` is tinygrad_seq or torch), each in its own process,
on each library's defaults; rounds alternate between the two, and the table shows medians.

    python benchmarks/tutorial.py [--rounds 5]
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from common import machine

LETTERS, HIDDEN, CLASSES, NAME_LENGTH = 57, 128, 18, 7


def names_program(lib):
    nn = lib.nn

    class RNN(nn.Module):
        def __init__(self, input_size, hidden_size, output_size):
            super().__init__()
            self.hidden_size = hidden_size
            self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
            self.i2o = nn.Linear(input_size + hidden_size, output_size)
            self.softmax = nn.LogSoftmax(dim=1)

        def forward(self, input, hidden):
            combined = lib.cat((input, hidden), 1)
            hidden = self.i2h(combined)
            output = self.softmax(self.i2o(combined))
            return output, hidden

        def init_hidden(self):
            return lib.zeros(1, self.hidden_size)

    rnn = RNN(LETTERS, HIDDEN, CLASSES)
    criterion = nn.NLLLoss()
    rng = np.random.default_rng(0)
    letters = [lib.tensor(np.eye(LETTERS, dtype=np.float32)[rng.integers(0, LETTERS, NAME_LENGTH)]
                          [:, None, :]) for _ in range(20)]
    categories = [lib.tensor(np.array([k % CLASSES])) for k in range(20)]
    state = {"k": 0}

    def step():
        k = state["k"] = (state["k"] + 1) % 20
        hidden = rnn.init_hidden()
        rnn.zero_grad()
        for i in range(NAME_LENGTH):
            output, hidden = rnn(letters[k][i], hidden)
        loss = criterion(output, categories[k])
        loss.backward()
        for p in rnn.parameters():
            p.data.add_(p.grad.data, alpha=-0.005)
        return loss.item()
    return step


def poly_program(lib):
    x = lib.linspace(-math.pi, math.pi, 2000)
    y = lib.sin(x)
    gen = np.random.default_rng(0)
    a, b, c, d = (lib.tensor(float(v), requires_grad=True) for v in gen.standard_normal(4))

    def step():
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        with lib.no_grad():
            for p in (a, b, c, d):
                p -= 1e-6 * p.grad
                p.grad = None
        return loss.item()
    return step


PROGRAMS = {"names": names_program, "poly": poly_program}


def measure(program, library, seconds):
    """Median ms per step of one program on one library, in this process."""
    if library == "torch":
        import torch as lib
    else:
        import tinygrad_seq as lib
    step = PROGRAMS[program](lib)
    for _ in range(20):
        step()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 20:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="timed per process")
    parser.add_argument("--program", choices=PROGRAMS, nargs="+", default=list(PROGRAMS))
    parser.add_argument("--json", nargs=2, metavar=("PROGRAM", "LIBRARY"), help="internal")
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(*args.json, args.seconds)))
        return
    try:
        import torch
        libraries, versions = ("tinygrad_seq", "torch"), f"torch {torch.__version__}"
    except ImportError:
        libraries, versions = ("tinygrad_seq",), "PyTorch not installed"
    print(f"{machine()}; {versions}; each library on its defaults, median ms per step, "
          f"{args.rounds} alternating rounds of one process each\n")
    print("| program | tinygrad_seq | PyTorch | ratio (median of the rounds' ratios) |")
    print("|---|---|---|---|")
    here = os.path.abspath(__file__)
    for program in args.program:
        ms = {lib: [] for lib in libraries}
        for _ in range(args.rounds):
            for lib in libraries:
                cmd = [sys.executable, here, "--json", program, lib, "--seconds",
                       str(args.seconds)]
                ms[lib].append(json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                                         text=True).stdout))
        ours = statistics.median(ms["tinygrad_seq"])
        if "torch" in ms:
            ratios = [a / b for a, b in zip(ms["tinygrad_seq"], ms["torch"])]
            print(f"| {program} | {ours:.3f} ms | {statistics.median(ms['torch']):.3f} ms | "
                  f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |",
                  flush=True)
        else:
            print(f"| {program} | {ours:.3f} ms | - | - |", flush=True)


if __name__ == "__main__":
    main()
