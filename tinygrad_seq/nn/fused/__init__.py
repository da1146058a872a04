"""Fused recurrent layers: one tape node per layer and direction, forward over the whole sequence,
backward through time in reverse. The same numbers as the composed cells in cells.py, faster.

Two implementations of the same nodes, which take the same inputs and give the same outputs
and gradients (to rounding):
- loops.py: the time loops inside numba (kernels/recurrent.py), with a matrix product of its
  own for the per-step products (kernels/gemm.py, the weights packed once per sequence); a
  small batch's hidden units split across a team of threads that meet at a barrier each step,
  a large batch's rows split into lanes;
- steps.py: the time loop in Python, numpy's GEMM and one cell-kernel call per step; a large
  batch's rows split into lanes.
`plan` chooses between them, per call (see its docstring for the rule and why).

Both follow cuDNN's and PyTorch's CPU recipe: the step's operand is `[h_{s-1} | 1 | x_s]` and
the weights are stacked to match, `[W_hh^T ; b ; W_ih^T]`, so one product per step gives every
gate's pre-activation, biases and input projection included (a small input, such as the seed
workload's one feature, costs a few more rows of a product that runs anyway, instead of a
memory-bound projection of all steps at once); the gate non-linearities run in the cell kernels
of tinygrad_seq.kernels; only what backward needs is saved; backward runs the steps in reverse,
with the weight gradients from products over chunks of steps.

Steps are numbered in the order they run: step s is time `order[s]` (s, or T-1-s in reverse).
With `lengths`, a sequence whose length has passed keeps its state and outputs zeros, as the
composed layers' `where` masks do; its rows of the gate gradients are zero and the state's
gradient flows past the step unchanged. (The layers zero the input's padding before either
path, so that a non-finite padding cannot reach a gradient through 0 * nan.)

After backward each node keeps `step_grad_norms`: {"h": [||dL/dh_t|| for t in range(T)]} (and
"c" for the LSTM), the norm of the total gradient reaching each step's hidden (cell) state, by
time step; `fused` says which composed graph the node stands for. Both are for pictures.
"""
from ... import threads
from ...kernels import backend
from . import common, loops, steps
from .common import MIN_LANE_ROWS, POOL, POOL_SHAPES, batch_lanes, workspace  # noqa: F401

STEPS = {"LSTM": steps.LSTMSequence, "GRU": steps.GRUSequence, "RNN": steps.RNNSequence}
LOOPS = {"LSTM": loops.LSTMLoops, "GRU": loops.GRULoops, "RNN": loops.RNNLoops}
MIN_PART_UNITS = 64   # split the hidden units into parts of no fewer


def plan(mode, B, H, options):
    """Which implementation runs a layer, and how its work is split: (STEPS[mode], None) or
    (LOOPS[mode], (lanes, n)) with lanes a list of row slices and n the parts of the hidden
    units (n > 1 only with one lane)."""
    if backend.name != "numba" or not options.get("reset_after", True):
        return STEPS[mode], None
    lanes = batch_lanes(B)
    n = threads.get_num_threads()
    if len(lanes) > 1 or H % n or H // n < MIN_PART_UNITS:
        n = 1
    return LOOPS[mode], (lanes, n)


def fused_direction(mode, x, state, params, *, reverse=False, lengths=None, layer=0, **options):
    """One layer, one direction of an RNN/LSTM/GRU as one node: x (T, B, I) (or (B, I), one
    step: the output is then (1, B, H)), state [h0 (, c0)], params (w_ih, w_hh, b_ih, b_hh)
    with None biases -> output (T, B, H), [h_n (, c_n)]."""
    w_ih, w_hh, b_ih, b_hh = params
    weights = (w_ih, w_hh) if b_ih is None else params
    sequence, split = plan(mode, x.shape[-2], w_hh.shape[1], options)
    if split is not None:
        options = dict(options, split=split)
    out, *last = sequence.apply(x, *state, *weights, reverse=reverse, lengths=lengths,
                                layer=layer, **options)
    return out, last


def fused_cell(mode, x, state, params, **options):
    """One step of a cell as one node: x (B, I), state [h (, c)] -> [h' (, c')]."""
    return fused_direction(mode, x, state, params, **options)[1]
