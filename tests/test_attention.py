"""Attention and Transformer layers: float64 gradcheck of every module and option, values and
every gradient against PyTorch's (stored fixtures from `python tests/golden_attention.py`;
live when PyTorch is importable), and clear errors for bad input."""
import importlib.util

import numpy as np
import pytest

import tinygrad_seq as ts
from golden_attention import CASES, FIXTURES, run
from tinygrad_seq import nn

F = nn.functional
TOL = dict(rtol=1e-10, atol=1e-10)
HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def stored():
    with np.load(FIXTURES) as f:
        return dict(f)


def _part(stored, name, part):
    prefix = f"{name}/{part}/"
    return {k[len(prefix):]: v for k, v in stored.items() if k.startswith(prefix)}


def _compare(ours, outputs, input_grads, param_grads):
    assert len(ours["outputs"]) == len(outputs)
    for i, (a, b) in enumerate(zip(ours["outputs"], outputs)):
        np.testing.assert_allclose(a, b, **TOL, err_msg=f"output {i}")
    assert set(ours["input_grads"]) == set(input_grads)
    for k, g in input_grads.items():
        np.testing.assert_allclose(ours["input_grads"][k], g, **TOL, err_msg=f"d/d{k}")
    assert set(ours["param_grads"]) == set(param_grads)
    for k, g in param_grads.items():
        np.testing.assert_allclose(ours["param_grads"][k], g, **TOL, err_msg=k)


@pytest.mark.parametrize("name", CASES)
def test_matches_stored_pytorch(name, stored):
    outputs = [stored[f"{name}/output{i}"] for i in range(2) if f"{name}/output{i}" in stored]
    ours = run("ours", name, _part(stored, name, "weights"))
    _compare(ours, outputs, _part(stored, name, "input_grad"), _part(stored, name, "param_grads"))


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed")
@pytest.mark.parametrize("name", CASES)
# PyTorch's own notes on cases that ask for them: a bool padding mask beside a float attn_mask
# (deprecated, still supported), and its encoder's fast path that the math path does not take
@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning")
@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True:UserWarning")
def test_matches_live_pytorch(name):
    theirs = run("torch", name)
    _compare(run("ours", name, theirs["weights"]), theirs["outputs"], theirs["input_grads"],
             theirs["param_grads"])


# ------------------------------------------------------------------------------ gradcheck
def _x(*shape, seed=0):
    return ts.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def _check(module, fn, *inputs):
    """gradcheck with respect to the inputs and every parameter of `module`."""
    params = list(module.parameters()) if module is not None else []
    assert ts.gradcheck(lambda *_: fn(*inputs), *inputs, *params)


PAD = ts.tensor(np.array([[False, False, True], [False, False, False]]))


@pytest.mark.parametrize("options", [
    dict(), dict(attn_mask="bool"), dict(attn_mask="float"), dict(is_causal=True),
    dict(scale=0.5)], ids=["plain", "bool_mask", "float_mask", "causal", "scale"])
def test_gradcheck_sdpa(options):
    masks = {"bool": ts.tensor(np.array([[True, False, True], [True, True, False],
                                         [False, True, True]])), "float": _x(3, 3, seed=9)}
    if "attn_mask" in options:
        options = dict(options, attn_mask=masks[options["attn_mask"]])
    q, k, v = _x(2, 3, 4, seed=1), _x(2, 3, 4, seed=2), _x(2, 3, 2, seed=3)
    extra = (options["attn_mask"],) if options.get("attn_mask") is not None and \
        options["attn_mask"].dtype.kind == "f" else ()
    assert ts.gradcheck(lambda *_: F.scaled_dot_product_attention(q, k, v, **options), q, k, v,
                        *extra)


@pytest.mark.parametrize("options,call", [
    (dict(), dict()), (dict(bias=False), dict()), (dict(batch_first=True), dict()),
    (dict(), dict(key_padding_mask=PAD)),
    (dict(), dict(attn_mask=nn.Transformer.generate_square_subsequent_mask(3, "float64"),
                  is_causal=True)),
    (dict(), dict(need_weights=False, average_attn_weights=False))],
    ids=["default", "nobias", "batch_first", "padding", "causal", "no_weights"])
def test_gradcheck_multihead_attention(options, call):
    mha = nn.MultiheadAttention(4, 2, dtype="float64", **options)
    q, kv = _x(3, 2, 4, seed=1), _x(3, 2, 4, seed=2)
    if options.get("batch_first"):
        q, kv = _x(2, 3, 4, seed=1), _x(2, 3, 4, seed=2)

    def fn(q, kv):
        out, weights = mha(q, kv, kv, **call)
        return out if weights is None else out.sum() + (weights * weights).sum()
    _check(mha, fn, q, kv)


@pytest.mark.parametrize("options", [
    dict(), dict(activation="gelu"), dict(norm_first=True), dict(batch_first=True)],
    ids=["relu_post_norm", "gelu", "norm_first", "batch_first"])
@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_gradcheck_transformer_layers(kind, options):
    shape = (2, 3, 4) if options.get("batch_first") else (3, 2, 4)
    causal = nn.Transformer.generate_square_subsequent_mask(3, "float64")
    if kind == "encoder":
        layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, dtype="float64", **options)
        _check(layer, lambda x: layer(x, src_mask=causal, src_key_padding_mask=PAD),
               _x(*shape))
    else:
        layer = nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, dtype="float64", **options)
        _check(layer, lambda t, m: layer(t, m, tgt_mask=causal, memory_key_padding_mask=PAD),
               _x(*shape, seed=1), _x(*shape, seed=2))


def test_gradcheck_stacks_and_positional_encoding():
    model = nn.Transformer(4, 2, 1, 1, 6, dropout=0.0, dtype="float64")
    pe = nn.PositionalEncoding(4, dropout=0.0, dtype="float64")
    mask = nn.Transformer.generate_square_subsequent_mask(2, "float64")
    _check(model, lambda s, t: model(pe(s), pe(t), tgt_mask=mask), _x(3, 2, 4), _x(2, 2, 4))


@pytest.mark.parametrize("cls,args", [
    (nn.AdditiveAttention, (3, 4, 5)), (nn.MultiplicativeAttention, (3, 4)),
    (nn.MultiplicativeAttention, (4, 4, "dot"))], ids=["additive", "general", "dot"])
@pytest.mark.parametrize("steps", [None, 2], ids=["one_step", "two_steps"])
def test_gradcheck_rnn_attention(cls, args, steps):
    attention = cls(*args, dtype="float64")
    q = _x(2, args[0]) if steps is None else _x(2, steps, args[0])
    keys = _x(2, 3, args[1], seed=1)

    def fn(q, keys):
        context, weights = attention(q, keys, key_padding_mask=PAD)
        return context.sum() + (weights * weights).sum()
    _check(attention, fn, q, keys)


# ------------------------------------------------------------------------------ semantics
def test_rnn_attention_weights_sum_to_one_and_skip_padding():
    attention = nn.AdditiveAttention(3, 4, 5)
    context, weights = attention(ts.randn(2, 3), ts.randn(2, 3, 4), key_padding_mask=PAD)
    assert context.shape == (2, 4) and weights.shape == (2, 3)
    np.testing.assert_allclose(weights.numpy().sum(-1), 1, rtol=1e-6)
    assert weights.numpy()[0, 2] == 0


def test_positional_encoding_is_the_papers_sinusoid():
    pe = nn.PositionalEncoding(6, dropout=0.0, max_len=10, dtype="float64").pe.numpy()
    pos, i = 7, 2
    assert pe[pos, 2 * i] == pytest.approx(np.sin(pos / 10000 ** (2 * i / 6)))
    assert pe[pos, 2 * i + 1] == pytest.approx(np.cos(pos / 10000 ** (2 * i / 6)))
    assert "pe" in nn.PositionalEncoding(6).state_dict()


def test_stacked_layers_are_copies_with_their_own_weights():
    layer = nn.TransformerEncoderLayer(4, 2, 6)
    encoder = nn.TransformerEncoder(layer, 2)
    a, b = encoder.layers[0].linear1.weight, encoder.layers[1].linear1.weight
    assert a is not b and np.array_equal(a.numpy(), b.numpy())
    assert "layers.1.self_attn.in_proj_weight" in encoder.state_dict()


def test_subsequent_mask():
    mask = nn.Transformer.generate_square_subsequent_mask(3).numpy()
    assert mask.dtype == np.float32
    assert np.array_equal(np.isneginf(mask), np.triu(np.ones((3, 3), bool), k=1))
    assert (mask[np.tril_indices(3)] == 0).all()


def test_dropout_is_off_in_eval_and_applied_in_training():
    mha = nn.MultiheadAttention(4, 2, dropout=0.5)
    x = ts.randn(3, 2, 4)
    mha.eval()
    a, b = mha(x, x, x)[1].numpy(), mha(x, x, x)[1].numpy()
    assert np.array_equal(a, b)
    mha.train()
    assert not np.array_equal(mha(x, x, x)[1].numpy(), a)


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("make,message", [
    (lambda: nn.MultiheadAttention(6, 4), "divisible"),
    (lambda: nn.MultiheadAttention(4, 0), "num_heads"),
    (lambda: nn.TransformerEncoderLayer(4, 2, activation="tanh"), "activation"),
    (lambda: nn.TransformerEncoderLayer(4, 2, dropout=1.5), "dropout"),
    (lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2), 0), "num_layers"),
    (lambda: nn.MultiplicativeAttention(3, 4, "dot"), "query_size == key_size"),
    (lambda: nn.MultiplicativeAttention(3, 4, "concat"), "score must be"),
])
def test_bad_settings_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_inputs_are_refused_with_the_shapes():
    mha = nn.MultiheadAttention(4, 2)
    x = ts.randn(3, 2, 4)
    with pytest.raises(ValueError, match=r"\(3, 2, 5\)"):
        mha(x, ts.randn(3, 2, 5), ts.randn(3, 2, 5))
    with pytest.raises(ValueError, match="attn_mask must be"):
        mha(x, x, x, attn_mask=ts.zeros(2, 2))
    with pytest.raises(ValueError, match="key_padding_mask must be"):
        mha(x, x, x, key_padding_mask=ts.zeros(3, 3, dtype=ts.bool))
    with pytest.raises(TypeError, match="bool or floating"):
        mha(x, x, x, attn_mask=ts.zeros(3, 3, dtype=ts.int64))
    with pytest.raises(ValueError, match="is_causal"):
        mha(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(x, x, x, attn_mask=ts.ones(2, 2, dtype=ts.bool),
                                       is_causal=True)
    with pytest.raises(ValueError, match=r"query \(\.\.\., L, E\)"):
        F.scaled_dot_product_attention(x, ts.randn(3, 2, 5), x)
    with pytest.raises(ValueError, match="max_len"):
        nn.PositionalEncoding(4, max_len=2)(x)
