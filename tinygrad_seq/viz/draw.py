"""Views of a computation graph as graphviz.Digraph, with gradient flow after backward.

Views
  op        every op of the tape; steps of a recurrent layer as clusters (from the scope tags)
  cell      one node per cell per time step, the recurrent state drawn between them
  layer     one node per layer and direction
  rolled    one cell per layer and direction with a loop edge: the textbook picture
  backward  the gradient computation: each op's backward and where its gradients go

After `loss.backward()`, edges are coloured and sized by the norm of the gradient of the tensor
they carry (log scale, legend included) and each step is labelled with ||dL/dh_t||
(and ||dL/dc_t||); steps whose ||dL/dh_t|| is below `vanishing` or above `exploding` are
highlighted.
"""
import math
from collections import defaultdict

import graphviz

from ..nn.module import Parameter
from .graph import Graph, step_key

VIEWS = ("op", "cell", "layer", "rolled", "backward")
# sequential palette (ColorBrewer YlOrRd): pale = small gradient, dark red = large
PALETTE = ["#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026"]
VANISHED_FILL, EXPLODED_FILL, STEP_FILL = "#dfe7f2", "#fbd3c7", "#f7f7f7"


def draw(output, view="op", *, gradients=None, vanishing=1e-6, exploding=1e3, max_nodes=1000,
         show_saved=False, show_values=False, expand_fused=False, title=None):
    """Draw the graph that produced `output` (a Tensor) as a graphviz.Digraph.

    gradients   colour edges by gradient norm: default True once the graph went through backward
    vanishing   steps with ||dL/dh_t|| below this are marked "vanished"
    exploding   steps with ||dL/dh_t|| above this are marked "exploded"
    max_nodes   refuse pictures with more nodes than this (None: no limit); big unrolled graphs
                read better at view="cell", "layer" or "rolled"
    show_saved  list the shapes each op saved for backward (or "freed" after backward)
    show_values summarise leaf and output values (mean, std, min, max)
    expand_fused in the op view, draw a fused layer (nn.LSTM(fused=True), one node for the whole
                sequence) as the chain of cells it stands for, with each step's gradient norms,
                instead of one box; the cell view always expands them, the layer and rolled
                views never do
    The result renders with `.render()`, `.pipe()` or `save()`, and shows itself in Jupyter.
    """
    if view not in VIEWS:
        raise ValueError(f"draw: view must be one of {VIEWS}, got {view!r}")
    graph = Graph(output)
    if gradients is None:
        gradients = graph.has_gradients
    elif gradients and not graph.has_gradients:
        raise ValueError("draw: gradients=True, but this graph has not been through backward()")
    painter = _Painter(graph, gradients)
    builder = {"op": _op_view, "cell": _grouped_view, "layer": _grouped_view,
               "rolled": _grouped_view, "backward": _backward_view}[view]
    spec = builder(graph, painter, view=view, show_saved=show_saved, show_values=show_values,
                   vanishing=vanishing, exploding=exploding, expand_fused=expand_fused)
    if max_nodes is not None and spec.count > max_nodes:
        raise ValueError(f"draw: the {view!r} view of this graph has {spec.count} nodes, more than "
                         f"max_nodes={max_nodes}; use a collapsed view (view='cell', 'layer' or "
                         f"'rolled'), or pass a larger max_nodes")
    return spec.to_digraph(title, painter)


# ---------------------------------------------------------------------------------------------
# gradient styling
# ---------------------------------------------------------------------------------------------
class _Painter:
    """Maps gradient norms to colours and widths on a log scale shared by the whole picture."""

    def __init__(self, graph, enabled):
        self.enabled = enabled
        logs = [math.log10(n) for n in (graph.grad_norm(s) for s, _ in graph.edges)
                if n is not None and 0 < n < math.inf]
        self.lo, self.hi = (min(logs), max(logs)) if logs else (0.0, 0.0)

    def position(self, norm):
        """0 (smallest norm in the picture) .. 1 (largest); zero and inf clamp to the ends."""
        if norm is None or norm <= 0:
            return 0.0
        if norm == math.inf or self.hi == self.lo:
            return 1.0
        return min(1.0, max(0.0, (math.log10(norm) - self.lo) / (self.hi - self.lo)))

    def edge_attrs(self, norm):
        if not self.enabled or norm is None:
            return {}
        t = self.position(norm)
        return {"color": PALETTE[round(t * (len(PALETTE) - 1))], "penwidth": f"{0.6 + 3.4 * t:.2f}",
                "tooltip": f"||grad|| = {norm:.3g}"}

    def legend(self, digraph):
        if not self.enabled:
            return
        with digraph.subgraph(name="cluster_legend") as legend:
            legend.attr(label="gradient norm (log scale)", fontsize="10", style="rounded",
                        color="#999999")
            previous = None
            for i, colour in enumerate(PALETTE):
                t = i / (len(PALETTE) - 1)
                value = 10 ** (self.lo + t * (self.hi - self.lo))
                name = f"legend{i}"
                legend.node(name, f"{value:.1e}", shape="box", style="filled", fillcolor=colour,
                            fontsize="9", fontcolor="white" if i > 3 else "black", height="0.2")
                if previous:
                    legend.edge(previous, name, style="invis")
                previous = name


def _fmt(norm):
    return "?" if norm is None else f"{norm:.2e}"


# ---------------------------------------------------------------------------------------------
# a picture before it becomes DOT: nodes, clusters, edges
# ---------------------------------------------------------------------------------------------
class _Spec:
    def __init__(self):
        self.nodes = {}                       # id -> (attrs, cluster or None)
        self.clusters = {}                    # cluster id -> attrs
        self.edges = []                       # (tail, head, attrs)

    @property
    def count(self):
        return len(self.nodes)

    def node(self, nid, cluster=None, **attrs):
        self.nodes[nid] = (attrs, cluster)

    def edge(self, tail, head, **attrs):
        self.edges.append((tail, head, attrs))

    def to_digraph(self, title, painter):
        g = graphviz.Digraph("tinygrad_seq", graph_attr={
            "rankdir": "LR", "fontname": "Helvetica", "fontsize": "11", "nodesep": "0.15",
            "ranksep": "0.3",
            # dot's network-simplex passes grow much faster than the graph: an LSTM unrolled
            # 100 steps took minutes at the default limits and takes seconds at these
            "nslimit": "4", "nslimit1": "4",
            **({"label": title, "labelloc": "t"} if title else {})},
            node_attr={"fontname": "Helvetica", "fontsize": "10", "shape": "box",
                       "style": "rounded", "height": "0.3"},
            edge_attr={"arrowsize": "0.6"})
        members = defaultdict(list)
        for nid, (attrs, cluster) in self.nodes.items():
            members[cluster].append((nid, _dot_escape(attrs)))
        for nid, attrs in members.pop(None, []):
            g.node(nid, **attrs)
        for cluster, attrs in self.clusters.items():
            with g.subgraph(name=f"cluster_{cluster}") as sub:
                sub.attr(**_dot_escape(attrs))
                for nid, node_attrs in members.get(cluster, []):
                    sub.node(nid, **node_attrs)
        for tail, head, attrs in self.edges:
            g.edge(tail, head, **_dot_escape(attrs))
        painter.legend(g)
        return g


def _dot_escape(attrs):
    """Line breaks in labels as DOT's centred-line escape, so each node stays on one line."""
    if "label" in attrs:
        attrs = dict(attrs, label=attrs["label"].replace("\n", "\\n"))
    return attrs


def _op_id(node):
    return f"op{node.index}"


def _leaf_id(leaf):
    return f"leaf{id(leaf)}"


def _shape_text(shape):
    return "(" + ", ".join(map(str, shape)) + ")"


def _value_text(array):
    if array.size == 0:
        return "empty"
    return (f"mean {array.mean():.3g} std {array.std():.3g}\n"
            f"min {array.min():.3g} max {array.max():.3g}")


def _leaf_attrs(leaf, graph, show_values, gradients):
    is_param = isinstance(leaf, Parameter)
    label = f"{leaf.name or ('parameter' if is_param else 'input')}\n{_shape_text(leaf.shape)}"
    if show_values:
        label += "\n" + _value_text(leaf.array)
    if gradients:
        label += f"\n||grad|| {_fmt(graph.grad_norm(('leaf', leaf)))}"
    if is_param:
        return dict(label=label, style="filled,rounded", fillcolor="#cfe2f3", shape="box")
    return dict(label=label, style="filled", fillcolor="#eeeeee", shape="ellipse")


def _op_label(node, show_saved):
    names = [node.names.get(k) for k in range(len(node.out_shapes))] if node.names else []
    named = ", ".join(n for n in names if n)
    shapes = node.out_shapes
    shape = _shape_text(shapes[0]) if len(shapes) == 1 else f"{len(shapes)} x {_shape_text(shapes[0])}"
    label = f"{named} = {node.op}\n{shape}" if named else f"{node.op}\n{shape}"
    if show_saved:
        saved = "freed" if node.freed else ", ".join(
            _shape_text(a.shape) for a in (node.saved or ()) if hasattr(a, "shape")) or "nothing"
        label += f"\nsaved: {saved}"
    return label


# ---------------------------------------------------------------------------------------------
# grouping ops into time steps and layers
# ---------------------------------------------------------------------------------------------
def _consumers(graph):
    consumers = defaultdict(set)
    for source, dst in graph.edges:
        if source[0] == "op":
            consumers[source[1]].add(dst)
    return consumers


def _step_groups(graph):
    """node -> (path, step) of its step, for nodes recorded in a stepped scope and for glue ops
    (a squeeze of the input, say) whose every consumer sits in one and the same step."""
    consumers = _consumers(graph)
    group = {}
    for node in reversed(graph.ops):          # consumers come later on the tape
        key = step_key(node)
        if key is None:
            keys = {group.get(c) for c in consumers[node]}
            if len(keys) == 1 and None not in keys:
                key = keys.pop()
        if key is not None:
            group[node] = key
    return group


def _step_state_norms(graph, group):
    """(path, step) -> {"h": norm, "c": norm}: from the outputs named h_t and c_t, and from the
    per-step norms a fused layer's node keeps after backward."""
    norms = defaultdict(dict)
    for node, key in group.items():
        if node.names and node.grad_norms:
            for k, name in node.names.items():
                if name in ("h_t", "c_t"):
                    norms[key][name[0]] = node.grad_norms[k]
    for node in _fused_nodes(graph):
        for state, values in (getattr(node, "step_grad_norms", None) or {}).items():
            for t, value in enumerate(values):
                norms[(node.scope.path, t)][state] = value
    return norms


def _fused_nodes(graph):
    return [n for n in graph.ops if getattr(n, "fused", None)]


def _run_order(node):
    """The time steps of a fused node in the order they ran."""
    steps = range(node.fused["steps"])
    return list(reversed(steps)) if node.fused["direction"] == "reverse" else list(steps)


def _fused_label(node, norms, gradients):
    info = node.fused
    label = (f"{info['cell']} {node.scope.path} (fused)\n{info['direction']}, "
             f"{info['steps']} steps")
    h = [norms[(node.scope.path, t)].get("h") for t in range(info["steps"])]
    if gradients and h and None not in h:
        label += f"\n||dL/dh_t|| {_fmt(min(h))} .. {_fmt(max(h))}"
    return label


def _expand_fused(spec, node, norms, painter, vanishing, exploding, cluster=None):
    """Draw a fused node as the chain of cells it stands for; returns (first, last) cell ids."""
    path, gradients = node.scope.path, painter.enabled
    order = _run_order(node)
    ids = [f"cell/{path}/{t}" for t in order]
    tags = dict(node.scope.tags, cell=node.fused["cell"])
    for t, cid in zip(order, ids):
        key = (path, t)
        health = _health(norms[key], vanishing, exploding) if gradients else None
        fill = {"vanished": VANISHED_FILL, "exploded": EXPLODED_FILL}.get(health, "#d9ead3")
        spec.node(cid, cluster, label=_step_label(key, tags, norms[key], gradients)
                  + (f"\n{health}" if health else ""), style="filled,rounded", fillcolor=fill)
    states = ["h", "c"] if node.fused["cell"] == "LSTM" else ["h"]
    for (t, a), b in zip(zip(order, ids), ids[1:]):
        for state in states:
            attrs = painter.edge_attrs(norms[(path, t)].get(state))
            spec.edge(a, b, label=state, fontsize="9", weight="8", **attrs)
    return ids[0], ids[-1]


def _step_label(key, tags, norms, gradients):
    path, step = key
    cell = tags.get("cell", "cell")
    label = f"{cell} {path} t={step}" if path else f"{cell} t={step}"
    if gradients:
        for state in ("h", "c"):
            if state in norms:
                label += f"\n||dL/d{state}_t|| {_fmt(norms[state])}"
    return label


def _health(norms, vanishing, exploding):
    h = norms.get("h")
    if h is None:
        return None
    if h > exploding:
        return "exploded"
    if h < vanishing:
        return "vanished"
    return None


# ---------------------------------------------------------------------------------------------
# views
# ---------------------------------------------------------------------------------------------
def _op_view(graph, painter, *, show_saved, show_values, vanishing, exploding, expand_fused,
             **_):
    spec, gradients = _Spec(), painter.enabled
    group = _step_groups(graph)
    norms = _step_state_norms(graph, group)
    cluster_of = {key: f"s{i}" for i, key in enumerate(dict.fromkeys(
        group[n] for n in graph.ops if n in group))}
    tags = {group[n]: n.scope.tags for n in graph.ops if n in group and n.scope is not None}
    for key, cid in cluster_of.items():
        health = _health(norms[key], vanishing, exploding) if gradients else None
        label = _step_label(key, tags.get(key, {}), norms[key], gradients)
        fill = {"vanished": VANISHED_FILL, "exploded": EXPLODED_FILL}.get(health, STEP_FILL)
        spec.clusters[cid] = dict(label=label + (f"\n{health}" if health else ""),
                                  style="rounded,filled", fillcolor=fill, color="#888888",
                                  fontsize="10")
    ends = {}        # fused node -> (first cell, last cell) when expanded
    for node in graph.ops:
        if getattr(node, "fused", None):
            if expand_fused:
                cid = f"f{node.index}"
                spec.clusters[cid] = dict(label=_fused_label(node, norms, gradients),
                                          style="rounded,dashed", color="#38761d", fontsize="10")
                ends[node] = _expand_fused(spec, node, norms, painter, vanishing, exploding, cid)
            else:
                spec.node(_op_id(node), label=_fused_label(node, norms, gradients),
                          style="filled,rounded", fillcolor="#d9ead3")
            continue
        attrs = dict(label=_op_label(node, show_saved))
        if node.names and any(n in ("h_t", "c_t") for n in node.names.values()):
            attrs.update(style="rounded,bold")
        if node is graph.output._node:
            attrs.update(peripheries="2")
            if show_values:
                attrs["label"] += "\n" + _value_text(graph.output.array)
        spec.node(_op_id(node), cluster_of.get(group.get(node)), **attrs)
    # a parameter used in several steps appears once, and as a small proxy in each step
    used_in = defaultdict(set)
    for source, dst in graph.edges:
        if source[0] == "leaf":
            used_in[id(source[1])].add(group.get(dst))
    shared = {lid for lid, keys in used_in.items() if len(keys - {None}) > 1}
    if shared:
        spec.clusters["params"] = dict(label="parameters (each step uses a proxy of these)",
                                       style="rounded,dashed", color="#6f8fb0", fontsize="10")
    for lid, leaf in graph.leaves.items():
        spec.node(_leaf_id(leaf), "params" if lid in shared else None,
                  **_leaf_attrs(leaf, graph, show_values, gradients))
    proxies = set()
    for source, dst in graph.edges:
        attrs = painter.edge_attrs(graph.grad_norm(source))
        key = group.get(dst)
        if source[0] == "leaf" and id(source[1]) in shared and key is not None:
            tail = f"{_leaf_id(source[1])}_{cluster_of[key]}"
            if tail not in proxies:
                proxies.add(tail)
                spec.node(tail, cluster_of[key], label=source[1].name or "parameter",
                          shape="box", style="filled,rounded", fillcolor="#cfe2f3",
                          fontsize="8", height="0.2", margin="0.04,0.02")
        else:
            tail = _leaf_id(source[1]) if source[0] == "leaf" else _op_id(source[1])
        src_key = group.get(source[1]) if source[0] == "op" else None
        if src_key is not None and key is not None and src_key != key:
            attrs["weight"] = "8"              # the recurrent spine: keep it straight
        if source[0] == "op" and source[1] in ends:
            tail = ends[source[1]][1]          # an expanded fused layer's output: its last cell
        spec.edge(tail, ends[dst][0] if dst in ends else _op_id(dst), **attrs)
    return spec


def _grouped_view(graph, painter, *, view, show_values, vanishing, exploding, **_):
    """cell: a node per (layer, step); layer and rolled: a node per layer and direction."""
    spec, gradients = _Spec(), painter.enabled
    steps = _step_groups(graph)
    norms = _step_state_norms(graph, steps)
    fused = _fused_nodes(graph)
    ends = {}        # fused node -> (first cell, last cell) in the cell view
    if view == "cell":
        group = {n: f"cell/{key[0]}/{key[1]}" for n, key in steps.items()}
        for node in fused:
            ends[node] = _expand_fused(spec, node, norms, painter, vanishing, exploding)
            group[node] = ends[node]
    else:
        layer_paths = {key[0] for key in steps.values()} | {n.scope.path for n in fused}
        group = {n: f"layer/{n.scope.path}" for n in graph.ops
                 if n.scope is not None and n.scope.path in layer_paths}
    members = defaultdict(list)
    for node in graph.ops:
        members[group.get(node, _op_id(node))].append(node)

    for gid, nodes in members.items():
        if isinstance(gid, tuple):
            continue                           # an expanded fused layer: drawn above
        if gid.startswith("cell/"):
            key = steps[nodes[0]]
            health = _health(norms[key], vanishing, exploding) if gradients else None
            label = _step_label(key, nodes[0].scope.tags, norms[key], gradients)
            fill = {"vanished": VANISHED_FILL, "exploded": EXPLODED_FILL}.get(health, "#d9ead3")
            spec.node(gid, label=label + (f"\n{health}" if health else ""), style="filled,rounded",
                      fillcolor=fill, shape="box")
        elif gid.startswith("layer/"):
            path = gid[len("layer/"):]
            fused_here = [n for n in nodes if getattr(n, "fused", None)]
            layer_steps = sorted({steps[n][1] for n in nodes if n in steps} | {
                t for n in fused_here for t in range(n.fused["steps"])})
            tags = next(n.scope.tags for n in nodes if n in steps or n in fused_here)
            label = f"{tags.get('cell', 'cell')} {path}"
            if view == "layer":
                label += f"\n{len(layer_steps)} steps"
            if gradients:
                h = [norms[(path, t)].get("h") for t in layer_steps]
                h = [v for v in h if v is not None]
                if h:
                    label += f"\n||dL/dh_t|| {_fmt(min(h))} .. {_fmt(max(h))}"
            spec.node(gid, label=label, style="filled,rounded", fillcolor="#d9ead3")
            if view == "rolled":
                state = "h, c" if any(norms[(path, t)].get("c") is not None for t in layer_steps) \
                    or tags.get("cell") == "LSTM" else "h"
                spec.edge(gid, gid, label=f"{state}  x {len(layer_steps)} steps", fontsize="9",
                          color="#38761d", penwidth="2")
        else:
            node = nodes[0]
            attrs = dict(label=_op_label(node, False))
            if node is graph.output._node:
                attrs.update(peripheries="2")
            spec.node(gid, **attrs)

    seen = set()
    for source, dst in graph.edges:
        head = group.get(dst, _op_id(dst))
        head = head[0] if isinstance(head, tuple) else head    # into a fused chain: first cell
        if source[0] == "leaf":
            if head.startswith(("cell/", "layer/")) and isinstance(source[1], Parameter):
                continue                       # a cell's own weights live inside its box
            tail = _leaf_id(source[1])
            if tail not in spec.nodes:
                spec.node(tail, **_leaf_attrs(source[1], graph, show_values, gradients))
        else:
            tail = group.get(source[1], _op_id(source[1]))
            tail = tail[1] if isinstance(tail, tuple) else tail    # out of a fused chain: last cell
        identity = (source[0], id(source[1]), source[2] if source[0] == "op" else 0, head)
        if tail == head or identity in seen:
            continue
        seen.add(identity)
        attrs = painter.edge_attrs(graph.grad_norm(source))
        name = graph.tensor_name(source)
        if name and tail.startswith("cell/") and head.startswith("cell/"):
            attrs.update(label=name.replace("_t", ""), fontsize="9", weight="8")
        spec.edge(tail, head, **attrs)
    return spec


def _backward_view(graph, painter, *, show_values, **_):
    """Each op's backward as a node; an edge for each gradient it sends to an input."""
    spec, gradients = _Spec(), painter.enabled
    root = graph.output._node
    spec.node("seed", label="dL/dL = 1" if graph.output.size == 1 else "gradient seed",
              shape="plaintext")
    for node in graph.ops:
        label = f"{node.op}_backward"
        if gradients and node.grad_norms is not None:
            label += "\nin: " + ", ".join(_fmt(n) for n in node.grad_norms)
        spec.node(_op_id(node), label=label, style="filled,rounded", fillcolor="#fff2cc")
    if root is not None:
        spec.edge("seed", _op_id(root))
    for leaf in graph.leaves.values():
        attrs = _leaf_attrs(leaf, graph, show_values, gradients)
        attrs["label"] = "accumulate into .grad\n" + attrs["label"]
        spec.node(_leaf_id(leaf), **attrs)
    for source, dst in graph.edges:
        tail = _op_id(dst)
        head = _leaf_id(source[1]) if source[0] == "leaf" else _op_id(source[1])
        attrs = painter.edge_attrs(graph.grad_norm(source))
        name = graph.tensor_name(source)
        attrs.update(label=f"d/d{name}" if name else "", fontsize="8")
        spec.edge(tail, head, **attrs)
    return spec
