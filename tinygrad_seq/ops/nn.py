"""Ops of neural-network layers: dropout, embedding lookup, losses."""
import numpy as np

from ..kernels import backend
from .base import _Op


class Dropout(_Op):
    """out = a * m, m = 1/(1-p) where kept, else 0;  da = g * m (the mask is a function of
    `key`, kernels.backend.dropout, recomputed in backward rather than kept)"""
    def forward(self, a, key, threshold, scale):
        self.keyed = key, threshold, scale   # all backward needs to draw the same mask
        return backend.dropout(a, key, threshold, scale)

    def backward(self, g):
        return backend.dropout(g, *self.keyed)


class Embedding(_Op):
    """out = weight[indices];  dweight = g rows added into the rows they came from"""
    def forward(self, weight, indices, padding_idx=None):
        self.save_for_backward(indices)
        self.padding_idx = padding_idx
        return weight[indices]

    def backward(self, g):
        (indices,) = self.saved
        dweight = backend.embedding_backward(indices, g, self.in_shapes[0][0])
        if self.padding_idx is not None:
            dweight[self.padding_idx] = 0
        return dweight, None


class CrossEntropy(_Op):
    """loss_i = logsumexp(x_i) - x_i[t_i];  dx_i = g_i * (softmax(x_i) - onehot(t_i))

    logits (N, C) with targets (N,), or (C,) with a scalar target; targets equal to
    ignore_index add nothing and are left out of the mean.
    """
    op = "cross_entropy"

    def forward(self, logits, target, ignore_index=-100, reduction="mean"):
        classes = logits.shape[-1]
        t = target.reshape(-1)
        losses, probs = backend.cross_entropy_forward(logits.reshape(-1, classes), t,
                                                      ignore_index)
        self.save_for_backward(probs, t)
        self.ignore_index, self.reduction = ignore_index, reduction
        self.count = int(np.count_nonzero(t != ignore_index))
        if reduction == "none":
            return losses.reshape(target.shape)
        total = losses.sum()
        return np.asarray(total / self.count if reduction == "mean" else total,
                          dtype=logits.dtype)

    def backward(self, g):
        probs, t = self.saved
        # the gradient of each row's loss: g itself ("none"), or g shared by all rows
        scale = g.reshape(-1) if self.reduction == "none" else \
            g / self.count if self.reduction == "mean" else g
        dx = backend.cross_entropy_backward(probs, t, self.ignore_index, scale)
        return dx.reshape(self.in_shapes[0]), None


class NLLLoss(_Op):
    """loss_i = -w[t_i] x_i[t_i] (w = 0 where t_i = ignore_index);  dx_i[t_i] = -g_i w[t_i]

    log-probabilities x (M, C) with targets t (M,); the mean divides by the sum of the w[t_i],
    as PyTorch does. The class weights w are a constant (PyTorch gives them no gradient).
    """
    op = "nll_loss"

    def forward(self, x, target, weight=None, ignore_index=-100, reduction="mean"):
        losses, w = backend.nll_loss_forward(x, target, weight, ignore_index)
        self.save_for_backward(target, w)
        self.ignore_index, self.reduction = ignore_index, reduction
        if reduction == "none":
            return losses
        total = losses.sum()
        if reduction == "mean":
            self.total_weight = w.sum()
            total = _divide(total, self.total_weight)
        return np.asarray(total, dtype=x.dtype)

    def backward(self, g):
        target, w = self.saved
        if self.reduction == "mean" and not self.total_weight:
            # every target ignored (PyTorch's gradient: 0), or class weights that add up to 0
            # (+-inf where a weight is not 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.where(w != 0, -w * (g / self.total_weight), 0)
        else:
            values = -w * (g / self.total_weight if self.reduction == "mean" else g)
        dx = backend.nll_loss_backward(target, self.ignore_index, values, self.in_shapes[0][1])
        return dx, None


def _divide(a, b):
    """a / b, b possibly 0: nan for 0 / 0 (a mean over no targets), +-inf else, as PyTorch
    gives them (without numpy's warning)."""
    if b:
        return a / b
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / b


class BinaryCrossEntropyWithLogits(_Op):
    """loss = (1 - t) x + w softplus(-x), w = 1 + (pos_weight - 1) t (stable at any x);
    dx = g * (w sigmoid(x) - pos_weight t), dt = g * ((pos_weight - 1) softplus(-x) - x)"""
    op = "binary_cross_entropy_with_logits"

    def forward(self, x, t, pos_weight=None):
        self.pos_weight = 1 if pos_weight is None else pos_weight
        softplus_neg = np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))
        self.save_for_backward(x, t, softplus_neg)
        w = 1 + (self.pos_weight - 1) * t
        return (1 - t) * x + w * softplus_neg

    def backward(self, g):
        x, t, softplus_neg = self.saved
        p = self.pos_weight
        e = np.exp(-np.abs(x))
        sig = np.where(x >= 0, 1, e) / (1 + e)
        dx = g * ((1 + (p - 1) * t) * sig - p * t)
        dt = g * ((p - 1) * softplus_neg - x) if self.needs(1) else None
        return dx, dt


class BinaryCrossEntropy(_Op):
    """loss = -(t log(x) + (1 - t) log(1 - x)), each log clamped at -100 (as PyTorch);
    dx = g (x - t) / max(x (1 - x), 1e-12), dt = g (log(1 - x) - log(x))"""
    op = "binary_cross_entropy"

    def forward(self, x, t):
        with np.errstate(divide="ignore"):
            log_x, log_1mx = np.maximum(np.log(x), -100), np.maximum(np.log1p(-x), -100)
        self.save_for_backward(x, t, log_x, log_1mx)
        return -(t * log_x + (1 - t) * log_1mx)

    def backward(self, g):
        x, t, log_x, log_1mx = self.saved
        dx = g * (x - t) / np.maximum(x * (1 - x), 1e-12)
        dt = g * (log_1mx - log_x) if self.needs(1) else None
        return dx, dt
