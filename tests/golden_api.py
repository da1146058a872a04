"""PyTorch's ops, activations, losses, creation functions and dtype conversions that ported
sequence-model code uses. Cases as in golden.py; run this file with PyTorch installed to
rewrite tests/golden/api.npz."""
import math
import os

import numpy as np

import golden

FIXTURES = os.path.join(os.path.dirname(__file__), "golden", "api.npz")


def _weighted(lib, *terms):
    """sum_k sum(term_k * w_k) with fixed, distinct weights: every element counts differently."""
    total = 0
    for k, t in enumerate(terms):
        w = lib.tensor(np.linspace(0.5, 1.5, t.numel()).reshape(t.shape) * (k + 1) / len(terms),
                       dtype=lib.float64)
        total = total + (t * w).sum()
    return total


def unary_math(lib, x):
    a = x.abs() + 0.5
    terms = [x.sin(), x.cos(), a.log1p(), (x / 4).expm1(), a.rsqrt(), x.erf(), x.square(),
             x.sign() * x, x.floor() + x, x.ceil() * x, (x * 3).round() + x, a.reciprocal(),
             lib.sin(x) * lib.cos(x), lib.erf(x / 2)]
    return _weighted(lib, *terms), [x.floor(), x.round(decimals=1), x.sign()]


def activations(lib, x):
    F = lib.nn.functional
    terms = [F.gelu(x), F.gelu(x, approximate="tanh"), F.leaky_relu(x, 0.2), F.elu(x, 0.7),
             F.softplus(x, 2.0, 5.0), F.softplus(x), F.logsigmoid(x), F.hardtanh(x, -0.5, 0.8),
             F.silu(x), F.relu(x), lib.nn.GELU()(x), lib.nn.LeakyReLU()(x), lib.nn.ELU()(x),
             lib.nn.SiLU()(x), lib.nn.Softplus()(x), lib.nn.Hardtanh()(x), lib.nn.LogSigmoid()(x),
             lib.nn.Softmax(dim=1)(x), lib.nn.LogSoftmax(dim=0)(x), lib.nn.Tanh()(x),
             lib.nn.Sigmoid()(x), lib.nn.ReLU()(x), lib.nn.Identity()(x),
             lib.nn.Flatten(0)(x)]
    return _weighted(lib, *terms), []


def reductions(lib, x):
    values, indices = x.topk(3, dim=1)
    low, low_at = x.topk(2, dim=0, largest=False)
    ordered, order = x.sort(dim=1, descending=True)
    terms = [x.prod(dim=1), (x / 2).prod(), x.cumsum(0), x.cumsum(dim=-1), x.var(dim=1),
             x.var(), x.var(0, correction=0), x.std(dim=0, keepdim=True), x.std(unbiased=False),
             x.norm(), x.norm(p=1, dim=1), x.norm(p=math.inf, dim=0), x.norm(3, dim=1),
             values, low, ordered, x.sort(dim=0)[0], lib.prod(x, 0), lib.cumsum(x, 1)]
    return _weighted(lib, *terms), [indices, low_at, order, x.argsort(dim=0),
                                    (x > 0).any(), (x > 0).all(dim=1), (x > -9).all(),
                                    (x > 1).any(dim=0, keepdim=True)]


def indexing(lib, x, s):
    index = lib.tensor(np.array([[0, 2, 2], [3, 1, 0], [1, 1, 3]]))
    rows = lib.tensor(np.array([2, 0, 2]))
    mask = x > 0.3
    terms = [x.gather(1, index), x.scatter(0, index[:2], s[:2]), x.scatter_add(1, index, s),
             x.scatter(1, index[:, :1], 0.5), x.index_select(0, rows), x.index_select(1, rows),
             x.masked_fill(mask, -1.5), x.narrow(1, 1, 2), x.narrow(0, -2, 2), x.flip(0),
             x.flip(0, 1), x.roll(2, 1), x.roll(1), x.roll((1, -1), (0, 1)), x.repeat(2, 1, 2),
             x.tile((2,)), x.t(), x.triu(1), x.tril(-1), x.t().contiguous(), x.view_as(x),
             x.reshape_as(x.t()), lib.gather(x, 0, index), lib.masked_fill(x, ~mask, 2.0)]
    return _weighted(lib, *terms), [mask]


def in_place_family(lib, x, s):
    index = lib.tensor(np.array([[0, 2, 2], [3, 1, 0], [1, 1, 3]]))
    z = x * 1.5
    z.masked_fill_(x < -0.5, 0.25)
    z.scatter_add_(1, index, s)
    z.scatter_(0, index[:1], s[:1] * 2)
    w = x * 1.0
    w.clamp_(max=1.2)
    w.relu_()
    return _weighted(lib, z, w), [z, w]


def products(lib, q, k, v, m):
    terms = [lib.einsum("bqd,bkd->bqk", q, k), lib.einsum("bqk,bkd->bqd", q @ k.transpose(1, 2), v),
             lib.einsum("bij,bjk", q, k.transpose(1, 2)), lib.einsum("ij,j->i", m, v[0, 0]),
             lib.einsum("...ij,...jk->...ik", q, k.transpose(1, 2)),
             lib.einsum("bqd,bqd->bq", q, q), lib.einsum("bqd->", q),
             lib.einsum("bqd,ed->bqe", [q, m]), lib.mm(m, m.t()), lib.bmm(q, k.transpose(1, 2)),
             lib.matmul(q, m.t())]
    return _weighted(lib, *terms), []


def pads_and_norms(lib, x, y):
    F = lib.nn.functional
    terms = [F.pad(x, (1, 2)), F.pad(x, (1, -1, 0, 2), value=0.5), F.pad(x, (0, 0, 2, 1)),
             F.normalize(x), F.normalize(x, p=1.0, dim=0), F.cosine_similarity(x, y),
             F.cosine_similarity(x[:1], y, dim=1), F.cosine_similarity(x, y, dim=0)]
    return _weighted(lib, *terms), []


def losses(lib, x, y, p, logits3):
    F = lib.nn.functional
    targets = lib.tensor(np.array([1, 0, 3, 2, 3]))
    ignored = lib.tensor(np.array([1, -100, 3, 2, -100]))
    weight = lib.tensor(np.array([0.2, 1.0, 1.7, 0.6]), dtype=lib.float64)
    probs = p.softmax(dim=1)
    targets3 = lib.tensor(np.array([[0, 2, 1], [3, 3, 0]]))
    bce_target = lib.tensor(np.array([[1.0, 0.0, 0.3, 1.0]] * 5), dtype=lib.float64)
    pos_weight = lib.tensor(np.array([0.5, 2.0, 1.0, 3.0]), dtype=lib.float64)
    terms = [
        F.nll_loss(x.log_softmax(1), targets), F.nll_loss(x.log_softmax(1), ignored, weight=weight),
        F.nll_loss(x.log_softmax(1), targets, reduction="none"),
        F.cross_entropy(x, targets, weight=weight), F.cross_entropy(x, ignored, weight=weight),
        F.cross_entropy(x, targets, label_smoothing=0.1),
        F.cross_entropy(x, ignored, weight=weight, label_smoothing=0.25),
        F.cross_entropy(x, ignored, label_smoothing=0.2, reduction="sum"),
        F.cross_entropy(x, targets, weight=weight, label_smoothing=0.3, reduction="none"),
        F.cross_entropy(x, probs), F.cross_entropy(x, probs, weight=weight, label_smoothing=0.1),
        F.cross_entropy(x, probs, reduction="none"),
        F.cross_entropy(logits3, targets3), F.cross_entropy(logits3, targets3, label_smoothing=0.1),
        F.l1_loss(x, y), F.l1_loss(x, y, reduction="sum"), F.smooth_l1_loss(x, y),
        F.smooth_l1_loss(x, y, beta=0.5, reduction="none"), F.huber_loss(x, y, delta=0.7),
        F.huber_loss(x, y, reduction="sum"), F.mse_loss(x, y, reduction="none"),
        F.binary_cross_entropy(x.sigmoid(), bce_target),
        F.binary_cross_entropy(y.sigmoid(), probs, weight=weight, reduction="sum"),
        F.binary_cross_entropy_with_logits(x, bce_target, pos_weight=pos_weight),
        F.binary_cross_entropy_with_logits(x, probs, weight=weight, reduction="none"),
        F.kl_div(x.log_softmax(1), probs, reduction="batchmean"),
        F.kl_div(x.log_softmax(1), probs.log(), reduction="sum", log_target=True),
        F.kl_div(x.log_softmax(1), bce_target, reduction="mean"),
        lib.nn.CrossEntropyLoss(weight=weight, label_smoothing=0.05)(x, targets),
        lib.nn.NLLLoss(ignore_index=3)(x.log_softmax(1), targets), lib.nn.L1Loss()(x, y),
        lib.nn.SmoothL1Loss(beta=2.0)(x, y), lib.nn.HuberLoss(delta=0.5)(x, y),
        lib.nn.BCELoss()(x.sigmoid(), bce_target), lib.nn.MSELoss(reduction="sum")(x, y),
        lib.nn.BCEWithLogitsLoss(pos_weight=pos_weight)(x, bce_target),
        lib.nn.KLDivLoss(reduction="batchmean")(x.log_softmax(1), probs)]
    return _weighted(lib, *terms), []


def creation_and_dtypes(lib, x):
    extras = [lib.eye(3), lib.eye(2, 4, dtype=lib.float64), lib.linspace(0, 1, 5),
              lib.arange(0, 1, 0.25), lib.arange(5), lib.full_like(x, 7), lib.zeros(2, dtype=lib.long),
              lib.ones(2, 3, dtype=lib.bool), lib.empty(2).fill_(3.0), lib.zeros_like(x, dtype=lib.int),
              x.float(), x.double(), x.int(), x.long(), x.bool(), x.type(lib.float32),
              x.to(lib.float32), x.to("cpu"), x.to("cpu", lib.int64), x.new_zeros(2, 2),
              x.new_ones((3,)), x.new_full((2,), 4.5), x.new_tensor([1, 2]),
              lib.as_tensor(np.array([1.5, 2.5])), lib.from_numpy(np.arange(3)),
              lib.tensor([1, 2], dtype=lib.int32), lib.tensor([[True], [False]]), x.type_as(x.int()),
              lib.clamp(x, min=-0.5), x.clamp(min=x * 0.5, max=x * 0 + 1)]
    return (x.double() * 2).sum() + x.clamp(min=x * 0.5, max=x * 0 + 1).sum(), extras


CASES = {
    "unary_math": (unary_math, [(3, 4)]),
    "activations": (activations, [(3, 5)]),
    "reductions": (reductions, [(4, 5)]),
    "indexing": (indexing, [(4, 4), (3, 3)]),
    "in_place_family": (in_place_family, [(4, 4), (3, 3)]),
    "products": (products, [(2, 3, 4), (2, 5, 4), (2, 5, 4), (4, 4)]),
    "pads_and_norms": (pads_and_norms, [(3, 4), (3, 4)]),
    "losses": (losses, [(5, 4), (5, 4), (5, 4), (2, 4, 3)]),
    "creation_and_dtypes": (creation_and_dtypes, [(4,)]),
}


if __name__ == "__main__":
    golden.write(CASES, FIXTURES)
