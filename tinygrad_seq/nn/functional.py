"""Functions on tensors that models use: activations, losses, padding and norms, dropout,
embedding lookup, one-hot. Names, arguments and defaults follow torch.nn.functional.
"""
import math

import numpy as np

from .. import ops
from ..autograd import is_grad_enabled
from ..functions import where
from ..generator import rng
from ..tensor import Tensor, _operands

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(loss, reduction):
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


# ------------------------------------------------------------------------------ activations
def relu(input, inplace=False):
    return input.relu_() if inplace else input.relu()


def tanh(input):
    return input.tanh()


def sigmoid(input):
    return input.sigmoid()


def softmax(input, dim=-1):
    return input.softmax(dim)


def log_softmax(input, dim=-1):
    return input.log_softmax(dim)


def gelu(input, approximate="none"):
    """x * Phi(x) (Phi the normal CDF), or with approximate="tanh" Hendrycks & Gimpel's tanh
    approximation of it."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return ops.Gelu.apply(_float("gelu", input), approximate=approximate)


def leaky_relu(input, negative_slope=0.01):
    return ops.LeakyRelu.apply(_float("leaky_relu", input), negative_slope=negative_slope)


def elu(input, alpha=1.0):
    return ops.Elu.apply(_float("elu", input), alpha=alpha)


def softplus(input, beta=1.0, threshold=20.0):
    return ops.Softplus.apply(_float("softplus", input), beta=beta, threshold=threshold)


def logsigmoid(input):
    return ops.LogSigmoid.apply(_float("logsigmoid", input))


def hardtanh(input, min_val=-1.0, max_val=1.0):
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} is above max_val {max_val}")
    return ops.Hardtanh.apply(_float("hardtanh", input), min_val=min_val, max_val=max_val)


def silu(input):
    return ops.Silu.apply(_float("silu", input))


def _float(op, input):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got {input.dtype}")
    return input


# ------------------------------------------------------------------------------ shapes, norms
def pad(input, pad, mode="constant", value=None):
    """Pad with `value` (0 by default): pad = (left, right) for the last dim, then (top,
    bottom) for the one before, ...; negative amounts crop. Only mode="constant"."""
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not supported (only 'constant')")
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: expected pairs (before, after) for at most {input.ndim} dims, "
                         f"got {pad}")
    before, after = [0] * input.ndim, [0] * input.ndim
    for k in range(len(pad) // 2):
        before[input.ndim - 1 - k], after[input.ndim - 1 - k] = pad[2 * k], pad[2 * k + 1]
    return ops.Pad.apply(input, before=tuple(before), after=tuple(after),
                         value=0.0 if value is None else value)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input / max(||input||_p along dim, eps)"""
    return input / input.norm(p, dim, keepdim=True).clamp_min(eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along dim (broadcasting)."""
    x1, x2 = _operands("cosine_similarity", x1, x2)
    n1 = x1.norm(dim=dim, keepdim=True).clamp_min(eps)
    n2 = x2.norm(dim=dim, keepdim=True).clamp_min(eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


# ------------------------------------------------------------------------------ losses
def _deprecated(op, size_average, reduce):
    if size_average is not None or reduce is not None:
        raise TypeError(f"{op}: size_average and reduce are PyTorch's deprecated arguments; use "
                        f"reduction='mean', 'sum' or 'none'")


def _class_targets(op, input, target):
    """Check class-index targets; give the logits as (M, C) rows (classes last) and the
    targets as an int array of M, with the target's shape to give 'none' results back. (The
    targets' range is checked by the losses' kernels, in the same pass as the loss.)"""
    target = target if isinstance(target, Tensor) else Tensor(np.asarray(target))
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got {target.dtype} "
                        f"(class probabilities need a float target of the input's shape)")
    if input.ndim == 1:
        fits = target.ndim == 0
    else:
        fits = input.ndim >= 2 and target.shape == input.shape[:1] + input.shape[2:]
    if not fits:
        raise ValueError(f"{op}: input {input.shape} and target {target.shape} do not fit; "
                         f"expected input (N, C) with target (N,), input (C,) with a scalar "
                         f"target, or input (N, C, d1, ...) with target (N, d1, ...)")
    classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    t = target.array
    if input.ndim > 2:  # classes to the last axis: (N, C, d...) -> (N, d..., C)
        input = input.permute(0, *range(2, input.ndim), 1)
    rows = input if input.ndim == 2 else input.reshape(-1, classes)
    return rows, t.reshape(-1), target.shape


def _check_weight(op, weight, classes, dtype):
    if weight is None:
        return None
    if not isinstance(weight, Tensor) or weight.shape != (classes,):
        raise ValueError(f"{op}: weight must be a Tensor of shape ({classes},), one per class, "
                         f"got {getattr(weight, 'shape', type(weight).__name__)}")
    return weight if weight.dtype == dtype else weight.to(dtype)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """-weight[t] * input[t] for log-probabilities input and class targets t; the mean is
    weighted: divided by the sum of the weights of the targets not ignored (as PyTorch)."""
    _deprecated("nll_loss", size_average, reduce)
    _check_reduction("nll_loss", reduction)
    rows, t, shape = _class_targets("nll_loss", input, target)
    weight = _check_weight("nll_loss", weight, rows.shape[1], rows.dtype)
    if weight is not None and weight.requires_grad and is_grad_enabled():
        raise RuntimeError("nll_loss: the class weights get no gradient (as in PyTorch, whose "
                           "nll_loss has no derivative for weight); pass weight.detach()")
    losses = ops.NLLLoss.apply(rows, Tensor._make(t, None, 0),
                               weight=None if weight is None else weight.array,
                               ignore_index=ignore_index, reduction=reduction)
    return losses.reshape(shape) if reduction == "none" and shape != losses.shape else losses


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of logits against class indices (input (N, C) with target (N,),
    (C,) with a scalar, or (N, C, d1, ...) with (N, d1, ...)) or against class probabilities
    (a float target of the input's shape), with PyTorch's weight, ignore_index and
    label_smoothing. The plain case is one stable fused op."""
    _deprecated("cross_entropy", size_average, reduce)
    _check_reduction("cross_entropy", reduction)
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    if isinstance(target, Tensor) and target.dtype.kind == "f":
        return _cross_entropy_probabilities(input, target, weight, reduction, label_smoothing)
    if weight is not None or label_smoothing:
        return _cross_entropy_composed(input, target, weight, ignore_index, reduction,
                                       label_smoothing)
    rows, t, shape = _class_targets("cross_entropy", input, target)
    loss = ops.CrossEntropy.apply(rows, Tensor._make(t, None, 0), ignore_index=ignore_index,
                                  reduction=reduction)
    return loss.reshape(shape) if reduction == "none" else loss


def _cross_entropy_composed(input, target, weight, ignore_index, reduction, smoothing):
    """(1 - e) nll(log_softmax(x)) + e/C * sum_c -w_c log_softmax(x)_c, PyTorch's formula."""
    rows, t, shape = _class_targets("cross_entropy", input, target)
    classes = rows.shape[1]
    weight = _check_weight("cross_entropy", weight, classes, rows.dtype)
    logp = rows.log_softmax(-1)
    nll = nll_loss(logp, Tensor._make(t, None, 0), weight, ignore_index=ignore_index,
                   reduction=reduction)
    if not smoothing:
        return nll.reshape(shape) if reduction == "none" else nll
    valid = t != ignore_index
    keep = Tensor._make(valid.astype(rows.dtype), None, 0)
    smooth = -((logp if weight is None else logp * weight).sum(-1)) * keep
    if reduction == "none":
        total = smooth
    elif reduction == "sum":
        total = smooth.sum()
    else:
        total = smooth.sum() / (keep.sum() if weight is None else weight[t[valid]].sum())
    loss = nll * (1 - smoothing) + total * (smoothing / classes)
    return loss.reshape(shape) if reduction == "none" else loss


def _cross_entropy_probabilities(input, target, weight, reduction, smoothing):
    """-sum_c w_c p_c log_softmax(x)_c for target probabilities p (PyTorch's soft targets);
    the mean is over the rows, unweighted."""
    if target.shape != input.shape:
        raise ValueError(f"cross_entropy: class probabilities must have the input's shape "
                         f"{input.shape}, got {target.shape}")
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    _, target = _operands("cross_entropy", input, target)
    if smoothing:
        target = target * (1 - smoothing) + smoothing / classes
    logp = input.log_softmax(class_dim) * target
    weight = _check_weight("cross_entropy", weight, classes, input.dtype)
    if weight is not None:
        logp = logp * weight.reshape((classes,) + (1,) * (input.ndim - class_dim - 1))
    losses = -logp.sum(class_dim)
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.sum() / (input.numel() / classes)


def _same_shape(op, input, target):
    if not isinstance(target, Tensor) or input.shape != target.shape:
        raise ValueError(f"{op}: input {input.shape} and target "
                         f"{getattr(target, 'shape', type(target).__name__)} must have the same "
                         f"shape (broadcasting them is almost always a bug)")
    return _operands(op, input, target)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """mean((input - target)^2); shapes must be equal (no silent broadcasting)."""
    _deprecated("mse_loss", size_average, reduce)
    _check_reduction("mse_loss", reduction)
    input, target = _same_shape("mse_loss", input, target)
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """mean(|input - target|)"""
    _deprecated("l1_loss", size_average, reduce)
    _check_reduction("l1_loss", reduction)
    input, target = _same_shape("l1_loss", input, target)
    return _reduce((input - target).abs(), reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target)"""
    _deprecated("smooth_l1_loss", size_average, reduce)
    _check_reduction("smooth_l1_loss", reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    input, target = _same_shape("smooth_l1_loss", input, target)
    d = input - target
    if beta == 0:
        return _reduce(d.abs(), reduction)
    size = d.abs()
    return _reduce(where(size < beta, 0.5 * d * d / beta, size - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (d = input - target)"""
    _check_reduction("huber_loss", reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    input, target = _same_shape("huber_loss", input, target)
    d = input - target
    size = d.abs()
    return _reduce(where(size < delta, 0.5 * d * d, delta * (size - 0.5 * delta)), reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-w (t log x + (1 - t) log(1 - x)) for probabilities x, each log clamped at -100."""
    _deprecated("binary_cross_entropy", size_average, reduce)
    _check_reduction("binary_cross_entropy", reduction)
    input, target = _same_shape("binary_cross_entropy", input, target)
    x = input.array
    if x.size and (np.nanmin(x) < 0 or np.nanmax(x) > 1):
        raise ValueError(f"binary_cross_entropy: input must hold probabilities in [0, 1], got "
                         f"values from {np.nanmin(x):.4g} to {np.nanmax(x):.4g} (for logits, "
                         f"use binary_cross_entropy_with_logits)")
    loss = ops.BinaryCrossEntropy.apply(input, target)
    return _reduce(loss if weight is None else loss * weight, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """-w [p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], computed stably from the logits x;
    pos_weight p weighs the positive term (broadcast over the last dim, one per class)."""
    _deprecated("binary_cross_entropy_with_logits", size_average, reduce)
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    input, target = _same_shape("binary_cross_entropy_with_logits", input, target)
    if pos_weight is not None:
        pos_weight = np.asarray(getattr(pos_weight, "array", pos_weight), dtype=input.dtype)
    loss = ops.BinaryCrossEntropyWithLogits.apply(input, target, pos_weight=pos_weight)
    return _reduce(loss if weight is None else loss * weight, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """target * (log target - input) for log-probabilities input (0 where target is 0);
    log_target: exp(target) * (target - input). reduction="batchmean" divides the sum by the
    batch size (the true KL divergence per sample); "mean" by the number of elements."""
    _deprecated("kl_div", size_average, reduce)
    if reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"kl_div: reduction must be one of {_REDUCTIONS + ('batchmean',)}, "
                         f"got {reduction!r}")
    input, target = _same_shape("kl_div", input, target)
    if log_target:
        losses = target.exp() * (target - input)
    else:
        positive = target > 0
        xlogx = target * where(positive, target, 1.0).log()     # 0 log 0 = 0, and its slope 0
        losses = xlogx - target * input
    if reduction == "batchmean":
        return losses.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(losses, reduction)


def dropout(input, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p) (in training)."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return input
    if input.dtype.kind != "f":
        raise TypeError(f"dropout: expected a floating-point input, got {input.dtype} of shape "
                        f"{input.shape}")
    # one draw from the generator keys the mask (ops.Dropout); kept elements are scaled by
    # 1 / (1 - p), computed in the input's dtype as PyTorch does
    dtype = input.dtype.type
    key = int(rng().integers(2 ** 64, dtype=np.uint64))
    return ops.Dropout.apply(input, key=key, threshold=math.ceil(p * 2 ** 53),
                             scale=0.0 if p == 1 else dtype(1) / dtype(1 - p))


def _described(operands):
    names = ("input", "weight", "bias")
    return ", ".join(f"{name} {t.shape} {t.dtype}" for name, t in zip(names, operands))


def linear(input, weight, bias=None):
    """input @ weight.T + bias as one node: input (..., in), weight (out, in), bias (out,).

    An integer or bool input takes the weight's float dtype, as `input @ weight.T` would.
    """
    operands = (input, weight) if bias is None else (input, weight, bias)
    if not (isinstance(input, Tensor) and isinstance(weight, Tensor) and
            (bias is None or isinstance(bias, Tensor))):
        raise TypeError("linear: expected Tensors; got "
                        + ", ".join(type(t).__name__ for t in operands))
    x, w = input.array, weight.array      # (the arrays: this runs for every layer call)
    if x.dtype.kind in "iub" and w.dtype.kind == "f":
        input = input.to(w.dtype)
        operands, x = (input,) + operands[1:], input.array
    if w.dtype.kind != "f" or x.dtype != w.dtype or (
            bias is not None and bias.array.dtype != w.dtype):
        raise TypeError(f"linear: expected floating-point tensors of one dtype; got "
                        f"{_described(operands)}")
    if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1] or (
            bias is not None and bias.array.shape != w.shape[:1]):
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


# ------------------------------------------------------------------------------ attention
# written in attention.py beside the modules built on it; imported here last, as torch's F has it
from .attention import scaled_dot_product_attention  # noqa: E402,F401
