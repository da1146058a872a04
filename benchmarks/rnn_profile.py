"""Where a training step's time goes, ours beside PyTorch's: the profile behind benchmarks/rnn.py.

For one workload and cell of rnn.py, each variant runs in its own process: first the median
step time without instrumentation (as rnn.py measures it), then --steps more steps with every
op timed, split into:
    GEMM              matrix products (our Matmul and Linear nodes, the latter with their bias
                      adds and sums; PyTorch's mm/addmm/...)
    element-wise      every other op (adds, gates, chunks, stacks, the loss), forward and
                      backward, and adding gradients into the parameters' .grad
    fused products    our fused layers' matrix products (kernels/gemm.py, inside the jitted
                      time loops: per step, and the weight gradients' chunks)
    fused cells       their cell kernels
    fused barriers    their threads' waits at the per-step barrier
    fused loops other the rest of the jitted loops: packing weights, copies, masks, norms
    fused Python      the rest of the fused nodes: Python and numpy around the loops
    fused RNN         PyTorch's fused layer ops (oneDNN's mkldnn_rnn_layer and its backward)
    grad norms        our tape's per-node gradient norms (kept for the gradient-flow pictures)
    optimizer         Adam
    tape + Python     the rest: recording nodes, the backward walk, the Python loop
Timing each op costs a little (about a microsecond per op for ours; PyTorch's profiler costs
more), so the instrumented total exceeds the plain median; compare categories, not totals.
The jitted loops count cycles (kernels/recurrent.py's stats) by thread: the four loop
categories are per thread, averaged over the threads of a run (two parts of the hidden units,
or two lanes of rows, at once), converted to ms at the cycle counter's measured rate. Where a
fused layer runs the Python loop (fused/steps.py: the numpy backend, Cho's GRU), "fused
cells" is its cell kernels' time and "fused Python" the rest of it, its GEMMs included.

    python benchmarks/rnn_profile.py --workload charlm --cell LSTM --threads 1
    python benchmarks/rnn_profile.py --workload charlm --cell LSTM --floor

--floor prints the floor of the fused layer's products instead: their FLOPs per training step
(forward, the state's gradient, the weight gradients; a one-hot input's columns left out, as
the fused layer does) and the time they take at the rate kernels/gemm.py reaches on the
step's product shape on one core (and OpenBLAS's rate, for comparison), measured in blocks
during which this thread ran at least 97% of the time (the machine may be busy).
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

CATEGORIES = ("GEMM", "element-wise", "fused products", "fused cells", "fused barriers",
              "fused loops other", "fused Python", "fused RNN", "grad norms", "optimizer",
              "tape + Python")
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


def _cycles_per_second():
    """The rate of the cycle counter the jitted loops read (kernels/simd.py; without the JIT
    a nanosecond clock)."""
    import numba
    from tinygrad_seq.kernels.recurrent import cycles
    read = numba.njit(lambda: cycles())
    read()
    c0, t0 = read(), time.perf_counter()
    time.sleep(0.2)
    return (read() - c0) / (time.perf_counter() - t0)


def _loop_ms(runs, rate, steps):
    """ms per step in the jitted loops, per thread, by category, from loops.PROFILE."""
    from tinygrad_seq.kernels.recurrent import CELLS, PRODUCTS, TOTAL, WAITED
    per_thread = sum(stats.sum(axis=0) / len(stats) for stats in runs) / rate * 1e3 / steps
    return {"fused products": per_thread[PRODUCTS], "fused cells": per_thread[CELLS],
            "fused barriers": per_thread[WAITED],
            "fused loops other": per_thread[TOTAL] - per_thread[[PRODUCTS, CELLS, WAITED]].sum()
            }, per_thread[TOTAL]


def profile_ours(cell, w, variant, steps):
    from tinygrad_seq import autograd, ops, optim
    from tinygrad_seq.kernels import backend
    from tinygrad_seq.nn import fused
    step = ours_step(cell, w, variant)
    plain = _median_step(step, steps)
    spent = collections.defaultdict(float)
    for module, category in ((ops, None), (fused.steps, "fused nodes"),
                             (fused.loops, "fused nodes")):
        for cls in vars(module).values():
            if isinstance(cls, type) and issubclass(cls, autograd.Function) \
                    and cls.__module__.startswith(module.__name__):   # ops: its family modules
                key = category or ("GEMM" if cls in (ops.Matmul, ops.Linear) else
                                   "element-wise")
                for method in ("forward", "backward"):
                    if method in vars(cls):
                        setattr(cls, method, _timed(vars(cls)[method], spent, key))
    # wrapped after the plain steps: by then each numba kernel has replaced its lazy stand-in
    # (these are the Python loop's calls; the jitted loops call the kernels directly)
    for name in vars(backend.impl):
        if "_cell_" in name:   # lstm_cell_forward, gru_cell_backward, ...
            setattr(backend.impl, name, _timed(getattr(backend.impl, name), spent,
                                               "fused cells"))
    autograd._norm = _timed(autograd._norm, spent, "grad norms")
    autograd.accumulate_leaf = _timed(autograd.accumulate_leaf, spent, "element-wise")
    optim.Adam.step = _timed(optim.Adam.step, spent, "optimizer")
    rate = _cycles_per_second() if variant == "fused" else 1.0
    step()
    spent.clear()
    fused.loops.PROFILE = []
    start = time.perf_counter()
    for _ in range(steps):
        step()
    total = 1e3 * (time.perf_counter() - start) / steps
    ms = {k: 1e3 * v / steps for k, v in spent.items()}
    # the fused nodes' time includes their kernels (Python loop) or jitted loops
    inside = ms.get("fused cells", 0.0)
    if fused.loops.PROFILE:
        loops, inside = _loop_ms(fused.loops.PROFILE, rate, steps)
        ms.update(loops)
    if "fused nodes" in ms:
        ms["fused Python"] = ms.pop("fused nodes") - inside
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


GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def floor(workload, cell):
    """The fused layer's product FLOPs per training step and their time at measured rates."""
    from threadpoolctl import threadpool_limits
    from tinygrad_seq.kernels import gemm
    w = WORKLOADS[workload]
    T, B, I, H, G = w["T"], w["B"], w["I"], w["H"], GATES[cell]
    K = H + 1 + (0 if w["one_hot"] else I)
    # per step: the forward's products (GRU: the input's and the state's), the state's
    # gradient and the weight gradients (over all steps, in chunks)
    flops = T * (2 * B * K * G * H + 2 * B * G * H * H + 2 * B * K * G * H)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((B, K)).astype(np.float32)
    W = rng.standard_normal((K, G * H)).astype(np.float32)
    packed = np.zeros(gemm.panel_shape(G * H, K, W), np.float32)
    gemm.pack_rows(W, np.arange(K), 0, G * H, packed)
    C = np.zeros((B, G * H), np.float32)
    rates = {}
    with threadpool_limits(1, "blas"):
        for name, fn in (("kernels/gemm.py", lambda: gemm.gemm(A, packed, C, False)),
                         ("OpenBLAS", lambda: np.dot(A, W, out=C))):
            fn()
            clean = []
            while len(clean) < 15:
                start, cpu = time.perf_counter(), time.thread_time()
                for _ in range(50):
                    fn()
                wall = time.perf_counter() - start
                if (time.thread_time() - cpu) / wall >= 0.97:
                    clean.append(wall / 50)
            rates[name] = 2 * B * K * G * H / float(np.median(clean)) / 1e9
    print(f"{machine()}; {workload} {cell}: the fused layer's products, {flops / 1e9:.2f} GFLOP "
          f"per training step; the step's product ({B} x {K}) @ ({K} x {G * H}) on one core:")
    for name, rate in rates.items():
        print(f"  {name}: {rate:.0f} GFLOP/s -> {flops / rate / 1e6:.1f} ms on one core, "
              f"{flops / rate / 2e6:.1f} ms on two")


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
    parser.add_argument("--threads", type=int, help="our and PyTorch's threads (as rnn.py)")
    parser.add_argument("--json", action="store_true", help="profile one variant (internal)")
    parser.add_argument("--floor", action="store_true", help="the products' floor instead")
    args = parser.parse_args()
    if args.floor:
        floor(args.workload, args.cell)
        return
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
