"""The part of the tape that reaches an output, gathered without recursion, for drawing."""
import math

from ..tensor import Tensor


class Graph:
    """Ops (tape nodes in tape order), leaves, and edges between them, for one output.

    edges: (source, destination) pairs, where a source is ("op", node, output_index) or
    ("leaf", tensor) and a destination is a node. `grad_norm(source)` is the norm of the
    gradient of the source tensor after backward (None before).
    """

    def __init__(self, output):
        if not isinstance(output, Tensor):
            raise TypeError(f"draw: expected a Tensor, got {type(output).__name__}")
        self.output = output
        self.ops, self.leaves, self.edges = [], {}, []
        root = output._node
        if root is None:
            if output.requires_grad:
                self.leaves[id(output)] = output
            return
        seen, stack = {root}, [root]
        while stack:                       # iterative depth-first walk over parents
            node = stack.pop()
            self.ops.append(node)
            for parent in node.parents:
                if parent is None:
                    continue
                if isinstance(parent, tuple):
                    pnode, k = parent
                    self.edges.append((("op", pnode, k), node))
                    if pnode not in seen:
                        seen.add(pnode)
                        stack.append(pnode)
                else:
                    self.leaves[id(parent)] = parent
                    self.edges.append((("leaf", parent), node))
        self.ops.sort(key=lambda n: n.index)
        self.edges.sort(key=lambda e: (e[1].index, _source_order(e[0])))

    @property
    def has_gradients(self):
        return any(node.grad_norms is not None for node in self.ops)

    @staticmethod
    def grad_norm(source):
        if source[0] == "op":
            norms = source[1].grad_norms
            return None if norms is None else norms[source[2]]
        grad = source[1].grad
        return None if grad is None else math.sqrt(float((grad.numpy().astype(float) ** 2).sum()))

    @staticmethod
    def tensor_name(source):
        if source[0] == "leaf":
            return source[1].name
        node, k = source[1], source[2]
        return node.names.get(k) if node.names else None

    @staticmethod
    def shape(source):
        return source[1].shape if source[0] == "leaf" else source[1].out_shapes[source[2]]


def _source_order(source):
    return source[1].index if source[0] == "op" else -1


def attention_call(node):
    """The scope of the attention module call (nn.MultiheadAttention, ...) that recorded
    `node`, the same object for every node of one call; None outside attention."""
    call = node.scope
    if call is None or "attention" not in call.tags:
        return None
    while call.parent is not None and "attention" in call.parent.tags:
        call = call.parent
    return call


def step_key(node):
    """(scope path, time step) of a node recorded inside a stepped scope, else None."""
    scope = node.scope
    if scope is None or scope.step is None:
        return None
    return scope.path, scope.step
