"""The Transformer (Vaswani et al. 2017) from MultiheadAttention, Linear, LayerNorm and Dropout,
with PyTorch's names, arguments, defaults and parameter names.

    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0)
    encoder = nn.TransformerEncoder(layer, num_layers=2)        # two copies of the layer
    mask = nn.Transformer.generate_square_subsequent_mask(10)   # causal: -inf above the diagonal
    y = encoder(x, mask=mask)                                    # x (L, N, E), or batch_first

An encoder layer is self-attention then a two-layer feed-forward network, each inside a
residual connection with a layer norm: after the sum (post-norm, the paper's and the default)
or on the branch's input (norm_first=True, pre-norm). A decoder layer adds attention over the
encoder's output ("memory") between the two.
"""
import copy
import math

import numpy as np

from ..tensor import Tensor, get_default_dtype
from . import functional as F
from . import init
from .attention import MultiheadAttention
from .container import ModuleList
from .layers import Dropout, LayerNorm, Linear
from .module import Module

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def _activation(op, activation):
    if callable(activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"{op}: activation must be 'relu', 'gelu' or a callable, got "
                         f"{activation!r}")
    return ACTIVATIONS[activation]


def _check_sizes(op, d_model, nhead, dim_feedforward, dropout):
    for name, n in (("d_model", d_model), ("nhead", nhead), ("dim_feedforward", dim_feedforward)):
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{op}: {name} must be a positive integer, got {n!r}")
    if not 0 <= dropout <= 1:
        raise ValueError(f"{op}: dropout must be in [0, 1], got {dropout}")


def _build_layer(layer, op, attentions, d_model, nhead, dim_feedforward, dropout, activation,
                 layer_norm_eps, batch_first, norm_first, dtype):
    """A Transformer layer's parts, named and registered in PyTorch's order (so that its
    state_dict matches): the attentions, the feed-forward network linear1, dropout, linear2,
    then a LayerNorm norm1, norm2, ... and a Dropout dropout1, dropout2, ... per branch (each
    attention and the feed-forward network)."""
    _check_sizes(op, d_model, nhead, dim_feedforward, dropout)
    layer.activation = _activation(op, activation)
    layer.norm_first, layer.batch_first = norm_first, batch_first
    for name in attentions:
        setattr(layer, name, MultiheadAttention(d_model, nhead, dropout=dropout,
                                                batch_first=batch_first, dtype=dtype))
    layer.linear1 = Linear(d_model, dim_feedforward, dtype=dtype)
    layer.dropout = Dropout(dropout)
    layer.linear2 = Linear(dim_feedforward, d_model, dtype=dtype)
    branches = range(1, len(attentions) + 2)
    for k in branches:
        setattr(layer, f"norm{k}", LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype))
    for k in branches:
        setattr(layer, f"dropout{k}", Dropout(dropout))


class TransformerEncoderLayer(Module):
    """x = norm1(x + self_attn(x)); x = norm2(x + ff(x)), ff(x) = linear2(act(linear1(x)))
    (with dropout after the attention, the activation and the feed-forward network); with
    norm_first: x = x + self_attn(norm1(x)); x = x + ff(norm2(x)).

    forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False): src (S, N, E) or
    (N, S, E) with batch_first; masks as in MultiheadAttention.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, dtype=None):
        super().__init__()
        _build_layer(self, "TransformerEncoderLayer", ("self_attn",), d_model, nhead,
                     dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                     norm_first, dtype)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        out, _ = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)
        return self.dropout1(out)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    """x = norm1(x + self_attn(x)); x = norm2(x + multihead_attn(x, memory));
    x = norm3(x + ff(x)); with norm_first the norms move onto each branch's input.

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False).
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, dtype=None):
        super().__init__()
        _build_layer(self, "TransformerDecoderLayer", ("self_attn", "multihead_attn"), d_model,
                     nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                     norm_first, dtype)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal)
            return x + self._ff_block(self.norm3(x))
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                           memory_is_causal))
        return self.norm3(x + self._ff_block(x))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        out, _ = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)
        return self.dropout1(out)

    def _mha_block(self, x, memory, attn_mask, key_padding_mask, is_causal):
        out, _ = self.multihead_attn(x, memory, memory, attn_mask=attn_mask,
                                     key_padding_mask=key_padding_mask, need_weights=False,
                                     is_causal=is_causal)
        return self.dropout2(out)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


def _clones(op, layer, num_layers):
    if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
        raise ValueError(f"{op}: num_layers must be a positive integer, got {num_layers!r}")
    return ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])


class TransformerEncoder(Module):
    """num_layers copies of encoder_layer (each with its own weights, starting equal, as in
    PyTorch), then `norm` if given. forward(src, mask=None, src_key_padding_mask=None,
    is_causal=None)."""

    def __init__(self, encoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = _clones("TransformerEncoder", encoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """num_layers copies of decoder_layer, then `norm` if given. forward(tgt, memory,
    tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    tgt_is_causal=None, memory_is_causal=False)."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = _clones("TransformerDecoder", decoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """An encoder and a decoder stack, each ending in a LayerNorm; every weight matrix is
    initialised with xavier_uniform_ (PyTorch's _reset_parameters).

    forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False) -> (T, N, E) (or batch_first).
    """

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, dtype=None):
        super().__init__()
        options = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                       layer_norm_eps=layer_norm_eps, batch_first=batch_first,
                       norm_first=norm_first, dtype=dtype)
        self.encoder = TransformerEncoder(
            TransformerEncoderLayer(d_model, nhead, **options), num_encoder_layers,
            LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype))
        self.decoder = TransformerDecoder(
            TransformerDecoderLayer(d_model, nhead, **options), num_decoder_layers,
            LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype))
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, dtype=None):
        """(sz, sz) float mask: 0 on and below the diagonal, -inf above (no peeking ahead)."""
        dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
        return Tensor(np.triu(np.full((sz, sz), -np.inf), k=1).astype(dtype))


class PositionalEncoding(Module):
    """x + PE[:L], then dropout: the sinusoids of Vaswani et al. (2017),
    PE[pos, 2i] = sin(pos / 10000^(2i / d_model)), PE[pos, 2i + 1] = cos(pos / 10000^(2i / d_model)),
    kept as the buffer `pe` (max_len, d_model). x (L, N, d_model), or (N, L, d_model) with
    batch_first. (PyTorch has no such module; this is its tutorial's.)"""

    def __init__(self, d_model, dropout=0.1, max_len=5000, batch_first=False, dtype=None):
        super().__init__()
        dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
        position = np.arange(max_len)[:, None]
        frequency = np.exp(np.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = np.zeros((max_len, d_model))
        pe[:, 0::2] = np.sin(position * frequency)
        pe[:, 1::2] = np.cos(position * frequency[:d_model // 2])
        self.register_buffer("pe", Tensor(pe.astype(dtype)))
        self.dropout, self.batch_first, self.max_len = Dropout(dropout), batch_first, max_len

    def forward(self, x):
        L = x.shape[1] if self.batch_first else x.shape[0]
        if L > self.max_len:
            raise ValueError(f"PositionalEncoding: a sequence of {L} steps is longer than "
                             f"max_len={self.max_len}")
        pe = self.pe[:L]
        return self.dropout(x + (pe.unsqueeze(0) if self.batch_first else pe.unsqueeze(1)))
