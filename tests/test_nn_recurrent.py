"""Cells and unrolled layers: gradchecks over every option, lengths, truncated BPTT, errors.

These test the composed (teaching) path, fused=False; tests/test_fused*.py check that the fused
layers give the same numbers."""
import itertools

import numpy as np
import pytest

import tinygrad_seq as ts
from tinygrad_seq import nn

T, B, I, H = 3, 2, 2, 2


def f64(rng, *shape, requires_grad=True):
    return ts.Tensor(rng.standard_normal(shape), requires_grad=requires_grad)


def flat(*tensors):
    return ts.cat([t.reshape(-1) for t in tensors])


@pytest.mark.parametrize("cell,kw", [
    (nn.RNNCell, {}), (nn.RNNCell, {"nonlinearity": "relu"}), (nn.LSTMCell, {}),
    (nn.GRUCell, {}), (nn.GRUCell, {"reset_after": False}), (nn.GRUCell, {"bias": False}),
    (nn.LSTMCell, {"bias": False})])
def test_cell_gradcheck(cell, kw, rng):
    ts.manual_seed(0)
    module = cell(I, H, dtype="float64", **kw)
    x, h = f64(rng, B, I), f64(rng, B, H)
    if cell is nn.LSTMCell:
        c = f64(rng, B, H)
        fn = lambda x, h, c, *ps: flat(*module(x, (h, c)))  # noqa: E731
        assert ts.gradcheck(fn, x, h, c, *module.parameters())
    else:
        if kw.get("nonlinearity") == "relu":   # keep pre-activations clear of relu's kink
            x = ts.Tensor(x.array * 3, requires_grad=True)
        assert ts.gradcheck(lambda x, h, *ps: module(x, h), x, h, *module.parameters())


LAYER_OPTIONS = [
    dict(mode=mode, num_layers=layers, bidirectional=bidir, batch_first=bf, h0=h0, lengths=lens)
    for mode, layers, bidir, bf, h0, lens in itertools.product(
        ["RNN", "LSTM", "GRU", "GRU_cho"], [1, 2], [False, True], [False, True], [False, True],
        [False, True])
    # every option appears with every mode, without the full product's runtime
    if (layers + bidir + bf + h0 + lens) % 2 == 0 or (layers == 2 and bidir and lens)]


def make_layer(mode, fused=False, **kw):
    ts.manual_seed(1)
    if mode == "GRU_cho":
        return nn.GRU(I, H, reset_after=False, dtype="float64", fused=fused, **kw)
    return getattr(nn, mode)(I, H, dtype="float64", fused=fused, **kw)


@pytest.mark.parametrize("opt", LAYER_OPTIONS,
                         ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_layer_gradcheck(opt, rng):
    opt = dict(opt)
    mode, with_h0, with_lengths = opt.pop("mode"), opt.pop("h0"), opt.pop("lengths")
    layer = make_layer(mode, **opt)
    D, L = 1 + opt["bidirectional"], opt["num_layers"]
    x = f64(rng, B, T, I) if opt["batch_first"] else f64(rng, T, B, I)
    states = [f64(rng, L * D, B, H) for _ in range(2 if mode == "LSTM" else 1)] if with_h0 else []
    lengths = np.array([2, 3]) if with_lengths else None

    def fn(x, *states_and_params):
        hx = None
        if with_h0:
            hx = tuple(states) if mode == "LSTM" else states[0]
        out, h = layer(x, hx, lengths=lengths)
        return flat(out, *(h if mode == "LSTM" else (h,)))

    assert ts.gradcheck(fn, x, *states, *layer.parameters())


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_lengths_equal_running_each_sequence_alone(mode, rng):
    lengths = np.array([4, 2, 3])
    layer = make_layer(mode, num_layers=2, bidirectional=True)
    x = rng.standard_normal((4, 3, I))
    out_w = rng.standard_normal((4, 3, 2 * H))
    state_w = rng.standard_normal((4, 3, H))

    def loss_of(out, h, cols):
        finals = h if mode == "LSTM" else (h,)
        return (out * ts.Tensor(out_w[:out.shape[0], cols])).sum() + sum(
            (s * ts.Tensor(state_w[:, cols])).sum() for s in finals)

    out, h = layer(ts.Tensor(x), lengths=ts.Tensor(lengths))
    loss_of(out, h, slice(None)).backward()
    batched_grads = {n: p.grad.numpy().copy() for n, p in layer.named_parameters()}
    assert np.all(out.array[2:, 1] == 0) and np.all(out.array[3:, 2] == 0)

    layer.zero_grad()
    for b, n in enumerate(lengths):   # each sequence alone, unpadded, as a batch of one
        alone_out, alone_h = layer(ts.Tensor(x[:n, b:b + 1]))
        np.testing.assert_allclose(alone_out.array[:, 0], out.array[:n, b], rtol=1e-12, atol=1e-12)
        finals, alone_finals = (h, alone_h) if mode == "LSTM" else ((h,), (alone_h,))
        for s, a in zip(finals, alone_finals):
            np.testing.assert_allclose(a.array[:, 0], s.array[:, b], rtol=1e-12, atol=1e-12)
        loss_of(alone_out, alone_h, slice(b, b + 1)).backward()
    for n, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad.array, batched_grads[n], rtol=1e-10, atol=1e-12,
                                   err_msg=n)


def test_truncated_bptt_equals_full_bptt_restricted_to_each_window(rng):
    k, steps = 3, 8
    lstm = make_layer("LSTM")
    x = ts.Tensor(rng.standard_normal((steps, B, I)))
    targets = rng.standard_normal((steps, B, H))

    def loss_fn(output, start):
        return ((output - ts.Tensor(targets[start:start + output.shape[0]])) ** 2).sum()

    losses, _ = nn.utils.truncated_bptt(lstm, x, k, loss_fn)
    tbptt_grads = {n: p.grad.numpy().copy() for n, p in lstm.named_parameters()}

    # the reference: one pass of cells, step by step, cutting the graph at window boundaries
    lstm.zero_grad()
    h, c = ts.zeros(B, H, dtype="float64"), ts.zeros(B, H, dtype="float64")
    params = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0]
    total, reference_losses = 0, []
    for t in range(steps):
        if t % k == 0:
            h, c = h.detach(), c.detach()
            window_loss = 0
        h, c = nn.lstm_cell(x[t], h, c, *params)
        window_loss = window_loss + ((h - ts.Tensor(targets[t])) ** 2).sum()
        if t % k == k - 1 or t == steps - 1:
            reference_losses.append(window_loss.item())
            total = total + window_loss
    total.backward()
    np.testing.assert_allclose(losses, reference_losses, rtol=1e-12)
    assert len(losses) == 3
    for n, p in lstm.named_parameters():
        np.testing.assert_allclose(tbptt_grads[n], p.grad.array, rtol=1e-10, atol=1e-12)


def test_shapes_match_pytorch_conventions():
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    out, (h, c) = lstm(ts.randn(4, 7, 3))
    assert out.shape == (4, 7, 10) and h.shape == (4, 4, 5) and c.shape == (4, 4, 5)
    out, h = nn.GRU(3, 5)(ts.randn(7, 3))                      # unbatched
    assert out.shape == (7, 5) and h.shape == (1, 5)
    out, h = nn.RNN(3, 5, 2, "relu")(ts.randn(7, 2, 3), ts.zeros(2, 2, 5))
    assert out.shape == (7, 2, 5) and h.shape == (2, 2, 5)
    h, c = nn.LSTMCell(3, 5)(ts.randn(3))
    assert h.shape == (5,) and c.shape == (5,)


def test_steps_carry_scope_tags():
    lstm = nn.LSTM(2, 3, bidirectional=True, fused=False)
    model = nn.Sequential(lstm)
    with ts.Tape() as tape:
        out, _ = model(ts.randn(2, 1, 2))
    scopes = {(n.scope.path, n.scope.step, n.scope.tags.get("direction")) for n in tape}
    assert ("0.l0", 0, "forward") in scopes and ("0.l0_reverse", 1, "reverse") in scopes
    names = {n.names.get(0) for n in tape if n.names}
    assert {"i_t", "f_t", "g_t", "o_t", "c_t", "h_t"} <= names
    assert lstm.weight_hh_l0_reverse.name == "0.weight_hh_l0_reverse"


def test_dropout_between_layers_only_in_training():
    ts.manual_seed(0)
    lstm = nn.LSTM(2, 3, num_layers=2, dropout=0.5)
    x = ts.randn(4, 2, 2)
    lstm.eval()
    a, _ = lstm(x)
    b, _ = lstm(x)
    assert np.array_equal(a.array, b.array)
    lstm.train()
    c, _ = lstm(x)
    assert not np.allclose(a.array, c.array)


def test_init_options():
    ts.manual_seed(0)
    lstm = nn.LSTM(3, 4, init="orthogonal", forget_bias=1.0)
    w = lstm.weight_hh_l0.array
    for block in range(4):
        q = w[4 * block:4 * block + 4]
        np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-6)
    assert np.all(lstm.bias_ih_l0.array[4:8] == 1) and np.all(lstm.bias_hh_l0.array[4:8] == 0)
    assert np.all(lstm.bias_ih_l0.array[:4] == 0)
    gru = nn.GRU(3, 4, init="xavier")
    bound = np.sqrt(6 / (4 + 3))
    assert np.abs(gru.weight_ih_l0.array).max() <= bound
    default = nn.RNN(3, 16)
    assert np.abs(default.weight_hh_l0.array).max() <= 0.25


class TestBadInput:
    def test_input_rank_and_features(self):
        lstm = nn.LSTM(3, 4)
        with pytest.raises(ValueError, match=r"LSTM: expected input \(seq_len, batch, input_size\)"):
            lstm(ts.randn(2, 3, 4, 3))
        with pytest.raises(ValueError, match=r"LSTM: input has 5 features, expected input_size=3"):
            lstm(ts.randn(2, 3, 5))
        for fused in (True, False):
            with pytest.raises(ValueError, match=r"LSTM: expected a sequence of at least one step"):
                nn.LSTM(3, 4, fused=fused)(ts.zeros(0, 2, 3))
        with pytest.raises(TypeError, match="input is float64 but the parameters are float32"):
            lstm(ts.randn(2, 3, 3, dtype="float64"))
        with pytest.raises(ValueError, match=r"LSTMCell: expected input \(batch, 3\)"):
            nn.LSTMCell(3, 4)(ts.randn(2, 4))

    def test_state_shape(self):
        with pytest.raises(ValueError, match=r"GRU: h_0 must have shape \(2, 3, 4\)"):
            nn.GRU(3, 4, bidirectional=True)(ts.randn(5, 3, 3), ts.zeros(1, 3, 4))
        with pytest.raises(ValueError, match=r"LSTM: hx must be a tuple"):
            nn.LSTM(3, 4)(ts.randn(5, 3, 3), ts.zeros(1, 3, 4))
        with pytest.raises(ValueError, match=r"c_0 must have shape \(1, 3, 4\)"):
            nn.LSTM(3, 4)(ts.randn(5, 3, 3), (ts.zeros(1, 3, 4), ts.zeros(1, 2, 4)))
        with pytest.raises(ValueError, match=r"RNNCell: expected a state of shape \(3, 4\)"):
            nn.RNNCell(3, 4)(ts.randn(3, 3), ts.zeros(2, 4))
        with pytest.raises(ValueError, match=r"GRU: h_0 must have shape \(1, 4\) \(num_layers "
                                             r"\* num_directions, hidden_size\), got \(1, 1, 4\)"):
            nn.GRU(3, 4)(ts.randn(5, 3), ts.zeros(1, 1, 4))      # unbatched input, 3-D h_0

    @pytest.mark.parametrize("fused", [False, True])
    def test_states_and_input_of_the_wrong_kind(self, fused):
        """Every path refuses what the composed cells would refuse: a float32 state beside
        float64 weights is never silently converted, numpy arrays are not Tensors."""
        x, h, c = ts.zeros(2, 3, dtype="float64"), ts.zeros(2, 4, dtype="float64"), ts.zeros(2, 4)
        with pytest.raises(TypeError, match="LSTMCell: a state is float32 but the parameters "
                                            "are float64"):
            nn.LSTMCell(3, 4, dtype="float64", fused=fused)(x, (h, c))
        with pytest.raises(TypeError, match="GRUCell: expected the state as a Tensor, got "
                                            "ndarray"):
            nn.GRUCell(3, 4, dtype="float64", fused=fused)(x, np.zeros((2, 4)))
        with pytest.raises(TypeError, match="RNNCell: expected the input as a Tensor"):
            nn.RNNCell(3, 4, fused=fused)(np.zeros((2, 3)))
        with pytest.raises(TypeError, match="LSTM: expected the input as a Tensor, got ndarray"):
            nn.LSTM(3, 4, fused=fused)(np.zeros((5, 2, 3)))
        with pytest.raises(TypeError, match="RNN: expected h_0 as a Tensor, got ndarray"):
            nn.RNN(3, 4, fused=fused)(ts.zeros(5, 2, 3), np.zeros((1, 2, 4)))

    def test_lengths(self):
        rnn = nn.RNN(3, 4)
        x = ts.randn(5, 2, 3)
        with pytest.raises(ValueError, match=r"lengths must be in \[1, 5\].*from 1 to 6"):
            rnn(x, lengths=[6, 1])
        with pytest.raises(ValueError, match=r"lengths must be in \[1, 5\].*from 0"):
            rnn(x, lengths=[0, 3])
        with pytest.raises(ValueError, match="lengths must be 2 integers"):
            rnn(x, lengths=[3, 3, 3])

    def test_constructor_arguments(self):
        with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
            nn.LSTM(3, 0)
        with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
            nn.RNN(3, 4, nonlinearity="sigmoid")
        with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\]"):
            nn.GRU(3, 4, dropout=2)
        with pytest.raises(ValueError, match="init must be"):
            nn.GRU(3, 4, init="he")


def test_repr_shows_the_options_that_differ_from_the_defaults():
    assert repr(nn.GRU(3, 4, reset_after=False)) == "GRU(3, 4, reset_after=False)"
    assert repr(nn.RNN(3, 4, nonlinearity="relu", fused=False)) == \
        "RNN(3, 4, nonlinearity=relu, fused=False)"
    assert repr(nn.GRUCell(3, 4, reset_after=False, fused=True)) == \
        "GRUCell(3, 4, reset_after=False, fused=True)"
    assert repr(nn.RNNCell(3, 4, bias=False)) == "RNNCell(3, 4, bias=False)"
