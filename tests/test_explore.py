"""The explorer's recording (Tape(record_values=True)) and its page, read without a browser:
summaries against numpy, each leaf's running gradient against its .grad, the page's data and
Wengert list against the tape, a page that needs no network, refusals, the 100-step page's
size, and that the package ships the page's code. (tests/test_explore_browser.py opens the
pages in Chromium.)"""
import html
import importlib.util
import json
import math
import pathlib
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import tinygrad_seq as ts
from tinygrad_seq import viz
from tinygrad_seq.autograd import SMALL, summary

ROOT = pathlib.Path(__file__).resolve().parent.parent


def example():
    """examples/10_explore_backprop.py, whose graphs the gallery and these tests use."""
    spec = importlib.util.spec_from_file_location(
        "explore_example", ROOT / "examples" / "10_explore_backprop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLE = example()


def page_data(page):
    blob = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>',
                     page, re.S).group(1)
    return json.loads(blob.replace("<\\/", "</"))


def page_lines(page):
    """The Wengert list's lines as the page shows them."""
    items = re.findall(r"<li[^>]*>(.*?)</li>", page.split('<ol id="wengert">')[1], re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", item)) for item in items]


def norm(array):
    return math.sqrt(float(np.sum(np.asarray(array, dtype=np.float64) ** 2)))


# ---------------------------------------------------------------------------------------------
# recording
# ---------------------------------------------------------------------------------------------
def test_a_plain_tape_and_no_tape_record_nothing():
    x = ts.tensor([1.0, 2.0], requires_grad=True)
    with ts.Tape() as tape:
        y = (x * x).sum()
    y.backward()
    assert not tape.record_values and tape.values == {} and tape.gradients == {}
    assert all(node.recording is None for node in tape)
    z = (x * 3).sum()           # no tape at all
    assert z._node.recording is None


def test_recorded_values_and_gradients_are_those_of_numpy():
    f, tape, leaves = EXAMPLE.wengert_graph()
    x, y = 0.5, -1.5
    mul, add, tanh = tape.nodes
    assert [n.op for n in tape] == ["mul", "add", "tanh"]
    assert tape.values[mul][0]["values"] == x * y
    assert tape.values[add][0]["values"] == x * y + x
    assert tape.values[tanh][0]["values"] == math.tanh(x * y + x)
    assert tape.leaf_values[id(leaves["x"])][1]["values"] == x
    # backward ran tanh, add, mul: each gets df/d(its output) and sends its inputs' shares
    assert tape.backward_order == [tanh, add, mul]
    g = 1 - math.tanh(x * y + x) ** 2                 # df/dv1
    received, sent, running = tape.gradients[add]
    assert received[0]["values"] == pytest.approx(g, rel=1e-15)
    assert [s["values"] for s in sent] == pytest.approx([g, g], rel=1e-15)
    assert running == (None, pytest.approx(abs(g), rel=1e-15))      # x's first share
    received, sent, running = tape.gradients[mul]
    assert [s["values"] for s in sent] == pytest.approx([g * y, g * x], rel=1e-15)
    # x's second share: the running sum is x.grad
    assert running[0] == abs(leaves["x"].grad.item()) == pytest.approx(abs(g + g * y), rel=1e-15)
    assert running[1] == abs(leaves["y"].grad.item())


def test_each_leafs_running_norm_ends_at_its_grad_norm():
    loss, tape, params = EXAMPLE.lstm_graph(3)
    last = {}
    for node in tape.backward_order:
        for parent, r in zip(node.parents, tape.gradients[node][2]):
            if r is not None:
                last[id(parent)] = r
    assert len(last) == len(params) == 6
    for name, p in params.items():
        # the same sums in the same order: the running sum is .grad, bit for bit
        assert np.array_equal(tape._running[id(p)][1], p.grad.numpy()), name
        assert last[id(p)] == pytest.approx(norm(p.grad.numpy()), rel=1e-14), name


def test_the_running_sum_starts_from_the_grad_already_there():
    w = ts.tensor([1.0, -2.0], dtype=ts.float64, requires_grad=True)
    (w * 3).sum().backward()                       # w.grad = [3, 3] before the recorded pass
    with ts.Tape(record_values=True) as tape:
        loss = (w * w).sum()
    loss.backward()
    (mul,) = [n for n in tape if n.op == "mul"]
    # w * w sends w a share for each input: the sum so far is 3 + w, then 3 + 2w
    first, second = tape.gradients[mul][2]
    assert first == pytest.approx(norm(3 + np.array([1.0, -2.0])), rel=1e-15)
    assert second == pytest.approx(norm(3 + 2 * np.array([1.0, -2.0])), rel=1e-15)
    assert np.array_equal(tape._running[id(w)][1], w.grad.numpy())


def test_a_second_pass_through_the_same_graph_replaces_the_first():
    w = ts.tensor([1.0, 2.0], dtype=ts.float64, requires_grad=True)
    with ts.Tape(record_values=True) as tape:
        loss = (w * w).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert len(tape.backward_order) == len(tape)
    assert np.array_equal(tape._running[id(w)][1], w.grad.numpy())    # from the first .grad
    assert np.array_equal(w.grad.numpy(), 4 * np.array([1.0, 2.0]))


def test_summaries():
    small = np.arange(SMALL, dtype=np.float32).reshape(4, -1) - 3
    s = summary(small)
    assert s == {"min": -3.0, "max": 12.0, "mean": float(small.mean()), "norm": norm(small),
                 "values": small.astype(float).tolist()}
    big = np.linspace(-1, 1, SMALL + 1)
    assert "values" not in summary(big) and summary(big)["norm"] == pytest.approx(norm(big))
    assert summary(np.zeros((0, 3))) == {"size": 0}


# ---------------------------------------------------------------------------------------------
# the page, without a browser
# ---------------------------------------------------------------------------------------------
def test_the_page_needs_no_network(tmp_path):
    loss, _, _ = EXAMPLE.lstm_graph(3)
    page = viz.explore(loss, tmp_path / "page.html").html
    assert (tmp_path / "page.html").read_text(encoding="utf-8") == page
    # no file or address to fetch: no src/href/url(), no <link>, no @import; the only
    # addresses are the SVG's namespace names, which are never fetched
    assert not re.search(r"\b(src|href)\s*=|url\(|<link|@import", page)
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) <= {
        "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert page.count("<script") == 2 and "<script src" not in page
    # the page's code is the package's, inlined whole
    for name in ("explore.js", "explore.css"):
        assert (ROOT / "tinygrad_seq" / "viz" / name).read_text(encoding="utf-8") in page


def test_the_pages_wengert_list_is_the_tape(tmp_path):
    loss, tape, _ = EXAMPLE.lstm_graph(3)
    page = viz.explore(loss, None).html
    assert page_lines(page) == str(tape).splitlines()
    data = page_data(page)
    # the graph's ops in tape order; two lines (h_n, c_n) do not lead to the loss
    on_path = [n for n in tape if n.recording is tape and any(
        n is node for node in viz.graph.Graph(loss).ops)]
    assert [node["id"] for node in data["nodes"]] == [f"op{n.index}" for n in on_path]
    assert [node["line"] for node in data["nodes"]] == [tape.nodes.index(n) for n in on_path]
    assert len(data["nodes"]) == len(tape) - 2 == 44
    off = re.findall(r'<li class="off-path"[^>]*>(.*?)</li>', page)
    assert [html.unescape(re.sub(r"<[^>]+>", "", o)).split(" =")[0] for o in off] == ["v40", "v41"]
    # backward: every op once, in the walk's order
    assert [data["nodes"][i]["id"] for i in data["backward"]] == [
        f"op{n.index}" for n in tape.backward_order]
    assert data["steps"][1]["id"] == "step:l0:1" and data["steps"][1]["label"] == "l0 t=1"


def test_the_pages_running_norms_end_at_each_grad_norm():
    loss, tape, params = EXAMPLE.lstm_graph(3)
    data = page_data(viz.explore(loss, None).html)
    for leaf in data["leaves"]:
        p = params[leaf["name"]]
        assert len(leaf["shares"]) == (1 if leaf["name"] in ("weight", "bias") else 3)
        assert leaf["shares"][-1][1] == leaf["grad"]["norm"]
        assert leaf["grad"]["norm"] == pytest.approx(norm(p.grad.numpy()), rel=1e-14)
        steps = [b for b, _ in leaf["shares"]]
        assert steps == sorted(steps)


def test_a_function_is_recorded_and_run_backward(tmp_path):
    w = ts.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=ts.float64, requires_grad=True)
    w.name = "w"
    page = viz.explore(lambda: (w @ w).tanh().sum(), tmp_path / "f.html")
    data = page_data(page.html)
    assert data["recorded"] and len(data["backward"]) == 3
    (leaf,) = data["leaves"]
    assert leaf["shares"][-1][1] == leaf["grad"]["norm"] and len(leaf["shares"]) == 2
    assert leaf["grad"]["norm"] == pytest.approx(norm(w.grad.numpy()), rel=1e-14)
    assert page.ops == 3 and page.view == "op" and page.path == str(tmp_path / "f.html")


def test_a_graph_recorded_without_values_still_plays():
    x = ts.tensor(0.5, requires_grad=True)
    g = (x * x).tanh()
    g.backward()
    page = viz.explore(g, None).html
    data = page_data(page)
    assert not data["recorded"] and "record_values=True" in page
    assert [data["nodes"][i]["op"] for i in data["backward"]] == ["tanh", "mul"]
    assert data["nodes"][0]["outputs"][0]["value"] is None
    # the gradient norms every backward keeps (node.grad_norms), to four digits
    assert data["nodes"][1]["outputs"][0]["grad"] == {"norm": 1.0}
    assert data["nodes"][0]["outputs"][0]["grad"]["norm"] == pytest.approx(
        1 - math.tanh(0.25) ** 2, rel=1e-3)
    before = (x * 2).sum()                        # no backward yet: the forward pass only
    assert "Backward has not run" in viz.explore(before, None).html


def test_big_graphs_open_in_the_cell_view_with_cells_that_expand():
    loss, tape, _ = EXAMPLE.lstm_graph(100)
    page = viz.explore(loss, None)
    assert page.view == "cell"
    size = len(page.html.encode("utf-8"))
    assert size < 5e6, f"the 100-step LSTM's page is {size / 1e6:.2f} MB"
    expansions = re.findall(r'<div class="expansion" data-step="([^"]+)" hidden>', page.html)
    assert expansions == [f"step:l0:{t}" for t in range(100)]
    # an expansion holds its step's ops, and only those
    data = page_data(page.html)
    block = page.html.split('data-step="step:l0:57"')[1].split("</div>")[0]
    titles = re.findall(r"<title>(op\d+)</title>", block)
    assert sorted(titles) == sorted(n["id"] for n in data["nodes"] if n["step"] == 57)
    assert len(titles) == 13


def test_refusals(tmp_path):
    x = ts.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(TypeError, match="draw: expected a Tensor"):
        viz.explore("loss", None)
    with pytest.raises(ValueError, match="not computed by recorded ops"):
        viz.explore(x, None)
    with pytest.raises(ValueError, match="view must be one of"):
        viz.explore(y, None, view="ops")
    with pytest.raises(ValueError, match="more than max_ops=1"):
        viz.explore(y * y, None, max_ops=1)
    with pytest.raises(TypeError, match="the function returned float"):
        viz.explore(lambda: 1.0, None)
    with pytest.raises(ValueError, match=r"shape \(2,\); expected a scalar loss"):
        viz.explore(lambda: x * 2, None)
    ran = []                          # refused before the function runs
    with pytest.raises(ValueError, match="view must be one of"):
        viz.explore(lambda: ran.append(1), None, view="ops")
    with pytest.raises(ValueError, match="its folder does not exist"):
        viz.explore(lambda: ran.append(1), tmp_path / "no" / "page.html")
    assert ran == [] and list(tmp_path.iterdir()) == []


def test_jupyter_shows_the_page_in_a_frame():
    f, _, _ = EXAMPLE.wengert_graph()
    page = viz.explore(f, None)
    shown = page._repr_html_()
    assert shown.startswith("<iframe srcdoc=") and 'sandbox="allow-scripts"' in shown
    assert html.unescape(re.search(r'srcdoc="([^"]*)"', shown).group(1)) == page.html
    assert "3 ops, op view" in repr(page)


def test_the_package_ships_the_page_code(tmp_path):
    """A wheel built from the checkout holds explore.js and explore.css beside explore.py."""
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                           str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("explore.py", "explore.js", "explore.css"):
        assert f"tinygrad_seq/viz/{name}" in names
