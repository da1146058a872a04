"""Packed sequences (nn.utils.rnn and the recurrent layers fed a PackedSequence), run the same
way in tinygrad_seq and PyTorch.

`python tests/golden_packed.py` (with PyTorch installed) writes tests/golden/packed.npz: every
case's outputs and gradients from PyTorch in float64. Inputs and weights are drawn from numpy
generators seeded by the case's name, so they are not stored; the tests rebuild them, run ours
and compare to 1e-10 without PyTorch (integer outputs exactly).

EVERY_LAYER is the full product of mode (LSTM, GRU, RNN tanh and relu) x num_layers (1, 2) x
bidirectional x bias x an initial state or none x the four (enforce_sorted, batch_first)
choices for building the packed input: 256 cases, run live against PyTorch. The fixtures keep
LAYERS, 64 of them: every layer configuration once, with one of the four packings assigned as a
Latin square, so that every mode meets each packing with every layers/direction choice and with
every bias/state choice.
The batch is 5 (PyTorch's sort keeps ties in order up to 16, so its packed layout is ours);
"_big" cases use a batch of 20 with many ties, where PyTorch may order tied sequences
differently, and compare what is in the caller's order only (padded outputs, final states,
gradients).

The port tests/ports/packed_classifier.py (PyTorch code with tinygrad_seq's imports) runs here
in both libraries from the same weights: its loss after each Adam step and its accuracy.
"""
import itertools
import json
import os

import numpy as np

from porting import HAS_TORCH, load_port

HERE = os.path.dirname(__file__)
FIXTURES = os.path.join(HERE, "golden", "packed.npz")
PORT = os.path.join(HERE, "ports", "packed_classifier.py")
TOL = dict(rtol=1e-10, atol=1e-10)
T, B, I, H = 4, 5, 2, 2
BIG_B = 17

MODES = {"lstm": ("LSTM", {}), "gru": ("GRU", {}), "rnn_tanh": ("RNN", {}),
         "rnn_relu": ("RNN", {"nonlinearity": "relu"})}
PACKINGS = [(False, False), (False, True), (True, False), (True, True)]  # enforce_sorted, batch_first


def _layer_cases():
    """(every case, the fixtures' cases): see the module's docstring."""
    every, stored = {}, {}
    for mode, (cls, kw) in MODES.items():
        options = itertools.product((1, 2), (False, True), (True, False), (False, True))
        for i, (layers, bidirectional, bias, with_h0) in enumerate(options):
            for j, (enforce_sorted, batch_first) in enumerate(PACKINGS):
                name = (f"{mode}_l{layers}{'_bi' if bidirectional else ''}"
                        f"{'' if bias else '_nobias'}{'_h0' if with_h0 else ''}"
                        f"{'_sorted' if enforce_sorted else '_unsorted'}"
                        f"{'_bf' if batch_first else ''}")
                every[name] = dict(cls=cls, kw=dict(kw, num_layers=layers, bias=bias,
                                                    bidirectional=bidirectional),
                                   h0=with_h0, enforce_sorted=enforce_sorted,
                                   batch_first=batch_first, batch=B)
                if j == (i + i // 4) % 4:
                    stored[name] = every[name]
        name = f"{mode}_l2_bi_h0_unsorted_big"
        every[name] = stored[name] = dict(
            cls=cls, kw=dict(kw, num_layers=2, bidirectional=True), h0=True,
            enforce_sorted=False, batch_first=False, batch=BIG_B)
    return every, stored


EVERY_LAYER, LAYERS = _layer_cases()

# the helpers alone: (function, keyword arguments, sequence lengths, trailing dims)
HELPERS = {
    "pad_sequence": ("pad_sequence", {}, [3, 5, 1, 5, 2], (2,)),
    "pad_sequence_batch_first_value": ("pad_sequence", {"batch_first": True, "padding_value": -1.5},
                                       [2, 4, 4, 1], (2, 3)),
    "pad_sequence_left": ("pad_sequence", {"padding_side": "left"}, [1, 3, 2], ()),
    "pad_sequence_left_batch_first": ("pad_sequence", {"padding_side": "left", "batch_first": True,
                                                       "padding_value": 2.0}, [4, 1, 3], (3,)),
    "pad_sequence_one": ("pad_sequence", {}, [3], (2,)),
    "pack_padded": ("pack_padded_sequence", {}, [5, 4, 4, 2, 1], (2,)),
    "pack_padded_unsorted": ("pack_padded_sequence", {"enforce_sorted": False},
                             [2, 5, 1, 5, 3, 2], (2,)),
    "pack_padded_unsorted_batch_first": ("pack_padded_sequence",
                                         {"enforce_sorted": False, "batch_first": True},
                                         [1, 3, 3, 4], (2, 2)),
    "pack_padded_scalar_steps": ("pack_padded_sequence", {"enforce_sorted": False}, [2, 3, 1], ()),
    "pack_padded_extra_padding": ("pack_padded_sequence", {"enforce_sorted": False,
                                                           "extra_padding": 2}, [3, 1, 2], (2,)),
    "pack_sequence": ("pack_sequence", {}, [4, 3, 3, 1], (2,)),
    "pack_sequence_unsorted": ("pack_sequence", {"enforce_sorted": False}, [1, 4, 2, 4], (3,)),
    "pad_packed": ("pad_packed_sequence", {}, [3, 1, 4, 2], (2,)),
    "pad_packed_batch_first_total": ("pad_packed_sequence", {"batch_first": True,
                                                             "padding_value": 9.0,
                                                             "total_length": 6}, [2, 3, 1], (2,)),
    "pad_packed_total": ("pad_packed_sequence", {"total_length": 4}, [1, 2, 2, 4, 1], ()),
}


def _rng(name):
    return np.random.default_rng(sum(map(ord, name)) + 7919 * len(name))


def layer_inputs(name):
    """Lengths (random, ties likely; sorted when enforce_sorted), the sequences, h_0 and the
    loss weights of one layer case."""
    case = EVERY_LAYER[name]
    rng = _rng(name)
    n = case["batch"]
    lengths = rng.integers(1, T + 1, n)
    lengths[:2] = (T, 1)                 # the longest and shortest possible, so never all tied
    lengths = -np.sort(-lengths) if case["enforce_sorted"] else rng.permutation(lengths)
    L, D = case["kw"]["num_layers"], 2 if case["kw"]["bidirectional"] else 1
    arrays = {"lengths": lengths}
    for b, length in enumerate(lengths):
        arrays[f"seq{b}"] = rng.standard_normal((length, I))
    states = 2 if case["cls"] == "LSTM" else 1
    for k in range(states):
        if case["h0"]:
            arrays[f"state{k}"] = rng.standard_normal((L * D, n, H))
        arrays[f"state_weight{k}"] = rng.standard_normal((L * D, n, H))
    padded_shape = (n, T + 1, D * H) if case["batch_first"] else (T + 1, n, D * H)
    arrays["padded_weight"] = rng.standard_normal(padded_shape)   # total_length=T + 1
    arrays["data_weight"] = rng.standard_normal((lengths.sum(), D * H))
    return arrays


def layer_weights(name, shapes):
    """Weights for a module whose state_dict has these shapes, drawn by sorted name."""
    rng = _rng("weights " + name)
    return {k: rng.uniform(-0.7, 0.7, shapes[k]) for k in sorted(shapes)}


def helper_inputs(name):
    fn, kw, lengths, trailing = HELPERS[name]
    rng = _rng(name)
    arrays = {"lengths": np.array(lengths)}
    if fn == "pack_padded_sequence":
        steps = max(lengths) + kw.get("extra_padding", 0)
        shape = (len(lengths), steps) if kw.get("batch_first") else (steps, len(lengths))
        arrays["padded"] = rng.standard_normal(shape + trailing)
    else:
        for b, length in enumerate(lengths):
            arrays[f"seq{b}"] = rng.standard_normal((length,) + trailing)
    return arrays


def _libs(lib_name):
    if lib_name == "torch":
        import torch
        from torch.nn.utils import rnn
        return torch, torch.nn, rnn
    import tinygrad_seq as ts
    from tinygrad_seq.nn.utils import rnn
    return ts, ts.nn, rnn


def _as_np(t):
    return None if t is None else np.array(t.detach().numpy())


# ------------------------------------------------------------------------------ one runner, two libraries
def run_layer(lib_name, name, fused=None):
    """Outputs (the packed input's and output's fields, the padded output, the final states)
    and gradients (each sequence, h_0, every parameter) of one layer case. `fused` (ours
    only) picks the fused or composed path, None the module's default."""
    lib, nn, rnn = _libs(lib_name)
    case, a = EVERY_LAYER[name], layer_inputs(name)
    kwargs = dict(case["kw"])
    if lib_name != "torch":
        kwargs["dtype"] = "float64"
        if fused is not None:
            kwargs["fused"] = fused
    module = getattr(nn, case["cls"])(I, H, **kwargs)
    if lib_name == "torch":
        module = module.double()
        shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        module.load_state_dict({k: lib.tensor(v) for k, v in layer_weights(name, shapes).items()})
    else:
        shapes = {k: v.shape for k, v in module.state_dict().items()}
        module.load_state_dict(layer_weights(name, shapes))
    bf, lengths = case["batch_first"], a["lengths"]
    seqs = [lib.tensor(a[f"seq{b}"], requires_grad=True) for b in range(len(lengths))]
    states = [lib.tensor(a[f"state{k}"], requires_grad=True) for k in range(2)
              if f"state{k}" in a]
    hx = None if not states else (tuple(states) if case["cls"] == "LSTM" else states[0])
    packed = rnn.pack_padded_sequence(rnn.pad_sequence(seqs, batch_first=bf), lib.tensor(lengths),
                                      batch_first=bf, enforce_sorted=case["enforce_sorted"])
    out, h = module(packed, hx)
    finals = h if case["cls"] == "LSTM" else (h,)
    padded, out_lengths = rnn.pad_packed_sequence(out, batch_first=bf, total_length=T + 1)
    loss = (padded * lib.tensor(a["padded_weight"])).sum()
    for k, s in enumerate(finals):
        loss = loss + (s * lib.tensor(a[f"state_weight{k}"])).sum()
    layout = case["batch"] <= 16      # the packed layout is PyTorch's (see the docstring)
    if layout:
        loss = loss + (out.data * lib.tensor(a["data_weight"])).sum()
    loss.backward()
    outputs = {f"final{k}": _as_np(s) for k, s in enumerate(finals)}
    if layout:   # the packed output itself (its padded form follows from it)
        for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
            assert getattr(out, field) is getattr(packed, field)
            if getattr(packed, field) is not None:
                outputs[field] = _as_np(getattr(packed, field))
        outputs["data"] = _as_np(out.data)
    else:        # only what is in the caller's order
        outputs["padded"], outputs["lengths"] = _as_np(padded), _as_np(out_lengths)
    grads = {**{f"seq{b}": _as_np(s.grad) for b, s in enumerate(seqs)},
             **{f"state{k}": _as_np(s.grad) for k, s in enumerate(states)},
             **{f"param/{n}": _as_np(p.grad) for n, p in module.named_parameters()}}
    return outputs, grads


def run_helper(lib_name, name):
    """Outputs and input gradients of one helper case (loss: each float output times fixed
    random weights, summed)."""
    lib, _, rnn = _libs(lib_name)
    fn, kw, lengths, _ = HELPERS[name]
    a = helper_inputs(name)
    kw = {k: v for k, v in kw.items() if k != "extra_padding"}
    leaves = {k: lib.tensor(v, requires_grad=True) for k, v in a.items() if k != "lengths"}
    seqs = [leaves[f"seq{b}"] for b in range(len(lengths))] if "padded" not in leaves else None
    if fn == "pad_sequence":
        results = {"padded": rnn.pad_sequence(seqs, **kw)}
    elif fn == "pad_packed_sequence":
        padded, out_lengths = rnn.pad_packed_sequence(
            rnn.pack_sequence(seqs, enforce_sorted=False), **kw)
        results = {"padded": padded, "lengths": out_lengths}
    else:
        packed = (rnn.pack_padded_sequence(leaves["padded"], lengths, **kw)
                  if fn == "pack_padded_sequence" else rnn.pack_sequence(seqs, **kw))
        results = {k: v for k, v in packed._asdict().items() if v is not None}
    loss = sum((r * lib.tensor(_rng("weight " + k).standard_normal(tuple(r.shape)))).sum()
               for k, r in results.items() if r.dtype == lib.float64)
    loss.backward()
    return ({k: _as_np(v) for k, v in results.items()},
            {k: _as_np(t.grad) for k, t in leaves.items()})


def run_port(lib_name):
    """The port's loss after each of its Adam steps, then its held-out accuracy, in float64
    (set here, as a test would) from weights drawn here."""
    port = load_port(PORT, lib_name)
    lib = port.torch
    previous = lib.get_default_dtype()
    lib.set_default_dtype(lib.float64)
    try:
        model = port.Classifier()
        rng = _rng("port weights")
        weights = {k: rng.uniform(-0.4, 0.4, tuple(v.shape))
                   for k, v in sorted(model.state_dict().items())}
        weights["embedding.weight"][port.PAD] = 0    # the padding row starts at zero
        model.load_state_dict({k: lib.tensor(v) for k, v in weights.items()})
        data = port.make_data(96)
        losses = port.train(model, data[:64])
        return np.array(losses), port.accuracy(model, data[64:])
    finally:
        lib.set_default_dtype(previous)


def save(stored, key, outputs, grads):
    """One case as two flat arrays (floats, integers) and its index of names and shapes: a
    few entries per case instead of one per array keeps the file small."""
    arrays = {**{f"out/{k}": v for k, v in outputs.items()},
              **{f"grad/{k}": v for k, v in grads.items()}}
    index = [[k, list(v.shape), v.dtype.kind] for k, v in sorted(arrays.items())]
    for kind in "fi":
        stored[f"{key}/{kind}"] = np.concatenate(
            [arrays[k].ravel() for k, _, dk in index if dk == kind] or [np.zeros(0)])
    stored[f"{key}/index"] = np.array(json.dumps(index))


def load_fixtures():
    with np.load(FIXTURES) as f:
        return dict(f)


def load(stored, key):
    """(outputs, grads) of one case, as `save` wrote them."""
    offsets, outputs, grads = {"f": 0, "i": 0}, {}, {}
    for name, shape, kind in json.loads(str(stored[f"{key}/index"])):
        n, start = int(np.prod(shape)), offsets[kind]
        offsets[kind] += n
        part, field = name.split("/", 1)
        (outputs if part == "out" else grads)[field] = \
            stored[f"{key}/{kind}"][start:start + n].reshape(shape)
    return outputs, grads


def main():
    import torch
    stored = {}
    for prefix, cases, runner in (("layer", LAYERS, run_layer), ("helper", HELPERS, run_helper)):
        for name in cases:
            save(stored, f"{prefix}/{name}", *runner("torch", name))
    stored["port/losses"], stored["port/accuracy"] = run_port("torch")
    np.savez_compressed(FIXTURES, torch_version=np.array(torch.__version__), **stored)
    print(f"wrote {len(stored)} arrays to {FIXTURES} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
