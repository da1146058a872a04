"""The tape: nodes, name scopes, grad mode and the reverse walk.

Every op that has an input needing a gradient becomes a node: an instance of its `Function`
subclass (see ops.py) that remembers

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
import weakref

import numpy as np

from .kernels import backend

# ---------------------------------------------------------------------------------------------
# global state: grad mode, the name scope, the open tapes
# ---------------------------------------------------------------------------------------------
_grad_enabled = True
_current_scope = None      # a Scope or None
_open_tapes = []           # Tape objects inside their `with` block
_tape_counter = itertools.count()


def is_grad_enabled():
    return _grad_enabled


class no_grad:
    """Record nothing inside: `with no_grad(): ...` or `@no_grad()` on a function."""

    def __enter__(self):
        global _grad_enabled
        self._prev, _grad_enabled = _grad_enabled, False

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._prev

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)
        wrapper.__name__, wrapper.__doc__, wrapper.__wrapped__ = fn.__name__, fn.__doc__, fn
        return wrapper


class Scope:
    """The tags a node is recorded with: a dotted module path, a time step and free-form tags.

    `with scope("lstm", layer=0, direction="forward"): with scope("cell", step=3): ...` tags the
    nodes inside with path "lstm.cell", step 3 and tags {"layer": 0, "direction": "forward"}.
    Inner scopes extend the path and override the step and tags they set.
    """

    def __init__(self, name, step=None, **tags):
        self.name, self.step, self.tags = name, step, tags
        self.path, self.parent = name, None

    def __enter__(self):
        global _current_scope
        outer = _current_scope
        if outer is not None:
            self.path = f"{outer.path}.{self.name}" if self.name else outer.path
            self.step = outer.step if self.step is None else self.step
            self.tags = {**outer.tags, **self.tags}
        self.parent, _current_scope = outer, self
        return self

    def __exit__(self, *exc):
        global _current_scope
        _current_scope = self.parent

    def __repr__(self):
        step = "" if self.step is None else f"@{self.step}"
        tags = "".join(f" {k}={v}" for k, v in self.tags.items())
        return f"{self.path}{step}{tags}"


def scope(name, step=None, **tags):
    """Context manager that tags every node recorded inside (see `Scope`)."""
    return Scope(name, step, **tags)


def current_scope():
    return _current_scope


class Tape:
    """`with Tape() as tape:` collects the nodes recorded inside the block, in order.

    `print(tape)` shows them as a Wengert list: one line per node, its inputs named by the
    earlier lines (v0, v1, ...) or, for leaves, by name and shape.
    """

    def __init__(self):
        self.nodes = []

    def __enter__(self):
        _open_tapes.append(self)
        return self

    def __exit__(self, *exc):
        _open_tapes.remove(self)

    def __len__(self):
        return len(self.nodes)

    def __iter__(self):
        return iter(self.nodes)

    def __getitem__(self, i):
        return self.nodes[i]

    def __str__(self):
        position = {node: i for i, node in enumerate(self.nodes)}
        lines = []
        for i, node in enumerate(self.nodes):
            args = ", ".join(_describe_parent(p, position) for p in node.parents)
            shapes = ", ".join(str(s) for s in node.out_shapes)
            where = f"   [{node.scope}]" if node.scope is not None else ""
            lines.append(f"v{i} = {node.op}({args}) -> {shapes} {node.dtype}{where}")
        return "\n".join(lines) if lines else "(empty tape)"

    __repr__ = __str__


def _describe_parent(parent, position):
    if parent is None:
        return "const"
    if isinstance(parent, tuple):
        node, k = parent
        if node in position:
            return f"v{position[node]}" + (f"[{k}]" if len(node.out_shapes) > 1 else "")
        return f"{node.op}#{node.index}"
    return parent.name or f"leaf{parent.shape}"


# ---------------------------------------------------------------------------------------------
# Function: base class of every op; an instance is a node on the tape
# ---------------------------------------------------------------------------------------------
class Function:
    """An op: `forward(*arrays, **kwargs)` and `backward(*grad_outputs)` on numpy arrays.

    Subclasses write both side by side. `apply` runs forward and, when grad mode is on and an
    input needs a gradient, records the instance as a node. backward returns one gradient per
    input (None where there is none); a gradient may have the broadcast shape of the output:
    the walk reduces it to the input's shape in `unbroadcast`.
    """

    saved = ()
    # set per node where needed (the walk, hooks, names); the defaults cost nothing per node
    freed = False
    hooks = retained = names = grad_norms = None

    @property
    def op(self):
        return type(self).__name__.lower()

    def save_for_backward(self, *arrays):
        self.saved = arrays

    @classmethod
    def apply(cls, *inputs, **kwargs):
        """Run forward on the inputs' arrays; record a node if an input needs a gradient."""
        fn = cls()
        try:
            out = fn.forward(*[t.data for t in inputs], **kwargs)
        except (ValueError, IndexError) as e:
            shapes = ", ".join(f"{t.shape} {t.dtype}" for t in inputs)
            raise type(e)(f"{fn.op}: {e} (inputs: {shapes})") from None
        make = inputs[0]._make  # Tensor._make, reached without importing tensor.py
        # requires_grad: a leaf that asked for gradients, or an op's output that was recorded
        # (Tensor._make; requires_grad_ refuses to change it on the latter)
        if not (_grad_enabled and any([t.requires_grad for t in inputs])):
            return tuple(make(o, None, 0) for o in out) if type(out) is tuple else make(out, None, 0)
        fn.index = next(_tape_counter)
        fn.parents = tuple([t._grad_edge() for t in inputs])
        fn.in_shapes = tuple([t.data.shape for t in inputs])
        fn.out_shapes = tuple([o.shape for o in out]) if type(out) is tuple else (out.shape,)
        fn.dtype = out[0].dtype if type(out) is tuple else out.dtype
        fn.scope = _current_scope
        for tape in _open_tapes:
            tape.nodes.append(fn)
        if type(out) is tuple:
            return tuple(make(o, fn, k) for k, o in enumerate(out))
        return make(out, fn, 0)

    def __repr__(self):
        if not hasattr(self, "index"):
            return f"<{self.op} (not recorded)>"
        shapes = ", ".join(str(s) for s in self.out_shapes)
        where = f" [{self.scope}]" if self.scope is not None else ""
        return f"<{self.op} #{self.index} -> {shapes}{where}>"


def unbroadcast(grad, shape):
    """Sum a gradient of a broadcast result back to `shape` (the one place broadcasting is undone)."""
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
    if leaf.grad is None:
        # a copy: the incoming array may be shared with another input or be a read-only view;
        # C-ordered whatever the incoming layout, so that optimizers and later sums run fast
        leaf.grad = leaf._make(np.array(grad, dtype=leaf.dtype, order="C"), None, 0)
    else:
        leaf.grad.data += grad


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
        grads = pending.pop(node)
        # (a node with one output is only pending once that output has a gradient)
        if node.hooks or node.retained or (len(grads) > 1 and any(g is None for g in grads)):
            _complete_output_grads(node, grads, make)
        node.grad_norms = tuple([_norm(g) for g in grads])   # kept for pictures of gradient flow
        input_grads = node.backward(*grads)
        if type(input_grads) is not tuple:
            input_grads = (input_grads,)
        if not retain_graph:
            node.saved, node.freed = None, True
        for parent, shape, g in zip(node.parents, node.in_shapes, input_grads):
            if parent is None or g is None:
                continue
            if g.shape != shape:
                g = unbroadcast(g, shape)
            if type(parent) is not tuple:   # a leaf tensor
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
            slots[k] = g if slots[k] is None else slots[k] + g
    for leaf, g in hooked.values():
        accumulate_leaf(leaf, g)


def _norm(g):
    """Euclidean norm of an array as a Python float (inf past float32's range: "exploded")."""
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
