"""PyTorch semantics that ported code relies on: in-place ops, max/min with indices, 0-d
reductions, pow at 0, indexing order, dtypes. Cases as in golden.py; run this file with
PyTorch installed to rewrite tests/golden/semantics.npz."""
import os

import numpy as np

import golden

FIXTURES = os.path.join(os.path.dirname(__file__), "golden", "semantics.npz")


def inplace_chain(lib, x, y):
    """In-place ops on a non-leaf give the gradients of their out-of-place versions."""
    z = x * 2
    z.add_(y, alpha=0.5)
    z.mul_(y)
    z -= x
    z /= y.abs() + 1
    z[0] = y[1] * 3
    z.clamp_(-1.5, 1.5)
    w = x.clone()
    w.copy_(y.tanh())
    w[1:, 2] = x[0, :2]
    return (z * z).sum() + (w * x).sum(), [z, w]


def setitem_advanced(lib, x, v):
    z = x * 1
    z[lib.tensor(np.array([2, 0]))] = v
    z[1, :, lib.tensor(np.array([3, 1]))] = v[0, 0, :3].unsqueeze(1).expand(3, 2) * 2
    return (z.tanh() * z).sum(), [z]


def max_indices(lib, x):
    """max(dim) gives (values, indices) and sends the gradient to the index it returns."""
    x = lib.cat([x, x[:, :1]], dim=1)           # ties in every row: the first index wins
    values, indices = x.max(1)
    low = x.min(0)
    kept = x.max(dim=0, keepdim=True)
    loss = (values * lib.arange(4, dtype=lib.float64)).sum() + low.values.sum() + \
        (kept.values ** 2).sum() + x.amax(dim=1).sum()
    return loss, [indices, low.indices, kept.indices, x.argmax(), x.argmin(dim=1, keepdim=True)]


def zero_dim(lib, s):
    """dim=0 and dim=-1 are accepted on a 0-d tensor, as PyTorch accepts them."""
    loss = (s.sum(0) + s.mean(-1) * 2 + s.amax(0) + s.softmax(0) + s.log_softmax(-1)
            + s.logsumexp(0) + s.max(0).values * 3 + s.min(-1).values)
    return loss, [s.max(0).indices, s.argmax(0)]


def pow_at_zero(lib, a, b):
    """pow's gradients at base 0 are PyTorch's limits, not nan."""
    loss = (a ** 0).sum() + (0.0 ** b).sum() + (a ** b).sum() + (a ** 2).sum()
    return loss, [a ** 0, 0.0 ** b]


def scalars_in_where(lib, x):
    ints = lib.where(x > 0, 1, 3)
    floats = lib.where(x > 0, 1.0, x)
    return (floats * x).sum(), [ints, floats]


def index_order(lib, t):
    """An integer in an index is a plain select: t[1, :, :, idx] has idx's dim last."""
    idx = lib.tensor(np.array([0, 2]))
    picked = t[1, :, :, idx]
    other = t[:, 2, idx]
    weights = lib.arange(picked.numel(), dtype=lib.float64).reshape(picked.shape)
    return (picked * weights).sum() + other.sum(), [picked, other]


def dtypes(lib, x):
    """full() follows its value's type; .long() of a tensor that requires grad is an integer
    tensor with no gradient; integers to integer powers stay integers."""
    ints = lib.tensor(np.array([2, 3]))
    return (x * 2).sum(), [lib.full((2,), 4), lib.full((2,), True), lib.full((2,), 4.5),
                           x.long(), ints ** 2, 2 ** ints]


CASES = {
    "inplace_chain": (inplace_chain, [(3, 4), (3, 4)]),
    "setitem_advanced": (setitem_advanced, [(3, 3, 4), (2, 3, 4)]),
    "max_indices": (max_indices, [(4, 5)]),
    "zero_dim": (zero_dim, [()]),
    "pow_at_zero": (pow_at_zero, [np.array([0.0, 0.0, 1.5, 2.0]), np.array([0.3, 2.0, 0.0, 0.5])]),
    "scalars_in_where": (scalars_in_where, [(2, 3)]),
    "index_order": (index_order, [(3, 5, 6, 4)]),
    "dtypes": (dtypes, [(3,)]),
}


if __name__ == "__main__":
    golden.write(CASES, FIXTURES)
