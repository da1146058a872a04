"""Pictures from the tape: DOT structure, gradient-flow styling, collapsed views, rendering."""
import re
import subprocess
import sys

import graphviz
import pytest

import tinygrad_seq as ts
from tinygrad_seq import nn, viz
from tinygrad_seq.viz.draw import PALETTE


class Model(nn.Module):
    def __init__(self, cell="LSTM", fused=False, **kw):
        super().__init__()
        self.lstm = getattr(nn, cell)(2, 3, fused=fused, **kw)
        self.head = nn.Linear(3 * (2 if kw.get("bidirectional") else 1), 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[-1])


def loss_of(steps=3, backward=True, **kw):
    ts.manual_seed(0)
    loss = (Model(**kw)(ts.randn(steps, 2, 2)) ** 2).mean()
    if backward:
        loss.backward()
    return loss


def clusters(source):
    """cluster name -> its label."""
    return dict(re.findall(r'subgraph (cluster_\w+) \{\s+[^{}]*?label="([^"]*)"', source))


def edges(source):
    return re.findall(r'^\t+"?([\w/.]+)"? -> "?([\w/.]+)"? ?(\[.*\])?$', source, re.M)


def test_unrolled_op_view_has_a_cluster_per_step_and_the_spine():
    source = viz.draw(loss_of(steps=3)).source
    labels = clusters(source).values()
    for t in range(3):
        assert any(label.startswith(f"LSTM lstm.l0 t={t}") for label in labels), labels
    assert all("||dL/dh_t||" in label and "||dL/dc_t||" in label
               for label in labels if label.startswith("LSTM"))
    for name in ("h_t = mul", "c_t = add", "i_t = sigmoid", "f_t = sigmoid", "o_t = sigmoid"):
        assert name in source
    spine = [e for e in edges(source) if 'weight=8' in (e[2] or "")]
    assert len(spine) >= 2 * 2            # h and c from step 0 to 1 and from 1 to 2
    # parameters: named by module path, drawn once, with a proxy in each step
    assert source.count('label="lstm.weight_hh_l0\\n(12, 3)') == 1
    assert source.count('label="lstm.weight_hh_l0" ') + source.count(
        'label="lstm.weight_hh_l0"]') == 3
    assert "head.weight" in source


def test_edge_colour_and_width_grow_with_gradient_norm():
    source = viz.draw(loss_of(steps=4)).source
    styled = re.findall(r'color="(#[0-9a-f]{6})" penwidth="?([\d.]+)"? tooltip="\|\|grad\|\| = '
                        r'([^"]+)"', source)
    assert len(styled) > 20
    by_norm = sorted((float(norm), PALETTE.index(colour), float(width))
                     for colour, width, norm in styled)
    assert [c for _, c, _ in by_norm] == sorted(c for _, c, _ in by_norm)
    assert [w for _, _, w in by_norm] == sorted(w for _, _, w in by_norm)
    assert len({c for _, c, _ in by_norm}) > 3
    assert "cluster_legend" in source


def test_before_backward_there_is_no_gradient_styling():
    loss = loss_of(backward=False)
    source = viz.draw(loss).source
    assert "||grad||" not in source and "cluster_legend" not in source
    with pytest.raises(ValueError, match="has not been through backward"):
        viz.draw(loss, gradients=True)


@pytest.mark.parametrize("fused", [False, True])
def test_collapsed_views_have_the_right_node_counts(fused):
    loss = loss_of(steps=4, fused=fused, num_layers=2, bidirectional=True)
    cell = viz.draw(loss, view="cell").source
    cells = set(re.findall(r'^\t"?(cell/[\w.]+/\d+)"? \[', cell, re.M))
    assert len(cells) == 4 * 2 * 2        # steps x layers x directions
    layer = viz.draw(loss, view="layer").source
    layers = set(re.findall(r'^\t"?(layer/[\w.]+)"? \[', layer, re.M))
    assert layers == {"layer/lstm.l0", "layer/lstm.l0_reverse", "layer/lstm.l1",
                      "layer/lstm.l1_reverse"}
    assert "4 steps" in layer
    rolled = viz.draw(loss, view="rolled").source
    loops = [e for e in edges(rolled) if e[0] == e[1]]
    assert len(loops) == 4 and "h, c  x 4 steps" in rolled


def test_fused_layer_is_one_box_or_expanded():
    loss = loss_of(steps=5, fused=True)
    box = viz.draw(loss).source
    assert "LSTM lstm.l0 (fused)" in box and "cell/" not in box
    expanded = viz.draw(loss, view="op", expand_fused=True).source
    assert len(set(re.findall(r'"(cell/lstm.l0/\d)"', expanded))) == 5
    assert "||dL/dc_t||" in expanded


def test_fused_and_composed_pictures_agree_on_step_norms():
    def step_norms(fused):
        source = viz.draw(loss_of(steps=4, fused=fused), view="cell").source
        return re.findall(r"t=(\d)\\n\|\|dL/dh_t\|\| ([\d.e+-]+)", source)

    composed, fused = step_norms(False), step_norms(True)
    assert len(composed) == 4
    assert sorted(composed) == sorted(fused)    # same numbers, 3 significant digits


def test_vanishing_and_exploding_steps_are_highlighted():
    loss = loss_of(steps=4, cell="RNN")
    assert "vanished" not in viz.draw(loss, view="cell").source
    assert viz.draw(loss, view="cell", vanishing=1e9).source.count("vanished") == 4
    assert viz.draw(loss, vanishing=1e-30, exploding=1e-30).source.count("exploded") == 4


def test_backward_view():
    loss = loss_of(steps=2)
    source = viz.draw(loss, view="backward").source
    assert "dL/dL = 1" in source and "tanh_backward" in source
    assert "accumulate into .grad\\nlstm.weight_ih_l0" in source


def test_max_nodes_points_to_collapsed_views():
    with pytest.raises(ValueError, match="more than max_nodes=50; use a collapsed view"):
        viz.draw(loss_of(steps=5), max_nodes=50)
    assert viz.draw(loss_of(steps=5), view="cell", max_nodes=50)


def test_graphs_far_deeper_than_the_recursion_limit():
    x = ts.ones(2, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    source = viz.draw(y.sum(), max_nodes=None).source
    assert source.count(" -> ") == 3001


def test_render_svg_with_dot_and_dot_source(tmp_path):
    graph = viz.draw(loss_of(steps=2), view="cell")
    svg = viz.save(graph, tmp_path / "g.svg")
    assert open(svg).read().lstrip().startswith("<?xml")
    dot = viz.save(graph, tmp_path / "g.dot")
    assert open(dot).read() == graph.source
    with pytest.raises(ValueError, match="unknown picture format 'jpgx'"):
        viz.save(graph, tmp_path / "g.jpgx")


def test_missing_dot_program_gives_install_instructions(tmp_path, monkeypatch):
    graph = viz.draw(loss_of(steps=2))

    def no_dot(*args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Digraph, "pipe", no_dot)
    with pytest.raises(RuntimeError, match="sudo apt-get install graphviz"):
        viz.save(graph, tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()
    assert graph.source.startswith("digraph")


def test_saved_tensors_and_values_optional():
    ts.manual_seed(0)
    x = ts.randn(2, 3, requires_grad=True)
    y = (x * x).tanh().sum()
    before = viz.draw(y, show_saved=True, show_values=True).source
    assert "saved: (2, 3)" in before and "mean" in before
    y.backward()
    assert "saved: freed" in viz.draw(y, show_saved=True).source


def test_command_line(tmp_path):
    out = tmp_path / "lstm.svg"
    done = subprocess.run([sys.executable, "-m", "tinygrad_seq.viz", "--cell", "gru",
                           "--steps", "3", "--view", "cell", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.read_text().lstrip().startswith("<?xml")
    bad = subprocess.run([sys.executable, "-m", "tinygrad_seq.viz", "--steps", "0"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "must be positive" in bad.stderr
