"""Fused layers and cells (nn/fused.py) give the composed path's numbers, and their nodes carry
what the renderer reads: scope tags, `fused`, per-step gradient norms."""
import itertools

import numpy as np
import pytest

import golden_nn
import tinygrad_seq as ts
from test_golden_nn import compare, weights_of
from tinygrad_seq import nn
from tinygrad_seq.nn import fused

T, B, I, H = 5, 3, 2, 4
MODES = {"LSTM": ("LSTM", {}), "GRU": ("GRU", {}), "GRU_cho": ("GRU", {"reset_after": False}),
         "RNN": ("RNN", {}), "RNN_relu": ("RNN", {"nonlinearity": "relu"})}
OPTIONS = [dict(num_layers=L, bidirectional=bi, batch_first=bf, bias=bias, h0=h0, lengths=lens)
           for L, bi, bf, bias, h0, lens in itertools.product(
               [1, 2], [False, True], [False, True], [True, False], [False, True], [False, True])]
TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-4, atol=1e-4)}


def run_layer(mode, fused, dtype, num_layers=1, bidirectional=False, batch_first=False,
              bias=True, h0=False, lengths=False, dropout=0.0, one_hot=False):
    """Outputs, final states and every gradient of a weighted sum of them."""
    cls, kw = MODES[mode]
    ts.manual_seed(1)
    layer = getattr(nn, cls)(I, H, num_layers=num_layers, bidirectional=bidirectional,
                             batch_first=batch_first, bias=bias, dropout=dropout, dtype=dtype,
                             fused=fused, **kw)
    ts.manual_seed(2)   # the same dropout masks on both paths
    rng = np.random.default_rng(0)
    D = 2 if bidirectional else 1
    shape = (B, T, I) if batch_first else (T, B, I)
    if one_hot:   # rows of zeros among them (a padding): the bias alone reaches the gates
        x = np.eye(I)[rng.integers(0, I, shape[:2])] * (rng.random(shape[:2]) > 0.2)[..., None]
    else:
        x = rng.standard_normal(shape)
    x = ts.Tensor(x.astype(dtype), requires_grad=True)
    states = [ts.Tensor(rng.standard_normal((num_layers * D, B, H)).astype(dtype),
                        requires_grad=True) for _ in range(2 if cls == "LSTM" else 1)]
    hx = None if not h0 else tuple(states) if cls == "LSTM" else states[0]
    out, h = layer(x, hx, lengths=np.array([5, 2, 3]) if lengths else None)
    finals = h if cls == "LSTM" else (h,)
    loss = (out * ts.Tensor(rng.standard_normal(out.shape).astype(dtype))).sum()
    for s in finals:
        loss = loss + (s * ts.Tensor(rng.standard_normal(s.shape).astype(dtype))).sum()
    loss.backward()
    grads = [x.grad] + ([s.grad for s in states] if h0 else [])
    return [out, *finals, *grads, *(p.grad for p in layer.parameters())]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mode", MODES)
def test_fused_layer_equals_composed_for_every_option(mode, dtype):
    for opt in OPTIONS:
        composed, fused = run_layer(mode, False, dtype, **opt), run_layer(mode, True, dtype, **opt)
        assert len(composed) == len(fused)
        for k, (a, b) in enumerate(zip(composed, fused)):
            assert a.dtype == b.dtype
            np.testing.assert_allclose(b.array, a.array, **TOL[dtype], err_msg=f"{opt} #{k}")


@pytest.fixture
def parts(monkeypatch):
    """Layers with their hidden units in two parts (of H / 2 = 2 units) on a team of two
    threads; yields the team, held (not adaptive) at two threads: set .threads to run on one."""
    monkeypatch.setattr(fused, "MIN_PART_UNITS", 1)
    before = ts.get_num_threads()
    ts.set_num_threads(2)
    team = ts.threads.team(2)
    held = team.adaptive, team.threads
    team.adaptive, team.threads = False, 2 if team.jit else 1
    yield team
    team.adaptive, team.threads = held
    ts.set_num_threads(before)


JITTED = [m for m in MODES if m != "GRU_cho"]   # (Cho's GRU keeps the Python loop)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mode", JITTED)
def test_hidden_units_in_parts_on_a_team_equal_composed(mode, dtype, parts):
    assert fused.plan(MODES[mode][0], B, H, MODES[mode][1]) == (
        fused.LOOPS[MODES[mode][0]], ([slice(0, B)], 2))
    for opt in OPTIONS if dtype == "float64" else OPTIONS[::5]:
        composed, fused_ = run_layer(mode, False, dtype, **opt), run_layer(mode, True, dtype, **opt)
        for k, (a, b) in enumerate(zip(composed, fused_)):
            np.testing.assert_allclose(b.array, a.array, **TOL[dtype], err_msg=f"{opt} #{k}")


@pytest.mark.parametrize("kind,name", [("cell", n) for n in golden_nn.CELLS] +
                         [("layer", n) for n in golden_nn.LAYERS])
def test_pytorch_golden_fixtures_through_parts_on_a_team(kind, name, parts):
    """The fixtures of test_golden_nn.py (H = 4: two parts of 2 units) on two threads."""
    with np.load(golden_nn.FIXTURES) as f:
        stored = dict(f)
    compare(name, golden_nn.run("ours", kind, name, weights_of(name, stored), True), stored)
    assert parts.history and parts.history[-1][0] == parts.threads


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_gate_activations_read_back_from_parts_as_from_the_python_loop(cell, parts):
    """The pictures' gates (viz saturation) from a team's parts (two of 2 units, reversed,
    with lengths) are the Python loop's, unit for unit, with the same mask."""
    rng = np.random.default_rng(5)
    G = {"LSTM": 4, "GRU": 3}[cell]
    shapes = [(T, B, I)] + [(B, H)] * (2 if cell == "LSTM" else 1) + [
        (G * H, I), (G * H, H), (G * H,), (G * H,)]
    args = [ts.Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    options = dict(reverse=True, lengths=np.array([5, 2, 3]))
    loops = fused.LOOPS[cell].apply(*args, **options, split=([slice(0, B)], 2))[0].grad_fn
    steps = fused.STEPS[cell].apply(*args, **options)[0].grad_fn
    (got, got_mask), (want, want_mask) = loops.gate_activations(), steps.gate_activations()
    assert got.keys() == want.keys()
    for gate in want:
        np.testing.assert_allclose(got[gate], want[gate], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got_mask, want_mask)


@pytest.mark.parametrize("mode", JITTED)
def test_a_team_on_one_thread_gives_the_same_bits_as_on_two(mode, parts):
    opt = dict(num_layers=2, bidirectional=True, lengths=True, h0=True)
    parts.threads = 1
    one = run_layer(mode, True, "float32", **opt)
    parts.threads = 2 if parts.jit else 1
    two = run_layer(mode, True, "float32", **opt)
    assert parts.history[-1][0] == parts.threads
    for a, b in zip(one, two):
        np.testing.assert_array_equal(b.array, a.array)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mode", MODES)
def test_a_one_hot_input_equals_composed(mode, dtype, request):
    """One-hot rows take a table's row instead of the input's columns of the product (padding,
    rows of zeros, too); the second layer's input is not one-hot."""
    for opt in OPTIONS[::3]:
        for with_parts in (False, True):
            if with_parts:
                request.getfixturevalue("parts")
            composed = run_layer(mode, False, dtype, one_hot=True, **opt)
            fused_ = run_layer(mode, True, dtype, one_hot=True, **opt)
            for k, (a, b) in enumerate(zip(composed, fused_)):
                np.testing.assert_allclose(b.array, a.array, **TOL[dtype], err_msg=f"{opt} #{k}")


def test_the_plan_chooses_an_implementation_and_a_split_per_shape(monkeypatch):
    """Loops in numba but for the numpy backend and Cho's GRU; lanes of rows for a large
    batch, parts of the hidden units for a small one (each at least MIN_PART_UNITS)."""
    before = ts.get_num_threads()
    try:
        ts.set_num_threads(2)
        assert fused.plan("LSTM", 1000, 64, {}) == (
            fused.loops.LSTMLoops, ([slice(0, 500), slice(500, 1000)], 1))
        assert fused.plan("LSTM", 32, 256, {}) == (fused.loops.LSTMLoops, ([slice(0, 32)], 2))
        assert fused.plan("GRU", 32, 256, {"reset_after": True})[1] == ([slice(0, 32)], 2)
        assert fused.plan("RNN", 127, 2 * fused.MIN_PART_UNITS - 2, {})[1] == (
            [slice(0, 127)], 1)
        assert fused.plan("GRU", 32, 256, {"reset_after": False}) == (fused.steps.GRUSequence,
                                                                      None)
        ts.set_num_threads(1)
        assert fused.plan("LSTM", 32, 256, {})[1] == ([slice(0, 32)], 1)
        ts.kernels.set_backend("numpy")
        assert fused.plan("LSTM", 32, 256, {}) == (fused.steps.LSTMSequence, None)
    finally:
        ts.kernels.set_backend("numba")
        ts.set_num_threads(before)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_fused_dropout_between_layers_equals_composed(mode):
    composed = run_layer(mode, False, "float64", num_layers=3, dropout=0.5)
    fused = run_layer(mode, True, "float64", num_layers=3, dropout=0.5)
    for a, b in zip(composed, fused):
        np.testing.assert_allclose(b.array, a.array, **TOL["float64"])


@pytest.mark.parametrize("mode", ["LSTM", "GRU_cho", "RNN"])
def test_fused_layer_gradcheck(mode, rng):
    cls, kw = MODES[mode]
    ts.manual_seed(0)
    layer = getattr(nn, cls)(I, H, bidirectional=True, dtype="float64", **kw)
    x = ts.Tensor(rng.standard_normal((T, B, I)), requires_grad=True)
    lengths = np.array([5, 2, 3])

    def fn(x, *params):
        out, h = layer(x, lengths=lengths)
        return ts.cat([t.reshape(-1) for t in (out, *(h if cls == "LSTM" else (h,)))])
    assert ts.gradcheck(fn, x, *layer.parameters())


def test_fused_lengths_zero_outputs_and_take_last_valid_state(rng):
    lengths = np.array([5, 2, 3])
    lstm = nn.LSTM(I, H, bidirectional=True, dtype="float64")
    x = rng.standard_normal((T, B, I))
    out, (h, c) = lstm(ts.Tensor(x), lengths=lengths)
    for b, n in enumerate(lengths):
        assert np.all(out.array[n:, b] == 0)
        alone_out, (alone_h, alone_c) = lstm(ts.Tensor(x[:n, b:b + 1]))
        np.testing.assert_allclose(out.array[:n, b], alone_out.array[:, 0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(h.array[:, b], alone_h.array[:, 0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(c.array[:, b], alone_c.array[:, 0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell,kw", [
    (nn.LSTMCell, {}), (nn.LSTMCell, {"bias": False}), (nn.GRUCell, {}),
    (nn.GRUCell, {"reset_after": False}), (nn.RNNCell, {}), (nn.RNNCell, {"nonlinearity": "relu"})])
def test_fused_cell_equals_composed(cell, kw, dtype):
    results = []
    for is_fused in (False, True):
        ts.manual_seed(0)
        module = cell(I, H, dtype=dtype, fused=is_fused, **kw)
        rng = np.random.default_rng(0)
        x = ts.Tensor(rng.standard_normal((B, I)).astype(dtype), requires_grad=True)
        states = [ts.Tensor(rng.standard_normal((B, H)).astype(dtype), requires_grad=True)
                  for _ in range(2 if cell is nn.LSTMCell else 1)]
        with ts.Tape() as tape:
            new = module(x, tuple(states) if cell is nn.LSTMCell else states[0])
        new = new if cell is nn.LSTMCell else (new,)
        sum((s * (k + 2)).sum() for k, s in enumerate(new)).backward()
        results.append([*new, x.grad, *(s.grad for s in states),
                        *(p.grad for p in module.parameters())])
    if is_fused:   # one node per step, though x and the states need gradients
        assert len(tape.nodes) == 1 and tape.nodes[0].fused["steps"] == 1
    for a, b in zip(*results):
        np.testing.assert_allclose(b.array, a.array, **TOL[dtype])


def test_fused_cell_unbatched():
    h, c = nn.LSTMCell(3, 5, fused=True)(ts.randn(3))
    assert h.shape == (5,) and c.shape == (5,)


def test_one_node_per_layer_and_direction_with_scope_and_renderer_info():
    lstm = nn.LSTM(I, H, num_layers=2, bidirectional=True)
    model = nn.Sequential(lstm)
    with ts.Tape() as tape:
        out, _ = model(ts.randn(T, B, I))
    fused = [n for n in tape if getattr(n, "fused", None) is not None]
    assert [(n.fused["layer"], n.fused["direction"]) for n in fused] == [
        (0, "forward"), (0, "reverse"), (1, "forward"), (1, "reverse")]
    for n in fused:
        assert n.fused == {"cell": "LSTM", "steps": T, "layer": n.fused["layer"],
                           "direction": n.fused["direction"], "hidden_size": H}
        suffix = "_reverse" if n.fused["direction"] == "reverse" else ""
        assert n.scope.path == f"0.l{n.fused['layer']}{suffix}"
        assert n.scope.tags == {"layer": n.fused["layer"], "cell": "LSTM",
                                "direction": n.fused["direction"]}


@pytest.fixture
def lanes(monkeypatch):
    """Every batch row its own lane, up to 3 threads at once; counts the lanes of each run."""
    monkeypatch.setattr(fused.common, "MIN_LANE_ROWS", 1)
    before = ts.get_num_threads()
    ts.set_num_threads(3)
    runs, run_parallel = [], ts.threads.run_parallel

    def counting(fn, items):
        runs.append(len(items))
        return run_parallel(fn, items)
    monkeypatch.setattr(ts.threads, "run_parallel", counting)
    yield runs
    ts.set_num_threads(before)


@pytest.mark.parametrize("mode", MODES)
def test_lanes_of_rows_in_threads_equal_composed(mode, lanes):
    """B = 3 rows in 3 lanes, side by side in threads: the composed path's numbers."""
    for opt in OPTIONS[::3]:
        composed = run_layer(mode, False, "float64", **opt)
        lanes.clear()
        lanes_ = run_layer(mode, True, "float64", **opt)
        assert lanes and set(lanes) == {3}
        for k, (a, b) in enumerate(zip(composed, lanes_)):
            np.testing.assert_allclose(b.array, a.array, **TOL["float64"], err_msg=f"{opt} #{k}")


def test_lanes_follow_min_rows_and_threads(monkeypatch):
    before = ts.get_num_threads()
    try:
        ts.set_num_threads(2)
        assert fused.batch_lanes(127) == [slice(0, 127)]          # 2 lanes would be under 64 rows
        assert fused.batch_lanes(1000) == [slice(0, 500), slice(500, 1000)]
        ts.set_num_threads(1)
        assert fused.batch_lanes(1000) == [slice(0, 1000)]
    finally:
        ts.set_num_threads(before)


@pytest.mark.parametrize("block", [None, 2])
@pytest.mark.parametrize("lengths", [None, [5, 2, 3]])
@pytest.mark.parametrize("with_lanes", [False, True])
@pytest.mark.parametrize("mode,reverse", [("LSTM", False), ("LSTM", True), ("GRU", True),
                                          ("RNN", False)])
def test_step_grad_norms_equal_the_composed_graphs_state_gradients(mode, reverse, with_lanes,
                                                                    lengths, block, rng, request,
                                                                    monkeypatch):
    """step_grad_norms["h"][t] (["c"][t]) is the norm the composed graph keeps on step t's h_t
    (c_t) node (with lanes: the norm over all of them; with lengths: over the sequences still
    running, whose cells alone get a gradient); a backward in blocks of rows adds up the
    blocks' squares (block: a ring of one step, in blocks of 2 rows and 1)."""
    if with_lanes:
        request.getfixturevalue("lanes")
    if block:
        monkeypatch.setattr(fused.loops, "CHUNK_ROWS", 1)
        monkeypatch.setattr(fused.loops, "BLOCK_ROWS", block)
    x = rng.standard_normal((T, B, I))
    weights = rng.standard_normal((T, B, 2 * H if reverse else H))
    norms = {}
    for is_fused in (False, True):
        ts.manual_seed(0)
        layer = getattr(nn, mode)(I, H, bidirectional=reverse, dtype="float64", fused=is_fused)
        with ts.Tape() as tape:
            out, _ = layer(ts.Tensor(x), lengths=lengths)
            (out * ts.Tensor(weights)).sum().backward()
        direction = "reverse" if reverse else "forward"
        if is_fused:
            (node,) = [n for n in tape if getattr(n, "fused", None) is not None
                       and n.fused["direction"] == direction]
            norms[is_fused] = node.step_grad_norms
        else:
            norms[is_fused] = {}
            for n in tape:
                name = (n.names or {}).get(0)
                if name in ("h_t", "c_t") and n.scope.tags["direction"] == direction:
                    norms[is_fused].setdefault(name[0], [0.0] * T)[n.scope.step] = n.grad_norms[0]
    assert norms[True].keys() == norms[False].keys() == ({"h", "c"} if mode == "LSTM" else {"h"})
    for key in norms[True]:
        np.testing.assert_allclose(norms[True][key], norms[False][key], rtol=1e-10)


def test_training_loss_curve_matches_composed():
    """A few Adam steps of a small seed-like task: the same loss curve in float32."""
    rng = np.random.default_rng(0)
    x = ts.Tensor(rng.standard_normal((20, 64, 1)).astype(np.float32))
    y = ts.Tensor((x.array.sum(axis=(0, 2)) > 0).astype(np.int64))
    curves = []
    for is_fused in (False, True):
        ts.manual_seed(0)
        lstm, head = nn.LSTM(1, 16, fused=is_fused), nn.Linear(16, 2)
        opt = ts.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=0.01)
        losses = []
        for _ in range(8):
            opt.zero_grad()
            out, _ = lstm(x)
            loss = ts.cross_entropy(head(out[-1]), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        curves.append(losses)
    assert curves[0][-1] < curves[0][0]
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("steps", [2, 1])
def test_gate_gradients_in_chunks_of_steps_equal_all_at_once(mode, steps, monkeypatch):
    """Backward accumulates weight and input gradients per chunk of steps (5 = 2 + 2 + 1, or
    one step at a time: the ring of a layer that is not split into parts holds one step)."""
    opt = dict(num_layers=2, bidirectional=True, lengths=True, h0=True)
    whole = run_layer(mode, True, "float64", **opt)
    monkeypatch.setattr(fused.steps, "_CHUNK_ROWS", steps * B)
    monkeypatch.setattr(fused.loops, "CHUNK_ROWS", steps * B)
    chunked = run_layer(mode, True, "float64", **opt)
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(b.array, a.array, **TOL["float64"])


@pytest.mark.parametrize("block", [1, 2])
@pytest.mark.parametrize("mode", JITTED)
def test_a_lanes_backward_in_blocks_of_rows_equals_composed(mode, block, monkeypatch):
    """A lane whose ring holds one step runs each backward step in blocks of rows (B = 3 in
    blocks of 1, or of 2 and 1): the composed path's numbers, one-hot input included."""
    monkeypatch.setattr(fused.loops, "CHUNK_ROWS", B)
    monkeypatch.setattr(fused.loops, "BLOCK_ROWS", block)
    for opt in OPTIONS[::3] + [dict(one_hot=True, lengths=True, num_layers=2)]:
        composed, blocks = run_layer(mode, False, "float64", **opt), run_layer(mode, True,
                                                                               "float64", **opt)
        for k, (a, b) in enumerate(zip(composed, blocks)):
            np.testing.assert_allclose(b.array, a.array, **TOL["float64"], err_msg=f"{opt} #{k}")


@pytest.mark.parametrize("block", [4, 8])
@pytest.mark.parametrize("mode", JITTED)
def test_blocks_of_whole_tiles_over_a_larger_batch_equal_composed(mode, block, monkeypatch):
    """13 rows in blocks of 4 (4, 4, 4, 1) or of at most 8 (rounded up to tiles of 4: 8, 5),
    with lengths, an initial state and a two-layer bidirectional stack: the composed path's
    outputs and gradients."""
    monkeypatch.setattr(fused.loops, "CHUNK_ROWS", 1)
    monkeypatch.setattr(fused.loops, "BLOCK_ROWS", block)
    cls, kw = MODES[mode]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 13, I))
    h0 = [rng.standard_normal((4, 13, H)) for _ in range(2 if cls == "LSTM" else 1)]
    lengths = np.sort(rng.integers(1, 7, 13))[::-1].copy()
    weights = rng.standard_normal((6, 13, 2 * H))
    results = []
    for is_fused in (False, True):
        ts.manual_seed(0)
        layer = getattr(nn, cls)(I, H, num_layers=2, bidirectional=True, dtype="float64",
                                 fused=is_fused, **kw)
        inputs = [ts.Tensor(a, requires_grad=True) for a in [x] + h0]
        state = tuple(inputs[1:]) if cls == "LSTM" else inputs[1]
        out, _ = layer(inputs[0], state, lengths=lengths)
        (out * ts.Tensor(weights)).sum().backward()
        results.append([out] + [t.grad for t in inputs] + [p.grad for p in layer.parameters()])
    for k, (a, b) in enumerate(zip(*results)):
        np.testing.assert_allclose(b.array, a.array, **TOL["float64"], err_msg=f"#{k}")


@pytest.mark.parametrize("mode", MODES)
def test_padding_never_reaches_outputs_or_gradients_even_when_not_finite(mode, rng):
    """Past a sequence's end its input is ignored, as with PyTorch's packed sequences: nan
    padding gives the numbers of zero padding, on both paths."""
    cls, kw = MODES[mode]
    x, weights = rng.standard_normal((T, B, I)), rng.standard_normal((T, B, 2 * H))
    results = {}
    for padding in (0.0, np.nan):
        for is_fused in (False, True):
            ts.manual_seed(0)
            layer = getattr(nn, cls)(I, H, num_layers=2, bidirectional=True, dtype="float64",
                                     fused=is_fused, **kw)
            padded = x.copy()
            padded[2:, 1] = padded[3:, 2] = padding
            x_t = ts.Tensor(padded, requires_grad=True)
            out, _ = layer(x_t, lengths=[5, 2, 3])
            (out * ts.Tensor(weights)).sum().backward()
            results[padding, is_fused] = [out.array, x_t.grad.array,
                                          *(p.grad.array for p in layer.parameters())]
    reference = results[0.0, False]
    assert all(np.isfinite(a).all() for a in reference)
    for key, arrays in results.items():
        for k, (a, b) in enumerate(zip(reference, arrays)):
            np.testing.assert_allclose(b, a, **TOL["float64"], err_msg=f"{key} #{k}")


@pytest.mark.parametrize("mode", MODES)
def test_a_nan_gradient_on_padded_outputs_reaches_nothing(mode, rng):
    """What flows into an output past a sequence's end (always zero) is dropped, on both
    paths: a gradient of nan there must not turn the weights' gradients into nan."""
    cls, kw = MODES[mode]
    x, grads = rng.standard_normal((T, B, I)), {}
    for is_fused in (False, True):
        ts.manual_seed(0)
        layer = getattr(nn, cls)(I, H, dtype="float64", fused=is_fused, **kw)
        out, _ = layer(ts.Tensor(x), lengths=[5, 2, 3])
        g = np.ones(out.shape)
        g[2:, 1] = g[3:, 2] = np.nan
        out.backward(g)
        grads[is_fused] = [p.grad.array for p in layer.parameters()]
    assert all(np.isfinite(a).all() for a in grads[False])
    for a, b in zip(grads[False], grads[True]):
        np.testing.assert_allclose(b, a, **TOL["float64"])


@pytest.mark.parametrize("mode", MODES)
def test_an_empty_batch_runs_forward_and_backward(mode):
    cls, kw = MODES[mode]
    for is_fused in (False, True):
        layer = getattr(nn, cls)(I, H, dtype="float64", fused=is_fused, **kw)
        x = ts.Tensor(np.zeros((T, 0, I)), requires_grad=True)
        out, _ = layer(x)
        out.sum().backward()
        assert out.shape == (T, 0, H) and x.grad.shape == (T, 0, I)
        assert not layer.weight_hh_l0.grad.array.any()
        cell = getattr(nn, cls + "Cell")(I, H, dtype="float64", fused=is_fused, **kw)
        new = cell(ts.Tensor(np.zeros((0, I))))
        assert (new[0] if cls == "LSTM" else new).shape == (0, H)


def test_the_workspace_pool_keeps_a_bounded_number_of_shapes():
    """A loop over many sequence lengths (bucketing, a last short batch) must not hoard one
    set of workspace arrays per length for ever."""
    layer = nn.LSTM(I, H, dtype="float64")
    for steps in range(1, 3 * fused.POOL_SHAPES):
        out, _ = layer(ts.randn(steps, B, I, dtype="float64"))
        out.sum().backward()
    assert len(fused.POOL) <= fused.POOL_SHAPES


def test_the_pool_hands_out_only_arrays_nobody_holds():
    a = fused.workspace((7, 3), "float64")
    b = fused.workspace((7, 3), "float64")
    assert b is not a                                       # a is held here
    a_id = id(a)
    del a
    assert id(fused.workspace((7, 3), "float64")) == a_id  # released: handed out again
    assert fused.workspace((7, 3), "float64") is not b


@pytest.mark.parametrize("split", ["one", "lanes", "parts"])
@pytest.mark.parametrize("pick", [-1, 0, slice(1, 4), slice(None, None, -2),
                                  (-1, slice(None), slice(1, 3))])
@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_a_loss_on_some_steps_equals_composed(mode, pick, split, request, monkeypatch):
    """out[-1] (or a slice of steps) reaches the loops as those steps' gradient alone (an
    autograd.SliceGrad); other indexes as a whole array: the composed path's numbers and the
    norm of the whole gradient either way."""
    if split != "one":
        request.getfixturevalue(split)
    rows, output_grad = [], fused.loops._output_grad

    def counting(grad_out, T):     # how many steps' rows reach the kernels
        result = output_grad(grad_out, T)
        rows.append(result[0].shape[0])
        return result
    monkeypatch.setattr(fused.loops, "_output_grad", counting)
    results, norms = [], []
    for is_fused in (False, True):
        ts.manual_seed(1)
        layer = getattr(nn, mode)(I, H, dtype="float64", fused=is_fused)
        x = ts.Tensor(np.random.default_rng(0).standard_normal((T, B, I)), requires_grad=True)
        with ts.autograd.Tape() as tape:
            out, _ = layer(x)
        picked = out[pick]
        (picked * ts.Tensor(np.random.default_rng(1).standard_normal(picked.shape))).sum() \
            .backward()
        results.append([x.grad, *(p.grad for p in layer.parameters())])
        norms.append([n.grad_norms[0] for n in tape.nodes if n.op.endswith("sequence")])
    for a, b in zip(*results):
        np.testing.assert_allclose(b.array, a.array, **TOL["float64"])
    steps = np.arange(T)[pick if not isinstance(pick, tuple) else slice(None)]
    assert rows == [np.atleast_1d(steps).size]
    picked_grad = np.zeros((T, B, H))
    picked_grad[pick] = np.random.default_rng(1).standard_normal(picked_grad[pick].shape)
    assert norms[1] == [pytest.approx(np.linalg.norm(picked_grad), rel=1e-12)]
