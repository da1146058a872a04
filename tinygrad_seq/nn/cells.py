"""Recurrent cells written from primitives (linear, add, sigmoid, tanh, chunk, mul).

Each cell's math is a plain function that reads like its equations, one gate per line; the cell
modules (one step) and the unrolled layers in recurrent.py both call these functions. Weight
layouts and gate orders are PyTorch's: weight_ih (G*H, I), weight_hh (G*H, H), bias_ih and
bias_hh (G*H,), with G = 1 (RNN), 4 (LSTM: i, f, g, o) or 3 (GRU: r, z, n).
"""
import math

from ..autograd import scope
from ..creation import zeros
from ..tensor import Tensor
from .functional import linear
from .fused import fused_cell
from .layers import uniform_parameter
from .module import Module


def _named(t, name):
    t.name = name
    return t


def rnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)   (relu instead of tanh if asked)"""
    pre = linear(x, w_ih, b_ih) + linear(h, w_hh, b_hh)
    return _named(pre.tanh() if nonlinearity == "tanh" else pre.relu(), "h_t")


def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step (Hochreiter & Schmidhuber 1997, with a forget gate), PyTorch's gate order:

        i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)     input gate
        f = sigmoid(W_if x + b_if + W_hf h + b_hf)     forget gate
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)        candidate cell
        o = sigmoid(W_io x + b_io + W_ho h + b_ho)     output gate
        c' = f * c + i * g
        h' = o * tanh(c')
    """
    gates = linear(x, w_ih, b_ih) + linear(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, dim=1)
    i = _named(i.sigmoid(), "i_t")
    f = _named(f.sigmoid(), "f_t")
    g = _named(g.tanh(), "g_t")
    o = _named(o.sigmoid(), "o_t")
    c = _named(f * c + i * g, "c_t")
    h = _named(o * c.tanh(), "h_t")
    return h, c


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None, reset_after=True):
    """One GRU step, PyTorch's gate order r, z, n.

    reset_after=True (PyTorch, cuDNN): the reset gate scales the recurrent projection
        r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h
    reset_after=False (Cho et al. 2014): the reset gate scales h before its projection
        n  = tanh(W_in x + b_in + W_hn (r * h) + b_hn)
    """
    hidden = h.shape[-1]
    x_r, x_z, x_n = linear(x, w_ih, b_ih).chunk(3, dim=1)
    if reset_after:
        h_r, h_z, h_n = linear(h, w_hh, b_hh).chunk(3, dim=1)
    else:
        w_rz, w_n = w_hh[:2 * hidden], w_hh[2 * hidden:]
        b_rz, b_n = (None, None) if b_hh is None else (b_hh[:2 * hidden], b_hh[2 * hidden:])
        h_r, h_z = linear(h, w_rz, b_rz).chunk(2, dim=1)
    r = _named((x_r + h_r).sigmoid(), "r_t")
    z = _named((x_z + h_z).sigmoid(), "z_t")
    if reset_after:
        n = _named((x_n + r * h_n).tanh(), "n_t")
    else:
        n = _named((x_n + linear(r * h, w_n, b_n)).tanh(), "n_t")
    return _named((1 - z) * n + z * h, "h_t")


class _CellBase(Module):
    """fused=True runs each step as one node (fused.py) instead of the gates from primitives."""
    gates = 1

    def __init__(self, input_size, hidden_size, bias=True, dtype=None, fused=False):
        super().__init__()
        self.fused = fused
        _check_sizes(type(self).__name__, input_size=input_size, hidden_size=hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        bound = 1 / math.sqrt(hidden_size)
        rows = self.gates * hidden_size
        self.weight_ih = uniform_parameter(bound, (rows, input_size), dtype)
        self.weight_hh = uniform_parameter(bound, (rows, hidden_size), dtype)
        self.bias_ih = uniform_parameter(bound, (rows,), dtype) if bias else None
        self.bias_hh = uniform_parameter(bound, (rows,), dtype) if bias else None

    def _prepare(self, x, states):
        """Check shapes; give unbatched input (I,) a batch of 1; default states are zeros."""
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected the input as a Tensor, got {type(x).__name__}")
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input (batch, {self.input_size}) or "
                             f"({self.input_size},), got {x.shape}")
        if x.dtype != self.weight_ih.dtype:
            raise TypeError(f"{name}: input is {x.dtype} but the parameters are "
                            f"{self.weight_ih.dtype}")
        batched = x.ndim == 2
        x = x if batched else x.unsqueeze(0)
        expected = (x.shape[0], self.hidden_size)
        want = expected if batched else expected[1:]
        out = []
        for s in states:
            if s is None:
                s = zeros(expected, dtype=x.dtype)
            else:
                if not isinstance(s, Tensor):
                    raise TypeError(f"{name}: expected the state as a Tensor, got "
                                    f"{type(s).__name__}")
                if s.shape != want:
                    raise ValueError(f"{name}: expected a state of shape {want}, got {s.shape}")
                if s.dtype != x.dtype:
                    raise TypeError(f"{name}: a state is {s.dtype} but the parameters are "
                                    f"{x.dtype}")
                s = s if batched else s.unsqueeze(0)
            out.append(s)
        return x, out, batched

    def _params(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def __call__(self, *args, **kwargs):
        with scope("", cell=type(self).__name__[:-len("Cell")]):   # tags nodes cell="LSTM"
            return super().__call__(*args, **kwargs)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        for key, default in (("bias", True), ("nonlinearity", "tanh"), ("reset_after", True),
                             ("fused", False)):
            if getattr(self, key, default) != default:   # (RNNCell's and GRUCell's own options)
                s += f", {key}={getattr(self, key)}"
        return s


class RNNCell(_CellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu); forward(input, hx=None) -> h'."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", dtype=None,
                 fused=False):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype, fused)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [hx])
        if self.fused:
            (h,) = fused_cell("RNN", x, [h], self._params(), nonlinearity=self.nonlinearity)
        else:
            h = rnn_cell(x, h, *self._params(), nonlinearity=self.nonlinearity)
        return h if batched else h.squeeze(0)


class LSTMCell(_CellBase):
    """One LSTM step (see `lstm_cell` for the equations); forward(input, (h, c)=None) -> (h', c')."""
    gates = 4

    def forward(self, input, hx=None):
        h, c = (None, None) if hx is None else hx
        x, (h, c), batched = self._prepare(input, [h, c])
        if self.fused:
            h, c = fused_cell("LSTM", x, [h, c], self._params())
        else:
            h, c = lstm_cell(x, h, c, *self._params())
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(_CellBase):
    """One GRU step (see `gru_cell` for both formulations); forward(input, hx=None) -> h'.

    reset_after=True is PyTorch's n = tanh(W_in x + b_in + r * (W_hn h + b_hn));
    reset_after=False is Cho et al. 2014's n = tanh(W_in x + b_in + W_hn (r * h) + b_hn).
    Both use h' = (1 - z) * n + z * h and the same weight layout.
    """
    gates = 3

    def __init__(self, input_size, hidden_size, bias=True, reset_after=True, dtype=None,
                 fused=False):
        super().__init__(input_size, hidden_size, bias, dtype, fused)
        self.reset_after = reset_after

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [hx])
        if self.fused:
            (h,) = fused_cell("GRU", x, [h], self._params(), reset_after=self.reset_after)
        else:
            h = gru_cell(x, h, *self._params(), reset_after=self.reset_after)
        return h if batched else h.squeeze(0)


def _check_sizes(name, **sizes):
    for key, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name}: {key} must be a positive integer, got {value!r}")
