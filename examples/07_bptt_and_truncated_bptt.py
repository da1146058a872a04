"""Backpropagation through time, full and truncated.

What it teaches: BPTT is ordinary backprop on the unrolled graph, so the gradient of a loss at
step t reaches every earlier step, and the graph kept for backward grows with the sequence.
Truncated BPTT (`nn.utils.truncated_bptt`) cuts a long sequence into windows of k steps and
carries the state forward *detached*: memory stays bounded by one window, but no gradient
crosses a window boundary, so a dependency longer than k cannot be learned from the gradient.

Three parts:
  1. how far back the gradient of the last step's loss reaches, full against truncated;
  2. how much memory the graph holds for backward, full against truncated;
  3. an echo task (output the bit seen `delay` steps ago) trained with k above and below the
     delay: only the first learns.

    python examples/07_bptt_and_truncated_bptt.py [--quick]
"""
import argparse

import numpy as np

import tinygrad_seq as ts
import tinygrad_seq.nn.functional as F
from tinygrad_seq import nn, optim


def gradient_reach(T, k):
    """||dL_T/dx_t|| for the loss at the last step, full BPTT and truncated at k."""
    rnn = nn.GRU(1, 8)
    x = ts.randn(T, 1, 1, requires_grad=True)
    out, _ = rnn(x)
    out[-1].sum().backward()
    full = np.linalg.norm(x.grad.numpy().reshape(T, -1), axis=1)
    x.grad = None

    def loss_fn(output, start):
        # only the last window holds step T - 1; earlier windows contribute no loss
        last = start + output.shape[0] == T
        return output[-1].sum() * (1.0 if last else 0.0)

    nn.utils.truncated_bptt(rnn, x, k, loss_fn)
    truncated = np.linalg.norm(x.grad.numpy().reshape(T, -1), axis=1)
    return full, truncated


def saved_megabytes(tape):
    """What the recorded ops hold for backward right now (freed ops hold nothing)."""
    return sum(a.nbytes for node in tape if node.saved for a in node.saved
               if isinstance(a, np.ndarray)) / 1e6


def memory_for_backward(T, k):
    """Megabytes held for backward at the moment of each backward, full BPTT and truncated."""
    rnn = nn.LSTM(1, 32)
    x = ts.randn(T, 16, 1)
    with ts.Tape() as tape:
        loss = rnn(x)[0].sum()
        full = saved_megabytes(tape)
        loss.backward()
    per_window = []

    def loss_fn(output, start):
        per_window.append(saved_megabytes(tape))   # earlier windows were freed by their backward
        return output.sum()

    with ts.Tape() as tape:
        nn.utils.truncated_bptt(rnn, x, k, loss_fn)
    return full, max(per_window)


def train_echo(delay, k, epochs, length=240, batch=16, seed=0):
    """Train a GRU to output at each step the bit it saw `delay` steps earlier, with truncated
    BPTT in windows of k; returns the loss of the last epoch (chance: ln 2 = 0.693)."""
    ts.manual_seed(seed)
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(length, batch, 1)).astype(np.float32)
    x = ts.tensor(bits * 2 - 1)                                     # inputs -1 / +1
    target = np.zeros_like(bits)
    target[delay:] = bits[:-delay]
    target = ts.tensor(target)
    rnn, head = nn.GRU(1, 16), nn.Linear(16, 1)
    optimizer = optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=0.02)

    def loss_fn(output, start):
        begin = max(start, delay)          # steps before `delay` have nothing to echo
        if begin >= start + output.shape[0]:
            return (head(output) * 0.0).sum()
        logits = head(output[begin - start:])
        return F.binary_cross_entropy_with_logits(logits, target[begin:start + output.shape[0]])

    def step():
        optimizer.step()
        optimizer.zero_grad()

    for _ in range(epochs):
        losses, _ = nn.utils.truncated_bptt(rnn, x, k, loss_fn, after_backward=step)
    return float(np.mean(losses[1:]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds instead of ~30")
    args = parser.parse_args()
    ts.manual_seed(0)

    T, k = 40, 10
    full, truncated = gradient_reach(T, k)
    print(f"1. ||dL/dx_t|| for the loss at the last step t = {T - 1}, full BPTT and k = {k}")
    print("    t   full BPTT   truncated")
    for t in range(0, T, 5):
        print(f"  {t:3d}   {full[t]:9.2e}   {truncated[t]:9.2e}")
    print(f"  (truncated: exactly zero before step {T - k}, the start of the last window)\n")

    full_mb, window_mb = memory_for_backward(T=400, k=40)
    print(f"2. an LSTM over 400 steps holds {full_mb:.2f} MB for its backward; truncated at "
          f"k = 40 it holds at most {window_mb:.2f} MB at a time\n")

    delay = 6
    epochs = 4 if args.quick else 30
    print(f"3. echo the bit from {delay} steps ago, {epochs} epochs over 240 steps "
          f"(chance: ln 2 = 0.693)")
    for window in (20, 4):
        loss = train_echo(delay, window, epochs)
        verdict = "learned" if loss < 0.35 else "not learned"
        print(f"  k = {window:2d} ({'>' if window > delay else '<'} delay): final loss {loss:.3f}, "
              f"{verdict}")
    print(f"  (with k < {delay} the loss at step t never sends a gradient to the input at "
          f"t - {delay})")


if __name__ == "__main__":
    main()
