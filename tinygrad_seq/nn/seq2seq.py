"""Sequence-to-sequence models from the library's layers: an RNN encoder-decoder with or without
attention, a Transformer encoder-decoder, and a hybrid (an LSTM whose outputs go through
self-attention). PyTorch has no such modules; the names here are this library's.

    model = nn.Seq2Seq(vocab, vocab, embedding_dim=32, hidden_size=64, attention="additive")
    logits, weights = model(src, tgt_in)              # teacher forcing: (T, N, V), (T, N, S)
    tokens, weights = model.greedy(src, steps=T, bos=1)

Sequences are time-major, (length, batch) ids, as nn.GRU's default. `tgt_in` is the target
shifted right behind a begin-of-sequence id: the decoder reads the true previous symbol in
training (teacher forcing) and its own previous guess in greedy decoding.
src_key_padding_mask (N, S) is True at padding in the source (those steps get no attention).

Without attention the decoder sees the source only through the encoder's last state: every
source symbol's information, and its gradient, must travel the whole recurrent chain. With
attention (Bahdanau et al. 2015) each decoder step reads a weighted sum of all encoder states,
a path of one step to each of them.
"""
from ..autograd import scope
from ..functions import cat, stack
from .attention import AdditiveAttention, MultiheadAttention, MultiplicativeAttention
from .cells import GRUCell, LSTMCell, RNNCell
from .layers import Embedding, LayerNorm, Linear
from .module import Module
from .recurrent import GRU, LSTM, RNN
from .transformer import PositionalEncoding, Transformer

CELLS = {"rnn": (RNN, RNNCell), "gru": (GRU, GRUCell), "lstm": (LSTM, LSTMCell)}
ATTENTIONS = (None, "additive", "general")


def _check_ids(op, name, ids):
    if ids.ndim != 2 or ids.dtype.kind not in "iu":
        raise ValueError(f"{op}: {name} must be integer ids of shape (length, batch), got "
                         f"{ids.shape} {ids.dtype}")


class Seq2Seq(Module):
    """An RNN encoder-decoder: embeddings, an encoder (cell "gru", "lstm" or "rnn"), a decoder
    cell of the same kind started from the encoder's last state, and a linear head.

    With attention ("additive": Bahdanau's, "general": Luong's), each decoder step t
    computes a context c_t = attention(s_{t-1}, encoder states), reads [embed(y_{t-1}); c_t]
    and predicts from [s_t; c_t] (Bahdanau et al. 2015). Without: it reads embed(y_{t-1}) and
    predicts from s_t (Sutskever et al. 2014, Cho et al. 2014).
    """

    def __init__(self, src_vocab, tgt_vocab, embedding_dim, hidden_size, cell="gru",
                 attention=None, dtype=None):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"Seq2Seq: cell must be one of {', '.join(CELLS)}, got {cell!r}")
        if attention not in ATTENTIONS:
            raise ValueError(f"Seq2Seq: attention must be None, 'additive' or 'general', got "
                             f"{attention!r}")
        layer, cell_class = CELLS[cell]
        self.cell, self.attention_kind, self.hidden_size = cell, attention, hidden_size
        context = hidden_size if attention else 0
        self.src_embed = Embedding(src_vocab, embedding_dim, dtype=dtype)
        self.tgt_embed = Embedding(tgt_vocab, embedding_dim, dtype=dtype)
        self.encoder = layer(embedding_dim, hidden_size, dtype=dtype)
        self.decoder = cell_class(embedding_dim + context, hidden_size, dtype=dtype)
        if attention == "additive":
            self.attention = AdditiveAttention(hidden_size, hidden_size, hidden_size, dtype=dtype)
        elif attention == "general":
            self.attention = MultiplicativeAttention(hidden_size, hidden_size, dtype=dtype)
        else:
            self.attention = None
        self.out = Linear(hidden_size + context, tgt_vocab, dtype=dtype)

    # ----------------------------------------------------------------------------- encoder
    def encode(self, src):
        """src (S, N) ids -> (memory (S, N, H): the encoder's state at every step, the
        decoder's start state)."""
        _check_ids("Seq2Seq", "src", src)
        memory, state = self.encoder(self.src_embed(src))
        return memory, self._last(state)

    def encode_steps(self, src):
        """The encoder run one step at a time: (the states h_0 .. h_{S-1}, each (N, H), the
        decoder's start state). Each h_s is the very tensor the next step reads, so its
        gradient after backward is the whole dL/dh_s (from attention and from the chain).
        Same values as encode()."""
        _check_ids("Seq2Seq", "src", src)
        x, hx, states = self.src_embed(src), None, []
        for s in range(x.shape[0]):
            out, hx = self.encoder(x[s:s + 1], hx)
            states.append(out[0])
            hx = (states[-1].unsqueeze(0), hx[1]) if self.cell == "lstm" else \
                states[-1].unsqueeze(0)
        return states, self._last(hx)

    def _last(self, state):
        """An encoder layer's final state (1, N, H) as a decoder cell's (N, H)."""
        return (state[0][0], state[1][0]) if self.cell == "lstm" else state[0]

    # ----------------------------------------------------------------------------- decoder
    def decode(self, tgt_in, state, memory, src_key_padding_mask=None):
        """Teacher forcing: tgt_in (T, N) ids -> (logits (T, N, V), attention weights
        (T, N, S), or None without attention)."""
        _check_ids("Seq2Seq", "tgt_in", tgt_in)
        keys = memory.transpose(0, 1)                                     # (N, S, H)
        logits, weights = [], []
        for t in range(tgt_in.shape[0]):
            logit, state, w = self._step(tgt_in[t], state, keys, src_key_padding_mask, t)
            logits.append(logit)
            weights.append(w)
        return stack(logits), (stack(weights) if self.attention is not None else None)

    def _step(self, y_prev, state, keys, src_key_padding_mask, t=None):
        """One decoder step: (logits (N, V), the new state, attention weights (N, S) or None).
        The cell's nodes are tagged with step t, so that the pictures and the gradient-flow
        report show the decoder as a recurrent layer beside the encoder; the attention's
        nodes stay in its own scope (the module's, `attention`)."""
        x = self.tgt_embed(y_prev)
        h = state[0] if self.cell == "lstm" else state
        weights = None
        if self.attention is not None:
            context, weights = self.attention(h, keys, key_padding_mask=src_key_padding_mask)
            x = cat([x, context], dim=-1)
        with scope("", step=t):
            state = self.decoder(x, state)
        h = state[0] if self.cell == "lstm" else state
        return self.out(h if weights is None else cat([h, context], dim=-1)), state, weights

    def forward(self, src, tgt_in, src_key_padding_mask=None):
        memory, state = self.encode(src)
        return self.decode(tgt_in, state, memory, src_key_padding_mask)

    def greedy(self, src, steps, bos, src_key_padding_mask=None):
        """Greedy decoding of `steps` symbols, each decoder step fed its own previous guess:
        (tokens (steps, N) int64, attention weights (steps, N, S) or None)."""
        memory, state = self.encode(src)
        keys = memory.transpose(0, 1)
        y = src.new_full((src.shape[1],), bos)
        tokens, weights = [], []
        for _ in range(steps):
            logit, state, w = self._step(y, state, keys, src_key_padding_mask)
            y = logit.argmax(dim=-1)
            tokens.append(y)
            weights.append(w)
        return stack(tokens), (stack(weights) if self.attention is not None else None)

    def extra_repr(self):
        return f"cell={self.cell!r}, attention={self.attention_kind!r}"


class TransformerSeq2Seq(Module):
    """A Transformer encoder-decoder on ids: embeddings plus sinusoidal positions, nn.Transformer
    with a causal target mask, a linear head. (The paper multiplies its embeddings by
    sqrt(d_model): they start with a standard deviation of d_model^-1/2 there. nn.Embedding's
    rows start N(0, 1), already the scale of the sinusoids; scaled once more, they would drown
    the positions, which reversing a sequence needs.)

    forward(src, tgt_in, src_key_padding_mask=None) -> (logits (T, N, V), None);
    greedy(src, steps, bos, src_key_padding_mask=None) -> (tokens (steps, N), None): the
    decoder re-reads its whole prefix at every step (no cache: simple, quadratic in steps).
    """

    def __init__(self, src_vocab, tgt_vocab, d_model, nhead, num_layers, dim_feedforward,
                 dropout=0.0, max_len=512, dtype=None):
        super().__init__()
        self.d_model = d_model
        self.src_embed = Embedding(src_vocab, d_model, dtype=dtype)
        self.tgt_embed = Embedding(tgt_vocab, d_model, dtype=dtype)
        self.positions = PositionalEncoding(d_model, dropout, max_len=max_len, dtype=dtype)
        self.transformer = Transformer(d_model, nhead, num_layers, num_layers, dim_feedforward,
                                       dropout, dtype=dtype)
        self.out = Linear(d_model, tgt_vocab, dtype=dtype)

    def _embed(self, embedding, ids):
        return self.positions(embedding(ids))

    def encode(self, src, src_key_padding_mask=None):
        _check_ids("TransformerSeq2Seq", "src", src)
        return self.transformer.encoder(self._embed(self.src_embed, src),
                                        src_key_padding_mask=src_key_padding_mask)

    def decode(self, tgt_in, memory, src_key_padding_mask=None):
        _check_ids("TransformerSeq2Seq", "tgt_in", tgt_in)
        mask = Transformer.generate_square_subsequent_mask(tgt_in.shape[0], memory.dtype)
        h = self.transformer.decoder(self._embed(self.tgt_embed, tgt_in), memory, tgt_mask=mask,
                                     tgt_is_causal=True,
                                     memory_key_padding_mask=src_key_padding_mask)
        return self.out(h)

    def forward(self, src, tgt_in, src_key_padding_mask=None):
        memory = self.encode(src, src_key_padding_mask)
        return self.decode(tgt_in, memory, src_key_padding_mask), None

    def greedy(self, src, steps, bos, src_key_padding_mask=None):
        memory = self.encode(src, src_key_padding_mask)
        prefix = src.new_full((1, src.shape[1]), bos)
        for _ in range(steps):
            logits = self.decode(prefix, memory, src_key_padding_mask)
            prefix = cat([prefix, logits[-1].argmax(dim=-1).unsqueeze(0)], dim=0)
        return prefix[1:], None


class LSTMSelfAttention(Module):
    """A hybrid: an LSTM, then self-attention over its outputs inside a residual connection
    with a layer norm, y = norm(h + MultiheadAttention(h, h, h)). The LSTM carries order and
    local context; attention connects any two steps in one hop.

    forward(x, hx=None, key_padding_mask=None, attn_mask=None): x (L, N, input_size) ->
    (y (L, N, hidden_size), the LSTM's (h_n, c_n), attention weights (N, L, L)).
    """

    def __init__(self, input_size, hidden_size, num_heads=1, dropout=0.0, dtype=None):
        super().__init__()
        self.lstm = LSTM(input_size, hidden_size, dtype=dtype)
        self.self_attn = MultiheadAttention(hidden_size, num_heads, dropout=dropout, dtype=dtype)
        self.norm = LayerNorm(hidden_size, dtype=dtype)

    def forward(self, x, hx=None, key_padding_mask=None, attn_mask=None):
        h, state = self.lstm(x, hx)
        attended, weights = self.self_attn(h, h, h, key_padding_mask=key_padding_mask,
                                           attn_mask=attn_mask)
        return self.norm(h + attended), state, weights
