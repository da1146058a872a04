"""Rendered pictures, read back from their SVG: step fills follow the gradient, the legend's
range is the picture's own, the snake keeps its order, and the shapes fit a page."""
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import tinygrad_seq as ts
from tinygrad_seq import nn, viz
from tinygrad_seq.viz.colors import luminance

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
NUMBER = r"[0-9.]+e[-+][0-9]+"


def rendered(graph, tmp_path, name="picture.svg"):
    return ET.parse(viz.save(graph, tmp_path / name)).getroot()


def shapes(root, kind):
    """{title: (fill, tooltip, (x0, y0, x1, y1))} of every node or cluster ("node" or
    "cluster") in a rendered SVG; fill and box are those of its outline."""
    found = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") != kind:
            continue
        title = g.find(f"{SVG}title").text
        link = next((a for a in g.iter(f"{SVG}a")), None)
        outline = next((e for e in g.iter() if e.tag in (f"{SVG}path", f"{SVG}polygon",
                                                         f"{SVG}ellipse")), None)
        fill = outline.get("fill") if outline is not None else None
        found[title] = (fill, link.get(f"{XLINK}title") if link is not None else None,
                        _box(outline) if outline is not None else None)
    return found


def _box(element):
    if element.tag == f"{SVG}ellipse":
        cx, cy, rx, ry = (float(element.get(k)) for k in ("cx", "cy", "rx", "ry"))
        return cx - rx, cy - ry, cx + rx, cy + ry
    text = element.get("d") or element.get("points")
    values = [float(v) for v in re.findall(r"-?[0-9.]+", text)]
    xs, ys = values[0::2], values[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def aspect(root):
    width, height = (float(root.get(k).rstrip("pt")) for k in ("width", "height"))
    return width / height


def tooltip_norms(root):
    """Every gradient norm named in a tooltip of the picture, except the legend's."""
    norms = []
    for a in root.iter(f"{SVG}a"):
        tip = a.get(f"{XLINK}title") or ""
        if not tip.startswith("scale"):
            norms += [float(v) for v in re.findall(rf"= ({NUMBER})", tip)]
    return norms


def legend_range(root):
    tip = shapes(root, "node")["legend"][1]
    lo, hi = re.fullmatch(rf"scale ({NUMBER}) \.\. ({NUMBER})", tip).groups()
    return float(lo), float(hi)


# ---------------------------------------------------------------------------------------------
# a graph whose gradient norms are known: h_t = c_t * h_{t-1}, L = sum(h_{T-1})
# ---------------------------------------------------------------------------------------------
FACTORS = [0.5, 2.0, 0.1, 0.7, 3.0, 0.05, 1.5, 0.3, 0.9, 0.2]


def known_chain(factors=FACTORS, n=4):
    """Steps of a toy recurrence h_t = c_t h_{t-1} (h_{-1} = x, n ones), tagged as an RNN's
    steps, and L = sum(h_{T-1}). dL/dh_t = prod_{k > t} c_k * ones, so ||dL/dh_t|| =
    sqrt(n) prod_{k > t} c_k; ||dL/dx|| = sqrt(n) prod_k c_k. Returns the loss after backward
    and the norms by step."""
    x = ts.Tensor(np.ones(n), requires_grad=True)
    x.name = "x"
    h = x
    for t, c in enumerate(factors):
        with ts.scope("toy", step=t, cell="RNN", layer=0, direction="forward"):
            h = h * c
            h.name = "h_t"
    loss = h.sum()
    loss.backward()
    norms = [math.sqrt(n) * math.prod(factors[t + 1:]) for t in range(len(factors))]
    return loss, norms, math.sqrt(n) * math.prod(factors)


@pytest.mark.parametrize("view", ["cell", "op"])
def test_step_fills_darken_with_the_step_norm(view, tmp_path):
    loss, norms, _ = known_chain()
    root = rendered(viz.draw(loss, view=view), tmp_path)
    if view == "cell":
        steps = {int(title.rsplit("/", 1)[1]): fill for title, (fill, _, _) in
                 shapes(root, "node").items() if title.startswith("cell/")}
    else:
        steps = {}
        for fill, tip, _ in shapes(root, "cluster").values():
            match = re.search(rf"\|\|dL/dh_t\|\| = ({NUMBER})", tip or "")
            if match:
                steps[norms.index(min(norms, key=lambda v: abs(v - float(match[1]))))] = fill
    assert sorted(steps) == list(range(len(FACTORS)))
    by_norm = sorted(range(len(norms)), key=lambda t: norms[t])
    light = [luminance(steps[t]) for t in by_norm]
    assert all(a > b for a, b in zip(light, light[1:])), (light, [norms[t] for t in by_norm])


@pytest.mark.parametrize("view", ["cell", "op"])
def test_legend_range_is_the_pictures_own(view, tmp_path):
    loss, norms, input_norm = known_chain()
    root = rendered(viz.draw(loss, view=view), tmp_path)
    lo, hi = legend_range(root)
    coloured = norms + [input_norm]          # the steps, and the input x (edges carry these)
    assert lo == pytest.approx(min(coloured), rel=1e-4)
    assert hi == pytest.approx(max(coloured), rel=1e-4)
    seen = tooltip_norms(root)
    assert min(seen) == pytest.approx(lo, rel=1e-4) and max(seen) == pytest.approx(hi, rel=1e-4)
    texts = [t.text for g in root.iter(f"{SVG}g") if g.get("class") == "node"
             and g.find(f"{SVG}title").text == "legend" for t in g.iter(f"{SVG}text")]
    numbers = [t for t in texts if re.fullmatch(NUMBER, t or "")]
    assert numbers[0] == f"{lo:.2e}" and numbers[-1] == f"{hi:.2e}"


def test_a_given_scale_is_shared_by_pictures(tmp_path):
    loss, norms, _ = known_chain()
    root = rendered(viz.draw(loss, view="cell", scale=(1e-6, 1e3)), tmp_path)
    assert legend_range(root) == pytest.approx((1e-6, 1e3))
    fills = {t: f for t, (f, _, _) in shapes(root, "node").items() if t.startswith("cell/")}
    position = (math.log10(norms[0]) + 6) / 9           # the map's own colour there
    assert fills["cell/toy/0"] == viz.colors.colour(position)
    with pytest.raises(ValueError, match="scale must be"):
        viz.draw(loss, scale=(0, 1))


def test_a_zero_gradient_is_white_and_marked_not_on_the_scale(tmp_path):
    loss, _, _ = known_chain([0.5, 0.0, 2.0, 0.25])
    root = rendered(viz.draw(loss, view="cell"), tmp_path)
    cells = {t: v for t, v in shapes(root, "node").items() if t.startswith("cell/")}
    assert cells["cell/toy/0"][0] == "#ffffff"              # dL/dh_0 = 0: no gradient
    lo, hi = legend_range(root)
    assert lo == pytest.approx(0.25 * 2) and hi == pytest.approx(2.0)


def loss_of(cell="LSTM", steps=3, fused=False, layers=1, bidirectional=False, hidden=3):
    ts.manual_seed(0)
    rnn = getattr(nn, cell)(2, hidden, num_layers=layers, bidirectional=bidirectional,
                            fused=fused)
    head = nn.Linear(hidden * (2 if bidirectional else 1), 1)
    out, _ = rnn(ts.randn(steps, 2, 2))
    loss = (head(out[-1]) ** 2).mean()
    loss.backward()
    return loss


@pytest.mark.parametrize("steps", [24, 64, 100])
@pytest.mark.parametrize("fused", [True, False])
def test_cell_view_fits_a_page(steps, fused, tmp_path):
    root = rendered(viz.draw(loss_of(steps=steps, fused=fused), view="cell"), tmp_path)
    assert 1 / 3 <= aspect(root) <= 3, aspect(root)


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
def test_op_view_of_twelve_steps_fits_a_page(cell, tmp_path):
    root = rendered(viz.draw(loss_of(cell, steps=12)), tmp_path)
    assert 1 / 3 <= aspect(root) <= 3, aspect(root)
    assert len([c for c in shapes(root, "cluster") if c.startswith("cluster_s")]) == 12


def test_deep_bidirectional_cell_view_fits_a_page(tmp_path):
    root = rendered(viz.draw(loss_of(steps=40, layers=2, bidirectional=True, fused=True),
                             view="cell"), tmp_path)
    assert 1 / 3 <= aspect(root) <= 3, aspect(root)


def centres(root, prefix):
    return {title: ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for title, (_, _, b) in
            shapes(root, "node").items() if title.startswith(prefix)}


@pytest.mark.parametrize("fused", [True, False])
def test_the_snake_keeps_time_order(fused, tmp_path):
    root = rendered(viz.draw(loss_of(steps=30, fused=fused), view="cell"), tmp_path)
    at = centres(root, "cell/")
    points = [at[f"cell/l0/{t}"] for t in range(30)]
    rows = sorted({round(y) for _, y in points})
    assert len(rows) > 1
    for r, y in enumerate(rows):
        xs = [x for x, yy in points if round(yy) == y]       # steps of this row, in time order
        assert xs == sorted(xs, reverse=r % 2 == 1)          # even rows run right, odd left
    # each row starts under (over) the end of the row before: the recurrent link is short
    for a, b in zip(rows, rows[1:]):
        end = [p for p in points if round(p[1]) == a][-1]
        start = [p for p in points if round(p[1]) == b][0]
        assert abs(end[0] - start[0]) < 1


def test_op_view_steps_wrap_in_snake_order(tmp_path):
    root = rendered(viz.draw(loss_of("GRU", steps=12)), tmp_path)
    clusters = shapes(root, "cluster")
    texts = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "cluster" and g.find(f"{SVG}title").text.startswith("cluster_s"):
            label = " ".join(t.text or "" for t in g.iter(f"{SVG}text"))
            texts[int(re.search(r"t=(\d+)", label)[1])] = clusters[g.find(f"{SVG}title").text][2]
    rows = sorted({round(b[1]) for b in texts.values()})
    assert len(rows) >= 2
    for r, top in enumerate(rows):
        xs = [texts[t][0] for t in sorted(texts) if round(texts[t][1]) == top]
        assert xs == sorted(xs, reverse=r % 2 == 1)


def test_wrap_chooses_the_steps_per_row(tmp_path):
    one_row = rendered(viz.draw(loss_of(steps=12, fused=True), view="cell", wrap=0), tmp_path)
    assert len({round(y) for _, y in centres(one_row, "cell/").values()}) == 1
    three = rendered(viz.draw(loss_of(steps=12, fused=True), view="cell", wrap=3), tmp_path)
    assert len({round(y) for _, y in centres(three, "cell/").values()}) == 4
    with pytest.raises(ValueError, match="wrap must be None"):
        viz.draw(loss_of(steps=3), view="cell", wrap=-1)
