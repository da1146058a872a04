"""Anomaly mode: the first nan or inf, forward or backward, named with its op, module path,
time step, input shapes and the line of user code that made it."""
import numpy as np
import pytest

import tinygrad_seq as ts
from tinygrad_seq import nn

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")   # numpy's, on the nan made


def _inputs(bad_value):
    """10 steps of (3, 2) inputs whose first feature is 1, except bad_value at step 7."""
    x = np.random.default_rng(0).standard_normal((10, 3, 2)) * 0.5
    x[:, :, 0] = 1.0
    x[7, :, 0] = bad_value
    return ts.Tensor(x, dtype=ts.float64)


class Gated(nn.Module):
    """An RNN cell whose output is scaled by a function of its input, step by step."""

    def __init__(self, scale):
        super().__init__()
        self.cell = nn.RNNCell(2, 4, dtype=ts.float64)
        self.scale = scale

    def forward(self, xs):
        h = None
        for t in range(xs.shape[0]):
            with ts.scope("", step=t):
                h = self.cell(xs[t], h)
                h = h * self.scale(xs[t][:, :1], h)
        return h


class Net(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.rnn = Gated(scale)     # registered as "rnn": the nodes' module path names it

    def forward(self, xs):
        return self.rnn(xs)


def test_forward_names_the_step_that_takes_the_log_of_a_negative_number():
    ts.manual_seed(0)
    model = Net(lambda x, h: 1 + 0.1 * x.log())
    with ts.autograd.detect_anomaly():
        with pytest.raises(ts.autograd.AnomalyError) as info:
            model(_inputs(-1.0))
    message = str(info.value)
    assert message.startswith("anomaly: log (module path rnn, time step 7) produced nan")
    assert "inputs: (3, 1)" in message
    assert "test_anomaly.py" in message and "x.log()" in message


def test_backward_names_the_step_whose_gradient_is_not_finite():
    ts.manual_seed(0)
    model = Net(lambda x, h: (x * h).abs().sqrt())   # at x = 0: sqrt(0) = 0, its slope inf
    with ts.autograd.detect_anomaly():
        out = model(_inputs(0.0))
        assert np.all(np.isfinite(out.numpy()))
        with pytest.raises(ts.autograd.AnomalyError) as info:
            out.sum().backward()
    message = str(info.value)
    assert message.startswith("anomaly: the backward of sqrt (module path rnn, time step 7) "
                              "produced inf in the gradient for its input 0 of shape (3, 4)")
    assert "(x * h).abs().sqrt()" in message


@pytest.mark.parametrize("fused", [False, True])
def test_the_layer_and_step_where_an_exploding_relu_rnn_overflows(fused):
    """h_t grows 1e45 times a step: float64 overflows to inf at step 7 (1e45^7 > 1e308)."""
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.RNN(2, 3, nonlinearity="relu", dtype=ts.float64, fused=fused)
            with ts.no_grad():
                self.rnn.weight_ih_l0.fill_(1.0)
                self.rnn.weight_hh_l0.copy_(ts.Tensor(np.eye(3) * 1e45, dtype=ts.float64))
                self.rnn.bias_ih_l0.zero_()
                self.rnn.bias_hh_l0.zero_()

        def forward(self, x):
            return self.rnn(x)[0]

    x = ts.Tensor(np.ones((10, 1, 2)), dtype=ts.float64, requires_grad=True)
    with ts.autograd.detect_anomaly(), pytest.raises(ts.autograd.AnomalyError) as info:
        Model()(x)
    message = str(info.value)
    if fused:
        assert message.startswith("anomaly: rnnsequence (module path rnn.l0) produced inf in "
                                  "its forward output 0 of shape (10, 1, 3), first at time "
                                  "step 7")
    else:
        assert message.startswith("anomaly: linear (module path rnn.l0, time step 7) produced "
                                  "inf")


def test_data_that_already_holds_a_nan_is_named():
    x = ts.Tensor(np.array([1.0, np.nan]), requires_grad=True)
    with ts.autograd.detect_anomaly(), pytest.raises(ts.autograd.AnomalyError,
                                                     match=r"tanh got an input that already "
                                                           r"holds nan \(input 0 of shape"):
        x.tanh()


def test_normal_recording_keeps_nothing_and_anomaly_mode_is_switched_back_off():
    x = ts.ones(2, requires_grad=True)
    assert not hasattr((x * 2).grad_fn, "created_at")
    ts.autograd.set_detect_anomaly(True)
    try:
        assert "test_anomaly.py" in (x * 2).grad_fn.created_at
    finally:
        ts.autograd.set_detect_anomaly(False)
    y = x.log() * float("nan")          # outside anomaly mode nan is just a value
    assert np.isnan(y.numpy()).all()
