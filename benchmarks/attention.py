"""Attention's speed beside PyTorch CPU: a TransformerEncoderLayer training step and a
MultiheadAttention forward and backward, float32, both libraries on their defaults.

    encoder_layer   nn.TransformerEncoderLayer(d_model=128, nhead=4) (defaults: feed-forward
                    2048, dropout 0.1, ReLU, post-norm), input (64, 32, 128) (length 64,
                    batch 32), in training mode; one step = forward, an MSE loss to a fixed
                    target, backward, Adam step
    mha             nn.MultiheadAttention(128, 4), self-attention on (64, 32, 128),
                    need_weights=True (the default); forward, sum of the output, backward

PyTorch runs twice: on its defaults (as many threads as cores) and on one thread (on a busy
2-core machine its threads can spin against each other and the other processes; numpy's BLAS
runs on one thread here, see the README). Each (workload, library) runs in its own process,
after --warmup steps (numba loading its kernels, PyTorch its own) and common.median_time's
own one; it reports the median of --steps steps. The machine is shared: the variants run --rounds times, interleaved, and the
table shows each one's median over rounds with the spread (min-max) of the rounds, and the
load average seen between rounds.

    python benchmarks/attention.py                  # the table
    python benchmarks/attention.py --profile        # where our encoder layer's step goes
    python benchmarks/attention.py --profile --workload mha
    python benchmarks/attention.py --softmax        # would a numba softmax pay at this size?
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import numpy as np

from common import machine, median_time

L, N, E, HEADS = 64, 32, 128, 4
WORKLOADS = ("encoder_layer", "mha")
LIBRARIES = ("tinygrad_seq", "torch", "torch-1-thread")


def inputs():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((L, N, E)).astype(np.float32),
            rng.standard_normal((L, N, E)).astype(np.float32))


def make_step(workload, library):
    """One step of `workload`, the same code for both libraries (PyTorch's modules start in
    training mode, as ours do)."""
    if library == "tinygrad_seq":
        import tinygrad_seq as lib
    else:
        import torch as lib
        if library == "torch-1-thread":
            lib.set_num_threads(1)
    lib.manual_seed(0)
    x_np, target_np = inputs()
    x, target = lib.tensor(x_np, requires_grad=workload == "mha"), lib.tensor(target_np)
    if workload == "mha":
        mha = lib.nn.MultiheadAttention(E, HEADS)

        def step():
            out, _ = mha(x, x, x)
            out.sum().backward()
        return step
    layer = lib.nn.TransformerEncoderLayer(E, HEADS)
    opt = lib.optim.Adam(layer.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        lib.nn.functional.mse_loss(layer(x), target).backward()
        opt.step()
    return step


def measure(workload, library, steps, warmup):
    step = make_step(workload, library)
    for _ in range(warmup):
        step()
    return median_time(step, repeat=steps, number=1)


def softmax_kernels():
    """Would a numba softmax pay here? The kernels' numba and numpy versions on the weights of
    the mha workload, (N * heads * L, S) = (8192, 64) float32 (the backend runs numba's only up
    to 4,096 elements: kernels.NUMBA_UP_TO)."""
    from tinygrad_seq.kernels import loops, reference
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N * HEADS * L, L)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    out, dx = np.empty_like(x), np.empty_like(x)
    for name, args in (("softmax_forward", (x, out)), ("softmax_backward", (out, g, dx))):
        numba_ms, numpy_ms = (median_time(lambda f=getattr(m, name): f(*args), repeat=15) * 1e3
                              for m in (loops, reference))
        print(f"{name}: numba {numba_ms:.2f} ms, numpy {numpy_ms:.2f} ms "
              f"(numba / numpy {numba_ms / numpy_ms:.2f})")


def profile(workload):
    """Our step of `workload` under cProfile: the functions that take the most time."""
    import cProfile
    import pstats
    step = make_step(workload, "tinygrad_seq")
    step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(5):
        step()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workload", choices=WORKLOADS)
    p.add_argument("--library", choices=LIBRARIES)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=3, help="steps before timing (default 3)")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--softmax", action="store_true", help="numba's softmax against numpy's")
    args = p.parse_args()
    if args.profile:
        return profile(args.workload or "encoder_layer")
    if args.softmax:
        return softmax_kernels()
    if args.workload and args.library:       # one variant, in this process
        print(json.dumps(measure(args.workload, args.library, args.steps, args.warmup)))
        return
    results = {(w, lib): [] for w in WORKLOADS for lib in LIBRARIES}
    load = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for key in results:
            done = subprocess.run([sys.executable, __file__, "--workload", key[0], "--library",
                                   key[1], "--steps", str(args.steps), "--warmup",
                                   str(args.warmup)], capture_output=True,
                                  text=True, check=True)
            results[key].append(json.loads(done.stdout))
        load.append(os.getloadavg()[0])
    import torch
    print(f"{machine()}; numpy {np.__version__}, PyTorch {torch.__version__} "
          f"({torch.get_num_threads()} threads); median of {args.steps} steps, {args.rounds} "
          f"interleaved rounds; load average (1 min) {min(load):.1f}-{max(load):.1f}\n")
    print("| workload | tinygrad_seq | PyTorch (default threads) | PyTorch (1 thread) | ratio "
          "ours / PyTorch default | ratio ours / PyTorch 1 thread |")
    print("|---|---|---|---|---|---|")

    def cell(times):
        return (f"{statistics.median(times) * 1e3:.1f} ms ({min(times) * 1e3:.1f}-"
                f"{max(times) * 1e3:.1f})")
    for w in WORKLOADS:
        a, b, c = (results[(w, lib)] for lib in LIBRARIES)
        print(f"| {w} | {cell(a)} | {cell(b)} | {cell(c)} | "
              f"{statistics.median(a) / statistics.median(b):.2f} | "
              f"{statistics.median(a) / statistics.median(c):.2f} |")


if __name__ == "__main__":
    main()
