"""The gradient-flow report, gate saturation and the matplotlib figures, against numbers worked
out by hand or counted directly, and fused layers against composed ones."""
import math

import numpy as np
import pytest
from matplotlib.figure import Figure

import tinygrad_seq as ts
from tinygrad_seq import nn, viz
from tinygrad_seq.viz.flow import layer_flows

from test_viz_svg import known_chain


# ---------------------------------------------------------------------------------------------
# the report's numbers on graphs whose per-step norms are known
# ---------------------------------------------------------------------------------------------
def test_report_of_a_steady_decay_by_hand():
    # h_t = 0.5 h_{t-1}, 12 steps, 4 ones: ||dL/dh_t|| = 2 * 0.5^(11 - t)
    loss, norms, _ = known_chain([0.5] * 12)
    made = viz.report(loss, vanishing=1e-3, show=False)
    (layer,) = made.layers
    assert layer.last == (11, pytest.approx(2.0)) and layer.first == (0, pytest.approx(2 * 0.5 ** 11))
    assert layer.decay == pytest.approx(0.5)
    assert layer.horizon == 10              # 0.5^10 = 9.8e-4 is the first below 1e-3 of 2
    assert layer.vanished == [0] and layer.exploded == []   # 2 * 0.5^11 = 9.8e-4 < 1e-3
    assert layer.saturation is None and layer.kind == "vanishing"
    assert "the gradient reaching t=0 is 5e-04 of the last step's (t=11)" in made.verdict
    assert "consider an LSTM or GRU" in made.verdict


def test_report_of_an_uneven_chain_by_hand():
    factors = [0.5, 2.0, 0.1, 0.7, 3.0, 0.05, 1.5, 0.3, 0.9, 0.2]
    loss, norms, _ = known_chain(factors)
    (layer,) = viz.report(loss, show=False).layers
    T = len(factors)
    assert layer.last == (T - 1, pytest.approx(2.0)) and layer.first[1] == pytest.approx(norms[0])
    # ||dL/dh_{t-1}|| / ||dL/dh_t|| = c_t: the decay is the geometric mean of c_1 .. c_{T-1}
    assert layer.decay == pytest.approx(math.prod(factors[1:]) ** (1 / (T - 1)))
    # relative to t=9: 0.2, 0.18, 0.054, 0.081, 4.05e-3, 1.2e-2, 4.3e-3, then at t=1
    # 0.2 * 0.9 * 0.3 * 1.5 * 0.05 * 3 * 0.7 * 0.1 = 8.5e-4, the first below 1e-3: 8 steps back
    back = next(k for k in range(T) if norms[T - 1 - k] < 1e-3 * norms[-1])
    assert layer.horizon == back == 8
    assert layer.kind == "fading"            # t=0 gets 1.7e-3 of t=9's (c_1 = 2 lifts it)


def test_report_of_a_growing_and_an_exploding_chain():
    (grow,) = viz.report(known_chain([1.3] * 12)[0], show=False).layers
    assert grow.kind == "growing" and grow.decay == pytest.approx(1.3)
    assert grow.horizon is None
    (boom,) = viz.report(known_chain([10.0] * 6)[0], show=False).layers
    assert boom.kind == "exploding" and boom.exploded == [0, 1, 2]   # 2e5, 2e4, 2e3 > 1e3
    assert "clip gradients" in boom.verdict


def test_report_text_and_refusals(capsys):
    loss, _, _ = known_chain([0.5] * 4)
    made = viz.report(loss)
    text = capsys.readouterr().out
    assert text.strip() == str(made).strip()
    assert "decay per step  0.500" in text and "Verdict: " in text
    assert repr(made) == "<GradientReport RNN toy: healthy>"   # t=0 gets 0.125 of t=3's
    x = ts.ones(3, requires_grad=True)
    assert "no recurrent layer" in viz.report((x * 2).sum(), show=False).verdict
    ts.manual_seed(0)
    before = nn.GRU(2, 3)(ts.randn(4, 1, 2))[0].sum()
    with pytest.raises(ValueError, match="has not been through backward"):
        viz.report(before, show=False)


# ---------------------------------------------------------------------------------------------
# gate saturation against a direct count
# ---------------------------------------------------------------------------------------------
def saturated_layer(cell, fused, lengths=None, layers=1, bidirectional=False, steps=7,
                    batch=5):
    """A float64 layer with weights large enough that many gate values saturate, a loss on
    every output, after backward(retain_graph=True)."""
    ts.manual_seed(3)
    rnn = getattr(nn, cell)(3, 4, num_layers=layers, bidirectional=bidirectional, fused=fused,
                            dtype=ts.float64)
    for p in rnn.parameters():
        p.numpy()[...] *= 6.0
    x = ts.Tensor(np.random.default_rng(3).standard_normal((steps, batch, 3)))
    out, _ = rnn(x, lengths=lengths)
    loss = (out * out).sum()
    loss.backward(retain_graph=True)
    return rnn, x, loss


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def direct_lstm_gates(rnn, x):
    """i, f, o by step (T, B, H) from the weights, in numpy."""
    w_ih, w_hh = rnn.weight_ih_l0.numpy(), rnn.weight_hh_l0.numpy()
    b = rnn.bias_ih_l0.numpy() + rnn.bias_hh_l0.numpy()
    T, B, _ = x.shape
    H = rnn.hidden_size
    h, c, gates = np.zeros((B, H)), np.zeros((B, H)), {"i": [], "f": [], "o": []}
    for t in range(T):
        z = x.numpy()[t] @ w_ih.T + h @ w_hh.T + b
        i, f, g, o = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), \
            sigmoid(z[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        for name, v in (("i", i), ("f", f), ("o", o)):
            gates[name].append(v)
    return {k: np.array(v) for k, v in gates.items()}


def direct_gru_gates(rnn, x):
    w_ih, w_hh = rnn.weight_ih_l0.numpy(), rnn.weight_hh_l0.numpy()
    b_ih, b_hh = rnn.bias_ih_l0.numpy(), rnn.bias_hh_l0.numpy()
    T, B, _ = x.shape
    H = rnn.hidden_size
    h, gates = np.zeros((B, H)), {"r": [], "z": []}
    for t in range(T):
        gx, gh = x.numpy()[t] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        r, z = sigmoid(gx[:, :H] + gh[:, :H]), sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
        gates["r"].append(r)
        gates["z"].append(z)
    return {k: np.array(v) for k, v in gates.items()}


def counted(values, running=None):
    """(T, 2) fractions below 0.01 and above 0.99, over the running sequences of each step."""
    rows = []
    for t, v in enumerate(values):
        keep = v if running is None else v[running[t]]
        rows.append((np.mean(keep < 0.01), np.mean(keep > 0.99)))
    return np.array(rows)


@pytest.mark.parametrize("fused, batch", [(True, 5), (False, 5), (True, 150)])
@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_saturation_is_a_direct_count_of_the_gate_values(cell, fused, batch):
    threads = ts.get_num_threads()
    ts.set_num_threads(2)             # a batch of 150 runs as two lanes of rows on the fused path
    try:
        rnn, x, loss = saturated_layer(cell, fused, batch=batch)
    finally:
        ts.set_num_threads(threads)
    (flow,) = layer_flows(loss)
    direct = (direct_lstm_gates if cell == "LSTM" else direct_gru_gates)(rnn, x)
    assert set(flow.saturation) == set(direct)
    for gate, values in direct.items():
        expected = counted(values)
        assert 0.05 < expected.sum(axis=1).mean() < 0.95      # the test sees both kinds
        # exact: a gate value within rounding of 0.01 or 0.99 would flip one count, which
        # random float64 data does not produce
        np.testing.assert_array_equal(flow.saturation[gate], expected)


@pytest.mark.parametrize("fused", [True, False])
def test_saturation_counts_only_the_sequences_still_running(fused):
    lengths = np.array([7, 3, 5, 1, 6])
    rnn, x, loss = saturated_layer("LSTM", fused, lengths=lengths)
    (flow,) = layer_flows(loss)
    running = np.arange(7)[:, None] < lengths[None, :]
    masked = ts.Tensor(np.where(running[:, :, None], x.numpy(), 0.0))
    for gate, values in direct_lstm_gates(rnn, masked).items():
        np.testing.assert_array_equal(flow.saturation[gate], counted(values, running))


def test_saturation_needs_the_forward_values():
    ts.manual_seed(0)
    for fused in (True, False):
        out, _ = nn.LSTM(2, 3, fused=fused)(ts.randn(4, 2, 2))
        loss = out.sum()
        loss.backward()                       # frees the gate values
        (flow,) = layer_flows(loss)
        assert flow.saturation is None
        assert "retain_graph=True" in str(viz.report(loss, show=False))


# ---------------------------------------------------------------------------------------------
# fused and composed layers give the same report
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
def test_fused_and_composed_give_the_same_report(cell):
    lengths = np.array([7, 4, 6, 2, 7])
    reports = [viz.report(saturated_layer(cell, fused, lengths=lengths, layers=2,
                                          bidirectional=True)[2], show=False)
               for fused in (True, False)]
    fused, composed = reports
    assert len(fused.layers) == len(composed.layers) == 4
    for a, b in zip(fused.layers, composed.layers):
        assert (a.flow.path, a.flow.direction, a.flow.fused, b.flow.fused) == (
            b.flow.path, b.flow.direction, True, False)
        np.testing.assert_allclose(a.flow.h, b.flow.h, rtol=1e-10)
        if cell == "LSTM":
            np.testing.assert_allclose(a.flow.c, b.flow.c, rtol=1e-10)
        assert a.last[0] == b.last[0] and a.last[1] == pytest.approx(b.last[1], rel=1e-10)
        assert a.first[1] == pytest.approx(b.first[1], rel=1e-10)
        assert a.decay == pytest.approx(b.decay, rel=1e-10)
        assert (a.horizon, a.vanished, a.exploded, a.kind) == (
            b.horizon, b.vanished, b.exploded, b.kind)
        if cell == "RNN":
            assert a.saturation is None and b.saturation is None
        else:
            assert a.saturation.keys() == b.saturation.keys()
            for gate in a.saturation:
                np.testing.assert_allclose(a.saturation[gate], b.saturation[gate], rtol=1e-12)
    assert fused.verdict == composed.verdict


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------
def test_heatmap_has_a_row_per_layer_and_gate(tmp_path):
    _, _, loss = saturated_layer("LSTM", True, layers=2, bidirectional=True)
    fig = viz.heatmap(loss, title="LSTM")
    assert isinstance(fig, Figure)
    grads, gates = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [t.get_text() for t in grads.get_yticklabels()] == [
        "LSTM l0 (fwd)", "LSTM l0_reverse (rev)", "LSTM l1 (fwd)", "LSTM l1_reverse (rev)"]
    assert len(gates.get_yticklabels()) == 4 * 3
    np.testing.assert_allclose(grads.images[0].get_array()[0].filled(np.nan),
                               layer_flows(loss)[0].h)
    for ext in ("png", "svg"):
        assert (tmp_path / f"h.{ext}").name in viz.save(fig, tmp_path / f"h.{ext}")
    with pytest.raises(ValueError, match="saved as .png, .svg or .pdf"):
        viz.save(fig, tmp_path / "h.dot")


def test_heatmap_without_gate_values_says_why():
    ts.manual_seed(0)
    out, _ = nn.GRU(2, 3)(ts.randn(5, 2, 2))
    loss = out.sum()
    loss.backward()
    fig = viz.heatmap(loss)
    (grads,) = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert "retain_graph=True" in grads.get_xlabel()


def test_compare_draws_every_model_relative_to_its_last_step():
    losses = {cell: saturated_layer(cell, True)[2] for cell in ("RNN", "LSTM", "GRU")}
    fig = viz.compare(losses, title="adding")
    curves = fig.axes[0]
    assert [line.get_label() for line in curves.get_lines()] == ["RNN", "LSTM", "GRU"]
    for line, loss in zip(curves.get_lines(), losses.values()):
        h = layer_flows(loss)[0].h
        np.testing.assert_allclose(line.get_ydata(), h / h[-1])
    absolute = viz.compare(losses, relative=False).axes[0].get_lines()[0].get_ydata()
    np.testing.assert_allclose(absolute, layer_flows(losses["RNN"])[0].h)
    with pytest.raises(ValueError, match="'bad': no recurrent layer"):
        viz.compare({"bad": (ts.ones(2, requires_grad=True) * 2).sum()})
    with pytest.raises(ValueError, match="at least one model"):
        viz.compare({})
