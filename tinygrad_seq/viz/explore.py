"""The explorer: one self-contained HTML page to step through the forward and the backward pass
of a recorded graph, node by node, in sync with its Wengert list.

    with ts.Tape(record_values=True):           # keep summaries of values and gradients
        loss = model(x)
    loss.backward()
    ts.viz.explore(loss, "explore.html")        # open it in any browser, offline

    ts.viz.explore(lambda: model(x))            # the same in one call: records, runs backward

The page holds the graph as `draw` lays it out (Graphviz, the same colours) beside the Wengert
list; a player that runs the tape forward in recording order, then backward in the order the
walk ran the nodes, showing at each backward step the gradient arriving, the op's formula and
the gradients it sends (and each leaf's gradient as it accumulates); a slider over the time
steps with a chart of ||dL/dh_t||; and a node's details on click. Big graphs open in the cell
view, whose cells expand into their ops on click.

Python writes everything the page shows (the SVG, the Wengert list, the chart, one data
object); the page's script (explore.js, with explore.css, beside this file and inlined when
the page is written) only highlights, steps and shows details. No network is ever needed.
"""
import html
import json
import math
import os
import re
import xml.etree.ElementTree as ET
from importlib import resources

import graphviz

from ..autograd import Tape, input_label, summary, wengert_lines
from ..nn.module import Parameter
from ..tensor import Tensor
from . import colors
from .draw import VIEWS, draw, step_id
from .flow import fused_nodes, step_groups, step_state_norms
from .graph import Graph

OP_VIEW_OPS = 200     # more ops than this, in time steps: the page opens in the cell view
MAX_OPS = 10_000      # a page grows by about 3 kB an op (a 100-step LSTM: 1,305 ops, 3.5 MB)
SVG = "{http://www.w3.org/2000/svg}"


class Explorer:
    """A written explorer page: `path`, the `html` itself; displays inline in Jupyter."""

    def __init__(self, path, page, ops, view):
        self.path, self.html, self.ops, self.view = path, page, ops, view

    def _repr_html_(self):
        # in its own frame, so the page's styles and ids cannot meet the notebook's
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" title="explorer" '
                f'sandbox="allow-scripts" style="width: 100%; height: 760px; border: 1px solid '
                f'#ccc"></iframe>')

    def __repr__(self):
        return (f"<explorer page {self.path}: {self.ops} ops, {self.view} view, "
                f"{len(self.html.encode()) / 1e6:.2f} MB>")


def explore(output, path="explore.html", view=None, *, title=None, max_ops=MAX_OPS):
    """Write the explorer page of the graph that computed `output`; returns an `Explorer`.

    output   a Tensor: the page shows what its graph recorded (values and gradients when it
             was made inside `with ts.Tape(record_values=True):`, else the gradient norms that
             every backward keeps); or a function of no arguments returning a scalar loss:
             explore runs it inside Tape(record_values=True) and runs backward
    path     where to write the page (one file: everything is inline); None writes nothing
    view     "op" (every op), "cell" (a box per cell and step, expanding into its ops on
             click), or any view of `draw`; by default "op", or "cell" for a graph of more
             than 200 ops in time steps
    title    the page's heading
    max_ops  refuse graphs with more ops than this (the page grows by about 3 kB an op)
    """
    if view is not None and view not in VIEWS:
        raise ValueError(f"explore: view must be one of {VIEWS}, got {view!r}")
    if path is not None and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise ValueError(f"explore: cannot write {path}: its folder does not exist")
    if callable(output) and not isinstance(output, Tensor):
        output = _record(output)
    graph = Graph(output)
    if not graph.ops:
        raise ValueError("explore: this tensor was not computed by recorded ops (a leaf, or made "
                         "under no_grad or from tensors that need no gradient): there is no graph "
                         "to step through")
    if max_ops is not None and len(graph.ops) > max_ops:
        raise ValueError(f"explore: the graph has {len(graph.ops):,} ops, more than max_ops="
                         f"{max_ops:,} (the page would be about {len(graph.ops) * 3e3 / 1e6:.0f}"
                         f" MB); explore fewer time steps, or pass a larger max_ops")
    group = step_groups(graph)
    if view is None:
        view = "cell" if group and len(graph.ops) > OP_VIEW_OPS else "op"
    try:
        svg = _svg(draw(output, view=view, max_nodes=None))
        expansions = _expansions(output, graph, group) if view == "cell" else ""
    except graphviz.ExecutableNotFound:
        from . import INSTALL_HINT
        raise RuntimeError(f"explore: the page's graph is laid out by Graphviz. "
                           f"{INSTALL_HINT}") from None
    data, lines, on_path = _page_data(graph, group, view)
    page = _page(title or _default_title(graph, data), data, svg, expansions, lines, on_path)
    if path is not None:
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(page)
        os.replace(tmp, path)
    return Explorer(None if path is None else str(path), page, len(graph.ops), view)


def _record(build):
    with Tape(record_values=True):
        output = build()
    if not isinstance(output, Tensor):
        raise TypeError(f"explore: the function returned {type(output).__name__}; expected the "
                        f"loss as a Tensor")
    if output.size != 1 or not output.requires_grad:
        raise ValueError(f"explore: the function returned a tensor of shape {output.shape}"
                         f"{'' if output.requires_grad else ' that needs no gradient'}; "
                         f"expected a scalar loss to run backward from")
    output.backward()
    return output


def _default_title(graph, data):
    steps = len(data["steps"])
    return (f"The {len(graph.ops)} ops that computed the output ({graph.output._node.op})" +
            (f", over {steps} time steps" if steps else ""))


# ---------------------------------------------------------------------------------------------
# the data object the page's script reads
# ---------------------------------------------------------------------------------------------
def _page_data(graph, group, view):
    """(data, Wengert lines, which lines are on the graph): the data object holds the graph's
    ops in tape order ("nodes"), its leaves, the backward order, the time steps, and the
    recorded summaries; nodes and leaves are named by their position in these lists."""
    tape = _recording_tape(graph)
    listed = tape.nodes if tape is not None else graph.ops     # the Wengert list's nodes
    lines = wengert_lines(listed)
    line_of = {node: i for i, node in enumerate(listed)}
    position = {node: i for i, node in enumerate(graph.ops)}
    leaves = list(graph.leaves.values())
    leaf_position = {id(leaf): i for i, leaf in enumerate(leaves)}
    steps = _steps(graph, group)
    step_of = {key: i for i, key in enumerate(steps)}
    if tape is not None:
        order = [n for n in tape.backward_order if n in position]
    else:
        order = sorted((n for n in graph.ops if n.grad_norms is not None), key=lambda n: -n.index)
    shares = [[] for _ in leaves]    # (backward step, running norm) of every gradient a leaf got
    nodes = []
    for node in graph.ops:
        values = tape.values.get(node) if tape is not None else None
        received, sent, running = (tape.gradients.get(node) if tape is not None else None) or (
            None, None, None)
        outputs = []
        for k, shape in enumerate(node.out_shapes):
            grad = received[k] if received else (
                {"norm": node.grad_norms[k]} if node.grad_norms is not None else None)
            outputs.append({"name": node.names.get(k) if node.names else None,
                            "shape": list(shape), "value": _short(values[k] if values else None),
                            "grad": _short(grad)})
        inputs = []
        for k, parent in enumerate(node.parents):
            item = {"label": input_label(parent, line_of), "shape": list(node.in_shapes[k]),
                    "grad": _short(sent[k] if sent else None)}
            if isinstance(parent, tuple):
                item["node"], item["output"] = position.get(parent[0]), parent[1]
            elif parent is not None:
                item["leaf"] = leaf_position[id(parent)]
                if running and running[k] is not None:
                    item["running"] = _exact(running[k])
            inputs.append(item)
        key = group.get(node)
        nodes.append({
            "id": f"op{node.index}", "line": line_of[node], "op": node.op,
            "scope": None if node.scope is None else str(node.scope),
            "step": step_of.get(key), "layer": None if node.scope is None else node.scope.path,
            "dtype": str(node.dtype), "outputs": outputs, "inputs": inputs})
    for b, node in enumerate(order):
        for item in nodes[position[node]]["inputs"]:
            if "running" in item:
                shares[item["leaf"]].append([b, item["running"]])
    leaf_data = []
    for i, leaf in enumerate(leaves):
        recorded = tape.leaf_values.get(id(leaf)) if tape is not None else None
        grad = leaf.grad
        leaf_data.append({
            "id": f"leaf{id(leaf)}", "name": input_label(leaf, {}),   # as the Wengert list
            "parameter": isinstance(leaf, Parameter), "shape": list(leaf.shape),
            "dtype": str(leaf.dtype),
            "value": _short(recorded[1] if recorded else summary(leaf.array)),
            "grad": None if grad is None else dict(_short(summary(grad.array)),
                                                   norm=_exact(summary(grad.array)["norm"])),
            "shares": shares[i]})
    norms = step_state_norms(graph, group)
    formulas = {node.op: _formula(node) for node in graph.ops}
    data = {
        "view": view, "recorded": tape is not None, "nodes": nodes, "leaves": leaf_data,
        "backward": [position[n] for n in order], "formulas": formulas,
        "steps": [{"id": step_id(*key), "label": f"{key[0]} t={key[1]}" if key[0] else
                   f"t={key[1]}", "h": _exact(norms[key].get("h")),
                   "c": _exact(norms[key].get("c"))} for key in steps]}
    on_path = {line_of[node]: position[node] for node in graph.ops}
    return data, lines, on_path


def _recording_tape(graph):
    """The Tape(record_values=True) that recorded every op of the graph, or None."""
    tapes = {node.recording for node in graph.ops}
    return tapes.pop() if len(tapes) == 1 and None not in tapes else None


def _steps(graph, group):
    """The (path, t) of every time step, in the order they ran: a composed layer's from its
    nodes' scopes, a fused layer's from its node."""
    keys = dict.fromkeys(group[node] for node in graph.ops if node in group)
    for node in fused_nodes(graph):
        steps = range(node.fused["steps"])
        for t in (reversed(steps) if node.fused["direction"] == "reverse" else steps):
            keys[(node.scope.path, t)] = None
    return list(keys)


def _formula(node):
    """The first paragraph of the op's docstring: the formula of its forward and backward
    ("out = a * b;  da = g * b, db = g * a")."""
    doc = (type(node).__doc__ or "").strip().split("\n\n")[0]
    return "\n".join(line.strip() for line in doc.splitlines())


def _short(found):
    """A summary for the page: four significant digits, three for an array shown whole (whose
    norm is then all the page shows besides), nan and inf as text."""
    if found is None:
        return None
    if "values" in found:
        return {"norm": _rounded(found["norm"], 4), "values": _rounded(found["values"], 3)}
    return {k: _rounded(v, 4) for k, v in found.items()}


def _rounded(value, digits):
    if isinstance(value, list):
        return [_rounded(v, digits) for v in value]
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else str(value)
    return value


def _exact(value):
    """A number the page compares or accumulates: every digit (nan and inf as text)."""
    if value is None:
        return None
    return value if math.isfinite(value) else str(value)


# ---------------------------------------------------------------------------------------------
# what Graphviz draws
# ---------------------------------------------------------------------------------------------
def _svg(picture):
    """The picture as inline SVG: Graphviz's output without its XML prologue and comments, and
    without the font named on every text (the page's style names it once)."""
    svg = picture.pipe(format="svg").decode("utf-8")
    svg = svg[svg.index("<svg"):].replace(' font-family="Helvetica,sans-Serif"', "")  # (CSS)
    return re.sub(r"<!--.*?-->\n?", "", svg, flags=re.S)


def _expansions(output, graph, group):
    """The cell view's cells, expanded: for each composed time step, its cluster of the op
    view, cut out of the op view's SVG with the ops and edges inside it (hidden until its cell
    is clicked). Ids inside get an "x-" prefix so they never meet the cell view's."""
    op_svg = _svg(draw(output, view="op", max_nodes=None))
    ET.register_namespace("", SVG[1:-1])
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    drawing = ET.fromstring(op_svg).find(f"{SVG}g")
    dx, dy = (float(v) for v in re.search(r"translate\(([-0-9.]+) ([-0-9.]+)\)",
                                          drawing.get("transform")).groups())
    parts = {}
    for g in drawing.findall(f"{SVG}g"):
        parts.setdefault(g.find(f"{SVG}title").text, []).append(g)
    clusters = {g.get("id"): g for g in drawing.findall(f"{SVG}g") if g.get("class") == "cluster"}
    members = {}
    for node in graph.ops:
        if node in group:
            members.setdefault(group[node], set()).add(f"op{node.index}")
    pieces = []
    for key, ops in members.items():
        cluster = clusters.get(step_id(*key))
        if cluster is None:
            continue
        proxy = "_" + cluster.find(f"{SVG}title").text[len("cluster_"):]   # leaf123_s4
        inside = ops | {t for t in parts if t.startswith("leaf") and t.endswith(proxy)}
        edges = [t for t in parts if "->" in t and all(e in inside for e in t.split("->"))]
        x0, y0, x1, y1 = _outline_box(cluster)
        pad = 4
        box = f"{x0 + dx - pad:.1f} {y0 + dy - pad:.1f} {x1 - x0 + 2 * pad:.1f} {y1 - y0 + 2 * pad:.1f}"
        body = "".join(_markup(g) for title in [cluster.find(f"{SVG}title").text,
                                                *sorted(inside), *edges] for g in parts[title])
        pieces.append(
            f'<div class="expansion" data-step="{html.escape(step_id(*key))}" hidden>'
            f'<svg viewBox="{box}" width="{x1 - x0 + 2 * pad:.0f}pt" '
            f'height="{y1 - y0 + 2 * pad:.0f}pt"><g transform="{drawing.get("transform")}">'
            f'{body}</g></svg></div>')
    return "\n".join(pieces)


def _outline_box(cluster):
    """(x0, y0, x1, y1) of a cluster's outline, in the drawing's coordinates."""
    outline = next(e for e in cluster.iter() if e.tag in (f"{SVG}path", f"{SVG}polygon"))
    numbers = [float(v) for v in re.findall(r"-?[0-9.]+", outline.get("d") or
                                            outline.get("points"))]
    xs, ys = numbers[0::2], numbers[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def _markup(element):
    text = ET.tostring(element, encoding="unicode")
    text = re.sub(r' xmlns(:\w+)?="[^"]*"', "", text)
    return text.replace(' id="', ' id="x-')


def _chart(steps):
    """||dL/dh_t|| per step as bars on a log scale (an SVG), one <rect data-step> per step, in
    the colours of the pictures; the page's script marks the current step's bar."""
    width, height, top, bottom = 760, 96, 14, 16
    norms = [s["h"] if isinstance(s["h"], float) else None for s in steps]
    if all(n is None for n in norms):
        return ""                     # no step has an output named h_t
    scale = colors.Scale([n for n in norms if n is not None])
    lo, hi = scale.lo - (1 if scale.hi == scale.lo else 0), scale.hi
    bar = min(width / max(len(steps), 1), 24)
    rects = []
    for k, (step, norm) in enumerate(zip(steps, norms)):
        if colors.on_scale(norm):
            h = 4 + (height - top - bottom - 4) * (math.log10(norm) - lo) / (hi - lo)
            fill = scale.colour(norm)
        else:
            h, fill = 2, "#bbbbbb"
        label = f"{step['label']}: ||dL/dh_t|| = " + ("?" if norm is None else f"{norm:.3e}")
        rects.append(f'<rect class="bar" data-step="{k}" x="{k * bar:.2f}" '
                     f'y="{height - bottom - h:.2f}" width="{max(bar - 1, 1):.2f}" '
                     f'height="{h:.2f}" fill="{fill}"><title>{html.escape(label)}</title></rect>')
    ends = (f'<text x="0" y="{height - 3}">{html.escape(steps[0]["label"])}</text>'
            f'<text x="{width}" y="{height - 3}" text-anchor="end">'
            f'{html.escape(steps[-1]["label"])}</text>') if steps else ""
    axis = "" if scale.empty else (
        f'<text x="{width}" y="10" text-anchor="end">log scale, {10 ** lo:.1e} .. '
        f'{10 ** hi:.1e}</text>')
    return (f'<svg id="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="gradient norm per time step"><text x="0" y="10">'
            f'||dL/dh_t|| per step (in the order they ran)</text>{axis}{"".join(rects)}{ends}'
            f'</svg>')


# ---------------------------------------------------------------------------------------------
# the page
# ---------------------------------------------------------------------------------------------
def _asset(name):
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _page(title, data, svg, expansions, lines, on_path):
    wengert = "\n".join(
        f'<li data-node="{on_path[i]}">{_line(line)}</li>' if i in on_path else
        f'<li class="off-path" title="does not lead to the output">{_line(line)}</li>'
        for i, line in enumerate(lines))
    leaves = "\n".join(
        f'<tr data-leaf="{i}"><td>{html.escape(leaf["name"])}</td>'
        f'<td>{html.escape(str(tuple(leaf["shape"])))}</td><td class="shares"></td>'
        f'<td class="running"></td><td class="final"></td></tr>'
        for i, leaf in enumerate(data["leaves"]) if leaf["grad"] is not None or leaf["shares"])
    notes = "" if data["recorded"] else (
        '<p class="note">Values and the gradients each op sends were not recorded: make the '
        'whole graph inside one <code>with ts.Tape(record_values=True):</code> (or pass '
        '<code>explore</code> a function that computes the loss) to see them.</p>')
    if not data["backward"]:
        notes += ('<p class="note">Backward has not run: call <code>loss.backward()</code> '
                  'before <code>explore</code> to step through it.</p>')
    time = "" if not data["steps"] else (
        f'<section id="time"><label for="slider">time step <output id="step-label"></output>'
        f'</label><input type="range" id="slider" min="0" max="{len(data["steps"]) - 1}" '
        f'value="0">{_chart(data["steps"])}</section>')
    expansions = "" if not expansions else (
        f'<section id="expansions"><p class="hint">Click a cell to expand it into its ops; '
        f'click it again to fold it. An expanded cell follows the player.</p>{expansions}'
        f'</section>')
    blob = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
{_asset("explore.css")}
</style>
</head>
<body>
<header>
<h1>{html.escape(title)}</h1>
<p>The player runs the tape forward, then backward. Keys: <kbd>&rarr;</kbd> next,
<kbd>&larr;</kbd> back, <kbd>space</kbd> play or pause, <kbd>PgDn</kbd> / <kbd>PgUp</kbd> the
next or previous time step, <kbd>Home</kbd> / <kbd>End</kbd> first and last. Click a node or a
line for its details.</p>
{notes}
</header>
<nav id="player">
<button id="first" title="Home: before the first op">&#x25C0;&#x25C0;</button>
<button id="back" title="&larr;: one step back">&#x25C0;</button>
<button id="play" title="space: play or pause">play</button>
<button id="next" title="&rarr;: one step on">&#x25B6;</button>
<button id="last" title="End: the last backward step">&#x25B6;&#x25B6;</button>
<label>speed <select id="speed"><option value="1000">1 step/s</option>
<option value="300" selected>3 steps/s</option><option value="50">20 steps/s</option></select>
</label>
<span id="position"></span>
</nav>
<main>
<div id="left">
<section id="graph-pane">
<div id="zoom">zoom <button id="zoom-out" title="smaller">&minus;</button>
<button id="zoom-in" title="larger">+</button><button id="zoom-fit">fit</button>
<button id="zoom-one">100%</button>
<span class="hint">faded: not run yet (forward), or not reached by the gradient yet
(backward)</span></div>
<div id="graph">
{svg}
</div>
</section>
{expansions}
{time}
<section id="details"><h2>Details</h2><p class="hint">Click a node, a cell or a line.</p>
</section>
</div>
<aside>
<section id="now"></section>
<section id="leaves"><h2>Gradients accumulating in the leaves</h2>
<table><thead><tr><th>leaf</th><th>shape</th><th>shares</th><th>||grad|| so far</th>
<th>at the end</th></tr></thead><tbody>
{leaves}
</tbody></table></section>
<section id="wengert-pane"><h2>Wengert list</h2><ol id="wengert">
{wengert}
</ol></section>
</aside>
</main>
<script type="application/json" id="explorer-data">{blob}</script>
<script>
{_asset("explore.js")}
</script>
</body>
</html>
"""


def _line(line):
    """A Wengert line, its scope ("   [l0@3 layer=0 ...]") set apart."""
    code, _, where = line.partition("   [")
    return html.escape(code) + (f'<span class="scope">   [{html.escape(where)}</span>'
                                if where else "")
