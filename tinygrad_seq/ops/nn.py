"""Ops of neural-network layers: dropout, embedding lookup, losses."""
import numpy as np

from ..kernels import backend
from .base import _Op


class Dropout(_Op):
    """out = a * mask (mask holds 0 or 1/(1-p));  da = g * mask"""
    def forward(self, a, mask):
        self.save_for_backward(mask)
        return a * mask

    def backward(self, g):
        (mask,) = self.saved
        return g * mask


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


class BinaryCrossEntropyWithLogits(_Op):
    """loss = max(x, 0) - x*t + log(1 + e^-|x|);  dx = g * (sigmoid(x) - t), dt = -g * x"""
    op = "binary_cross_entropy_with_logits"

    def forward(self, x, t):
        self.save_for_backward(x, t)
        return np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))

    def backward(self, g):
        x, t = self.saved
        e = np.exp(-np.abs(x))
        sig = np.where(x >= 0, 1, e) / (1 + e)
        return g * (sig - t), (-g * x if self.needs(1) else None)
