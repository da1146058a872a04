"""Attention from primitives: scaled dot-product attention, Bahdanau's additive and Luong's
multiplicative attention, and nn.MultiheadAttention.

Every form is the same three lines: score each key against the query, turn the scores into
weights with a softmax over the keys (masked keys get -inf, so weight 0), and return the
weighted sum of the values. The gradient of each output reaches every value in one step,
however far apart they are in the sequence: that is why attention helps with long dependencies.

    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)   # softmax(QK^T/sqrt(E)) V
    mha = nn.MultiheadAttention(embed_dim=32, num_heads=4)
    out, weights = mha(x, x, x)                                      # self-attention, (L, N, E)

Masks follow PyTorch, which has two conventions: in scaled_dot_product_attention a bool
attn_mask is True where a key TAKES PART; in MultiheadAttention (and the Transformer layers)
a bool attn_mask or key_padding_mask is True where a key is MASKED OUT. A float mask is added
to the scores in both.
"""
import math

import numpy as np

from ..autograd import scope
from ..tensor import Tensor, get_default_dtype
from . import functional as F
from . import init
from .layers import Linear
from .module import Module, Parameter


# ---------------------------------------------------------------------------------------------
# masks
# ---------------------------------------------------------------------------------------------
def _mask_of(op, name, mask, dtype):
    """A bool or float mask as a Tensor; anything else is refused (as PyTorch does)."""
    if mask is None:
        return None
    mask = mask if isinstance(mask, Tensor) else Tensor(np.asarray(mask))
    if mask.dtype != np.bool_ and mask.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be a bool or floating-point tensor, got {mask.dtype}")
    if mask.dtype.kind == "f" and mask.dtype != dtype:
        raise TypeError(f"{op}: a float {name} must have the query's dtype {dtype}, got "
                        f"{mask.dtype}")
    return mask


def _add_mask(scores, mask, masked_is_true):
    """scores with -inf where a bool mask excludes a key, or + a float mask."""
    if mask is None:
        return scores
    if mask.dtype == np.bool_:
        excluded = mask if masked_is_true else mask.logical_not()
        return scores.masked_fill(excluded, float("-inf"))
    return scores + mask


def causal_mask(L, S=None):
    """(L, S) bool, True on and below the diagonal: query i may attend to keys 0..i."""
    return Tensor(np.tril(np.ones((L, L if S is None else S), dtype=bool)))


# ---------------------------------------------------------------------------------------------
# scaled dot-product attention
# ---------------------------------------------------------------------------------------------
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None):
    """softmax(Q K^T * scale + mask) V, scale = 1/sqrt(E) by default.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev). attn_mask
    broadcasts to (..., L, S): bool True where a key takes part, or float added to the scores;
    is_causal masks keys after the query (the upper triangle). Dropout (with probability
    dropout_p) is applied to the weights whatever the mode, as in PyTorch's function; a module
    passes dropout_p=0.0 in eval. A query all of whose keys are masked gets weights 0, and so
    an output 0, as from PyTorch's function.
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor) or t.ndim < 2 or t.dtype.kind != "f":
            raise TypeError(f"scaled_dot_product_attention: {name} must be a float tensor of at "
                            f"least 2 dims (..., length, features), got "
                            f"{getattr(t, 'shape', type(t).__name__)}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: expected query (..., L, E), key "
                         f"(..., S, E), value (..., S, Ev); got {query.shape}, {key.shape}, "
                         f"{value.shape}")
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal=True, not "
                         "both (as PyTorch)")
    if not 0 <= dropout_p <= 1:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], got "
                         f"{dropout_p}")
    L, S = query.shape[-2], key.shape[-2]
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    mask = causal_mask(L, S) if is_causal else _mask_of(
        "scaled_dot_product_attention", "attn_mask", attn_mask, query.dtype)
    scores = query.matmul(key.transpose(-2, -1)) * scale          # (..., L, S)
    scores = _add_mask(scores, mask, masked_is_true=False)
    weights = F.dropout(_softmax(scores, zero_empty_rows=True), dropout_p)
    return weights.matmul(value)


def _softmax(scores, zero_empty_rows):
    """softmax over the keys (the last dim). A query whose every key is masked (-inf) gets
    weights 0 if zero_empty_rows (PyTorch's scaled_dot_product_attention), else nan (its
    MultiheadAttention with need_weights=True): softmax(-inf, ..., -inf) is 0/0."""
    if zero_empty_rows:
        empty = np.isneginf(scores.array).all(-1, keepdims=True)
        if empty.any():
            return scores.masked_fill(empty, 0.0).softmax(-1).masked_fill(empty, 0.0)
    return scores.softmax(-1)


class _Attention(Module):
    """An attention module: each call records its nodes in the module's scope (as every
    module does) tagged attention=<the class name>, so that the graph views draw each call as
    a cluster of its own."""

    def __call__(self, *args, **kwargs):
        with scope(self._scope_name or "", attention=type(self).__name__):
            return self.forward(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# attention for encoder-decoder RNNs (one query per decoder step)
# ---------------------------------------------------------------------------------------------
def _attend(scores, values, key_padding_mask):
    """(weights @ values, weights) for scores (N, L, S), values (N, S, Dv), a (N, S) bool mask
    True at keys to ignore."""
    if key_padding_mask is not None:
        scores = scores.masked_fill(_mask_of("attention", "key_padding_mask", key_padding_mask,
                                             scores.dtype).unsqueeze(1), float("-inf"))
    weights = scores.softmax(-1)
    return weights.matmul(values), weights


def _queries(op, query, keys, query_size, key_size):
    """query as (N, L, Dq) (a single step (N, Dq) gets L = 1), after checking the sizes."""
    if keys.ndim != 3 or keys.shape[-1] != key_size or query.shape[-1] != query_size or \
            query.ndim not in (2, 3) or query.shape[0] != keys.shape[0]:
        raise ValueError(f"{op}: expected query (N, {query_size}) or (N, L, {query_size}) and "
                         f"keys (N, S, {key_size}); got {query.shape} and {keys.shape}")
    return query.unsqueeze(1) if query.ndim == 2 else query


class AdditiveAttention(_Attention):
    """Bahdanau, Cho & Bengio (2015): score(q, k) = v^T tanh(W_q q + W_k k + b).

    forward(query, keys, values=None, key_padding_mask=None): query (N, Dq) for one decoder
    step or (N, L, Dq), keys (N, S, Dk), values (N, S, Dv) (default: the keys), a (N, S) bool
    key_padding_mask True at keys to ignore -> (context (N, [L,] Dv), weights (N, [L,] S)).
    """

    def __init__(self, query_size, key_size, hidden_size, dtype=None):
        super().__init__()
        self.query_size, self.key_size, self.hidden_size = query_size, key_size, hidden_size
        self.query_proj = Linear(query_size, hidden_size, bias=False, dtype=dtype)
        self.key_proj = Linear(key_size, hidden_size, dtype=dtype)
        self.score = Linear(hidden_size, 1, bias=False, dtype=dtype)      # v^T

    def forward(self, query, keys, values=None, key_padding_mask=None):
        single = query.ndim == 2
        q = _queries("AdditiveAttention", query, keys, self.query_size, self.key_size)
        hidden = (self.query_proj(q).unsqueeze(2) + self.key_proj(keys).unsqueeze(1)).tanh()
        scores = self.score(hidden).squeeze(-1)                            # (N, L, S)
        context, weights = _attend(scores, keys if values is None else values, key_padding_mask)
        return (context.squeeze(1), weights.squeeze(1)) if single else (context, weights)

    def extra_repr(self):
        return f"query_size={self.query_size}, key_size={self.key_size}, " \
               f"hidden_size={self.hidden_size}"


class MultiplicativeAttention(_Attention):
    """Luong, Pham & Manning (2015): score(q, k) = q^T W k ("general"), or q^T k ("dot", for
    equal sizes). Same forward as AdditiveAttention."""

    SCORES = ("general", "dot")

    def __init__(self, query_size, key_size, score="general", dtype=None):
        super().__init__()
        if score not in self.SCORES:
            raise ValueError(f"MultiplicativeAttention: score must be one of {self.SCORES}, "
                             f"got {score!r}")
        if score == "dot" and query_size != key_size:
            raise ValueError(f"MultiplicativeAttention: score='dot' needs query_size == "
                             f"key_size, got {query_size} and {key_size}")
        self.query_size, self.key_size, self.method = query_size, key_size, score
        self.weight = Linear(key_size, query_size, bias=False, dtype=dtype) \
            if score == "general" else None

    def forward(self, query, keys, values=None, key_padding_mask=None):
        single = query.ndim == 2
        q = _queries("MultiplicativeAttention", query, keys, self.query_size, self.key_size)
        projected = keys if self.weight is None else self.weight(keys)    # W k: (N, S, Dq)
        scores = q.matmul(projected.transpose(1, 2))                       # (N, L, S)
        context, weights = _attend(scores, keys if values is None else values, key_padding_mask)
        return (context.squeeze(1), weights.squeeze(1)) if single else (context, weights)

    def extra_repr(self):
        return f"query_size={self.query_size}, key_size={self.key_size}, score={self.method!r}"


# ---------------------------------------------------------------------------------------------
# multi-head attention
# ---------------------------------------------------------------------------------------------
class MultiheadAttention(_Attention):
    """PyTorch's nn.MultiheadAttention: num_heads attentions of size embed_dim / num_heads side
    by side, on projections of the query, key and value; their outputs concatenated and projected.

        q, k, v = query W_q^T + b_q, key W_k^T + b_k, value W_v^T + b_v   (in_proj_weight rows)
        head_i = softmax(q_i k_i^T / sqrt(head_dim) + mask) v_i
        output = concat(head_1, ..., head_h) W_o^T + b_o                  (out_proj)

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False): query (L, N, E), key and value (S, N, E)
    ((N, L, E) with batch_first; (L, E) unbatched). key_padding_mask (N, S) and attn_mask (L, S)
    or (N * num_heads, L, S): bool True where a key is masked out, or float added to the scores.
    Returns (output like query, weights (N, L, S) averaged over heads, or (N, num_heads, L, S);
    None if need_weights=False). A query whose every key is masked gets a nan output with
    need_weights=True and 0 without, as in PyTorch (whose two paths differ there). is_causal
    is PyTorch's hint that attn_mask is the causal mask; the mask itself is what is applied.
    kdim/vdim, add_bias_kv and add_zero_attn are not supported.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, batch_first=False,
                 dtype=None):
        super().__init__()
        for name, n in (("embed_dim", embed_dim), ("num_heads", num_heads)):
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ValueError(f"MultiheadAttention: {name} must be a positive integer, "
                                 f"got {n!r}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by "
                             f"num_heads {num_heads}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.dropout, self.batch_first = dropout, batch_first
        self.in_proj_weight = Parameter(np.empty((3 * embed_dim, embed_dim), dtype))
        init.xavier_uniform_(self.in_proj_weight)
        self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, dtype)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if bias:
            init.zeros_(self.out_proj.bias)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        unbatched = query.ndim == 2
        if is_causal and attn_mask is None:
            raise ValueError("MultiheadAttention: is_causal=True is a hint that attn_mask is "
                             "the causal mask; give the mask too (as PyTorch requires)")
        if unbatched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = _mask_of("MultiheadAttention", "key_padding_mask",
                                            key_padding_mask, query.dtype).unsqueeze(0)
        elif self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        self._check_shapes(query, key, value)
        L, N, E = query.shape
        S, H, D = key.shape[0], self.num_heads, self.head_dim
        q, k, v = self._project(query, key, value)                        # (L or S, N, E)
        q, k, v = (t.reshape(t.shape[0], N, H, D).permute(1, 2, 0, 3) for t in (q, k, v))
        mask = self._merged_mask(attn_mask, key_padding_mask, N, L, S, query.dtype)
        with scope("heads"):
            scores = (q * math.sqrt(1.0 / D)).matmul(k.transpose(-2, -1))  # (N, H, L, S)
            scores = scores if mask is None else mask + scores
            weights = F.dropout(_softmax(scores, zero_empty_rows=not need_weights),
                                self.dropout, self.training)
            heads = weights.matmul(v)                                      # (N, H, L, D)
        output = self.out_proj(heads.permute(2, 0, 1, 3).reshape(L, N, E))
        if unbatched:
            output = output.squeeze(1)
        elif self.batch_first:
            output = output.transpose(0, 1)
        if not need_weights:
            return output, None
        weights = weights.mean(dim=1) if average_attn_weights else weights
        return output, weights.squeeze(0) if unbatched else weights

    def _project(self, query, key, value):
        """The three input projections, rows [0, E), [E, 2E), [2E, 3E) of in_proj_weight: for
        self-attention (one tensor as query, key and value) one product split in three, as
        PyTorch does (one larger GEMM)."""
        E, b = self.embed_dim, self.in_proj_bias
        if query is key and key is value:
            return F.linear(query, self.in_proj_weight, b).chunk(3, dim=-1)
        return tuple(F.linear(x, self.in_proj_weight[i * E:(i + 1) * E],
                              None if b is None else b[i * E:(i + 1) * E])
                     for i, x in enumerate((query, key, value)))

    def _check_shapes(self, query, key, value):
        E = self.embed_dim
        if query.ndim != 3 or key.ndim != 3 or value.ndim != 3 or query.shape[-1] != E or \
                key.shape[-1] != E or value.shape[-1] != E or key.shape[:2] != value.shape[:2] \
                or query.shape[1] != key.shape[1]:
            layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
            raise ValueError(f"MultiheadAttention: expected query, key and value {layout} with "
                             f"E = {E}, one batch size N and key, value of one length S (or "
                             f"unbatched (L, E)); got {query.shape}, {key.shape}, {value.shape}"
                             f"{' (after batch_first)' if self.batch_first else ''}")

    def _merged_mask(self, attn_mask, key_padding_mask, N, L, S, dtype):
        """attn_mask and key_padding_mask as one float mask, broadcasting to (N, H, L, S), with
        -inf where a bool mask is True (PyTorch adds the two the same way); None if neither."""
        merged = None
        attn_mask = _mask_of("MultiheadAttention", "attn_mask", attn_mask, dtype)
        if attn_mask is not None:
            if attn_mask.shape == (L, S):
                pass
            elif attn_mask.shape == (N * self.num_heads, L, S):
                attn_mask = attn_mask.reshape(N, self.num_heads, L, S)
            else:
                raise ValueError(f"MultiheadAttention: attn_mask must be ({L}, {S}) or "
                                 f"({N * self.num_heads}, {L}, {S}) (N * num_heads, L, S), got "
                                 f"{attn_mask.shape}")
            merged = _as_float(attn_mask, dtype)
        key_padding_mask = _mask_of("MultiheadAttention", "key_padding_mask", key_padding_mask,
                                    dtype)
        if key_padding_mask is not None:
            if key_padding_mask.shape != (N, S):
                raise ValueError(f"MultiheadAttention: key_padding_mask must be ({N}, {S}) "
                                 f"(N, S), got {key_padding_mask.shape}")
            padding = _as_float(key_padding_mask, dtype).reshape(N, 1, 1, S)
            merged = padding if merged is None else merged + padding
        return merged

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"
                f", batch_first={self.batch_first}")


def _as_float(mask, dtype):
    """A bool mask (True: masked out) as 0 / -inf of dtype; a float mask as it is."""
    if mask.dtype != np.bool_:
        return mask
    return Tensor(np.where(mask.array, -np.inf, 0.0).astype(dtype))
