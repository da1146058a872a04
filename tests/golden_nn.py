"""Recurrent cells, layers and optimizers, run the same way in tinygrad_seq and PyTorch.

`python tests/golden_nn.py` (with PyTorch installed) writes tests/golden/nn.npz: inputs,
weights, outputs and every gradient from PyTorch in float64. The tests load PyTorch's weights
into our modules by name and compare to 1e-10 without PyTorch.
"""
import os

import numpy as np

FIXTURES = os.path.join(os.path.dirname(__file__), "golden", "nn.npz")
T, B, I, H = 4, 3, 3, 4

CELLS = {
    "rnncell_tanh": ("RNNCell", {}),
    "rnncell_relu": ("RNNCell", {"nonlinearity": "relu"}),
    "lstmcell": ("LSTMCell", {}),
    "grucell": ("GRUCell", {}),
    "grucell_nobias": ("GRUCell", {"bias": False}),
}

LAYERS = {
    "rnn_tanh": ("RNN", {}, False),
    "rnn_relu_2layers_h0": ("RNN", {"nonlinearity": "relu", "num_layers": 2}, True),
    "lstm": ("LSTM", {}, False),
    "lstm_h0": ("LSTM", {}, True),
    "lstm_2layers_bidirectional": ("LSTM", {"num_layers": 2, "bidirectional": True}, True),
    "lstm_batch_first_nobias": ("LSTM", {"batch_first": True, "bias": False}, False),
    "gru": ("GRU", {}, True),
    "gru_2layers_bidirectional_batch_first": (
        "GRU", {"num_layers": 2, "bidirectional": True, "batch_first": True}, False),
}

OPTIMIZERS = {
    "sgd": ("SGD", {"lr": 0.1}),
    "sgd_momentum_wd": ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    "sgd_nesterov_dampening0": ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    "adam": ("Adam", {"lr": 0.01}),
    "adam_wd": ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    "adamw": ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    "rmsprop": ("RMSprop", {"lr": 0.01}),
    "rmsprop_centered_momentum": ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True,
                                              "weight_decay": 0.01}),
}
OPT_STEPS = 5


def _rng(name):
    return np.random.default_rng(sum(map(ord, name)))


def cell_inputs(name):
    rng = _rng(name)
    states = 2 if CELLS[name][0] == "LSTMCell" else 1
    return {"x": rng.standard_normal((B, I)),
            **{f"state{k}": rng.standard_normal((B, H)) for k in range(states)},
            **{f"weight{k}": rng.standard_normal((B, H)) for k in range(states)}}


def layer_inputs(name):
    mode, kw, with_h0 = LAYERS[name]
    rng = _rng(name)
    L, D = kw.get("num_layers", 1), 2 if kw.get("bidirectional") else 1
    shape = (B, T, I) if kw.get("batch_first") else (T, B, I)
    out_shape = shape[:2] + (D * H,)
    arrays = {"x": rng.standard_normal(shape), "out_weight": rng.standard_normal(out_shape)}
    for k in range(2 if mode == "LSTM" else 1):
        arrays[f"state_weight{k}"] = rng.standard_normal((L * D, B, H))
        if with_h0:
            arrays[f"state{k}"] = rng.standard_normal((L * D, B, H))
    return arrays


def opt_problem():
    rng = _rng("optim")
    return rng.standard_normal((3, 4)), rng.standard_normal((5, 3)), rng.standard_normal((5, 4))


# ------------------------------------------------------------------------------ one runner, two libraries
def _cell_loss(lib, cell, a, mode):
    t = lambda k: lib.tensor(a[k], requires_grad=True)  # noqa: E731
    x = t("x")
    states = [t(f"state{k}") for k in range(2 if mode == "LSTMCell" else 1)]
    out = cell(x, tuple(states) if mode == "LSTMCell" else states[0])
    outs = out if mode == "LSTMCell" else (out,)
    loss = sum((o * lib.tensor(a[f"weight{k}"])).sum() for k, o in enumerate(outs))
    loss.backward()
    return outs, [x, *states]


def _layer_loss(lib, layer, a, mode):
    x = lib.tensor(a["x"], requires_grad=True)
    states = [lib.tensor(a[f"state{k}"], requires_grad=True)
              for k in range(2) if f"state{k}" in a]
    hx = None if not states else (tuple(states) if mode == "LSTM" else states[0])
    out, h = layer(x, hx)
    finals = h if mode == "LSTM" else (h,)
    loss = (out * lib.tensor(a["out_weight"])).sum()
    for k, s in enumerate(finals):
        loss = loss + (s * lib.tensor(a[f"state_weight{k}"])).sum()
    loss.backward()
    return (out, *finals), [x, *states]


def run(lib_name, kind, name, weights=None, fused=None):
    """Outputs, input gradients, parameter gradients (and the weights used) for one case;
    `fused` (ours only) picks the fused or composed path, None the module's default."""
    if lib_name == "torch":
        import torch
        lib, nn = torch, torch.nn
        torch.manual_seed(0)
    else:
        import tinygrad_seq as lib
        nn = lib.nn
    mode, kw = (CELLS[name] if kind == "cell" else LAYERS[name][:2])
    kwargs = dict(kw) if lib_name == "torch" else dict(kw, dtype="float64")
    if fused is not None:
        kwargs["fused"] = fused
    module = getattr(nn, mode)(I, H, **kwargs)
    if lib_name == "torch":
        module = module.double()
        weights = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
    else:
        module.load_state_dict(weights)
    arrays = cell_inputs(name) if kind == "cell" else layer_inputs(name)
    outs, inputs = (_cell_loss if kind == "cell" else _layer_loss)(lib, module, arrays, mode)
    as_np = (lambda t: t.detach().numpy()) if lib_name == "torch" else (lambda t: t.numpy())
    return {
        "outputs": [as_np(o) for o in outs],
        "input_grads": [as_np(t.grad) for t in inputs],
        "param_grads": {n: as_np(p.grad) for n, p in module.named_parameters()},
        "weights": weights,
    }


def run_optimizer(lib_name, name):
    """The parameter after each of OPT_STEPS steps on loss = sum((x w - y)^2)."""
    if lib_name == "torch":
        import torch as lib
        optim = lib.optim
    else:
        import tinygrad_seq as lib
        optim = lib.optim
    w0, x, y = opt_problem()
    w = lib.tensor(w0.copy(), requires_grad=True) if lib_name == "torch" else \
        lib.nn.Parameter(w0.copy())
    opt_name, kw = OPTIMIZERS[name]
    opt = getattr(optim, opt_name)([w], **kw)
    trajectory = []
    for _ in range(OPT_STEPS):
        opt.zero_grad()
        loss = ((lib.tensor(x) @ w - lib.tensor(y)) ** 2).sum()
        loss.backward()
        opt.step()
        trajectory.append(w.detach().numpy().copy())
    return np.stack(trajectory)


def main():
    import torch
    stored = {}
    for kind, cases in (("cell", CELLS), ("layer", LAYERS)):
        for name in cases:
            r = run("torch", kind, name)
            for i, o in enumerate(r["outputs"]):
                stored[f"{name}/output{i}"] = o
            for i, g in enumerate(r["input_grads"]):
                stored[f"{name}/input_grad{i}"] = g
            for n, g in r["param_grads"].items():
                stored[f"{name}/grad/{n}"] = g
            for n, w in r["weights"].items():
                stored[f"{name}/weight/{n}"] = w
    for name in OPTIMIZERS:
        stored[f"optim/{name}"] = run_optimizer("torch", name)
    np.savez_compressed(FIXTURES, torch_version=np.array(torch.__version__), **stored)
    print(f"wrote {len(stored)} arrays to {FIXTURES} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
