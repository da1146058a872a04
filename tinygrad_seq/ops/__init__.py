"""Primitive ops: each one forward and its backward side by side, on numpy arrays.

A docstring gives the formula: `g` is the gradient flowing into the op's output, `da` the
gradient it sends to input `a`. backward may return a gradient with the output's broadcast
shape; `autograd.unbroadcast` reduces it to the input's shape in one place. backward returns
None for an input that needs no gradient (`self.needs(i)` tells which do).

One module per family:
    elementwise   + - * / **, exp, log, tanh, sigmoid, relu, ... (one input or broadcast pairs)
    matmul        a @ b, linear (x W^T + b), einsum
    reduce        sum, mean, max/min, logsumexp, softmax, ...
    shape         reshape, permute, expand, indexing, cat, stack, split, ...
    activation    gelu, leaky_relu, elu, softplus, logsigmoid, hardtanh, silu
    index         gather, scatter, scatter_add
    nn            dropout, embedding, losses
"""
from .activation import Elu, Gelu, Hardtanh, LeakyRelu, LogSigmoid, Silu, Softplus
from .base import _axis, _normalize_dims
from .elementwise import (Abs, Add, Cast, Ceil, Clamp, Clone, Cos, Div, Erf, Exp, Expm1, Floor,
                          Log, Log1p, Maximum, Minimum, Mul, Neg, Pow, PowTensor, Relu, Round,
                          Rsqrt, Sigmoid, Sign, Sin, Sqrt, Sub, Tanh, Where)
from .index import Gather, Scatter, ScatterAdd
from .matmul import Einsum, Linear, Matmul
from .nn import (BinaryCrossEntropy, BinaryCrossEntropyWithLogits, CrossEntropy, Dropout,
                 Embedding, NLLLoss)
from .reduce import (Cumsum, LogSoftmax, LogSumExp, Max, MaxAlong, Mean, Min, MinAlong, Norm,
                     Prod, Softmax, Sum, TakeAlong)
from .shape import (Cat, Expand, Flip, GetItem, Pad, Permute, Repeat, Reshape, Roll, SetItem,
                    Split, Stack, Tril, Triu)
