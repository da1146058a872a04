"""Functions on tensors that models use: losses, dropout, embedding lookup, one-hot.

Names and arguments follow torch.nn.functional.
"""
import numpy as np

from .. import ops
from ..generator import rng
from ..tensor import Tensor, _operands

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(loss, reduction):
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def relu(x):
    return x.relu()


def tanh(x):
    return x.tanh()


def sigmoid(x):
    return x.sigmoid()


def softmax(x, dim=-1):
    return x.softmax(dim)


def log_softmax(x, dim=-1):
    return x.log_softmax(dim)


def cross_entropy(input, target, ignore_index=-100, reduction="mean"):
    """Softmax cross-entropy of logits against integer class targets, in one stable op.

    input (N, C) with target (N,); input (C,) with a scalar target; or input (N, C, d1, ...)
    with target (N, d1, ...) as in PyTorch. Targets equal to `ignore_index` count for nothing
    and are left out of the mean.
    """
    _check_reduction("cross_entropy", reduction)
    target = target if isinstance(target, Tensor) else Tensor(np.asarray(target))
    if target.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: target must hold integer class indices, got "
                        f"{target.dtype} (for probabilities as targets, use "
                        f"-(p * x.log_softmax(-1)).sum(-1))")
    if input.ndim == 1:
        fits = target.ndim == 0
    else:
        fits = input.ndim >= 2 and target.shape == input.shape[:1] + input.shape[2:]
    if not fits:
        raise ValueError(f"cross_entropy: input {input.shape} and target {target.shape} do not "
                         f"fit; expected input (N, C) with target (N,), input (C,) with a scalar "
                         f"target, or input (N, C, d1, ...) with target (N, d1, ...)")
    classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    t = target.array
    bad = (t != ignore_index) & ((t < 0) | (t >= classes))
    if bad.any():
        raise IndexError(f"cross_entropy: target {t[bad].flat[0]} is out of range for "
                         f"{classes} classes (and is not ignore_index={ignore_index})")
    if input.ndim > 2:  # classes to the last axis: (N, C, d...) -> (N, d..., C)
        input = input.permute(0, *range(2, input.ndim), 1)
    return ops.CrossEntropy.apply(input, target, ignore_index=ignore_index,
                                  reduction=reduction)


def mse_loss(input, target, reduction="mean"):
    """mean((input - target)^2); shapes must be equal (no silent broadcasting)."""
    _check_reduction("mse_loss", reduction)
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input {input.shape} and target {target.shape} differ; "
                         f"broadcasting them is almost always a bug, so reshape one to match")
    diff = input - target
    return _reduce(diff * diff, reduction)


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """-(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))), computed stably from the logits x."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    if input.shape != target.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: input {input.shape} and target "
                         f"{target.shape} must have the same shape")
    loss = ops.BinaryCrossEntropyWithLogits.apply(
        *_operands("binary_cross_entropy_with_logits", input, target))
    return _reduce(loss, reduction)


def dropout(input, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p) (in training)."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return input
    keep = rng().random(input.shape) >= p
    mask = keep.astype(input.dtype) / input.dtype.type(1 - p) if p < 1 else \
        np.zeros(input.shape, input.dtype)
    return ops.Dropout.apply(input, mask=mask)


def _described(operands):
    names = ("input", "weight", "bias")
    return ", ".join(f"{name} {t.shape} {t.dtype}" for name, t in zip(names, operands))


def linear(input, weight, bias=None):
    """input @ weight.T + bias as one node: input (..., in), weight (out, in), bias (out,).

    An integer or bool input takes the weight's float dtype, as `input @ weight.T` would.
    """
    operands = (input, weight) if bias is None else (input, weight, bias)
    if not all(isinstance(t, Tensor) for t in operands):
        raise TypeError("linear: expected Tensors; got "
                        + ", ".join(type(t).__name__ for t in operands))
    if input.dtype.kind in "iub" and weight.dtype.kind == "f":
        input = input.to(weight.dtype)
        operands = (input,) + operands[1:]
    if weight.dtype.kind != "f" or input.dtype != weight.dtype or (
            bias is not None and bias.dtype != weight.dtype):
        raise TypeError(f"linear: expected floating-point tensors of one dtype; got "
                        f"{_described(operands)}")
    if weight.ndim != 2 or input.ndim == 0 or input.shape[-1] != weight.shape[1] or (
            bias is not None and bias.shape != weight.shape[:1]):
        raise ValueError(f"linear: expected input (..., in_features), weight (out_features, "
                         f"in_features) and bias (out_features,); got {_described(operands)}")
    return ops.Linear.apply(*operands)


def embedding(input, weight, padding_idx=None):
    """Rows of `weight` (num_embeddings, dim) picked by the integer tensor `input`."""
    indices = input.array if isinstance(input, Tensor) else np.asarray(input)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= weight.shape[0]):
        raise IndexError(f"embedding: indices must be in [0, {weight.shape[0]}), got values "
                         f"from {indices.min()} to {indices.max()}")
    return ops.Embedding.apply(weight, Tensor._make(indices, None, 0), padding_idx=padding_idx)


def one_hot(tensor, num_classes=-1):
    """int64 tensor with a trailing axis of num_classes (not differentiable)."""
    indices = tensor.array if isinstance(tensor, Tensor) else np.asarray(tensor)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected integer class indices, got {indices.dtype}")
    if num_classes == -1:
        num_classes = int(indices.max()) + 1 if indices.size else 0
    if indices.size and (indices.min() < 0 or indices.max() >= num_classes):
        raise IndexError(f"one_hot: class values must be in [0, {num_classes}), got "
                         f"{indices.min()}..{indices.max()}")
    return Tensor._make(np.eye(num_classes, dtype=np.int64)[indices], None, 0)
