"""Where a training step's time goes, ours beside PyTorch's: the profile behind benchmarks/rnn.py.

For one workload and cell of rnn.py, each variant runs in its own process: first the median
step time without instrumentation (as rnn.py measures it), then --steps more steps with every
op timed, split into:
    GEMM              matrix products (our Matmul and Linear nodes, the latter with their bias
                      adds and sums; PyTorch's mm/addmm/...)
    element-wise      every other op (adds, gates, chunks, stacks, the loss), forward and
                      backward, and adding gradients into the parameters' .grad
    fused kernels     our fused layers' numba cell kernels (fused variant only)
    fused GEMM+glue   the rest of our fused nodes: their GEMMs and numpy bookkeeping
    fused RNN         PyTorch's fused layer ops (oneDNN's mkldnn_rnn_layer and its backward)
    grad norms        our tape's per-node gradient norms (kept for the gradient-flow pictures)
    optimizer         Adam
    tape + Python     the rest: recording nodes, the backward walk, the Python loop
Timing each op costs a little (about a microsecond per op for ours; PyTorch's profiler costs
more), so the instrumented total exceeds the plain median; compare categories, not totals.
A fused layer that splits its batch into lanes (seed, two threads) runs its kernels in several
threads at once: its two fused categories add up the lanes' times and can exceed the step.

    python benchmarks/rnn_profile.py --workload charlm --cell LSTM --threads 1
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import time

import numpy as np

from common import machine
from rnn import CELLS, OURS, TORCH, WORKLOADS, ours_step, thread_env, torch_step

CATEGORIES = ("GEMM", "element-wise", "fused kernels", "fused GEMM+glue", "fused RNN",
              "grad norms", "optimizer", "tape + Python")
TORCH_GEMMS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::linear", "aten::matmul"}


def _median_step(step, steps):
    step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def _timed(fn, into, key):
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            into[key] += time.perf_counter() - start
    return timed


def profile_ours(cell, w, variant, steps):
    from tinygrad_seq import autograd, ops, optim
    from tinygrad_seq.kernels import backend
    from tinygrad_seq.nn import fused
    step = ours_step(cell, w, variant)
    plain = _median_step(step, steps)
    spent = collections.defaultdict(float)
    for module, category in ((ops, None), (fused, "fused nodes")):
        for cls in vars(module).values():
            if isinstance(cls, type) and issubclass(cls, autograd.Function) \
                    and cls.__module__.startswith(module.__name__):   # ops: its family modules
                key = category or ("GEMM" if cls in (ops.Matmul, ops.Linear) else
                                   "element-wise")
                for method in ("forward", "backward"):
                    if method in vars(cls):
                        setattr(cls, method, _timed(vars(cls)[method], spent, key))
    # wrapped after the plain steps: by then each numba kernel has replaced its lazy stand-in
    for name in vars(backend.impl):
        if "_cell_" in name:   # lstm_cell_forward, gru_cell_backward, ...
            setattr(backend.impl, name, _timed(getattr(backend.impl, name), spent,
                                               "fused kernels"))
    autograd._norm = _timed(autograd._norm, spent, "grad norms")
    autograd.accumulate_leaf = _timed(autograd.accumulate_leaf, spent, "element-wise")
    optim.Adam.step = _timed(optim.Adam.step, spent, "optimizer")
    step()
    spent.clear()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    total = 1e3 * (time.perf_counter() - start) / steps
    ms = {k: 1e3 * v / steps for k, v in spent.items()}
    # the fused nodes' time includes the kernels they call
    ms["fused GEMM+glue"] = ms.pop("fused nodes", 0.0) - ms.get("fused kernels", 0.0)
    return plain, total, ms


def profile_torch(cell, w, variant, steps):
    import torch
    step = torch_step(cell, w, variant)
    plain = _median_step(step, steps)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        total = 1e3 * (time.perf_counter() - start) / steps
    ms = collections.defaultdict(float)
    for event in prof.events():
        if event.name.startswith("Optimizer.step"):
            ms["optimizer"] += event.cpu_time_total / 1e3 / steps   # with the ops inside
            continue
        if _inside_optimizer(event) or not event.name.startswith("aten::"):
            continue   # counted above, or the profiler's own records
        if event.name in TORCH_GEMMS:
            key = "GEMM"
        elif event.name.startswith("aten::mkldnn_rnn"):
            key = "fused RNN"
        else:
            key = "element-wise"
        ms[key] += event.self_cpu_time_total / 1e3 / steps
    return plain, total, dict(ms)


def _inside_optimizer(event):
    while event.cpu_parent is not None:
        event = event.cpu_parent
        if event.name.startswith("Optimizer.step"):
            return True
    return False


def measure(workload, cell, variant, steps):
    w = WORKLOADS[workload]
    profile = profile_ours if variant in OURS else profile_torch
    plain, total, ms = profile(cell, w, variant, steps)
    ms["tape + Python"] = total - sum(ms.values())
    return {"plain": plain, "total": total, "ms": ms}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", choices=WORKLOADS, default="charlm")
    parser.add_argument("--cell", choices=CELLS, default="LSTM")
    parser.add_argument("--variant", choices=OURS + TORCH, nargs="+")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, help="BLAS and PyTorch threads (as rnn.py)")
    parser.add_argument("--json", action="store_true", help="profile one variant (internal)")
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.workload, args.cell, args.variant[0], args.steps)))
        return
    env = thread_env(args.threads)
    try:
        import torch   # noqa: F401
        variants = args.variant or OURS + TORCH
    except ImportError:
        variants = args.variant or OURS
    print(f"{machine()}; {args.workload} {args.cell}, float32, {args.threads or 'default'} "
          f"threads; ms per training step: the plain median, then the instrumented mean of "
          f"{args.steps} steps split by category\n")
    print("| variant | plain | instrumented | " + " | ".join(CATEGORIES) + " |")
    print("|---" * (len(CATEGORIES) + 3) + "|")
    here = os.path.dirname(os.path.abspath(__file__))
    for variant in variants:
        cmd = [sys.executable, os.path.join(here, "rnn_profile.py"), "--json", "--workload",
               args.workload, "--cell", args.cell, "--variant", variant, "--steps",
               str(args.steps)]
        row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True,
                                        env=env).stdout)
        cells = " | ".join(f"{row['ms'][c]:.1f}" if c in row["ms"] else "-" for c in CATEGORIES)
        print(f"| {variant} | {row['plain']:.1f} | {row['total']:.1f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
