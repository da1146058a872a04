"""The tape: nodes, name scopes, grad mode and the reverse walk.

Every op that has an input needing a gradient becomes a node: an instance of its `Function`
subclass (see ops/) that remembers

    index       its position on the tape (a global counter: inputs always have smaller indices)
    parents     where each input's gradient goes: a leaf Tensor, a (node, output_index) pair, or None
    in_shapes   input shapes, so gradients can be reduced back after broadcasting
    out_shapes  output shapes (and `dtype`)
    saved       what backward needs (`save_for_backward`), freed after backward
    scope       the active name scope (module path, time step, tags)
    grad_norms  after backward: the norm of the gradient of each output (pictures of gradient
                flow read these; the gradients themselves are not kept)

A node never holds its output tensors, only weak references where a user asked for one
(`retain_grad`, a name), so the graph dies with the last tensor that reaches it.

`backward` walks the nodes reachable from the output in reverse tape order with a heap keyed by
the tape index: a node is only run once every node that consumes its outputs has run, and there is
no recursion, so a graph unrolled over 100,000 steps is as easy as one with 3.
"""
import heapq
import itertools
import math
import operator
import os
import threading
import traceback
import weakref

import numpy as np

from .kernels import backend

# ---------------------------------------------------------------------------------------------
# engine state: grad mode, the name scope and the open tapes belong to the thread that set them
# ---------------------------------------------------------------------------------------------
class _Mode:
    """One thread's engine state: grad mode, the name scope and the open tapes."""
    __slots__ = ("grad_enabled", "scope", "tapes")

    def __init__(self):
        self.grad_enabled = True
        self.scope = None      # a Scope or None
        self.tapes = []        # Tape objects inside their `with` block


class _ThreadState(threading.local):
    """Each thread sees its own `mode`, as PyTorch's grad mode is per thread: a new thread
    starts with grad mode on, no name scope and no open tape, whatever other threads do.
    (One thread-local attribute holding a plain object: every op reads it once, and reading
    a thread-local attribute costs several times a plain one.)"""

    def __init__(self):
        self.mode = _Mode()


_threads = _ThreadState()
_tape_counter = itertools.count()   # one count for all threads: inputs have smaller indices
_anomaly = False                     # process-wide, as torch.autograd.set_detect_anomaly


def is_grad_enabled():
    return _threads.mode.grad_enabled


class set_grad_enabled:
    """Turn recording on or off in this thread: a call, a `with` block or a decorator."""

    def __init__(self, mode):
        self._prev, _threads.mode.grad_enabled = _threads.mode.grad_enabled, bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _threads.mode.grad_enabled = self._prev


class no_grad:
    """Record nothing inside: `with no_grad(): ...` or `@no_grad()` on a function. Applies to
    the current thread only (PyTorch's grad mode is thread-local too)."""
    mode = False

    def __enter__(self):
        self._prev, _threads.mode.grad_enabled = _threads.mode.grad_enabled, self.mode

    def __exit__(self, *exc):
        _threads.mode.grad_enabled = self._prev

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        wrapper.__name__, wrapper.__doc__, wrapper.__wrapped__ = fn.__name__, fn.__doc__, fn
        return wrapper


class enable_grad(no_grad):
    """Record again inside a no_grad block (`with enable_grad(): ...`), as in PyTorch."""
    mode = True


class Scope:
    """The tags a node is recorded with: a dotted module path, a time step and free-form tags.

    `with scope("lstm", layer=0, direction="forward"): with scope("cell", step=3): ...` tags the
    nodes inside with path "lstm.cell", step 3 and tags {"layer": 0, "direction": "forward"}.
    Inner scopes extend the path and override the step and tags they set.
    """
    __slots__ = ("name", "step", "tags", "path", "parent", "_mode")   # one per module call

    def __init__(self, name, step=None, **tags):
        self.name, self.step, self.tags = name, step, tags
        self.path, self.parent = name, None

    def __enter__(self):
        self._mode = _threads.mode     # this thread's state, read once (every module call)
        outer = self._mode.scope
        if outer is not None:
            self.path = ".".join(p for p in (outer.path, self.name) if p)
            self.step = outer.step if self.step is None else self.step
            self.tags = {**outer.tags, **self.tags}
        self.parent, self._mode.scope = outer, self
        return self

    def __exit__(self, *exc):
        self._mode.scope = self.parent

    def __repr__(self):
        step = "" if self.step is None else f"@{self.step}"
        tags = "".join(f" {k}={v}" for k, v in self.tags.items())
        return f"{self.path}{step}{tags}"


def scope(name, step=None, **tags):
    """Context manager that tags every node recorded inside (see `Scope`)."""
    return Scope(name, step, **tags)


def current_scope():
    return _threads.mode.scope


class Tape:
    """`with Tape() as tape:` collects the nodes recorded inside the block, in order.

    `print(tape)` shows them as a Wengert list: one line per node, its inputs named by the
    earlier lines (v0, v1, ...) or, for leaves, by name and shape.

    `Tape(record_values=True)` also keeps what the explorer (`viz.explore`) shows, as summaries
    (`summary`: min, max, mean, norm; small arrays whole), never the arrays themselves:

        values          node -> a summary of each of its outputs, made in forward
        leaf_values     id(leaf) -> (leaf, a summary of its value when first read)
        gradients       node -> (summaries of the gradient arriving on each output, of the
                        gradient sent to each input, and for an input that is a leaf, the norm
                        of that leaf's gradient summed so far), made by the last backward pass
        backward_order  the nodes in the order that pass ran their backwards

    A plain Tape keeps none of this, and code outside any Tape pays nothing for it.
    """

    def __init__(self, record_values=False):
        self.nodes = []
        self.record_values = bool(record_values)
        self.values, self.leaf_values, self.gradients = {}, {}, {}
        self.backward_order, self._running = [], {}

    def __enter__(self):
        _threads.mode.tapes.append(self)
        return self

    def __exit__(self, *exc):
        _threads.mode.tapes.remove(self)

    def __len__(self):
        return len(self.nodes)

    def __iter__(self):
        return iter(self.nodes)

    def __getitem__(self, i):
        return self.nodes[i]

    def __str__(self):
        return "\n".join(wengert_lines(self.nodes)) or "(empty tape)"

    __repr__ = __str__

    def _record_forward(self, fn, inputs, outputs):
        """(record_values) Summaries of a new node's outputs and of the leaves it reads."""
        fn.recording = self          # the backward walk calls _record_backward for this node
        self.values[fn] = tuple(summary(o) for o in outputs)
        for t in inputs:
            if t._node is None and id(t) not in self.leaf_values:
                self.leaf_values[id(t)] = (t, summary(t.array))

    def _record_backward(self, node, grads, input_grads):
        """(record_values) What a node's backward received and sent. A leaf's gradient is
        summed here as `accumulate_leaf` sums it (from its .grad before this pass, in the same
        order), so its last running norm is the norm of its .grad after the pass."""
        if node in self.gradients:   # a node runs once per pass: this is a new pass
            self.gradients, self.backward_order, self._running = {}, [], {}
        sent, running = [], []
        for parent, shape, g in zip(node.parents, node.in_shapes, input_grads):
            if parent is None or g is None:
                sent.append(None)
                running.append(None)
                continue
            if g.shape != shape:
                g = unbroadcast(g, shape)
            sent.append(summary(g))
            if type(parent) is tuple:
                running.append(None)
                continue
            total = self._running.get(id(parent), (None, None))[1]
            if total is None:        # its first share in this pass: from .grad as it was
                total = np.zeros(shape, parent.dtype) if parent._grad is None else \
                    parent._grad.array.copy()
                self._running[id(parent)] = (parent, total)
            total += g
            running.append(_norm(total.astype(np.float64)))   # as `summary` computes a norm
        self.gradients[node] = (tuple(None if g is None else summary(g) for g in grads),
                                tuple(sent), tuple(running))
        self.backward_order.append(node)


SMALL = 16    # a summary keeps an array with at most this many values whole


def summary(array):
    """{"min", "max", "mean", "norm"} of an array as Python floats, and "values" (nested lists)
    when it has at most SMALL values: what the explorer shows of a value or a gradient."""
    a = np.asarray(array)
    if a.size == 0:
        return {"size": 0}
    f = a.astype(np.float64)
    found = {"min": float(f.min()), "max": float(f.max()), "mean": float(f.mean()),
             "norm": _norm(f)}
    if a.size <= SMALL:
        found["values"] = f.tolist()
    return found


def wengert_lines(nodes):
    """One line per node, as `print(tape)` shows them: `v3 = mul(v1, x) -> (2, 3) float32`."""
    position = {node: i for i, node in enumerate(nodes)}
    lines = []
    for i, node in enumerate(nodes):
        args = ", ".join(input_label(p, position) for p in node.parents)
        shapes = ", ".join(str(s) for s in node.out_shapes)
        where = f"   [{node.scope}]" if node.scope is not None else ""
        lines.append(f"v{i} = {node.op}({args}) -> {shapes} {node.dtype}{where}")
    return lines


def input_label(parent, position):
    """How a Wengert line names an input: v3 (v3[1] for an output of a node with several),
    a leaf's name or leaf(shape), or const; `position` maps nodes to their line."""
    if parent is None:
        return "const"
    if isinstance(parent, tuple):
        node, k = parent
        if node in position:
            return f"v{position[node]}" + (f"[{k}]" if len(node.out_shapes) > 1 else "")
        return f"{node.op}#{node.index}"
    return parent.name or f"leaf{parent.shape}"


# ---------------------------------------------------------------------------------------------
# versions: in-place writes to memory a node saved for its backward are caught, not computed on
# ---------------------------------------------------------------------------------------------
class Version:
    """How often a tensor's memory was written in place. A tensor and its views share one.

    writes   bumped by every in-place write (add_, x[i] = v, an optimizer's step): backward
             through a node refuses when something it saved was written after it was saved
    rebases  bumped by every recorded in-place op (it gives the tensor a new node); a view made
             before that hangs on the old graph, so using it again is refused
    shared   a view or a detached alias of the memory exists (or existed)
    """
    __slots__ = ("writes", "rebases", "shared")

    def __init__(self):
        self.writes = self.rebases = 0
        self.shared = False


_rebased_shared = False   # has a recorded in-place op hit memory that views share? (rare)


def note_rebase(version):
    """Called by a recorded in-place op: views made before it are now out of date."""
    global _rebased_shared
    version.writes += 1
    version.rebases += 1
    if version.shared:
        _rebased_shared = True


def share_version(base, view):
    """`view` shares `base`'s memory: one version for both (a view op's output, detach())."""
    version = base._version_counter()
    version.shared = True
    view._counter = version
    view._view_rebases = version.rebases


def _refuse_stale_views(fn, inputs):
    for t in inputs:
        if t._view_rebases is not None and t._view_rebases != t._counter.rebases:
            raise RuntimeError(
                f"{fn.op}: an input of shape {t.shape} is a view of a tensor that a recorded "
                f"in-place op (add_, mul_, x[i] = v, ...) changed after the view was made; the "
                f"view still hangs on the old graph, so its gradient would be wrong. Make the "
                f"view again after the in-place op, or use out-of-place ops (y = y * 2)")


def _saved_versions(saved, tensors):
    """(version, writes, shape) of each of `tensors` whose memory a node saved."""
    found = []
    for a in saved:
        if type(a) is not np.ndarray:
            continue
        base = a.base
        for t in tensors:
            b = t.array
            if a is b or base is b or (b.base is not None and b.base is a):
                version = t._counter
                if version is None:      # (Tensor._version_counter, inlined: once per node)
                    version = t._counter = Version()
                found.append((version, version.writes, a.shape))
                break
    return tuple(found)


def _check_versions(node):
    for version, writes, shape in node.saved_versions:
        if version.writes != writes:
            raise RuntimeError(
                f"backward: {node.op}{_where(node.scope)} saved a tensor of shape {shape} for "
                f"its backward, and that tensor was modified in place afterwards (version {writes} "
                f"when saved, {version.writes} now), so the gradient would be computed from the "
                f"wrong values. Typical causes: an optimizer step or an in-place op (add_, +=, "
                f"x[i] = v) between forward and backward; run backward first, or use the "
                f"out-of-place op (y = y + 1)")


def _where(scope):
    """ " (module path lstm.l0, time step 7)" for messages, or "" outside any scope."""
    if scope is None:
        return ""
    step = "" if scope.step is None else f", time step {scope.step}"
    return f" (module path {scope.path or '(top)'}{step})"


# ---------------------------------------------------------------------------------------------
# anomaly mode: the first non-finite value, forward or backward, named with where it was made
# ---------------------------------------------------------------------------------------------
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class AnomalyError(RuntimeError):
    """Raised in anomaly mode by the first op whose output or gradient is not finite."""


def set_detect_anomaly(mode):
    """Turn anomaly mode on or off for the whole process (torch.autograd.set_detect_anomaly)."""
    global _anomaly
    _anomaly = bool(mode)


class detect_anomaly:
    """`with detect_anomaly():` - every recorded op checks that its output is finite and
    remembers the line of user code that called it; backward checks every gradient. The first
    nan or inf raises AnomalyError naming the op, its module path and time step, the input
    shapes and that line. Costs time: for finding a bug, not for training."""

    def __enter__(self):
        self._prev = _anomaly
        set_detect_anomaly(True)

    def __exit__(self, *exc):
        set_detect_anomaly(self._prev)


def _user_line():
    """file:line: code of the innermost caller outside the tinygrad_seq package."""
    for frame in reversed(traceback.extract_stack()):
        if not frame.filename.startswith(_PACKAGE):
            return f"{frame.filename}:{frame.lineno}: {frame.line}"
    return "(inside tinygrad_seq)"


def _not_finite(array):
    """'nan' or 'inf' if a float array holds one, else None."""
    if array.dtype.kind != "f" or np.isfinite(array).all():
        return None
    return "nan" if np.isnan(array).any() else "inf"


def _anomaly_forward(fn, inputs, outputs):
    """Raise at the op that turns finite inputs into nan or inf (or at the first op that meets
    one made elsewhere: data, or computed outside anomaly mode)."""
    recorded = hasattr(fn, "index")
    if recorded:
        fn.created_at = _user_line()
    where = _where(fn.scope if recorded else _threads.mode.scope)
    shapes = ", ".join(str(t.shape) for t in inputs)
    for k, t in enumerate(inputs):
        bad = _not_finite(t.array)
        if bad:
            raise AnomalyError(
                f"anomaly: {fn.op}{where} got an input that already holds {bad} (input {k} of "
                f"shape {t.shape}): it was made outside anomaly mode, or is data; inputs: "
                f"{shapes}; called at {_user_line()}")
    for k, o in enumerate(outputs):
        bad = _not_finite(o)
        if bad:
            first = ""
            if k == 0 and getattr(fn, "fused", None) and o.ndim == 3:   # a whole sequence
                t = int(np.argmin(np.isfinite(o).reshape(o.shape[0], -1).all(axis=1)))
                bad, first = _not_finite(o[t]), f", first at time step {t}"
            raise AnomalyError(
                f"anomaly: {fn.op}{where} produced {bad} in its forward output {k} of shape "
                f"{o.shape}{first}; inputs: {shapes}; called at {_user_line()}")


def _anomaly_backward(node, input_grads):
    for k, g in enumerate(input_grads):
        bad = None if g is None else _not_finite(np.asarray(g))
        if bad:
            raise AnomalyError(
                f"anomaly: the backward of {node.op}{_where(node.scope)} produced {bad} in the "
                f"gradient for its input {k} of shape {node.in_shapes[k]} (the gradients it "
                f"received were finite); inputs: {', '.join(map(str, node.in_shapes))}; the op "
                f"was called at {getattr(node, 'created_at', '(recorded before anomaly mode)')}")


# ---------------------------------------------------------------------------------------------
# Function: base class of every op; an instance is a node on the tape
# ---------------------------------------------------------------------------------------------
# (what `apply` reads off every input: attrgetter maps are the cheapest way, run for each op)
_array = operator.attrgetter("array")
_requires_grad = operator.attrgetter("requires_grad")
_shape = operator.attrgetter("array.shape")


class Function:
    """An op: `forward(*arrays, **kwargs)` and `backward(*grad_outputs)` on numpy arrays.

    Subclasses write both side by side. `apply` runs forward and, when grad mode is on and an
    input needs a gradient, records the instance as a node. backward returns one gradient per
    input (None where there is none); a gradient may have the broadcast shape of the output:
    the walk reduces it to the input's shape in `unbroadcast`, or be a SliceGrad. An op whose
    output may be a view of its first input's memory (reshape, getitem, ...) sets `view = True`.
    """

    saved = saved_versions = ()
    view = False
    slice_grads = False   # backward takes a SliceGrad as it is (else the walk fills arrays)
    # set per node where needed (the walk, hooks, names); the defaults cost nothing per node
    freed = False
    hooks = retained = names = grad_norms = recording = None

    @property
    def op(self):
        return type(self).__name__.lower()

    def save_for_backward(self, *arrays):
        self.saved = arrays

    @classmethod
    def apply(cls, *inputs, **kwargs):
        """Run forward on the inputs' arrays; record a node if an input needs a gradient."""
        fn = cls()
        state = _threads.mode
        if _rebased_shared and state.grad_enabled:
            _refuse_stale_views(fn, inputs)
        try:
            out = fn.forward(*map(_array, inputs), **kwargs)
        except (ValueError, IndexError) as e:
            shapes = ", ".join(f"{t.shape} {t.dtype}" for t in inputs)
            named = str(e).startswith(f"{fn.op}:")   # the op's own message names it already
            raise type(e)(f"{'' if named else fn.op + ': '}{e} (inputs: {shapes})") from None
        make = inputs[0]._make  # Tensor._make, reached without importing tensor.py
        multi = type(out) is tuple
        # requires_grad: a leaf that asked for gradients, or an op's output that was recorded
        # (Tensor._make; requires_grad_ refuses to change it on the latter)
        if not (state.grad_enabled and any(map(_requires_grad, inputs))):
            result = tuple(make(o, None, 0) for o in out) if multi else make(out, None, 0)
        else:
            fn.index = next(_tape_counter)
            # where each input's gradient goes: its node and output index, the tensor itself
            # (a leaf that requires grad), or nowhere (None)
            fn.parents = tuple([(t._node, t._index) if t._node is not None else
                                t if t.requires_grad else None for t in inputs])
            fn.in_shapes = tuple(map(_shape, inputs))
            fn.out_shapes = tuple([o.shape for o in out]) if multi else (out.shape,)
            fn.dtype = out[0].dtype if multi else out.dtype
            fn.scope = state.scope
            for tape in state.tapes:
                tape.nodes.append(fn)
                if tape.record_values:
                    tape._record_forward(fn, inputs, out if multi else (out,))
            result = tuple(make(o, fn, k) for k, o in enumerate(out)) if multi else \
                make(out, fn, 0)
            if fn.saved:
                fn.saved_versions = _saved_versions(
                    fn.saved, inputs + (result if multi else (result,)))
        if _anomaly:
            _anomaly_forward(fn, inputs, out if multi else (out,))
        if cls.view:
            base = inputs[0].array
            for o in (result if multi else (result,)):
                # numpy's .base is the array that owns the memory: a view's is base or base's
                if o.array.base is not None and (o.array.base is base or
                                                 o.array.base is base.base):
                    share_version(inputs[0], o)
        return result

    def __repr__(self):
        if not hasattr(self, "index"):
            return f"<{self.op} (not recorded)>"
        shapes = ", ".join(str(s) for s in self.out_shapes)
        where = f" [{self.scope}]" if self.scope is not None else ""
        return f"<{self.op} #{self.index} -> {shapes}{where}>"


def unbroadcast(grad, shape):
    """Sum a gradient of a broadcast result back to `shape` (the one place broadcasting is undone)."""
    if not shape:                     # a scalar: one numpy sum
        return np.asarray(grad.sum())
    if grad.size == math.prod(shape):  # broadcast only over axes of size 1: nothing to add up
        return grad.reshape(shape)
    extra = grad.ndim - len(shape)
    if grad.shape[extra:] == shape:   # summed over leading axes only (a bias over the batch)
        if extra and grad.flags.c_contiguous and grad.dtype.kind == "f":
            return backend.sum_to_shape(grad, shape)   # one fused pass
        return grad.sum(axis=tuple(range(extra))) if extra else grad
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


# ---------------------------------------------------------------------------------------------
# the reverse walk
# ---------------------------------------------------------------------------------------------
def _run_hooks(hooks, grad, make):
    for hook in list(hooks.values()):
        result = hook(make(grad, None, 0))
        if result is not None:
            result = np.asarray(getattr(result, "data", result))
            if result.shape != grad.shape:
                raise ValueError(f"register_hook: a hook returned a gradient of shape "
                                 f"{result.shape}, expected {grad.shape}")
            grad = result.astype(grad.dtype, copy=False)
    return grad


def accumulate_leaf(leaf, grad):
    """Run the leaf's hooks on `grad`, its total from one backward pass; add it into
    `leaf.grad` (gradients are always added, never assigned)."""
    if leaf._hooks:
        grad = _run_hooks(leaf._hooks, grad, leaf._make)
    if leaf._grad is None:
        # a copy: the incoming array may be shared with another input or be a read-only view;
        # C-ordered whatever the incoming layout, so that optimizers and later sums run fast
        leaf._grad = leaf._make(np.array(grad, dtype=leaf.dtype, order="C"), None, 0)
    else:
        leaf._grad.array += grad


class SliceGrad:
    """A gradient that is zero but on one basic index of its array, where it is `values`: what
    GetItem's backward passes on (out[-1] of a sequence's outputs), kept so until a node needs
    the whole array. `keys` are numpy indexing steps (tensor.index_keys), all basic (views).
    The walk fills the array for every node but those whose `slice_grads` is True, which read
    only the selected part: the fused recurrent layers, where the seed LSTM's out[-1] spared
    filling, reading and taking the norm of 12.8 MB of zeros a step."""

    __slots__ = ("shape", "dtype", "keys", "values")

    def __init__(self, shape, dtype, keys, values):
        self.shape, self.dtype, self.keys, self.values = shape, dtype, keys, values

    def array(self):
        out = np.zeros(self.shape, self.dtype)
        target = out
        for key in self.keys[:-1]:
            target = target[key]
        target[self.keys[-1]] = self.values
        return out


def dense(g):
    """g as an array (None stays None)."""
    return g.array() if type(g) is SliceGrad else g


def backward(tensor, grad, retain_graph=False):
    """Propagate `grad` (an array shaped like `tensor`) to every leaf that `tensor` depends on."""
    root = tensor._node
    if root is None:  # a leaf: its gradient is the seed itself
        accumulate_leaf(tensor, grad)
        return
    make = tensor._make
    pending = {root: [None] * len(root.out_shapes)}   # node -> gradient of each of its outputs
    hooked = {}   # id -> (leaf, its gradient so far) for leaves with hooks: as in PyTorch, a
    #               hook sees the leaf's total gradient once, not each use's share
    pending[root][tensor._index] = grad
    heap = [(-root.index, root)]
    while heap:
        node = heapq.heappop(heap)[1]
        if node.freed:
            raise RuntimeError(
                f"backward: node {node.op} #{node.index} was already run through backward and its "
                f"saved buffers were freed; call backward(retain_graph=True) the first time to "
                f"backward through the same graph twice")
        if node.saved_versions:
            _check_versions(node)
        grads = pending.pop(node)
        if not node.slice_grads or node.hooks or node.retained or node.recording is not None:
            grads = [dense(g) for g in grads]
        # (a node with one output is only pending once that output has a gradient)
        if node.hooks or node.retained or (len(grads) > 1 and any(g is None for g in grads)):
            _complete_output_grads(node, grads, make)
        node.grad_norms = tuple([_norm(g) for g in grads])   # kept for pictures of gradient flow
        input_grads = node.backward(*grads)
        if type(input_grads) is not tuple:
            input_grads = (input_grads,)
        if _anomaly or node.recording is not None:
            input_grads = tuple(dense(g) for g in input_grads)
        if _anomaly:
            _anomaly_backward(node, input_grads)
        if node.recording is not None:      # Tape(record_values=True), for the explorer
            node.recording._record_backward(node, grads, input_grads)
        if not retain_graph:
            node.saved, node.freed = None, True
        for parent, shape, g in zip(node.parents, node.in_shapes, input_grads):
            if parent is None or g is None:
                continue
            if g.shape != shape:
                g = unbroadcast(g, shape)
            if type(parent) is not tuple:   # a leaf tensor
                g = dense(g)
                if parent._hooks:
                    so_far = hooked.get(id(parent))
                    hooked[id(parent)] = (parent, g if so_far is None else so_far[1] + g)
                else:
                    accumulate_leaf(parent, g)
                continue
            pnode, k = parent
            slots = pending.get(pnode)
            if slots is None:
                slots = pending[pnode] = [None] * len(pnode.out_shapes)
                heapq.heappush(heap, (-pnode.index, pnode))
            slots[k] = g if slots[k] is None else dense(slots[k]) + dense(g)
    for leaf, g in hooked.values():
        accumulate_leaf(leaf, g)


def _norm(g):
    """Euclidean norm of an array as a Python float (inf past float32's range: "exploded")."""
    if type(g) is SliceGrad:
        g = g.values            # the zeros add nothing
    flat = g.ravel(order="K")   # a view for C- and F-ordered arrays alike
    return math.sqrt(float(flat.dot(flat)))


def _complete_output_grads(node, grads, make):
    """Zeros for outputs that got no gradient; then the outputs' hooks and retained grads."""
    for k, g in enumerate(grads):
        if g is None:
            grads[k] = np.zeros(node.out_shapes[k], dtype=node.dtype)
        if node.hooks and k in node.hooks:
            grads[k] = _run_hooks(node.hooks[k], grads[k], make)
        if node.retained and k in node.retained:
            t = node.retained[k]()
            if t is not None:
                t.grad = make(grads[k], None, 0)


def retain(node, k, tensor):
    """Remember (weakly) that `tensor`, output k of `node`, wants its gradient kept."""
    if node.retained is None:
        node.retained = {}
    node.retained[k] = weakref.ref(tensor)
