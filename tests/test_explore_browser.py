"""The explorer's pages in a real browser: headless Chromium (Debian's chromium and
chromium-driver, driven by selenium) opens the pages of the three-line Wengert list, the
README's RNN, a 3-step and a 100-step LSTM from primitives; presses the player's keys and
checks the highlighted node and Wengert line after every step forward and backward, that each
shared weight's running gradient norm ends at its .grad norm, that the slider highlights the
right step, that hovering and clicking light the right lines and details, that clicking a
cell expands it, and that the console stays free of errors. It takes screenshots.

Skipped, saying why, only when Chromium, its driver or selenium is missing on a developer's
machine; under CI (CI set) a missing browser fails instead. EXPLORER_GALLERY=DIR writes the
pages and screenshots there instead of a temporary folder (viz/make_gallery.py does).
"""
import math
import os
import pathlib

import numpy as np
import pytest

import tinygrad_seq as ts
from tinygrad_seq import viz
from test_explore import EXAMPLE, page_data

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# as root, in a container: no sandbox, no GPU, and nothing that reaches for the network
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1000", "--hide-scrollbars"]


def missing():
    found = [path for path in (CHROMIUM, DRIVER) if not os.path.exists(path)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        found.append("the selenium package (pip install -e '.[test]')")
    return found


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    lacking = missing()
    if lacking:
        why = (f"the explorer's browser tests need {', '.join(lacking)}: Debian's chromium and "
               f"chromium-driver, which bash scripts/setup.sh installs")
        if os.environ.get("CI"):
            pytest.fail(why + " (under CI they must run, not skip)")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    chosen = os.environ.get("EXPLORER_GALLERY")
    if chosen:
        pathlib.Path(chosen).mkdir(parents=True, exist_ok=True)
        return pathlib.Path(chosen)
    return tmp_path_factory.mktemp("explorer")


# ---------------------------------------------------------------------------------------------
# reading the page
# ---------------------------------------------------------------------------------------------
STATE = """
// what is marked and can be seen: not inside a folded cell; "@x" inside an expanded one
const title = g => g.querySelector("title").textContent + (g.closest(".expansion") ? "@x" : "");
const seen = g => !g.closest(".expansion[hidden]");
const line = document.querySelector("#wengert li.current");
return {
  position: document.getElementById("position").textContent,
  current: Array.from(document.querySelectorAll("svg g.current")).filter(seen).map(title).sort(),
  line: line ? line.textContent : null,
  steps: Array.from(document.querySelectorAll("svg g.step-current")).filter(seen).map(g => g.id)
    .sort(),
  bars: Array.from(document.querySelectorAll("#chart .bar.step-current"), r => r.dataset.step),
  leaves: Object.fromEntries(Array.from(document.querySelectorAll("#leaves tr[data-leaf]"),
    row => [row.cells[0].textContent, [row.querySelector(".shares").textContent,
            row.querySelector(".running").textContent, row.querySelector(".final").textContent]])),
  expanded: Array.from(document.querySelectorAll(".expansion:not([hidden])"),
                       div => div.dataset.step),
};
"""


def state(browser):
    return browser.execute_script(STATE)


def open_page(browser, path):
    browser.get(path.resolve().as_uri())
    assert state(browser)["position"] == "nothing has run yet"
    console_is_clean(browser)


def console_is_clean(browser):
    problems = [entry for entry in browser.get_log("browser")
                if entry["level"] in ("SEVERE", "WARNING")]
    assert problems == []


def press(browser, key, times=1):
    from selenium.webdriver.common.action_chains import ActionChains
    for _ in range(times):
        ActionChains(browser).send_keys(key).perform()


def keys():
    from selenium.webdriver.common.keys import Keys
    return Keys


def write(output, folder, name):
    """The page of the example's graph `name`, with the example's title."""
    path = folder / f"explore_{name}.html"
    viz.explore(output, path, title=EXAMPLE.PAGES[name][0])
    return path


def screenshot(browser, folder, name):
    path = folder / f"explore_{name}.png"
    assert browser.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    return path


def norm(array):
    return math.sqrt(float(np.sum(np.asarray(array, dtype=np.float64) ** 2)))


def frames(tape, output):
    """What the player must show at each position 0, 1, ...: (position text, the Wengert
    line, the op's box), forward in tape order over the ops that lead to the output, then
    backward in the order the walk ran them."""
    ops = set(viz.graph.Graph(output).ops)
    lines = str(tape).splitlines()
    forward = [node for node in tape if node in ops]
    expected = []
    for k, node in enumerate(forward):
        line = lines[tape.nodes.index(node)]
        expected.append((f"forward {k + 1} / {len(forward)}: {line.split(' =')[0]}", line, node))
    for b, node in enumerate(tape.backward_order):
        line = lines[tape.nodes.index(node)]
        expected.append((f"backward {b + 1} / {len(tape.backward_order)}: "
                         f"{line.split(' =')[0]}", line, node))
    return expected


def check(browser, frame, boxes):
    seen = state(browser)
    text, line, node = frame
    assert (seen["position"], seen["line"]) == (text, line)
    assert seen["current"] == boxes(node), text
    return seen


def own_box(node):
    return [f"op{node.index}"]


def walk(browser, tape, output, boxes=own_box):
    """Every step forward with the right arrow, then every step back with the left one."""
    expected = frames(tape, output)
    for frame in expected:
        press(browser, keys().ARROW_RIGHT)
        check(browser, frame, boxes)
    press(browser, keys().ARROW_RIGHT)                 # at the end it stays there
    check(browser, expected[-1], boxes)
    for frame in reversed(expected[:-1]):
        press(browser, keys().ARROW_LEFT)
        check(browser, frame, boxes)
    press(browser, keys().ARROW_LEFT)
    assert state(browser)["current"] == [] and state(browser)["line"] is None


def leaves_end_at_their_grad(browser, params, shares):
    """At the last step each leaf's running norm is its .grad's norm (as the page prints it,
    six digits) after all its shares."""
    press(browser, keys().END)
    table = state(browser)["leaves"]
    assert set(table) == set(params)
    for name, p in params.items():
        count, running, final = table[name]
        assert count == f"{shares[name]} / {shares[name]}", name
        assert running == final, name
        assert float(running) == pytest.approx(norm(p.grad.numpy()), rel=1e-5), name


# ---------------------------------------------------------------------------------------------
# the pages
# ---------------------------------------------------------------------------------------------
def test_the_three_line_wengert_list(browser, folder):
    f, tape, leaves = EXAMPLE.wengert_graph()
    open_page(browser, write(f, folder, "wengert"))
    assert [line for line in str(tape).splitlines()] == [
        "v0 = mul(x, y) -> () float64", "v1 = add(v0, x) -> () float64",
        "v2 = tanh(v1) -> () float64"]
    walk(browser, tape, f)
    # forward, the second op: add reads v0 and x
    press(browser, keys().ARROW_RIGHT, 2)
    assert "Forward, op 2 of 3" in browser.find_element("id", "now").text
    screenshot(browser, folder, "wengert_forward")
    # backward: tanh, add, mul; x gets a share from add, then one from mul
    press(browser, keys().ARROW_RIGHT, 3)
    seen = state(browser)
    assert seen["line"] == "v1 = add(v0, x) -> () float64"
    assert "the sum of the shares" not in browser.find_element("id", "now").text
    assert seen["leaves"]["x"][:2] == ["1 / 2", f"{1 - math.tanh(-0.25) ** 2:.6g}"]
    assert seen["leaves"]["y"][:2] == ["0 / 1", ""]
    now = browser.find_element("id", "now").text
    assert "out = a + b;  da = g, db = g" in now and "added into x.grad (share 1 of 2)" in now
    screenshot(browser, folder, "wengert_backward")
    leaves_end_at_their_grad(browser, leaves, {"x": 2, "y": 1})
    console_is_clean(browser)


def test_jupyters_inline_page_plays(browser, folder, tmp_path):
    """What a notebook shows (_repr_html_: the page in a sandboxed frame) runs its script."""
    f, tape, _ = EXAMPLE.wengert_graph()
    notebook = tmp_path / "notebook.html"
    notebook.write_text(f"<!DOCTYPE html><html><body>{viz.explore(f, None)._repr_html_()}"
                        f"</body></html>", encoding="utf-8")
    browser.get(notebook.resolve().as_uri())
    browser.switch_to.frame(browser.find_element("tag name", "iframe"))
    try:
        assert state(browser)["position"] == "nothing has run yet"
        browser.find_element("tag name", "h1").click()       # the keys go to the frame
        press(browser, keys().END)
        assert state(browser)["line"] == "v0 = mul(x, y) -> () float64"
    finally:
        browser.switch_to.default_content()
    console_is_clean(browser)


def test_the_readmes_rnn_sharing_one_weight(browser, folder):
    loss, tape, leaves = EXAMPLE.readme_graph()
    open_page(browser, write(loss, folder, "rnn"))
    walk(browser, tape, loss)
    # W's four shares arrive one by one, and its running norm is that of the sum so far
    press(browser, keys().HOME)
    press(browser, keys().ARROW_RIGHT, len(tape))
    got, expected, so_far = [], [], 0
    for node in tape.backward_order:                   # (sum, tanh, add, the matmuls, ...)
        so_far += sum(parent is leaves["W"] for parent in node.parents)
        expected.append(f"{so_far} / 4")
        press(browser, keys().ARROW_RIGHT)
        count, running, _ = state(browser)["leaves"]["W"]
        got.append((count, running))
    assert [count for count, _ in got] == expected
    assert expected[:4] == ["0 / 4", "0 / 4", "0 / 4", "1 / 4"]
    # the norms of the sums so far, by hand: h1 = tanh(x W), h2 = tanh(x W + h1 W), L = sum(h2);
    # the walk runs h1 @ W, then x @ W at t=1, then h0 @ W (h0 = 0: a share of zeros), x @ W
    ts.manual_seed(0)                                  # the example's W and x
    W, x = ts.randn(4, 4, dtype=ts.float64).numpy(), ts.randn(3, 4, dtype=ts.float64).numpy()
    h1 = np.tanh(x @ W)
    d2 = 1 - np.tanh(x @ W + h1 @ W) ** 2
    d1 = (d2 @ W.T) * (1 - h1 ** 2)
    sums = np.cumsum([h1.T @ d2, x.T @ d2, np.zeros((4, 4)), x.T @ d1], axis=0)
    assert sorted({float(r) for _, r in got if r}) == pytest.approx(
        sorted({norm(s) for s in sums}), rel=1e-5)
    assert np.allclose(sums[-1], leaves["W"].grad.numpy(), rtol=1e-12)
    leaves_end_at_their_grad(browser, leaves, {"W": 4})
    screenshot(browser, folder, "rnn_end")
    console_is_clean(browser)


def test_a_three_step_lstm(browser, folder):
    loss, tape, params = EXAMPLE.lstm_graph(3)
    path = write(loss, folder, "lstm")
    open_page(browser, path)
    screenshot(browser, folder, "lstm_start")
    walk(browser, tape, loss)
    shares = {name: 1 if name in ("weight", "bias") else 3 for name in params}
    leaves_end_at_their_grad(browser, params, shares)
    # a backward step inside t=2: the slider and the chart follow the player
    press(browser, keys().HOME)
    press(browser, keys().ARROW_RIGHT, 44 + 6)
    seen = state(browser)
    assert seen["line"].startswith("v38 = mul(v33, v37)") and seen["steps"] == ["step:l0:2"]
    assert seen["bars"] == ["2"]
    screenshot(browser, folder, "lstm_backward")
    # the slider: each position lights its step's cluster and bar
    slider = browser.find_element("id", "slider")
    slider.send_keys(keys().HOME)
    for t in range(3):
        seen = state(browser)
        assert seen["steps"] == [f"step:l0:{t}"] and seen["bars"] == [str(t)]
        cluster = browser.find_element("id", f"step:l0:{t}")
        assert f"LSTM l0 t={t}" in cluster.text
        assert browser.find_element("id", "step-label").text.startswith(f"l0 t={t}: ||dL/dh_t||")
        slider.send_keys(keys().ARROW_RIGHT)
    # hovering a box lights its line; hovering a line lights its box
    from selenium.webdriver.common.action_chains import ActionChains
    data = page_data(path.read_text(encoding="utf-8"))
    c_t = next(i for i, n in enumerate(data["nodes"]) if n["outputs"][0]["name"] == "c_t")
    box = browser.find_element("id", "graph").find_element(
        "xpath", f".//*[local-name()='g'][*[local-name()='title']='{data['nodes'][c_t]['id']}']")
    ActionChains(browser).move_to_element(box).perform()
    lit = browser.find_elements("css selector", "#wengert li.hover")
    assert [li.text.split(" =")[0] for li in lit] == [f"v{data['nodes'][c_t]['line']}"]
    line = browser.find_elements("css selector", "#wengert li")[0]
    ActionChains(browser).move_to_element(line).perform()
    assert browser.execute_script(
        "return Array.from(document.querySelectorAll('svg g.hover'), "
        "g => g.querySelector('title').textContent)") == [data["nodes"][0]["id"]]
    # clicking a box shows its details
    box.click()
    details = browser.find_element("id", "details").text
    assert details.startswith("add") and "scope: l0@0 layer=0 cell=LSTM" in details
    assert "v10 = add(v8, v9)" in details
    # c_t of t=0 is read twice (by tanh, and by t=1's forget gate): its gradient is their sum
    b = [f"op{n.index}" for n in tape.backward_order].index(data["nodes"][c_t]["id"])
    press(browser, keys().HOME)
    press(browser, keys().ARROW_RIGHT, 44 + b + 1)
    assert state(browser)["line"].startswith("v10 = add(v8, v9)")
    assert "the sum of the shares sent by the 2 ops that read it" in browser.find_element(
        "id", "now").text
    console_is_clean(browser)


def test_a_hundred_step_lstm_opens_as_cells_that_expand(browser, folder):
    loss, tape, params = EXAMPLE.lstm_graph(100)
    path = write(loss, folder, "lstm100")
    assert path.stat().st_size < 5e6
    open_page(browser, path)
    data = page_data(path.read_text(encoding="utf-8"))
    assert data["view"] == "cell"
    step_of = {f"op{n.index}": n.scope.step for n in tape if n.scope and n.scope.step is not None}
    drawn = set(browser.execute_script(
        "return Array.from(document.querySelectorAll('#graph g.node title'), t => t.textContent)"))

    def cell_boxes(node):
        """In the cell view an op of a time step lights its cell; the rest their own boxes
        (the stack of the steps' outputs has none: it belongs to the layer)."""
        name = f"op{node.index}"
        if name in step_of:
            return [f"cell/l0/{step_of[name]}"]
        return [name] if name in drawn else []

    expected = frames(tape, loss)
    for frame in expected[:30]:                         # forward through the first steps
        press(browser, keys().ARROW_RIGHT)
        check(browser, frame, cell_boxes)
    press(browser, keys().END)                          # and back from the end of backward
    check(browser, expected[-1], cell_boxes)
    for frame in reversed(expected[-31:-1]):
        press(browser, keys().ARROW_LEFT)
        check(browser, frame, cell_boxes)
    shares = {name: 1 if name in ("weight", "bias") else 100 for name in params}
    leaves_end_at_their_grad(browser, params, shares)
    screenshot(browser, folder, "lstm100_end")
    # the slider lights a cell
    slider = browser.find_element("id", "slider")
    slider.send_keys(keys().END)
    slider.send_keys(*[keys().ARROW_LEFT] * 42)
    seen = state(browser)
    assert seen["steps"] == ["step:l0:57"] and seen["bars"] == ["57"]
    assert browser.find_element("id", "step:l0:57").text.startswith("t=57")
    # clicking a cell expands it into its 13 ops, laid out as in the op view
    browser.find_element("id", "step:l0:57").click()
    seen = state(browser)
    assert seen["expanded"] == ["step:l0:57"]
    inside = browser.execute_script(
        "return Array.from(document.querySelectorAll('.expansion:not([hidden]) g.node title'),"
        " t => t.textContent).filter(t => t.startsWith('op'))")
    assert sorted(inside) == sorted(n for n, t in step_of.items() if t == 57) and \
        len(inside) == 13
    assert "l0 t=57" in browser.find_element("id", "details").text
    # PgUp from the end (step 0) goes back a step at a time: the expanded cell shows the op
    # running, the first of step 57's in backward
    press(browser, keys().PAGE_UP, 57)
    seen = state(browser)
    node = next(n for n in tape.backward_order if n.scope and n.scope.step == 57)
    assert seen["line"] == str(tape).splitlines()[tape.nodes.index(node)]
    assert seen["current"] == sorted(["cell/l0/57", f"op{node.index}@x"])
    assert seen["expanded"] == ["step:l0:57"]
    screenshot(browser, folder, "lstm100_expanded")
    # PgDn in forward: from the start, the first op of each step in turn
    press(browser, keys().HOME)
    press(browser, keys().PAGE_DOWN, 3)
    assert state(browser)["line"].startswith("v26 = linear(const, weight_ih_l0, bias_ih_l0)")
    # an open expansion follows the player: back at the first op, it shows step 0's
    press(browser, keys().HOME)
    press(browser, keys().ARROW_RIGHT)
    seen = state(browser)
    assert seen["expanded"] == ["step:l0:0"]
    assert seen["current"] == sorted(["cell/l0/0", f"op{tape.nodes[0].index}@x"])
    # the same cell again folds it
    browser.find_element("id", "step:l0:0").click()
    assert state(browser)["expanded"] == []
    console_is_clean(browser)
