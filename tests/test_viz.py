"""Pictures from the tape: DOT structure, gradient-flow styling, collapsed views, rendering."""
import re
import subprocess
import sys

import graphviz
import pytest

import tinygrad_seq as ts
from tinygrad_seq import nn, viz
from tinygrad_seq.viz import colors


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


def step_labels(source):
    """The text lines of every step's HTML label (cluster or cell), one list per step."""
    return [re.findall(r"<TD[^>]*>(?:<FONT[^>]*>)?([^<]+)", label)
            for label in re.findall(r"label=<(<TABLE BORDER=\"0\" CELLBORDER=\"0\" "
                                    r"CELLSPACING=\"0\" CELLPADDING=\"1\">.*?</TABLE>)>", source)]


def edges(source):
    return re.findall(r'^\t+"?([\w/.]+)"? -> "?([\w/.]+)"? ?(\[.*\])?$', source, re.M)


def test_unrolled_op_view_has_a_cluster_per_step():
    source = viz.draw(loss_of(steps=3)).source
    titles = [lines[0] for lines in step_labels(source)]
    assert titles == [f"LSTM lstm.l0 t={t}" for t in range(3)]
    assert all(lines[1].startswith("||dL/dh_t|| ") and lines[2].startswith("||dL/dc_t|| ")
               for lines in step_labels(source))
    for name in ("h_t = mul", "c_t = add", "i_t = sigmoid", "f_t = sigmoid", "o_t = sigmoid"):
        assert name in source
    # parameters: named by module path, drawn once, with a proxy in each step
    assert source.count('label="lstm.weight_hh_l0\\n(12, 3)') == 1
    assert len(re.findall(r'label="lstm.weight_hh_l0"', source)) == 3
    assert "head.weight" in source
    # the op view is placed (every node pinned) and drawn by neato -n2
    assert all("pos=" in line for line in source.splitlines() if "[label=" in line)


def test_edge_colour_and_width_grow_with_gradient_norm():
    source = viz.draw(loss_of(steps=4)).source
    styled = re.findall(r'color="(#[0-9a-f]{6})" penwidth="?([\d.]+)"? [^\]]*tooltip="\|\|grad'
                        r'\|\| = ([^"]+)"', source)
    assert len(styled) > 20
    zero = [(colour, width) for colour, width, norm in styled if float(norm) == 0]
    assert all(c == "#b0b0b0" and w == "0.6" for c, w in zero)   # no gradient: pale grey
    by_norm = sorted((float(norm), colors.luminance(colour), float(width))
                     for colour, width, norm in styled if float(norm) > 0)
    # darker for a larger norm; 3e-4 is what rounding a colour to 8 bits a channel can add
    assert all(a > b - 3e-4 for (_, a, _), (_, b, _) in zip(by_norm, by_norm[1:]))
    assert [w for _, _, w in by_norm] == sorted(w for _, _, w in by_norm)
    assert len({c for c, _, _ in styled}) > 10
    assert "gradient norm, log scale" in source


def test_before_backward_there_is_no_gradient_styling():
    loss = loss_of(backward=False)
    source = viz.draw(loss).source
    assert "||grad||" not in source and "gradient norm, log scale" not in source
    with pytest.raises(ValueError, match="has not been through backward"):
        viz.draw(loss, gradients=True)


@pytest.mark.parametrize("fused", [False, True])
def test_collapsed_views_have_the_right_node_counts(fused):
    loss = loss_of(steps=4, fused=fused, num_layers=2, bidirectional=True)
    cell = viz.draw(loss, view="cell").source
    cells = set(re.findall(r'^\t+"?(cell/[\w.]+/\d+)"? \[', cell, re.M))
    assert len(cells) == 4 * 2 * 2        # steps x layers x directions
    assert cell.count("(reverse), 4 steps") == 2 and cell.count("(forward), 4 steps") == 2
    layer = viz.draw(loss, view="layer").source
    layers = set(re.findall(r'^\t"?(layer/[\w.]+)"? \[', layer, re.M))
    assert layers == {"layer/lstm.l0", "layer/lstm.l0_reverse", "layer/lstm.l1",
                      "layer/lstm.l1_reverse"}
    assert "4 steps" in layer
    rolled = viz.draw(loss, view="rolled").source
    loops = [e for e in edges(rolled) if e[0] == e[1]]
    assert len(loops) == 4 and "h, c  x 4 steps" in rolled


def test_composed_and_fused_cell_views_draw_the_same_picture():
    def structure(fused):
        source = viz.draw(loss_of(steps=4, fused=fused, num_layers=2, bidirectional=True),
                          view="cell").source
        links = sorted((a, b) for a, b, _ in edges(source) if a.startswith("cell/")
                       and b.startswith("cell/"))
        outside = sorted(re.sub(r"(op|leaf)\d+", r"\1", f"{a}->{b}") for a, b, _ in edges(source)
                         if not (a.startswith("cell/") and b.startswith("cell/")))
        return links, outside

    assert structure(False) == structure(True)


def test_fused_layer_is_one_box_or_expanded():
    loss = loss_of(steps=5, fused=True)
    box = viz.draw(loss).source
    assert "LSTM lstm.l0 (fused)" in box and "cell/" not in box
    expanded = viz.draw(loss, view="op", expand_fused=True).source
    assert len(set(re.findall(r'"(cell/lstm.l0/\d)"', expanded))) == 5
    assert any(lines[-1].startswith("c ") for lines in step_labels(expanded))


def test_fused_and_composed_pictures_agree_on_step_norms():
    def step_norms(fused):
        return [(lines[0], lines[1], lines[2]) for lines in
                step_labels(viz.draw(loss_of(steps=4, fused=fused), view="cell").source)]

    composed, fused = step_norms(False), step_norms(True)
    assert len(composed) == 4
    assert composed == fused               # the same numbers, 3 significant digits


def test_vanishing_and_exploding_steps_are_marked():
    loss = loss_of(steps=4, cell="RNN")
    assert "<B>vanished</B>" not in viz.draw(loss, view="cell").source
    vanished = viz.draw(loss, view="cell", vanishing=1e9).source
    assert vanished.count("<B>vanished</B>") == 4 and vanished.count("dashed") >= 4
    exploded = viz.draw(loss, vanishing=1e-30, exploding=1e-30).source
    assert exploded.count("<B>exploded</B>") == 4 and exploded.count("penwidth=4") >= 4


def test_backward_view():
    loss = loss_of(steps=2)
    source = viz.draw(loss, view="backward").source
    assert "dL/dL = 1" in source and "tanh_backward" in source
    assert "accumulate into .grad\\nlstm.weight_ih_l0" in source


def test_a_graph_too_big_for_the_op_view_is_drawn_as_cells(capsys):
    loss = loss_of(steps=5)
    graph = viz.draw(loss, max_nodes=50)
    assert "cell/lstm.l0/4" in graph.source
    assert "drawing the cell view" in capsys.readouterr().out
    with pytest.raises(ValueError, match="more than max_nodes=50; use a collapsed view"):
        viz.draw(loss, view="op", max_nodes=50)
    with pytest.raises(ValueError, match="more than max_nodes=3"):
        viz.draw(loss, max_nodes=3)             # even the cell view is too big


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


def test_missing_dot_program_gives_install_instructions(tmp_path, monkeypatch, capsys):
    def no_dot(*args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Digraph, "pipe", no_dot)
    graph = viz.draw(loss_of(steps=2))                      # placing the steps needs dot
    assert "dot is not installed" in capsys.readouterr().out
    assert graph.source.startswith("digraph") and "pos=" not in graph.source
    with pytest.raises(RuntimeError, match="sudo apt-get install graphviz"):
        viz.save(graph, tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()


def test_saved_tensors_and_values_optional():
    ts.manual_seed(0)
    x = ts.randn(2, 3, requires_grad=True)
    y = (x * x).tanh().sum()
    before = viz.draw(y, show_saved=True, show_values=True).source
    assert "saved: (2, 3)" in before and "mean" in before
    y.backward()
    assert "saved: freed" in viz.draw(y, show_saved=True).source


def test_bad_view_is_refused():
    with pytest.raises(ValueError, match="view must be one of"):
        viz.draw(loss_of(steps=2), view="cells")
    with pytest.raises(TypeError, match="expected a Tensor"):
        viz.draw([1, 2])


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
