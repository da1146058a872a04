"""What the pictures of gradient flow show, read from the tape: the time steps of each
recurrent layer and direction, the gradient reaching each step, and how saturated its gates were.

Steps are found from the scope tags the layers record (a composed layer's nodes carry the step;
a fused layer is one node that kept its per-step norms). Gate saturation comes from the forward
values of the sigmoid gates (i, f, o; r, z): a composed layer's gate ops and a fused layer's
buffers keep them until backward frees them, so a picture of saturation after backward needs
`loss.backward(retain_graph=True)`; nothing extra is computed or kept during training.
"""
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .graph import Graph, step_key

GATES = {"LSTM": ("i", "f", "o"), "GRU": ("r", "z")}
SATURATED = (0.01, 0.99)    # a sigmoid gate below / above these is saturated: its slope < 0.01


# ---------------------------------------------------------------------------------------------
# steps and their gradient norms
# ---------------------------------------------------------------------------------------------
def consumers(graph):
    """node -> the nodes that read its outputs."""
    found = defaultdict(set)
    for source, dst in graph.edges:
        if source[0] == "op":
            found[source[1]].add(dst)
    return found


def step_groups(graph):
    """node -> (path, step) of its step, for nodes recorded in a stepped scope and for glue ops
    (a squeeze of the input, say) whose every consumer sits in one and the same step."""
    readers = consumers(graph)
    group = {}
    for node in reversed(graph.ops):          # consumers come later on the tape
        key = step_key(node)
        if key is None:
            keys = {group.get(c) for c in readers[node]}
            if len(keys) == 1 and None not in keys:
                key = keys.pop()
        if key is not None:
            group[node] = key
    return group


def fused_nodes(graph):
    return [n for n in graph.ops if getattr(n, "fused", None)]


def run_order(node):
    """The time steps of a fused node in the order they ran."""
    steps = range(node.fused["steps"])
    return list(reversed(steps)) if node.fused["direction"] == "reverse" else list(steps)


def step_state_norms(graph, group):
    """(path, step) -> {"h": norm, "c": norm}: from the outputs named h_t and c_t, and from the
    per-step norms a fused layer's node keeps after backward."""
    norms = defaultdict(dict)
    for node, key in group.items():
        if node.names and node.grad_norms:
            for k, name in node.names.items():
                if name in ("h_t", "c_t"):
                    norms[key][name[0]] = node.grad_norms[k]
    for node in fused_nodes(graph):
        for state, values in (getattr(node, "step_grad_norms", None) or {}).items():
            for t, value in enumerate(values):
                norms[(node.scope.path, t)][state] = value
    return norms


# ---------------------------------------------------------------------------------------------
# one record per layer and direction
# ---------------------------------------------------------------------------------------------
@dataclass
class LayerFlow:
    """The gradient flow through one layer and direction, by time step t = 0 .. T-1.

    h, c        ||dL/dh_t||, ||dL/dc_t|| (c: LSTM only, else None); nan before backward
    saturation  {gate: (T, 2) fractions of the gate's values below 0.01 and above 0.99 at each
                step}, over the sequences still running at that step; None when the forward
                values are gone (backward without retain_graph) or the cell has no gates
    """
    path: str
    cell: str
    layer: object
    direction: str
    h: np.ndarray
    c: object
    saturation: object
    fused: bool

    @property
    def steps(self):
        return len(self.h)

    @property
    def name(self):
        return f"{self.cell} {self.path}"

    def run_order(self):
        """Time steps in the order they ran (the gradient flows the other way)."""
        return list(range(self.steps))[::-1 if self.direction == "reverse" else 1]


def layer_flows(output, graph=None):
    """A LayerFlow for each recurrent layer and direction in the graph of `output`, in the order
    they were recorded."""
    graph = graph or Graph(output)
    group = step_groups(graph)
    norms = step_state_norms(graph, group)
    steps, tags, gate_nodes, masks, first = defaultdict(set), {}, defaultdict(dict), {}, {}
    for node in graph.ops:
        key = group.get(node)
        if key is None:
            continue
        path, t = key
        steps[path].add(t)
        first.setdefault(path, node.index)
        if node.scope is not None and step_key(node) is not None:
            tags.setdefault(path, node.scope.tags)
        name = node.names.get(0) if node.names else None
        if name and name[0] in "ifozr" and name.endswith("_t") and node.op == "sigmoid":
            gate_nodes[key][name[0]] = node
        elif node.op == "where" and node.saved and key not in masks:
            masks[key] = node.saved[0]          # the step's mask: which sequences still run
    flows = []
    for path, times in steps.items():
        info = tags.get(path, {})
        cell = info.get("cell", "cell")
        T = max(times) + 1
        flows.append((first[path], LayerFlow(
            path, cell, info.get("layer"), info.get("direction", "forward"),
            _by_step(norms, path, T, "h"),
            _by_step(norms, path, T, "c") if cell == "LSTM" else None,
            _composed_saturation(gate_nodes, masks, path, T, GATES.get(cell)), False)))
    for node in fused_nodes(graph):
        info, path, T = node.fused, node.scope.path, node.fused["steps"]
        flows.append((node.index, LayerFlow(
            path, info["cell"], info["layer"], info["direction"], _by_step(norms, path, T, "h"),
            _by_step(norms, path, T, "c") if info["cell"] == "LSTM" else None,
            _fused_saturation(node), True)))
    return [flow for _, flow in sorted(flows, key=lambda pair: pair[0])]


def _by_step(norms, path, T, state):
    return np.array([norms[(path, t)].get(state, np.nan) for t in range(T)], dtype=float)


# ---------------------------------------------------------------------------------------------
# gate saturation
# ---------------------------------------------------------------------------------------------
def saturation_fractions(values, running=None):
    """(fraction below 0.01, fraction above 0.99) of a gate's values (B, H) at one step, over
    the rows (sequences) in `running` (B,) bool (None: all); nan if no sequence runs."""
    if running is not None:
        values = values[np.asarray(running).reshape(-1)]
    if values.size == 0:
        return np.nan, np.nan
    low, high = SATURATED
    return (np.count_nonzero(values < low) / values.size,
            np.count_nonzero(values > high) / values.size)


def _composed_saturation(gate_nodes, masks, path, T, gates):
    if not gates:
        return None
    found = {}
    for gate in gates:
        rows = []
        for t in range(T):
            node = gate_nodes[(path, t)].get(gate)
            if node is None or not node.saved:     # freed by backward, or not recorded
                return None
            rows.append(saturation_fractions(node.saved[0], masks.get((path, t))))
        found[gate] = np.array(rows)
    return found


def _fused_saturation(node):
    read = getattr(node, "gate_activations", None)
    saved = read() if read is not None else None
    if saved is None:
        return None
    values, valid = saved
    return {gate: np.array([saturation_fractions(v[t], None if valid is None else valid[t])
                            for t in range(v.shape[0])])
            for gate, v in values.items()}
