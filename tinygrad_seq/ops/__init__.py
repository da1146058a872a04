"""Primitive ops: each one forward and its backward side by side, on numpy arrays.

A docstring gives the formula: `g` is the gradient flowing into the op's output, `da` the
gradient it sends to input `a`. backward may return a gradient with the output's broadcast
shape; `autograd.unbroadcast` reduces it to the input's shape in one place. backward returns
None for an input that needs no gradient (`self.needs(i)` tells which do).

One module per family:
    elementwise   + - * / **, exp, log, tanh, sigmoid, relu, ... (one input or broadcast pairs)
    matmul        a @ b and linear (x W^T + b)
    reduce        sum, mean, max/min, logsumexp, softmax, ...
    shape         reshape, permute, expand, indexing, cat, stack, split, ...
    nn            dropout, embedding, losses
"""
from .base import _axis, _normalize_dims
from .elementwise import (Add, Sub, Mul, Div, Neg, Pow, PowTensor, Exp, Log, Sqrt, Tanh, Sigmoid,
                          Relu, Abs, Maximum, Minimum, Where, Clamp, Clone, Cast)
from .matmul import Linear, Matmul
from .reduce import (Sum, Mean, TakeAlong, MaxAlong, MinAlong, Max, Min, LogSumExp, Softmax,
                     LogSoftmax)
from .shape import Reshape, Permute, Expand, GetItem, SetItem, Cat, Stack, Split
from .nn import Dropout, Embedding, CrossEntropy, BinaryCrossEntropyWithLogits
