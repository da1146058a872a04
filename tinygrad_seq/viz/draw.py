"""Views of a computation graph as graphviz.Digraph, with gradient flow after backward.

Views
  op        every op of the tape; steps of a recurrent layer as clusters (from the scope tags)
  cell      one box per cell per time step, the recurrent state drawn between them
  layer     one node per layer and direction
  rolled    one cell per layer and direction with a loop edge: the textbook picture
  backward  the gradient computation: each op's backward and where its gradients go

After `loss.backward()` everything that carries a gradient is coloured by its norm on one log
scale running from the smallest to the largest norm in the picture (colors.py; the legend shows
that range): edges (wider, too, for larger norms), parameters, and every time step, filled by
||dL/dh_t|| with a band below for ||dL/dc_t||. A step whose ||dL/dh_t|| is below `vanishing`
gets a dashed outline, above `exploding` a thick one, and says so.

Long sequences wrap into rows of steps (layout.py) in the op and cell views so that a picture
keeps a page's proportions; by default a graph too big for the op view is drawn as cells.
"""
import html
import math
from collections import defaultdict

import graphviz

from ..nn.module import Parameter
from . import colors
from .flow import consumers, fused_nodes, run_order, step_groups, step_state_norms
from .graph import Graph, attention_call
from .layout import PinnedDigraph, edge_line, node_line, place, steps_per_row

VIEWS = ("op", "cell", "layer", "rolled", "backward")
PLAIN_STEP, PLAIN_CELL, PLAIN_PARAM, PLAIN_INPUT = "#f2f2f2", "#d9ead3", "#cfe2f3", "#eeeeee"
NO_GRADIENT = "#ffffff"        # fill of a step or parameter whose gradient is exactly zero
ZERO_EDGE = "#b0b0b0"          # an edge that carried a gradient of exactly zero


def draw(output, view=None, *, gradients=None, vanishing=1e-6, exploding=1e3, max_nodes=1000,
         wrap=None, scale=None, show_saved=False, show_values=False, expand_fused=False,
         title=None):
    """Draw the graph that produced `output` (a Tensor) as a graphviz.Digraph.

    view        "op", "cell", "layer", "rolled" or "backward"; by default "op", or "cell" (with a
                printed note) when the op view would have more than max_nodes nodes
    gradients   colour by gradient norm: default True once the graph went through backward
    vanishing   steps with ||dL/dh_t|| below this are marked "vanished"
    exploding   steps with ||dL/dh_t|| above this are marked "exploded"
    max_nodes   refuse pictures with more nodes than this (None: no limit)
    wrap        steps per row in the op and cell views: None chooses so that the picture's
                width / height stays near 1.5; 0 puts every step in one row
    scale       (smallest, largest): colour on this range instead of the picture's own, so
                that several pictures share one scale (norms outside take the end colours)
    show_saved  list the shapes each op saved for backward (or "freed" after backward)
    show_values summarise leaf and output values (mean, std, min, max)
    expand_fused in the op view, draw a fused layer (nn.LSTM(fused=True), one node for the whole
                sequence) as the chain of cells it stands for, with each step's gradient norms,
                instead of one box; the cell view always expands them, the layer and rolled
                views never do
    The result renders with `.render()`, `.pipe()` or `save()`, and shows itself in Jupyter.
    """
    if view is not None and view not in VIEWS:
        raise ValueError(f"draw: view must be one of {VIEWS}, got {view!r}")
    steps_per_row(1, 1, 1, wrap=wrap)          # a bad wrap or scale is refused before any work
    if scale is not None and not (isinstance(scale, (tuple, list)) and len(scale) == 2
                                  and 0 < scale[0] <= scale[1] < math.inf):
        raise ValueError(f"draw: scale must be (smallest, largest) with 0 < smallest <= "
                         f"largest, got {scale!r}")
    graph = Graph(output)
    if gradients is None:
        gradients = graph.has_gradients
    elif gradients and not graph.has_gradients:
        raise ValueError("draw: gradients=True, but this graph has not been through backward()")
    options = dict(gradients=gradients, vanishing=vanishing, exploding=exploding, wrap=wrap,
                   show_saved=show_saved, show_values=show_values, expand_fused=expand_fused)
    spec = _VIEWS[view or "op"](graph, **options)
    if view is None and max_nodes is not None and spec.count > max_nodes:
        cells = _grouped_view(graph, view="cell", **options)
        if cells.count < spec.count:
            print(f"draw: the op view of this graph has {spec.count} nodes, more than "
                  f"max_nodes={max_nodes}; drawing the cell view ({cells.count} nodes) instead "
                  f"(view='op', max_nodes=None draws every op)")
            spec, view = cells, "cell"
    if max_nodes is not None and spec.count > max_nodes:
        raise ValueError(f"draw: the {view or 'op'!r} view of this graph has {spec.count} nodes, "
                         f"more than max_nodes={max_nodes}; use a collapsed view (view='cell', "
                         f"'layer' or 'rolled'), or pass a larger max_nodes")
    return spec.to_digraph(title, gradients, vanishing, exploding, scale)


# ---------------------------------------------------------------------------------------------
# a picture before it becomes DOT
# ---------------------------------------------------------------------------------------------
class _Spec:
    """Nodes, clusters and edges of a picture. What is coloured by a gradient norm keeps the
    norm ("_fill" of a node or cluster, "_edge" of an edge, "_band" for ||dL/dc_t||; a label may
    be a function of the scale) until the whole picture's scale is known."""

    def __init__(self):
        self.nodes = {}                       # id -> (attrs, cluster or None)
        self.clusters = {}                    # cluster id -> attrs
        self.edges = []                       # (tail, head, attrs)
        self.grid = {}                        # step (cluster or cell) -> (band, t): layout.py
        self.wrap = None

    @property
    def count(self):
        return sum(1 for attrs, _ in self.nodes.values() if attrs.get("style") != "invis")

    def node(self, nid, cluster=None, **attrs):
        self.nodes[nid] = (attrs, cluster)

    def edge(self, tail, head, **attrs):
        self.edges.append((tail, head, attrs))

    def norms(self):
        items = [a for a, _ in self.nodes.values()] + list(self.clusters.values()) + [
            a for _, _, a in self.edges]
        return [a[key] for a in items for key in ("_fill", "_band", "_edge") if key in a]

    def to_digraph(self, title, gradients, vanishing, exploding, scale=None):
        scale = colors.Scale(scale or self.norms())
        graph_attr = {
            "rankdir": "LR", "fontname": "Helvetica", "fontsize": "11", "nodesep": "0.15",
            "ranksep": "0.3",
            # dot's network-simplex passes grow much faster than the graph: an LSTM unrolled
            # 100 steps took minutes at the default limits and takes seconds at these
            "nslimit": "4", "nslimit1": "4"}
        node_attr = {"fontname": "Helvetica", "fontsize": "10", "shape": "box",
                     "style": "rounded", "height": "0.3"}
        nodes = {nid: (_resolve(attrs, scale), cluster)
                 for nid, (attrs, cluster) in self.nodes.items()}
        if gradients:
            marked = [a for a, _ in self.nodes.values()] + list(self.clusters.values())
            steps = [a for a in marked if "_step" in a]
            bands = any("_band" in a for a in steps)
            nodes["legend"] = (dict(label=_legend(scale, vanishing, exploding, steps, bands),
                                    shape="plaintext", tooltip=_legend_tooltip(scale)), None)
        clusters = {cid: _resolve(attrs, scale) for cid, attrs in self.clusters.items()}
        edges = [(tail, head, _resolve(attrs, scale)) for tail, head, attrs in self.edges]
        placed = False
        if self.grid:
            try:
                place(graph_attr, node_attr, nodes, clusters, edges, self.grid, self.wrap)
                placed = True
            except graphviz.ExecutableNotFound:
                print("draw: Graphviz's dot is not installed; the steps are left unplaced "
                      "(placing them needs dot to measure each one)")
        g = (PinnedDigraph if placed else graphviz.Digraph)(
            "tinygrad_seq", engine="neato" if placed else "dot",
            comment="every node is placed: render with neato -n2 -Tsvg" if placed else None,
            graph_attr=dict({"fontname": "Helvetica", "fontsize": "11"} if placed else graph_attr,
                            **({"label": title, "labelloc": "t"} if title else {})),
            node_attr=node_attr, edge_attr={"arrowsize": "0.6", "fontname": "Helvetica"})
        members = defaultdict(list)
        for nid, (attrs, cluster) in nodes.items():
            members[cluster].append((nid, attrs))
        for nid, attrs in members.pop(None, []):
            g.body.append(node_line(nid, attrs))
        for cluster, attrs in clusters.items():
            with g.subgraph(name=f"cluster_{cluster}") as sub:
                sub.attr(**attrs)
                sub.body += [node_line(nid, a) for nid, a in members.get(cluster, [])]
        g.body += [edge_line(tail, head, attrs) for tail, head, attrs in edges]
        return g


def _resolve(attrs, scale):
    """Attributes for DOT: gradient norms turned into colours on the picture's scale."""
    out = {k: v for k, v in attrs.items() if not k.startswith("_")}
    if callable(out.get("label")):
        out["label"] = out["label"](scale)
    elif "label" in out and not out["label"].startswith("<"):
        out["label"] = out["label"].replace("\n", "\\n")   # DOT's centred line break
    if "_fill" in attrs:
        fill = _fill_colour(attrs["_fill"], scale, attrs.get("_plain", PLAIN_STEP))
        out.update(fillcolor=fill, fontcolor=colors.text_colour(fill))
    if "_edge" in attrs:
        out.update(_edge_style(attrs["_edge"], scale))
    return out


def _fill_colour(norm, scale, plain):
    if norm is None or norm != norm:          # no gradient recorded, or nan
        return plain
    if norm == 0:
        return NO_GRADIENT
    return colors.COLORMAP[-1] if norm == math.inf else scale.colour(norm)


def _edge_style(norm, scale):
    if norm is None or norm != norm:
        return {}
    tooltip = {"tooltip": f"||grad|| = {norm:.4e}"}
    if norm == 0:
        return dict(color=ZERO_EDGE, penwidth="0.6", style="dashed", **tooltip)
    if norm == math.inf:
        return dict(color=colors.COLORMAP[-1], penwidth="4.00", **tooltip)
    return dict(color=scale.colour(norm), penwidth=f"{scale.width(norm):.2f}", **tooltip)


def _legend(scale, vanishing, exploding, steps, bands):
    """The scale as a colour bar from the picture's smallest to its largest norm, and the marks."""
    # a continuous bar of thin cells; labels under six blocks of it: the smallest norm at the
    # left end, the largest at the right end, the others at their blocks' middles
    cells, blocks = 36, 6
    per = cells // blocks
    bar = "".join(f'<TD BGCOLOR="{colors.colour(k / (cells - 1))}" WIDTH="10" HEIGHT="12">'
                  f'</TD>' for k in range(cells))
    at = [0.0] + [(per * k + per / 2) / cells for k in range(1, blocks - 1)] + [1.0]
    labels = "".join(
        f'<TD COLSPAN="{per}" ALIGN="{"LEFT" if k == 0 else "RIGHT" if k == blocks - 1 else "CENTER"}">'
        f'<FONT POINT-SIZE="9">{_fmt(scale.at(p))}</FONT></TD>' for k, p in enumerate(at))
    scale_table = (f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">'
                   f'<TR>{bar}</TR><TR>{labels}</TR></TABLE>')
    fill = "a step's fill: ||dL/dh_t||" + (", its lower band: ||dL/dc_t||" if bands else "")
    marks = (f'<TR><TD><FONT POINT-SIZE="9">{html.escape(fill)}<BR/>dashed outline: vanished '
             f'(below {vanishing:.0e}); thick outline: exploded (above {exploding:.0e}); white: '
             f'no gradient</FONT></TD></TR>') if steps else ""
    return (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">'
            f'<TR><TD>gradient norm, log scale</TD></TR><TR><TD>{scale_table}</TD></TR>'
            f'{marks}</TABLE>>')


def _legend_tooltip(scale):
    lo, hi = scale.range
    return "no gradient norms" if scale.empty else f"scale {lo:.4e} .. {hi:.4e}"


def _fmt(norm):
    return "?" if norm is None or norm != norm else f"{norm:.2e}"


# ---------------------------------------------------------------------------------------------
# a time step: filled by ||dL/dh_t||, a band for ||dL/dc_t||, marked when vanished / exploded
# ---------------------------------------------------------------------------------------------
def _health(norms, vanishing, exploding):
    h = norms.get("h")
    if h is None or h != h:
        return None
    if h > exploding:
        return "exploded"
    if h < vanishing:
        return "vanished"
    return None


def _step_attrs(title, norms, gradients, vanishing, exploding, plain, short=False):
    """Attributes of a step (a cell's box, or an op view's cluster) with an HTML label."""
    if not gradients:
        label = "<" + "<BR/>".join(html.escape(line) for line in title) + ">"
        return dict(label=label, style="filled,rounded", fillcolor=plain, color="#888888")
    health = _health(norms, vanishing, exploding)
    h, c = norms.get("h"), norms.get("c")
    attrs = dict(_step=True, _fill=h, _plain=plain, color="#555555", penwidth="1",
                 style="filled,rounded" + (",dashed" if health == "vanished" else ""),
                 tooltip=", ".join(f"||dL/d{s}_t|| = {v:.4e}" for s, v in (("h", h), ("c", c))
                                   if v is not None))
    if health == "vanished":
        attrs.update(penwidth="2", color="#333333")
    elif health == "exploded":
        attrs.update(penwidth="4", color="#000000")
    if c is not None:
        attrs["_band"] = c
    name = "h " if short else "||dL/dh_t|| "

    def label(scale):
        lines = [html.escape(line) for line in title] + [name + _fmt(h)]
        if health:
            lines.append(f"<B>{health}</B>")
        rows = "".join(f"<TR><TD>{line}</TD></TR>" for line in lines)
        if c is not None:
            band = _fill_colour(c, scale, plain)
            rows += (f'<TR><TD BGCOLOR="{band}"><FONT COLOR="{colors.text_colour(band)}">'
                     f'{"c " if short else "||dL/dc_t|| "}{_fmt(c)}</FONT></TD></TR>')
        return (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
                f'{rows}</TABLE>>')

    attrs["label"] = label
    return attrs


def step_id(path, t):
    """The SVG id of time step t of the layer at `path`: its cluster in the op view, its cell in
    the cell view (the explorer finds steps by it)."""
    return f"step:{path}:{t}"


def _step_title(key, tags):
    path, step = key
    cell = tags.get("cell", "cell")
    return [f"{cell} {path} t={step}" if path else f"{cell} t={step}"]


# ---------------------------------------------------------------------------------------------
# nodes: ops and leaves
# ---------------------------------------------------------------------------------------------
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
    """A parameter (box) or input (ellipse), filled by the norm of its gradient."""
    is_param = isinstance(leaf, Parameter)
    label = f"{leaf.name or ('parameter' if is_param else 'input')}\n{_shape_text(leaf.shape)}"
    if show_values:
        label += "\n" + _value_text(leaf.numpy())
    attrs = dict(style="filled,rounded", fillcolor=PLAIN_PARAM, shape="box") if is_param else \
        dict(style="filled", fillcolor=PLAIN_INPUT, shape="ellipse")
    if gradients:
        norm = graph.grad_norm(("leaf", leaf))
        label += f"\n||grad|| {_fmt(norm)}"
        attrs.update(_fill=norm, _plain=attrs["fillcolor"])
        if norm is not None:
            attrs["tooltip"] = f"||grad|| = {norm:.4e}"
    return dict(attrs, label=label)


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


def _painted(norm, gradients):
    """An edge's attributes: coloured by the norm it carries (once the scale is known)."""
    return {"_edge": norm} if gradients else {}


# ---------------------------------------------------------------------------------------------
# fused layers
# ---------------------------------------------------------------------------------------------
def _fused_label(node, norms, gradients):
    info = node.fused
    label = (f"{info['cell']} {node.scope.path} (fused)\n{info['direction']}, "
             f"{info['steps']} steps")
    h = [norms[(node.scope.path, t)].get("h") for t in range(info["steps"])]
    if gradients and h and None not in h:
        label += f"\n||dL/dh_t|| {_fmt(min(h))} .. {_fmt(max(h))}"
    return label


def _chain(spec, band, path, cell, order, norms, states, options, cluster):
    """The cells of one layer and direction, one per step in run order, on the grid's band
    `band`, with the recurrent state's edges between consecutive steps when `states` names
    them (a fused layer's steps have no edges of their own on the tape); returns the ids."""
    ids = [f"cell/{path}/{t}" for t in order]
    for t, cid in zip(order, ids):
        spec.node(cid, cluster, id=step_id(path, t), **_step_attrs(
            [f"t={t}"], norms[(path, t)], options["gradients"], options["vanishing"],
            options["exploding"], PLAIN_CELL, short=True))
        spec.grid[cid] = (band, t)
    for (t, a), b in zip(zip(order, ids), ids[1:]):
        for state in states:
            spec.edge(a, b, label=state, fontsize="9",
                      **_painted(norms[(path, t)].get(state), options["gradients"]))
    return ids


# ---------------------------------------------------------------------------------------------
# views
# ---------------------------------------------------------------------------------------------
def _attention_clusters(spec, graph, steps):
    """node -> its cluster, for the ops an attention module's call recorded (those not in a
    step's cluster): a dashed box per call, named by the module and its path, numbered when
    the module is called again (a decoder's attention, once a step)."""
    calls = defaultdict(list)
    for node in graph.ops:
        call = None if node in steps else attention_call(node)
        if call is not None:
            calls[call].append(node)
    per_path = defaultdict(int)
    for call in calls:
        per_path[call.path] += 1
    numbered, cluster_of = defaultdict(int), {}
    for i, (call, nodes) in enumerate(calls.items()):
        label = " ".join(filter(None, (call.tags["attention"], call.path)))
        if per_path[call.path] > 1:
            label += f" #{numbered[call.path]}"
            numbered[call.path] += 1
        spec.clusters[f"a{i}"] = dict(label=label, style="rounded,dashed", color="#b45f06",
                                      fontsize="9")
        cluster_of.update(dict.fromkeys(nodes, f"a{i}"))
    return cluster_of


def _op_view(graph, *, gradients, vanishing, exploding, wrap, show_saved, show_values,
             expand_fused, **_):
    group = step_groups(graph)
    norms = step_state_norms(graph, group)
    keys = list(dict.fromkeys(group[n] for n in graph.ops if n in group))
    fused = fused_nodes(graph)
    spec = _Spec()
    # the grid's bands: each layer and direction, in the order they ran
    bands = list(dict.fromkeys(
        group[node][0] if node in group else node.scope.path for node in graph.ops
        if node in group or (expand_fused and node in fused)))
    cluster_of = {key: f"s{i}" for i, key in enumerate(keys)}
    tags = {group[n]: n.scope.tags for n in graph.ops if n in group and n.scope is not None}
    for key, cid in cluster_of.items():
        spec.clusters[cid] = dict(_step_attrs(_step_title(key, tags.get(key, {})),
                                              norms[key], gradients, vanishing, exploding,
                                              PLAIN_STEP), fontsize="10", id=step_id(*key))
    attention = _attention_clusters(spec, graph, group)
    options = dict(gradients=gradients, vanishing=vanishing, exploding=exploding)
    ends = {}        # fused node -> (first cell, last cell) when expanded
    for node in fused:
        if expand_fused:
            cid = f"f{node.index}"
            spec.clusters[cid] = dict(label=_fused_label(node, norms, gradients).replace(
                "\n", ", "), style="rounded,dashed", color="#38761d", fontsize="10")
            ids = _chain(spec, bands.index(node.scope.path), node.scope.path,
                         node.fused["cell"], run_order(node), norms,
                         _states(node.fused["cell"]), options, cid)
            ends[node] = ids[0], ids[-1]
        else:
            spec.node(_op_id(node), label=_fused_label(node, norms, gradients),
                      style="filled,rounded", fillcolor=PLAIN_CELL)
    for node in graph.ops:
        if node in fused:
            continue
        attrs = dict(label=_op_label(node, show_saved))
        if node in group:
            attrs.update(style="filled,rounded", fillcolor="white")   # legible on the step's fill
        if node.names and any(n in ("h_t", "c_t") for n in node.names.values()):
            attrs["style"] = attrs.get("style", "rounded") + ",bold"
        if node is graph.output._node:
            attrs.update(peripheries="2")
            if show_values:
                attrs["label"] += "\n" + _value_text(graph.output.numpy())
        spec.node(_op_id(node), cluster_of.get(group.get(node)) or attention.get(node),
                  **attrs)
    # a parameter used in several steps appears once, and as a small proxy in each step
    used_in = defaultdict(set)
    for source, dst in graph.edges:
        if source[0] == "leaf":
            used_in[id(source[1])].add(group.get(dst))
    shared = {lid for lid, used in used_in.items() if len(used - {None}) > 1}
    if shared:
        spec.clusters["params"] = dict(label="parameters (each step uses a proxy of these)",
                                       style="rounded,dashed", color="#6f8fb0", fontsize="10")
    for lid, leaf in graph.leaves.items():
        spec.node(_leaf_id(leaf), "params" if lid in shared else None,
                  **_leaf_attrs(leaf, graph, show_values, gradients))
    proxies = set()
    for source, dst in graph.edges:
        attrs = _painted(graph.grad_norm(source), gradients)
        key = group.get(dst)
        if source[0] == "leaf" and id(source[1]) in shared and key is not None:
            tail = f"{_leaf_id(source[1])}_{cluster_of[key]}"
            if tail not in proxies:
                proxies.add(tail)
                leaf_attrs = _leaf_attrs(source[1], graph, False, gradients)
                spec.node(tail, cluster_of[key], label=source[1].name or "parameter",
                          shape="box", style="filled,rounded", fontsize="8", height="0.2",
                          margin="0.04,0.02", fillcolor=PLAIN_PARAM,
                          **{k: v for k, v in leaf_attrs.items() if k in ("_fill", "_plain")})
        else:
            tail = _leaf_id(source[1]) if source[0] == "leaf" else _op_id(source[1])
        if source[0] == "op" and source[1] in ends:
            tail = ends[source[1]][1]          # an expanded fused layer's output: its last cell
        spec.edge(tail, ends[dst][0] if dst in ends else _op_id(dst), **attrs)
    spec.grid.update({cid: (bands.index(key[0]), key[1]) for key, cid in cluster_of.items()})
    spec.wrap = wrap
    return spec


def _states(cell):
    return ["h", "c"] if cell == "LSTM" else ["h"]


def _grouped_view(graph, *, view, gradients, vanishing, exploding, wrap, show_values, **_):
    """cell: a box per (layer, step); layer and rolled: a node per layer and direction."""
    steps = step_groups(graph)
    norms = step_state_norms(graph, steps)
    fused = fused_nodes(graph)
    spec = _Spec()
    group = {}   # node -> its box id, or (first cell, last cell) for a whole layer's chain
    if view == "cell":
        _cells(spec, graph, steps, norms, fused, group, dict(
            gradients=gradients, vanishing=vanishing, exploding=exploding), wrap)
    else:
        layer_paths = {key[0] for key in steps.values()} | {n.scope.path for n in fused}
        group = {n: f"layer/{n.scope.path}" for n in graph.ops
                 if n.scope is not None and n.scope.path in layer_paths}
        members = defaultdict(list)
        for node in graph.ops:
            if node in group:
                members[group[node]].append(node)
        for gid, nodes in members.items():
            _layer_box(spec, gid, nodes, steps, norms, view, gradients)
    attention = _attention_clusters(spec, graph, group)
    for node in graph.ops:
        if node not in group:
            attrs = dict(label=_op_label(node, False))
            if node is graph.output._node:
                attrs.update(peripheries="2")
            spec.node(_op_id(node), attention.get(node), **attrs)

    seen = set()
    for source, dst in graph.edges:
        head = group.get(dst, _op_id(dst))
        if source[0] == "leaf":
            if isinstance(source[1], Parameter) and (
                    isinstance(head, tuple) or head.startswith(("cell/", "layer/"))):
                continue                       # a cell's own weights live inside its box
            tail = _leaf_id(source[1])
            if tail not in spec.nodes:
                spec.node(tail, **_leaf_attrs(source[1], graph, show_values, gradients))
        else:
            tail = group.get(source[1], _op_id(source[1]))
        if isinstance(tail, tuple) and isinstance(head, tuple) and tail == head:
            continue                           # inside one layer's chain
        if isinstance(tail, tuple) and not isinstance(head, tuple) and \
                head.startswith("cell/") and head.split("/")[1] == tail[2]:
            continue                           # a layer's input split into its own steps
        if isinstance(head, tuple) and not isinstance(tail, tuple) and \
                tail.startswith("cell/") and tail.split("/")[1] == head[2]:
            continue                           # a layer's steps stacked into its output
        tail = tail[1] if isinstance(tail, tuple) else tail    # out of a chain: its last cell
        head = head[0] if isinstance(head, tuple) else head    # into a chain: its first cell
        identity = (source[0], id(source[1]), source[2] if source[0] == "op" else 0, head)
        if tail == head or identity in seen:
            continue
        seen.add(identity)
        attrs = _painted(graph.grad_norm(source), gradients)
        name = graph.tensor_name(source)
        if name and tail.startswith("cell/") and head.startswith("cell/"):
            attrs.update(label=name.replace("_t", ""), fontsize="9")
        spec.edge(tail, head, **attrs)
    return spec


def _cells(spec, graph, steps, norms, fused, group, options, wrap):
    """The cell view's boxes: for each layer and direction (in the order they ran) a band of
    its steps in snake rows, framed and named; a fused layer expanded into the cells it stands
    for. The ops that only split a layer's input into steps, or only stack its steps'
    outputs, become part of that layer, so composed and fused layers are drawn alike."""
    layers = {}   # path -> (cell, run order of its steps), in the order the layers ran
    for node in graph.ops:
        if node in steps:
            path, t = steps[node]
            cell, order = layers.setdefault(path, (None, []))
            if cell is None and node.scope is not None:   # not a glue op outside every scope
                layers[path] = (node.scope.tags.get("cell"), order)
            if t not in order:
                order.append(t)
        elif node in fused:
            layers[node.scope.path] = (node.fused["cell"], run_order(node))
    fused_paths = {node.scope.path for node in fused}
    reverse = {key[0] for node, key in steps.items() if node.scope is not None
               and node.scope.tags.get("direction") == "reverse"} | {
        node.scope.path for node in fused if node.fused["direction"] == "reverse"}
    for path, (_, order) in layers.items():
        if path not in fused_paths:
            order.sort(reverse=path in reverse)
    chains = {}
    for band, (path, (cell, order)) in enumerate(layers.items()):
        cell = cell or "cell"
        direction = "reverse" if path in reverse else "forward"
        spec.clusters[f"b{band}"] = dict(
            label=f"{cell} {path} ({direction}), {len(order)} steps", style="rounded",
            color="#999999", fontsize="10")
        # a fused layer's steps have no edges of their own on the tape: the chain draws them
        states = _states(cell) if path in fused_paths else []
        ids = _chain(spec, band, path, cell, order, norms, states, options, f"b{band}")
        chains[path] = (ids[0], ids[-1], path)
    spec.wrap = wrap
    for node, key in steps.items():
        group[node] = f"cell/{key[0]}/{key[1]}"
    for node in fused:
        group[node] = chains[node.scope.path]
    readers = consumers(graph)
    for node in graph.ops:
        if node in group:
            continue
        ins = {_block_of(group.get(p[0])) for p in node.parents if isinstance(p, tuple)}
        outs = {_block_of(group.get(c)) for c in readers[node]}
        if len(outs) == 1 and None not in outs and len(readers[node]) > 1:
            group[node] = chains[outs.pop()]           # splits a layer's input into steps
        elif len(ins) == 1 and None not in ins and sum(
                isinstance(p, tuple) for p in node.parents) > 1:
            group[node] = chains[ins.pop()]            # stacks a layer's step outputs


def _block_of(gid):
    if gid is None:
        return None
    if isinstance(gid, tuple):
        return gid[2]
    return gid.split("/")[1] if gid.startswith("cell/") else None


def _layer_box(spec, gid, nodes, steps, norms, view, gradients):
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
    spec.node(gid, label=label, style="filled,rounded", fillcolor=PLAIN_CELL)
    if view == "rolled":
        state = "h, c" if any(norms[(path, t)].get("c") is not None for t in layer_steps) \
            or tags.get("cell") == "LSTM" else "h"
        spec.edge(gid, gid, label=f"{state}  x {len(layer_steps)} steps", fontsize="9",
                  color="#38761d", penwidth="2")


def _backward_view(graph, *, gradients, show_values, **_):
    """Each op's backward as a node; an edge for each gradient it sends to an input."""
    spec = _Spec()
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
        attrs = _painted(graph.grad_norm(source), gradients)
        name = graph.tensor_name(source)
        attrs.update(label=f"d/d{name}" if name else "", fontsize="8")
        spec.edge(tail, head, **attrs)
    return spec


_VIEWS = {"op": _op_view, "cell": lambda graph, **o: _grouped_view(graph, view="cell", **o),
          "layer": lambda graph, **o: _grouped_view(graph, view="layer", **o),
          "rolled": lambda graph, **o: _grouped_view(graph, view="rolled", **o),
          "backward": _backward_view}
