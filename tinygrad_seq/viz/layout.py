"""Wrapped ("snake") layouts: a long unrolled graph as rows of time steps that fit a page.

Steps run left to right along the first row, right to left along the second, and so on, so the
recurrent edge from the end of one row to the start of the next is a short link straight down
and the chain can be followed with the eye. Each layer and direction is a band of such rows;
the rest of the graph (inputs, the ops between layers, the head and the loss) sits in the gaps
above, between and below the bands.

dot lays out ranks well but cannot be told the order of clusters along a rank, so the grid is
placed here: one dot run lays out each step (an op view's cluster of ops, or a cell) and each
piece of the rest on its own; the pieces are put together on the grid, edges inside a piece
keep dot's curves, edges between pieces run along the gaps, and `neato -n2` only draws the
result.
"""
import json
import math
from collections import defaultdict

import graphviz

TARGET_ASPECT = 1.5   # width / height aimed at (the tests hold every picture in [1/3, 3])
GAP = 28.0            # points between steps on the grid, and between the grid and the rest
PAD = 8.0             # a cluster's margin around what it holds
LABEL = 22.0          # room for a band's label above its rows
ARROW = 6.0           # length of an arrowhead (arrowsize 0.6)


def snake_position(t, per_row):
    """(row, column) of step t when rows of `per_row` steps alternate direction."""
    row, k = divmod(t, per_row)
    return row, (k if row % 2 == 0 else per_row - 1 - k)


def steps_per_row(steps, step_width, step_height, bands=1, extra_height=0.0, wrap=None):
    """How many steps to put in a row: `wrap` if given (0: all in one row), else the count
    whose picture (rows of steps `step_width` x `step_height`, stacked `bands` times, plus
    `extra_height`) has the aspect ratio closest to TARGET_ASPECT."""
    if wrap is not None:
        if isinstance(wrap, bool) or not isinstance(wrap, int) or wrap < 0:
            raise ValueError(f"draw: wrap must be None (automatic), 0 (one row) or a positive "
                             f"number of steps per row, got {wrap!r}")
        return min(steps, wrap) if wrap else max(steps, 1)

    def miss(per_row):
        height = math.ceil(steps / per_row) * bands * step_height + extra_height
        return abs(math.log(per_row * step_width / height / TARGET_ASPECT))

    return min(range(1, steps + 1), key=miss) if steps > 1 else 1


def node_line(nid, attrs):
    """A DOT node statement. The statements are written here, not by the graphviz package,
    whose careful quoting was most of the time to build a 100-step picture."""
    return f"\t{_quote(nid)} {_attr_list(attrs)}\n"


def edge_line(tail, head, attrs):
    return f"\t{_quote(tail)} -> {_quote(head)} {_attr_list(attrs)}\n"


def _attr_list(attrs):
    return "[" + " ".join(f"{k}={_quote(v)}" for k, v in attrs.items()) + "]"


def _quote(value):
    value = str(value)
    if value.startswith("<") and value.endswith(">"):      # an HTML-like label
        return value
    return '"' + value.replace('"', '\\"') + '"'


class PinnedDigraph(graphviz.Digraph):
    """A Digraph whose nodes, clusters and edges all carry their positions: `neato -n2` only
    draws it (for save(), .render() and Jupyter alike)."""

    def pipe(self, *args, **kwargs):
        kwargs.setdefault("neato_no_op", 2)
        return super().pipe(*args, **kwargs)

    def render(self, *args, **kwargs):
        kwargs.setdefault("neato_no_op", 2)
        return super().render(*args, **kwargs)


def place(graph_attr, node_attr, nodes, clusters, edges, grid, wrap):
    """Put the steps of `grid` on a snake grid and everything else around them.

    nodes {id: (attrs, cluster)}, clusters {id: attrs}, edges [(tail, head, attrs)] (attrs as
    DOT will get them); grid {step: (band, t)}, a step being a cluster (the op view's ops of
    one time step) or a node (a cell); band = layer and direction, in drawing order. A
    cluster holding only cells is drawn as its band's frame. Sets "pos" on every node and
    edge and "bb" on every cluster.
    """
    block_of = {}
    for nid, (_, cluster) in nodes.items():
        block_of[nid] = cluster if cluster in grid else nid if nid in grid else None
    level = _levels(nodes, edges, grid, block_of)
    for nid, block in block_of.items():
        if block is None:
            block_of[nid] = f"level {level[nid]}"
    frames = {cid: grid[next(n for n, (_, c) in nodes.items() if c == cid)][0]
              for cid in clusters if cid not in grid and any(
                  c == cid for _, c in nodes.values()) and all(
                  n in grid for n, (_, c) in nodes.items() if c == cid)}
    inner = defaultdict(list)            # a piece of the rest -> the clusters it holds
    for cid in clusters:
        owners = {block_of[n] for n, (_, c) in nodes.items() if c == cid}
        if cid not in grid and cid not in frames and owners:
            inner[owners.pop()].append(cid)
    blocks, spots, curves = _layout_pieces(graph_attr, node_attr, nodes, clusters, edges,
                                           block_of, inner, grid)
    step_w = max(_width(blocks[s]) for s in grid)
    step_h = max(_height(blocks[s]) for s in grid)
    bands = max(band for band, _ in grid.values()) + 1
    length = max(t for _, t in grid.values()) + 1
    framed = bool(frames)
    rest_h = sum(_height(bb) + GAP for b, bb in blocks.items() if b.startswith("level "))
    per_row = steps_per_row(length, step_w + GAP, step_h + GAP, bands=bands,
                            extra_height=rest_h + bands * framed * (LABEL + 2 * PAD), wrap=wrap)
    rows = math.ceil(length / per_row)
    grid_w = per_row * (step_w + GAP) - GAP
    corner, cell = {}, {}      # piece -> its top left corner, and the space it owns; y down
    y = 0.0
    for b in range(bands + 1):
        rest = blocks.get(f"level {b}")
        if rest is not None:
            left = (grid_w - _width(rest)) / 2
            corner[f"level {b}"] = (left, y)
            cell[f"level {b}"] = (left, y, left + _width(rest), y + _height(rest))
            y += _height(rest) + GAP
        if b < bands:
            y += framed * (LABEL + PAD)
            for step, (band, t) in grid.items():
                if band == b:
                    row, col = snake_position(t, per_row)
                    x0, y0 = col * (step_w + GAP), y + row * (step_h + GAP)
                    corner[step] = (x0 + (step_w - _width(blocks[step])) / 2, y0)
                    cell[step] = (x0, y0, x0 + step_w, y0 + step_h)
            y += rows * (step_h + GAP) - GAP + framed * PAD + GAP

    def moved(x, y_up, piece):
        (bx0, _, _, by1), (left, top) = blocks[piece], corner[piece]
        return left + x - bx0, top + by1 - y_up

    geometry = {}
    for nid, (attrs, _) in nodes.items():
        x, y_down = moved(*spots[nid][:2], block_of[nid])
        geometry[nid] = (x, y_down) + spots[nid][2:]
        attrs["pos"] = _pair((x, y_down))
    for piece, bb in blocks.items():
        for cid, box in ([(piece, bb)] if piece in clusters else []) + [
                (c, spots[f"cluster {c}"]) for c in inner.get(piece, [])]:
            (x0, top), (x1, bottom) = moved(box[0], box[3], piece), moved(box[2], box[1], piece)
            clusters[cid]["bb"] = _box(x0, top, x1, bottom)
    for cid, band in frames.items():
        inside = [cell[s] for s, (b, _) in grid.items() if b == band]
        clusters[cid]["bb"] = _box(min(c[0] for c in inside) - PAD,
                                   min(c[1] for c in inside) - PAD - LABEL,
                                   max(c[2] for c in inside) + PAD,
                                   max(c[3] for c in inside) + PAD)
    lanes, pairs, seen = defaultdict(int), defaultdict(int), defaultdict(int)
    taken = set(grid.values())
    gaps = [col * (step_w + GAP) - GAP / 2 for col in range(per_row + 1)]   # between columns
    for i, (tail, head, _) in enumerate(edges):
        if i not in curves:
            pairs[tail, head] += 1
    for i, (tail, head, attrs) in enumerate(edges):
        if i in curves:
            parts, label = curves[i]
            piece = block_of[tail]
            attrs["pos"] = " ".join(prefix + _pair(moved(*p, piece)) for prefix, p in parts)
            if label:
                attrs["lp"] = _pair(moved(*label, piece))
            continue
        k, seen[tail, head] = seen[tail, head], seen[tail, head] + 1
        path = _route(geometry[tail], geometry[head], cell[block_of[tail]],
                      cell[block_of[head]],
                      (_on_grid(block_of[tail], grid, taken, per_row, framed),
                       _on_grid(block_of[head], grid, taken, per_row, framed)),
                      lanes, 9.0 * (k - (pairs[tail, head] - 1) / 2),
                      cells=(block_of[tail] == tail, block_of[head] == head), gaps=gaps)
        attrs["pos"] = _spline(path)
        if "label" in attrs:                 # beside the middle piece of the edge
            (px, py), (qx, qy) = path[len(path) // 2 - 1], path[len(path) // 2]
            upright = abs(qx - px) < abs(qy - py)
            attrs["lp"] = _pair(((px + qx) / 2 + 7 * upright, (py + qy) / 2 - 6 * (not upright)))


def _on_grid(piece, grid, taken, per_row, framed):
    """False for a piece of the rest; for a step, {side: room} for the sides ("above",
    "below") with no step of its band next to it, through which an edge to something there
    can leave straight (room: how far its band's frame reaches past the step), else True."""
    if piece not in grid:
        return False
    band, t = grid[piece]
    row, col = snake_position(t, per_row)
    open_sides = {}
    for side, other in (("above", row - 1), ("below", row + 1)):
        if other < 0 or (band, other * per_row + (
                col if other % 2 == 0 else per_row - 1 - col)) not in taken:
            open_sides[side] = framed * (PAD + (LABEL if side == "above" and row == 0 else 0))
    return open_sides or True


def _levels(nodes, edges, grid, block_of):
    """For each node off the grid, the gap it is drawn in: gap b lies above band b (gap
    `bands`: below the last). A node goes just below the last band it reads from; a node that
    reads nothing (a parameter, an input) just above its first reader."""
    band = {nid: grid[block][0] for nid, block in block_of.items() if block is not None}
    ins, outs = defaultdict(list), defaultdict(list)
    for tail, head, _ in edges:
        if tail != head:
            ins[head].append(tail)
            outs[tail].append(head)
    level, pending = {}, [n for n in nodes if not ins[n]]
    waiting = {n: len(ins[n]) for n in nodes}
    order = []
    while pending:                             # every input before its reader
        nid = pending.pop()
        if nid not in band:
            order.append(nid)
        for head in outs[nid]:
            waiting[head] -= 1
            if waiting[head] == 0:
                pending.append(head)
    for nid in order:
        if ins[nid]:
            level[nid] = max(band[t] + 1 if t in band else level.get(t, 0) for t in ins[nid])
    last = max(band.values(), default=0) + 1
    for nid in reversed(order):
        if not ins[nid]:
            level[nid] = min((band[h] if h in band else level.get(h, last) for h in outs[nid]),
                             default=0)
    for nid in nodes:
        level.setdefault(nid, 0)
    # the ops of a cluster off the grid (an attention call) share one gap, the latest of theirs
    together = defaultdict(list)
    for nid, (_, cluster) in nodes.items():
        if cluster is not None and cluster not in grid and nid not in band and ins[nid]:
            together[cluster].append(nid)
    for members in together.values():
        gap = max(level[nid] for nid in members)
        level.update(dict.fromkeys(members, gap))
    return level


def _pair(point):
    return f"{point[0]:.2f},{-point[1]:.2f}"


def _box(x0, top, x1, bottom):
    return f"{x0:.2f},{-bottom:.2f},{x1:.2f},{-top:.2f}"


def _width(bb):
    return bb[2] - bb[0]


def _height(bb):
    return bb[3] - bb[1]


def _route(a, b, cell_a, cell_b, on_grid, lanes, offset, cells, gaps):
    """The corners of an edge between two pieces (y down), along the gaps between them.

    A step on the grid is left and entered from the side, through the vertical gap beside it
    (on the other end's side); a piece of the rest from above or below, through the
    horizontal gap next to it. Vertical gaps run between the grid's columns, horizontal ones
    along the pieces; between the two ends the edge follows one, then the other (`gaps`: the
    x of the vertical gaps). A cell is left (entered) straight up or down when no step of its
    band is there, and a cell straight above or beside its neighbour is joined straight.
    `offset` separates edges between the same two nodes."""
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    single = all(cells)
    if single and abs(cell_a[0] - cell_b[0]) < 1:          # neighbours in a column
        if abs(cell_b[1] - cell_a[3] - GAP) < 1:
            return [(ax + offset, ay + ah / 2), (bx + offset, by - bh / 2)]
        if abs(cell_a[1] - cell_b[3] - GAP) < 1:
            return [(ax + offset, ay - ah / 2), (bx + offset, by + bh / 2)]
    if single and abs(cell_a[1] - cell_b[1]) < 1:          # neighbours in a row
        if abs(cell_b[0] - cell_a[2] - GAP) < 1:
            return [(ax + aw / 2, ay + offset), (bx - bw / 2, by + offset)]
        if abs(cell_a[0] - cell_b[2] - GAP) < 1:
            return [(ax - aw / 2, ay + offset), (bx + bw / 2, by + offset)]

    def access(x, y, w, h, cell, grid, alone, other_x, other_y):
        """(where the edge meets the node, where it joins a gap, the gap's middle line, is
        that gap vertical); a cell with no step above (below) it is entered from there"""
        sides = grid if isinstance(grid, dict) else {}
        if grid and not (alone and ("below" in sides and other_y > cell[3]
                                    or "above" in sides and other_y < cell[1])):
            right = other_x > (cell[0] + cell[2]) / 2
            gap = (cell[2] if right else cell[0]) + (GAP / 2 if right else -GAP / 2)
            lane = _lane(lanes, ("x", round(gap), round(cell[1])))
            return (x + (w if right else -w) / 2, y + offset), (gap + lane, y + offset), gap, True
        down = other_y > (cell[1] + cell[3]) / 2
        room = sides.get("below" if down else "above", 0)
        gap = (cell[3] + room + GAP / 2) if down else (cell[1] - room - GAP / 2)
        lane = _lane(lanes, ("y", round(gap)))
        return (x, y + (h if down else -h) / 2), (x, gap + lane), gap, False

    start, join_a, gap_a, vertical_a = access(ax, ay, aw, ah, cell_a, on_grid[0], cells[0],
                                              bx, by)
    end, join_b, gap_b, vertical_b = access(bx, by, bw, bh, cell_b, on_grid[1], cells[1],
                                            ax, ay)
    if vertical_a and vertical_b:
        if abs(gap_a - gap_b) < 1:                     # one gap between the two
            middle = [(join_a[0], join_a[1]), (join_a[0], join_b[1])]
        else:                                          # over (under) b's piece, across
            above = cell_b[1] > ay
            gap = (cell_b[1] - GAP / 2 if above else cell_b[3] + GAP / 2) + _lane(
                lanes, ("y", round(cell_b[1] if above else cell_b[3])))
            middle = [join_a, (join_a[0], gap), (join_b[0], gap), join_b]
    elif vertical_a:
        middle = [join_a, (join_a[0], join_b[1]), join_b]
    elif vertical_b:
        middle = [join_a, (join_b[0], join_a[1]), join_b]
    elif abs(join_a[1] - join_b[1]) < GAP:              # one gap between the two
        middle = [join_a, (join_b[0], join_a[1]), join_b]
    else:                                              # down (up) the gap between columns
        gap = min(gaps, key=lambda x: abs(x - (join_a[0] + join_b[0]) / 2))
        gap += _lane(lanes, ("x", round(gap), "across"))
        middle = [join_a, (gap, join_a[1]), (gap, join_b[1]), join_b]
    return [start] + middle + [end]


def _spline(path):
    """A Graphviz spline ("e,tip p0 p1 ...") along the straight pieces of `path`, ending in an
    arrowhead at its last point."""
    tip, (px, py) = path[-1], path[-2]
    length = math.hypot(tip[0] - px, tip[1] - py) or 1.0
    back = min(ARROW, length / 2) / length
    path = path[:-1] + [(tip[0] - (tip[0] - px) * back, tip[1] - (tip[1] - py) * back)]
    points = [path[0]]
    for (px, py), (qx, qy) in zip(path, path[1:]):
        points += [(px + (qx - px) / 3, py + (qy - py) / 3),
                   (px + 2 * (qx - px) / 3, py + 2 * (qy - py) / 3), (qx, qy)]
    return f"e,{_pair(tip)} " + " ".join(_pair(p) for p in points)


def _lane(lanes, gap):
    """Edges sharing a gap are spread a few points apart, so each can be followed."""
    k = lanes[gap]
    lanes[gap] += 1
    return ((k + 1) // 2) * (3.0 if k % 2 else -3.0)


def _layout_pieces(graph_attr, node_attr, nodes, clusters, edges, block_of, inner, grid):
    """One dot run laying out each piece (a step, or a gap's share of the rest) on its own, as
    a cluster with only its own edges. Returns the pieces' boxes {piece: bb}, where things
    landed {node: (x, y, width, height), "cluster c": bb} and the curves of the edges inside
    pieces {edge index: ([(prefix "", "s," or "e,", point)], label position or None)}, in
    points, y up."""
    g = graphviz.Digraph("pieces", graph_attr=dict(graph_attr, rankdir="TB"),
                         node_attr=node_attr, edge_attr={"arrowsize": "0.6"})
    members = defaultdict(list)
    for nid, (attrs, cluster) in nodes.items():
        members[block_of[nid]].append((nid, attrs, cluster))
    cells = [piece for piece in members if piece in grid and piece not in clusters]
    # a cell is a piece of one node: only its size matters, so all share one cluster
    g.body += [node_line(nid, attrs) for piece in cells for nid, attrs, _ in members[piece]]
    names = {}
    for i, piece in enumerate(sorted(set(members) - set(cells))):
        names[f"cluster_p{i}"] = piece
        with g.subgraph(name=f"cluster_p{i}") as sub:
            sub.attr(**(clusters[piece] if piece in clusters else {"style": "invis"}))
            sub.body += [node_line(nid, attrs) for nid, attrs, cluster in members[piece]
                         if cluster not in inner.get(piece, [])]
            for j, nested in enumerate(inner.get(piece, [])):
                names[f"cluster_p{i}_{j}"] = f"cluster {nested}"
                with sub.subgraph(name=f"cluster_p{i}_{j}") as box:
                    box.attr(**clusters[nested])
                    box.body += [node_line(nid, attrs) for nid, attrs, cluster
                                 in members[piece] if cluster == nested]
    inside = [i for i, (tail, head, _) in enumerate(edges)
              if block_of[tail] == block_of[head] and tail not in grid]
    g.body += [edge_line(*edges[i]) for i in inside]
    layout = json.loads(g.pipe(format="json0"))
    pieces, spots, name_of = {}, {}, {}
    for item in layout.get("objects", []):
        name_of[item["_gvid"]] = item["name"]
        if item["name"] in names:
            bb = tuple(float(v) for v in item["bb"].split(","))
            target = names[item["name"]]
            (spots if target.startswith("cluster ") else pieces)[target] = bb
        elif "pos" in item:
            x, y = (float(v) for v in item["pos"].split(","))
            w, h = float(item["width"]) * 72, float(item["height"]) * 72
            spots[item["name"]] = (x, y, w, h)
            if item["name"] in grid:             # a cell: its piece is the node and a margin
                pieces[item["name"]] = (x - w / 2 - PAD, y - h / 2 - PAD, x + w / 2 + PAD,
                                        y + h / 2 + PAD)
    waiting = defaultdict(list)          # dot lists edges by tail: find each one's index
    for i in inside:
        waiting[edges[i][:2]].append(i)
    curves = {}
    for item in layout.get("edges", []):
        i = waiting[name_of[item["tail"]], name_of[item["head"]]].pop(0)
        parts = []
        for part in item.get("pos", "").split():
            prefix = part[:2] if part[:2] in ("s,", "e,") else ""
            parts.append((prefix, tuple(float(v) for v in part[len(prefix):].split(","))))
        label = tuple(float(v) for v in item["lp"].split(",")) if "lp" in item else None
        curves[i] = (parts, label)
    return pieces, spots, curves
