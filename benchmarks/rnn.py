"""Training-step time and peak memory of RNN/LSTM/GRU layers, beside PyTorch CPU.

Two workloads, each for LSTM, GRU and RNN, float32, one training step = forward, backward,
Adam step (median over --steps steps after one warm-up step):
    seed    1,000 sequences of length 50, 1 feature, hidden 64, linear head on the last
            output to 2 classes, cross-entropy, full batch
    charlm  batch 32, 64 steps, one-hot input of 65 symbols, hidden 256, linear head to 65
            classes at every step
Variants: ours fused (the default layers), ours composed (fused=False: cells from primitives),
PyTorch nn.LSTM/GRU/RNN, a PyTorch LSTMCell/GRUCell/RNNCell loop and a PyTorch loop of the
cell written from primitives (what our composed path does). Each variant runs in its own
process, after one step on a tiny problem (so that lazy one-time costs, numba loading its
kernels and PyTorch its own, are neither timed nor counted); peak memory is the growth of the
resident set (VmHWM, reset after setup) over the resident size before the first step.

The machine may be shared: every row runs --rounds times, interleaved with the other variants
of its workload; each process also measures how much CPU other processes took while it timed
its steps (/proc/stat's busy time minus its own, as a share of the machine). The table shows
each variant's median over the rounds of its median step, "fused / best torch" the median over
rounds of the round's ratio (each round's best PyTorch variant), and "busy" the median share
of the machine other processes used during the timed steps (0.00 = nothing else ran, 0.50 =
a core's worth).

    python benchmarks/rnn.py                      # the whole table (a few minutes)
    python benchmarks/rnn.py --workload seed --cell LSTM --variant fused   # one row
    python benchmarks/rnn.py --threads 1          # each library on one thread

--threads n sets our fused layers' threads (TINYGRAD_SEQ_NUM_THREADS: the team of a small
batch, the lanes of a large one) and PyTorch's (OMP_NUM_THREADS, torch.set_num_threads) for
every row; BLAS keeps tinygrad_seq's default of one thread (two OpenBLAS threads would spin
beside our own). Without it each library keeps its own default (tinygrad_seq: one BLAS thread
and our threads on every core; PyTorch: one thread per core).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from common import machine

WORKLOADS = {   # T, B, input size, hidden, classes, one-hot input, head at every step
    "seed": dict(T=50, B=1000, I=1, H=64, C=2, one_hot=False, every_step=False),
    "charlm": dict(T=64, B=32, I=65, H=256, C=65, one_hot=True, every_step=True),
}
CELLS = ("LSTM", "GRU", "RNN")
OURS = ("fused", "composed")
TORCH = ("torch", "torch_cell", "torch_primitives")


def data(w, seed=0):
    rng = np.random.default_rng(seed)
    T, B, I, C = w["T"], w["B"], w["I"], w["C"]
    if w["one_hot"]:
        symbols = rng.integers(0, I, (T + 1, B))
        x = np.eye(I, dtype=np.float32)[symbols[:-1]]
        y = symbols[1:].reshape(-1)
    else:
        x = rng.standard_normal((T, B, I)).astype(np.float32)
        y = (x.sum(axis=(0, 2)) > 0).astype(np.int64)
    return x, y[:T * B] if w["every_step"] else y[:B] % C


def ours_step(cell, w, variant):
    import tinygrad_seq as ts
    from tinygrad_seq import nn
    ts.manual_seed(0)
    rnn = getattr(nn, cell)(w["I"], w["H"], fused=variant == "fused")
    head = nn.Linear(w["H"], w["C"])
    opt = ts.optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=1e-3)
    x_np, y_np = data(w)
    x, y = ts.Tensor(x_np), ts.Tensor(y_np)

    def step():
        opt.zero_grad()
        out, _ = rnn(x)
        feats = out.reshape(-1, w["H"]) if w["every_step"] else out[-1]
        loss = ts.cross_entropy(head(feats), y)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def torch_step(cell, w, variant):
    import torch
    torch.manual_seed(0)
    if "OMP_NUM_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    H = w["H"]
    layer = getattr(torch.nn, cell)(w["I"], H)
    head = torch.nn.Linear(H, w["C"])
    opt = torch.optim.Adam(list(layer.parameters()) + list(head.parameters()), lr=1e-3)
    x_np, y_np = data(w)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    w_ih, w_hh, b_ih, b_hh = layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, \
        layer.bias_hh_l0
    cell_module = getattr(torch.nn, cell + "Cell")(w["I"], H)
    if variant == "torch_cell":
        opt = torch.optim.Adam(list(cell_module.parameters()) + list(head.parameters()), lr=1e-3)

    def primitives(x_t, state):
        if cell == "LSTM":
            i, f, g, o = (x_t @ w_ih.T + b_ih + state[0] @ w_hh.T + b_hh).chunk(4, 1)
            c = f.sigmoid() * state[1] + i.sigmoid() * g.tanh()
            return o.sigmoid() * c.tanh(), c
        if cell == "GRU":
            xr, xz, xn = (x_t @ w_ih.T + b_ih).chunk(3, 1)
            hr, hz, hn = (state[0] @ w_hh.T + b_hh).chunk(3, 1)
            r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
            n = (xn + r * hn).tanh()
            return ((1 - z) * n + z * state[0],)
        return ((x_t @ w_ih.T + b_ih + state[0] @ w_hh.T + b_hh).tanh(),)

    def run_loop(step_fn):
        B = x.shape[1]
        state = (torch.zeros(B, H), torch.zeros(B, H)) if cell == "LSTM" else (torch.zeros(B, H),)
        outs = []
        for t in range(x.shape[0]):
            state = step_fn(x[t], state)
            outs.append(state[0])
        return torch.stack(outs)

    def cell_fn(x_t, state):
        new = cell_module(x_t, state if cell == "LSTM" else state[0])
        return new if cell == "LSTM" else (new,)

    def step():
        opt.zero_grad()
        if variant == "torch":
            out, _ = layer(x)
        else:
            out = run_loop(cell_fn if variant == "torch_cell" else primitives)
        feats = out.reshape(-1, H) if w["every_step"] else out[-1]
        loss = torch.nn.functional.cross_entropy(head(feats), y)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def _cpu_ticks():
    """(busy ticks of the whole machine, ticks of this process) from /proc."""
    with open("/proc/stat") as f:
        ticks = list(map(int, f.readline().split()[1:]))
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(ticks) - ticks[3] - ticks[4], int(fields[11]) + int(fields[12])


def _rss_mb(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024


def measure(workload, cell, variant, steps):
    """One row in this process: {"ms": median ms per step, "mb": peak memory growth in MB}."""
    w = WORKLOADS[workload]
    make = ours_step if variant in OURS else torch_step
    make(cell, dict(w, T=2, B=2), variant)()
    step = make(cell, w, variant)
    with open("/proc/self/clear_refs", "w") as f:   # reset the peak resident set (VmHWM)
        f.write("5")
    base = _rss_mb("VmRSS")
    step()   # warm-up: kernels compile (or load from numba's cache), buffers are allocated
    times = []
    ticks, start_all = _cpu_ticks(), time.perf_counter()
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    (busy, own), wall = _cpu_ticks(), time.perf_counter() - start_all
    others = (busy - ticks[0] - (own - ticks[1])) / os.sysconf("SC_CLK_TCK")
    return {"ms": 1e3 * float(np.median(times)), "mb": _rss_mb("VmHWM") - base,
            "busy": max(0.0, others / (wall * os.cpu_count()))}


def thread_env(threads):
    """The environment for each row's process: with `threads`, our layers and PyTorch use that
    many threads (see the module docstring); without, each keeps its own default."""
    env = dict(os.environ)
    if threads:
        n = str(threads)
        env.update(TINYGRAD_SEQ_NUM_THREADS=n, OMP_NUM_THREADS=n)
    return env


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", choices=WORKLOADS, nargs="+", default=list(WORKLOADS))
    parser.add_argument("--cell", choices=CELLS, nargs="+", default=list(CELLS))
    parser.add_argument("--variant", choices=OURS + TORCH, nargs="+")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, help="BLAS and PyTorch threads per row")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one row as JSON (internal)")
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.workload[0], args.cell[0], args.variant[0], args.steps)))
        return
    env = thread_env(args.threads)
    try:
        import torch
        variants = args.variant or OURS + TORCH
        n = args.threads or torch.get_num_threads()
        versions = f"torch {torch.__version__}, {n} thread{'s' if n > 1 else ''}"
    except ImportError:
        variants, versions = args.variant or OURS, "PyTorch not installed"
    print(f"{machine()}; numpy {np.__version__}; {versions}; float32, ms per training step "
          f"(median of {args.rounds} rounds of the median of {args.steps}), peak memory growth "
          f"in MB\n")
    print("| workload | cell | " + " | ".join(variants) + " | fused / best torch | "
          "composed / torch_primitives | busy |")
    print("|---" * (len(variants) + 5) + "|")
    here = os.path.dirname(os.path.abspath(__file__))
    for workload in args.workload:
        for cell in args.cell:
            rounds = []
            for _ in range(args.rounds):
                row = {}
                for variant in variants:
                    cmd = [sys.executable, os.path.join(here, "rnn.py"), "--json", "--workload",
                           workload, "--cell", cell, "--variant", variant, "--steps",
                           str(args.steps)]
                    row[variant] = json.loads(subprocess.run(
                        cmd, check=True, capture_output=True, text=True, env=env).stdout)
                rounds.append(row)
            print(_table_row(workload, cell, variants, rounds), flush=True)


def _table_row(workload, cell, variants, rounds):
    """A markdown row: medians over the rounds (see the module docstring)."""
    def median(values):
        return float(np.median(list(values))) if values else None

    def ratio(top, bottom):
        return median([r[top]["ms"] / min(r[v]["ms"] for v in bottom) for r in rounds])

    torch = [v for v in TORCH if v in variants]
    fused = ratio("fused", torch) if torch and "fused" in variants else None
    composed = (ratio("composed", ["torch_primitives"])
                if {"composed", "torch_primitives"} <= set(variants) else None)
    cells = " | ".join(f"{median(r[v]['ms'] for r in rounds):.1f} ms, "
                       f"{median(r[v]['mb'] for r in rounds):.0f} MB" for v in variants)
    busy = median(r[v]["busy"] for r in rounds for v in variants)
    show = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
    return f"| {workload} | {cell} | {cells} | {show(fused)} | {show(composed)} | {busy:.2f} |"


if __name__ == "__main__":
    main()
