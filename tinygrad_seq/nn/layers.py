"""Feed-forward layers: Linear, Embedding, Dropout, LayerNorm, Sequential."""
import math

import numpy as np

from ..generator import rng
from ..tensor import Tensor, get_default_dtype
from . import functional as F
from .module import Module, Parameter


def uniform_parameter(bound, shape, dtype=None):
    """A Parameter drawn from U(-bound, bound), PyTorch's default for Linear and RNN weights."""
    dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
    return Parameter(rng().uniform(-bound, bound, shape).astype(dtype))


class Linear(Module):
    """y = x W^T + b, with weight (out_features, in_features) and bias (out_features,)."""

    def __init__(self, in_features, out_features, bias=True, dtype=None):
        super().__init__()
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise ValueError(f"Linear: {name} must be a non-negative integer, got {n!r}")
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features) if in_features else 0.0
        self.weight = uniform_parameter(bound, (out_features, in_features), dtype)
        self.bias = uniform_parameter(bound, (out_features,), dtype) if bias else None

    def forward(self, x):
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear: expected input (..., {self.in_features}), got {x.shape}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """Rows of weight (num_embeddings, embedding_dim) looked up by integer indices; the row at
    padding_idx starts at zero and gets no gradient. `_weight` (as in PyTorch) is a tensor to
    use as the weight itself, untouched; `Embedding.from_pretrained` is the way to pass one."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=None,
                 _weight=None, _freeze=False):
        super().__init__()
        dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                 f"{num_embeddings} embeddings")
            padding_idx %= num_embeddings
        if _weight is None:
            weight = rng().standard_normal((num_embeddings, embedding_dim)).astype(dtype)
            if padding_idx is not None:
                weight[padding_idx] = 0
            self.weight = Parameter(weight, requires_grad=not _freeze)
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(_weight.shape)}, expected "
                                 f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight, requires_grad=not _freeze)
        self.num_embeddings, self.embedding_dim, self.padding_idx = (
            num_embeddings, embedding_dim, padding_idx)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        """An Embedding whose weight is `embeddings` (num_embeddings, embedding_dim), sharing
        its memory as in PyTorch (a numpy array is copied); frozen (no gradient) unless
        freeze=False. The padding_idx row is left as given."""
        if not isinstance(embeddings, Tensor):
            embeddings = Tensor(embeddings)
        if embeddings.ndim != 2 or embeddings.dtype.kind != "f":
            raise ValueError(f"Embedding.from_pretrained: embeddings must be a 2-D float tensor "
                             f"(num_embeddings, embedding_dim), got shape {embeddings.shape} "
                             f"{embeddings.dtype}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx=padding_idx, dtype=embeddings.dtype,
                   _weight=embeddings, _freeze=freeze)

    def forward(self, indices):
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self):
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class Dropout(Module):
    """Zero elements with probability p in training (scaling the rest by 1/(1-p)); identity in eval."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class LayerNorm(Module):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last len(normalized_shape) dims."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
            normalized_shape)
        dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
        self.normalized_shape, self.eps = shape, eps
        if elementwise_affine:
            self.weight = Parameter(np.ones(shape, dtype))
            self.bias = Parameter(np.zeros(shape, dtype))
        else:
            self.weight = self.bias = None

    def forward(self, x):
        if x.shape[-len(self.normalized_shape):] != self.normalized_shape:
            raise ValueError(f"LayerNorm: expected input (..., {', '.join(map(str, self.normalized_shape))}), "
                             f"got {x.shape}")
        dims = tuple(range(-len(self.normalized_shape), 0))
        centered = x - x.mean(dim=dims, keepdim=True)
        var = (centered * centered).mean(dim=dims, keepdim=True)
        y = centered / (var + self.eps).sqrt()
        return y * self.weight + self.bias if self.weight is not None else y

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class Sequential(Module):
    """Modules applied one after the other; they are registered as "0", "1", ..."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)
