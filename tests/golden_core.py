"""Compositions of core ops, written once for both tinygrad_seq and PyTorch.

Each case is `fn(lib, F, *inputs)`, where `lib` is `tinygrad_seq` or `torch` and `F` the
matching `nn.functional`; the code uses only names the two share. Run this file with PyTorch
installed to regenerate the golden fixtures (`python tests/golden_core.py`); the tests check
tinygrad_seq against the stored values and gradients in float64 without PyTorch.
"""
import os

import numpy as np

FIXTURES = os.path.join(os.path.dirname(__file__), "golden", "core.npz")


def lstm_cell(lib, F, x, h, c, w_ih, w_hh, b):
    gates = x @ w_ih.T + h @ w_hh.T + b
    i, f, g, o = gates.chunk(4, dim=1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h = o.sigmoid() * c.tanh()
    return h.sum() + (c ** 2).mean()


def mlp_cross_entropy(lib, F, x, w1, b1, w2):
    logits = (x @ w1 + b1).tanh() @ w2
    target = lib.tensor(np.array([0, 2, 1, 2, 0]))
    return F.cross_entropy(logits, target) + logits.log_softmax(dim=-1).mean()


def broadcasting(lib, F, a, b, c):
    y = (a * b - a / (b.abs() + 1)) ** 2 + lib.maximum(a, c) - lib.minimum(c, b).exp()
    y = lib.where(a > 0, y, y.sigmoid()) + (a - c).clamp(-0.5, 0.5) + (b.relu() + 1).sqrt()
    return (y * c.tanh()).sum()


def reductions(lib, F, x):
    return (x.logsumexp(dim=1).sum() + x.amax(dim=0).sum() * 2 - x.amin(dim=(1, 2)).sum()
            + x.mean(dim=(0, 2), keepdim=True).sum() + x.sum(dim=-1).exp().mean()
            + x.softmax(dim=0)[0].sum() * 3)


def shapes(lib, F, x, y):
    a, b = x.permute(2, 0, 1).reshape(4, 6).split([1, 3], dim=0)
    z = lib.cat([a * 2, b.exp()], dim=0).unsqueeze(0).expand(3, 4, 6)
    w = lib.stack([y, y * y, y.T.T], dim=1)[:, 1:, ::2]
    return (z.sum(dim=0) @ x.reshape(6, 4)).sum() + (w ** 3).sum() + x.transpose(0, 2)[1].sum()


def attention(lib, F, q, k, v):
    scores = q @ k.transpose(-1, -2) / 8 ** 0.5
    return (scores.softmax(dim=-1) @ v).tanh().sum()


def losses(lib, F, x, y, t):
    target = lib.tensor(np.array([1, -100, 0, 3]))
    return (F.mse_loss(x, y) + F.binary_cross_entropy_with_logits(x, t.sigmoid())
            + F.cross_entropy(x, target, ignore_index=-100, reduction="sum")
            + F.mse_loss(x, y, reduction="sum") * 0.1)


def gather(lib, F, w, x):
    idx = lib.tensor(np.array([[0, 4, 4], [2, 0, 1]]))
    e = F.embedding(idx, w)
    rows = x[lib.tensor(np.array([2, 2, 0]))]
    return (e * e).sum() + rows.sum(dim=0).tanh().sum() + x[1:, lib.tensor(np.array([0, 0]))].sum()


def powers(lib, F, a, b):
    return ((a.abs() + 0.5) ** b).log().sum() + (a ** 2 + 1).sqrt().sum() + (2 ** b).mean()


CASES = {
    "lstm_cell": (lstm_cell, [(3, 5), (3, 4), (3, 4), (16, 5), (16, 4), (16,)]),
    "mlp_cross_entropy": (mlp_cross_entropy, [(5, 4), (4, 6), (6,), (6, 3)]),
    "broadcasting": (broadcasting, [(2, 3), (3,), (2, 1)]),
    "reductions": (reductions, [(2, 3, 4)]),
    "shapes": (shapes, [(2, 3, 4), (4, 3)]),
    "attention": (attention, [(2, 3, 8), (2, 5, 8), (2, 5, 4)]),
    "losses": (losses, [(4, 5), (4, 5), (4, 5)]),
    "gather": (gather, [(5, 3), (4, 3)]),
    "powers": (powers, [(3, 4), (4,)]),
}


def inputs_for(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    return [rng.standard_normal(shape) for shape in CASES[name][1]]


def run_torch(name, arrays):
    """Value and input gradients of a case in PyTorch, float64."""
    import torch
    import torch.nn.functional as TF

    xs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out = CASES[name][0](torch, TF, *xs)
    out.backward()
    return out.detach().numpy(), [x.grad.numpy() for x in xs]


def run_ours(name, arrays):
    import tinygrad_seq as ts

    xs = [ts.Tensor(a, dtype=ts.float64, requires_grad=True) for a in arrays]
    out = CASES[name][0](ts, ts.nn.functional, *xs)
    out.backward()
    return out.numpy(), [x.grad.numpy() for x in xs]


def main():
    import torch
    stored = {}
    for name in CASES:
        arrays = inputs_for(name)
        value, grads = run_torch(name, arrays)
        stored[f"{name}/value"] = value
        for i, (a, g) in enumerate(zip(arrays, grads)):
            stored[f"{name}/input{i}"], stored[f"{name}/grad{i}"] = a, g
    np.savez_compressed(FIXTURES, torch_version=np.array(torch.__version__), **stored)
    print(f"wrote {len(CASES)} cases to {FIXTURES} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
