"""Attention and Transformer layers, run the same way in tinygrad_seq and PyTorch.

`python tests/golden_attention.py` (with PyTorch installed) writes tests/golden/attention.npz:
for each case PyTorch's weights (its state_dict), the inputs, the outputs and every gradient
(inputs and parameters) in float64. The tests load PyTorch's weights into our modules by name
and compare to 1e-10 without PyTorch; live when PyTorch is importable.

PyTorch's MultiheadAttention and Transformer layers take fast paths (fused kernels, nested
tensors) only in eval mode; every case here runs in training mode with dropout 0.0, which is
PyTorch's math path: MultiheadAttention's own softmax(QK^T/sqrt(d)) when need_weights=True,
F.scaled_dot_product_attention (its CPU kernel) when need_weights=False, as the Transformer
layers call it. F.scaled_dot_product_attention itself is called directly.
"""
import os

import numpy as np

FIXTURES = os.path.join(os.path.dirname(__file__), "golden", "attention.npz")
L, S, N, E, H, FF = 4, 5, 3, 8, 2, 12

# a bool mask True where a key is masked out (MultiheadAttention's convention); no row all True
PADDING = np.array([[False] * S, [False, False, False, True, True], [False, True, False, False,
                                                                     True]])
CAUSAL = np.triu(np.ones((L, L), dtype=bool), k=1)
CROSS = np.array([[False, True, False, False, True]] * L)


def _float_mask(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


# name -> (module class, constructor options, call). A call gets (lib, module, x, masks) where
# x maps names to input tensors and returns the outputs to compare. Inputs are listed in
# INPUTS; masks are made from numpy arrays with the library's tensor().
def _mha(query="q", key="q", value="q", **options):
    def call(lib, m, x, masks):
        out, weights = m(x[query], x[key], x[value], **{k: masks[v] if isinstance(v, str) else v
                                                       for k, v in options.items()})
        return [out] if weights is None else [out, weights]
    return call


CASES = {
    "mha_self": ("MultiheadAttention", dict(embed_dim=E, num_heads=H), _mha(),
                 {"q": (L, N, E)}),
    "mha_cross": ("MultiheadAttention", dict(embed_dim=E, num_heads=H), _mha("q", "k", "v"),
                  {"q": (L, N, E), "k": (S, N, E), "v": (S, N, E)}),
    "mha_one_head_nobias": ("MultiheadAttention", dict(embed_dim=E, num_heads=1, bias=False),
                            _mha("q", "k", "k"), {"q": (L, N, E), "k": (S, N, E)}),
    "mha_batch_first_padding": ("MultiheadAttention",
                                dict(embed_dim=E, num_heads=H, batch_first=True),
                                _mha("q", "k", "v", key_padding_mask="padding"),
                                {"q": (N, L, E), "k": (N, S, E), "v": (N, S, E)}),
    "mha_bool_attn_mask_per_head": ("MultiheadAttention", dict(embed_dim=E, num_heads=H),
                                    _mha("q", "k", "v", attn_mask="cross",
                                         average_attn_weights=False),
                                    {"q": (L, N, E), "k": (S, N, E), "v": (S, N, E)}),
    "mha_float_masks_3d": ("MultiheadAttention", dict(embed_dim=E, num_heads=H),
                           _mha("q", "k", "v", attn_mask="float3d", key_padding_mask="padding"),
                           {"q": (L, N, E), "k": (S, N, E), "v": (S, N, E)}),
    "mha_causal_no_weights": ("MultiheadAttention", dict(embed_dim=E, num_heads=H),
                              _mha(attn_mask="causal", is_causal=True, need_weights=False),
                              {"q": (L, N, E)}),
    "mha_unbatched": ("MultiheadAttention", dict(embed_dim=E, num_heads=H),
                      _mha("q1", "k1", "k1"), {"q1": (L, E), "k1": (S, E)}),
    "sdpa": (None, {}, lambda lib, m, x, masks: [
        lib.nn.functional.scaled_dot_product_attention(x["q"], x["k"], x["v"])],
        {"q": (N, H, L, E), "k": (N, H, S, E), "v": (N, H, S, 3)}),
    "sdpa_causal_scale": (None, {}, lambda lib, m, x, masks: [
        lib.nn.functional.scaled_dot_product_attention(x["q"], x["k"], x["v"], is_causal=True,
                                                       scale=0.3)],
        {"q": (N, L, E), "k": (N, L, E), "v": (N, L, E)}),
    "sdpa_bool_mask": (None, {}, lambda lib, m, x, masks: [
        lib.nn.functional.scaled_dot_product_attention(x["q"], x["k"], x["v"],
                                                       attn_mask=masks["keep"])],
        {"q": (N, L, E), "k": (N, S, E), "v": (N, S, E)}),
    "sdpa_float_mask": (None, {}, lambda lib, m, x, masks: [
        lib.nn.functional.scaled_dot_product_attention(x["q"], x["k"], x["v"],
                                                       attn_mask=masks["float2d"])],
        {"q": (N, H, L, E), "k": (N, H, S, E), "v": (N, H, S, E)}),
}

LAYER_OPTIONS = {"": {}, "_gelu": dict(activation="gelu"), "_norm_first": dict(norm_first=True),
                 "_batch_first_gelu_norm_first": dict(batch_first=True, activation="gelu",
                                                      norm_first=True)}
for suffix, options in LAYER_OPTIONS.items():
    first = options.get("batch_first", False)
    src, mem = ((N, S, E), (N, S, E)) if first else ((S, N, E), (S, N, E))
    tgt = (N, L, E) if first else (L, N, E)
    CASES["encoder_layer" + suffix] = (
        "TransformerEncoderLayer", dict(d_model=E, nhead=H, dim_feedforward=FF, dropout=0.0,
                                        **options),
        lambda lib, m, x, masks: [m(x["src"], src_key_padding_mask=masks["padding"])],
        {"src": src})
    CASES["decoder_layer" + suffix] = (
        "TransformerDecoderLayer", dict(d_model=E, nhead=H, dim_feedforward=FF, dropout=0.0,
                                        **options),
        lambda lib, m, x, masks: [m(x["tgt"], x["memory"], tgt_mask=masks["causal"],
                                    tgt_is_causal=True, memory_key_padding_mask=masks["padding"])],
        {"tgt": tgt, "memory": mem})
# a query with no key left: PyTorch's scaled_dot_product_attention gives it 0 (its weights too)
EMPTY_ROW = np.ones((N, L, S), dtype=bool)
EMPTY_ROW[0, 1] = False
CASES["sdpa_query_with_every_key_masked"] = (None, {}, lambda lib, m, x, masks: [
    lib.nn.functional.scaled_dot_product_attention(x["q"], x["k"], x["v"],
                                                   attn_mask=lib.tensor(EMPTY_ROW))],
    {"q": (N, L, E), "k": (N, S, E), "v": (N, S, E)})
ALL_PADDED = PADDING.copy()
ALL_PADDED[1] = True
CASES["mha_no_weights_every_key_padded"] = (
    "MultiheadAttention", dict(embed_dim=E, num_heads=H),
    lambda lib, m, x, masks: [m(x["q"], x["k"], x["k"], need_weights=False,
                                key_padding_mask=lib.tensor(ALL_PADDED))[0]],
    {"q": (L, N, E), "k": (S, N, E)})
CASES["encoder_layer_causal_float"] = (
    "TransformerEncoderLayer", dict(d_model=E, nhead=H, dim_feedforward=FF, dropout=0.0),
    lambda lib, m, x, masks: [m(x["src"], src_mask=masks["subsequent"], is_causal=True)],
    {"src": (L, N, E)})
CASES["transformer"] = (
    "Transformer", dict(d_model=E, nhead=H, num_encoder_layers=2, num_decoder_layers=2,
                        dim_feedforward=FF, dropout=0.0),
    lambda lib, m, x, masks: [m(x["src"], x["tgt"], tgt_mask=masks["subsequent"],
                                src_key_padding_mask=masks["padding"],
                                memory_key_padding_mask=masks["padding"])],
    {"src": (S, N, E), "tgt": (L, N, E)})


def masks_for(lib):
    as_tensor = lambda a: lib.tensor(a)  # noqa: E731
    return {"padding": as_tensor(PADDING), "causal": as_tensor(CAUSAL), "cross": as_tensor(CROSS),
            "keep": as_tensor(~CROSS), "float3d": as_tensor(_float_mask((N * H, L, S), 1)),
            "float2d": as_tensor(_float_mask((L, S), 2)),
            "subsequent": as_tensor(np.triu(np.full((L, L), -np.inf), k=1))}


def inputs_for(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    return {k: rng.standard_normal(shape) for k, shape in CASES[name][3].items()}


def run(lib_name, name, weights=None):
    """Outputs, input gradients and parameter gradients of a case (and the weights used: the
    torch module's own, or `weights` loaded into ours). The loss is sum(output_i * w_i)."""
    if lib_name == "torch":
        import torch as lib
        torch_module = True
        lib.manual_seed(0)
    else:
        import tinygrad_seq as lib
        torch_module = False
    mode, options, call, _ = CASES[name]
    module = None
    if mode is not None:
        if torch_module:
            module = getattr(lib.nn, mode)(**options).double()
            weights = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
        else:
            module = getattr(lib.nn, mode)(**options, dtype="float64")
            module.load_state_dict(weights)
        module.train()        # the math path (see the docstring)
    arrays = inputs_for(name)
    x = {k: lib.tensor(a, requires_grad=True) for k, a in arrays.items()}
    outs = call(lib, module, x, masks_for(lib))
    rng = np.random.default_rng(7)
    loss = sum((o * lib.tensor(rng.standard_normal(tuple(o.shape)))).sum() for o in outs)
    loss.backward()
    as_np = (lambda t: t.detach().numpy()) if torch_module else (lambda t: t.numpy())
    params = {} if module is None else {n: as_np(p.grad) for n, p in module.named_parameters()}
    return {"outputs": [as_np(o) for o in outs],
            "input_grads": {k: as_np(t.grad) for k, t in x.items()},
            "param_grads": params, "weights": weights or {}}


def main():
    import torch
    stored = {}
    for name in CASES:
        r = run("torch", name)
        for i, o in enumerate(r["outputs"]):
            stored[f"{name}/output{i}"] = o
        for k, g in r["input_grads"].items():
            stored[f"{name}/input_grad/{k}"] = g
        for part in ("param_grads", "weights"):
            for k, v in r[part].items():
                stored[f"{name}/{part}/{k}"] = v
    np.savez_compressed(FIXTURES, torch_version=np.array(torch.__version__), **stored)
    print(f"wrote {len(stored)} arrays for {len(CASES)} cases to {FIXTURES} "
          f"(torch {torch.__version__})")


if __name__ == "__main__":
    main()
