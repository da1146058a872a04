"""RNN, LSTM and GRU layers: cells from cells.py unrolled through time in a Python loop, or
(fused=True, the default) one fused node per layer and direction from fused.py.

Signatures, parameter names (`weight_ih_l0`, `bias_hh_l1_reverse`, ...), shapes and gate orders
are PyTorch's, so a PyTorch state_dict converted to numpy loads directly. Every step's nodes are
recorded inside `scope("l{layer}[_reverse]", layer=..., cell="LSTM", direction=...)` and a
scope with the time step, so pictures and teaching tools can group them.
"""
import math

import numpy as np

from ..autograd import no_grad, scope
from ..creation import zeros
from ..functions import cat, stack, where
from ..tensor import Tensor
from . import functional as F
from . import init as nn_init
from .cells import _check_sizes, gru_cell, lstm_cell, rnn_cell
from .fused import fused_direction
from .layers import uniform_parameter
from .module import Module
from .utils.rnn import PackedSequence, _check_packed, _packed_positions, pad_packed_sequence

_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


class RNNBase(Module):
    """Shared by RNN, LSTM and GRU: parameters, input checks, the loop over layers and time.

    Keyword-only extras beyond PyTorch's signature:
      init        "uniform" (PyTorch's U(-1/sqrt(H), 1/sqrt(H)), the default), "xavier"
                  (Glorot-uniform for each gate's block, zero biases) or "orthogonal"
                  (orthogonal recurrent blocks, Glorot-uniform input blocks, zero biases)
      forget_bias LSTM only: the forget gate's bias (bias_ih's f block; bias_hh's is zeroed),
                  1.0 is the usual choice (Jozefowicz et al. 2015)
      dtype       float32 (default dtype) or float64
      fused       True (default): one node per layer and direction running the whole sequence
                  (fused.py, fast); False: the cells unrolled step by step from primitives (the
                  teaching path: every gate is a node). Both give the same numbers.
    """

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, *, init="uniform",
                 forget_bias=None, dtype=None, fused=True):
        super().__init__()
        _check_sizes(mode, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        if not 0 <= dropout <= 1:
            raise ValueError(f"{mode}: dropout must be in [0, 1], got {dropout}")
        if forget_bias is not None and (mode != "LSTM" or not bias):
            raise ValueError(f"{mode}: forget_bias needs an LSTM with bias=True")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional = float(dropout), bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.fused = fused
        rows, bound = _GATES[mode] * hidden_size, 1 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in self._suffixes():
                setattr(self, f"weight_ih_l{layer}{suffix}",
                        uniform_parameter(bound, (rows, layer_input), dtype))
                setattr(self, f"weight_hh_l{layer}{suffix}",
                        uniform_parameter(bound, (rows, hidden_size), dtype))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}",
                            uniform_parameter(bound, (rows,), dtype))
                    setattr(self, f"bias_hh_l{layer}{suffix}",
                            uniform_parameter(bound, (rows,), dtype))
        self._initialize(init, forget_bias)

    def _suffixes(self):
        return ("", "_reverse")[:self.num_directions]

    def _initialize(self, init, forget_bias):
        if init not in ("uniform", "xavier", "orthogonal"):
            raise ValueError(f"{self.mode}: init must be 'uniform', 'xavier' or 'orthogonal', "
                             f"got {init!r}")
        H = self.hidden_size
        for name, p in self._parameters.items():
            if init != "uniform":
                if name.startswith("bias"):
                    nn_init.zeros_(p)
                for block in range(0, p.shape[0], H) if name.startswith("weight") else ():
                    with no_grad():
                        view = p[block:block + H]   # a basic slice: shares p's memory
                    if init == "orthogonal" and name.startswith("weight_hh"):
                        nn_init.orthogonal_(view)
                    else:
                        nn_init.xavier_uniform_(view)
            if forget_bias is not None and name.startswith("bias"):
                p.array[H:2 * H] = forget_bias if name.startswith("bias_ih") else 0

    def _layer_params(self, layer, suffix):
        get = self._parameters.get
        return (get(f"weight_ih_l{layer}{suffix}"), get(f"weight_hh_l{layer}{suffix}"),
                get(f"bias_ih_l{layer}{suffix}"), get(f"bias_hh_l{layer}{suffix}"))

    # ------------------------------------------------------------------ checks
    def _check_input(self, input, hx, lengths):
        """Input as (T, B, I), initial states as lists of (B, H) per layer and direction,
        lengths as an int array or None; clear errors for anything else."""
        name = self.mode
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: expected the input as a Tensor, got {type(input).__name__}"
                            f" (or a PackedSequence)")
        if input.ndim not in (2, 3):
            layout = "(batch, seq_len, input_size)" if self.batch_first else \
                "(seq_len, batch, input_size)"
            raise ValueError(f"{name}: expected input {layout} or unbatched (seq_len, "
                             f"input_size), got {input.shape}")
        dtype = self._check_features(input)
        batched = input.ndim == 3
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        T, B = x.shape[0], x.shape[1]
        if T == 0:   # as PyTorch: there is no last state to return
            raise ValueError(f"{name}: expected a sequence of at least one step, got input "
                             f"shape {input.shape}")
        states = self._check_states(hx, batched, B, dtype)
        if lengths is not None:
            lengths = np.asarray(lengths.array if isinstance(lengths, Tensor) else lengths)
            if lengths.shape != (B,) or lengths.dtype.kind not in "iu":
                raise ValueError(f"{name}: lengths must be {B} integers (one per sequence), got "
                                 f"shape {lengths.shape} {lengths.dtype}")
            if lengths.min(initial=1) < 1 or lengths.max(initial=1) > T:
                raise ValueError(f"{name}: lengths must be in [1, {T}] (the sequence length), "
                                 f"got values from {lengths.min()} to {lengths.max()}")
        return x, states, lengths, batched

    def _check_features(self, input):
        """The input's last dim is input_size and its dtype the parameters'; returns the dtype."""
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{self.mode}: input has {input.shape[-1]} features, expected "
                             f"input_size={self.input_size} (input shape {input.shape})")
        dtype = self.weight_ih_l0.dtype
        if input.dtype != dtype:
            raise TypeError(f"{self.mode}: input is {input.dtype} but the parameters are {dtype}")
        return dtype

    def _check_states(self, hx, batched, B, dtype):
        n_states = 2 if self.mode == "LSTM" else 1
        shape = (self.num_layers * self.num_directions, B, self.hidden_size)
        if hx is None:
            return [zeros(shape, dtype=dtype) for _ in range(n_states)]
        if self.mode == "LSTM" and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ValueError("LSTM: hx must be a tuple (h_0, c_0)")
        states = list(hx) if self.mode == "LSTM" else [hx]
        out = []
        for s, label in zip(states, ("h_0", "c_0")):
            if not isinstance(s, Tensor):
                raise TypeError(f"{self.mode}: expected {label} as a Tensor, got "
                                f"{type(s).__name__}")
            want = shape if batched else (shape[0], shape[2])
            if s.shape != want:
                raise ValueError(f"{self.mode}: {label} must have shape {want} (num_layers * "
                                 f"num_directions, {'batch, ' if batched else ''}hidden_size), "
                                 f"got {s.shape}")
            if s.dtype != dtype:
                raise TypeError(f"{self.mode}: {label} is {s.dtype} but the parameters are {dtype}")
            out.append(s if batched else s.unsqueeze(1))
        return out

    # ------------------------------------------------------------------ the unrolled loop
    def forward(self, input, hx=None, lengths=None):
        """input (T, B, I) [(B, T, I) if batch_first, (T, I) unbatched]; hx (L*D, B, H)
        [(h_0, c_0) for LSTM]; lengths (B,) valid steps per sequence, any order.

        Returns output (T, B, D*H) and h_n (L*D, B, H) [(h_n, c_n) for LSTM]. Outputs past a
        sequence's length are zero and its final state is taken at its last valid step.

        input may be a PackedSequence (nn.utils.rnn) instead, whose data is (N, I) whatever
        batch_first says: the output is then a PackedSequence with the input's batch_sizes
        and indices, and hx and h_n are in the batch's order before packing, as in PyTorch.
        """
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx, lengths)
        x, states, lengths, batched = self._check_input(input, hx, lengths)
        output, h_n = self._run_layers(x, states, lengths)
        if not batched:
            output, h_n = output.squeeze(1), [h.squeeze(1) for h in h_n]
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, self._hidden(h_n)

    def _forward_packed(self, packed, hx, lengths):
        """A PackedSequence runs as the padded batch in its order before packing, with its
        lengths: the lengths machinery masks the padding on both paths, and hx and h_n need
        no permuting. The output's valid steps are gathered back into packed rows."""
        if lengths is not None:
            raise ValueError(f"{self.mode}: lengths= goes with a padded input; a "
                             f"PackedSequence carries its own lengths")
        data, batch_sizes, sorted_indices = _check_packed(self.mode, packed)
        if data.ndim != 2:
            raise ValueError(f"{self.mode}: expected a PackedSequence's data as (N, input_size), "
                             f"got shape {data.shape}")
        dtype = self._check_features(data)
        padded, lengths = pad_packed_sequence(packed)
        states = self._check_states(hx, True, padded.shape[1], dtype)
        output, h_n = self._run_layers(padded, states, lengths.array)
        t, b = _packed_positions(batch_sizes, sorted_indices)
        return packed._replace(data=output[t, b]), self._hidden(h_n)

    def _hidden(self, h_n):
        """The final states as returned: (h_n, c_n) for the LSTM, h_n for RNN and GRU."""
        return tuple(h_n) if self.mode == "LSTM" else h_n[0]

    def _run_layers(self, x, states, lengths):
        """x (T, B, I) time-major, states lists of (B, H), lengths an int array or None;
        returns output (T, B, D*H) and the list of final states (L*D, B, H)."""
        masks = None
        if lengths is not None:   # masks[t] (B, 1): is step t inside each sequence?
            masks = np.arange(x.shape[0])[:, None, None] < lengths[None, :, None]
            # padding zeroed on both paths: it never reaches an output or a gradient, even
            # when it is not finite (0 * nan is nan), as with PyTorch's packed sequences
            x = where(masks, x, 0.0)
        finals = [[] for _ in states]
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for d, suffix in enumerate(self._suffixes()):
                index = layer * self.num_directions + d
                initial = [s[index] for s in states]
                with scope(f"l{layer}{suffix}", layer=layer, cell=self.mode,
                           direction="reverse" if d else "forward"):
                    params = self._layer_params(layer, suffix)
                    if self.fused:
                        out, last = fused_direction(self.mode, layer_input, initial, params,
                                                    reverse=d == 1, lengths=lengths,
                                                    layer=layer, **self._options())
                    else:
                        out, last = self._run_direction(layer_input, initial, params,
                                                        reverse=d == 1, masks=masks)
                outputs.append(out)
                for kept, s in zip(finals, last):
                    kept.append(s)
            layer_input = outputs[0] if len(outputs) == 1 else cat(outputs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout)
        return layer_input, [stack(kept, dim=0) for kept in finals]

    def _run_direction(self, x, state, params, reverse, masks):
        """One layer, one direction: the cell applied step by step; returns (T, B, H), state."""
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        inputs = x.unbind(0)
        outputs = [None] * len(inputs)
        for t in steps:
            with scope("", step=t):
                new = self._cell(inputs[t], state, params)
                if masks is not None:   # past a sequence's end: keep its state, output zero
                    new = [where(masks[t], n, s) for n, s in zip(new, state)]
                    outputs[t] = where(masks[t], new[0], 0.0)
                else:
                    outputs[t] = new[0]
            state = new
        return stack(outputs, dim=0), state

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        for key, default in (("num_layers", 1), ("nonlinearity", "tanh"), ("bias", True),
                             ("batch_first", False), ("dropout", 0.0), ("bidirectional", False),
                             ("reset_after", True), ("fused", True)):
            if getattr(self, key, default) != default:   # (RNN's and GRU's own options)
                s += f", {key}={getattr(self, key)}"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, **kwargs):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__("RNN", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, **kwargs)
        self.nonlinearity = nonlinearity

    def _options(self):
        return {"nonlinearity": self.nonlinearity}

    def _cell(self, x, state, params):
        return [rnn_cell(x, state[0], *params, nonlinearity=self.nonlinearity)]


class LSTM(RNNBase):
    """LSTM layers (see cells.lstm_cell for the equations); returns output, (h_n, c_n)."""

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)

    def _options(self):
        return {}

    def _cell(self, x, state, params):
        return list(lstm_cell(x, state[0], state[1], *params))


class GRU(RNNBase):
    """GRU layers (see cells.gru_cell); reset_after=False gives Cho et al. 2014's formulation."""

    def __init__(self, *args, reset_after=True, **kwargs):
        super().__init__("GRU", *args, **kwargs)
        self.reset_after = reset_after

    def _options(self):
        return {"reset_after": self.reset_after}

    def _cell(self, x, state, params):
        return [gru_cell(x, state[0], *params, reset_after=self.reset_after)]
