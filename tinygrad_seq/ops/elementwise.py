"""Element-wise ops: arithmetic, powers, exp/log, activations, max/min, where, casts."""
import math

import numpy as np

from ..kernels import backend
from .base import _Op


class Add(_Op):
    """out = a + b;  da = g, db = g"""
    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(_Op):
    """out = a - b;  da = g, db = -g"""
    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, -g


class Mul(_Op):
    """out = a * b;  da = g * b, db = g * a"""
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, g):
        a, b = self.saved
        return (g * b if self.needs(0) else None), (g * a if self.needs(1) else None)


class Div(_Op):
    """out = a / b;  da = g / b, db = -g * a / b^2"""
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, g):
        a, b = self.saved
        da = g / b if self.needs(0) else None
        db = -g * a / (b * b) if self.needs(1) else None
        return da, db


class Neg(_Op):
    """out = -a;  da = -g"""
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


def _power(a, p):
    """a ** p, with PyTorch's products for the common exponents (numpy's pow for x^3 is ~20x
    slower than x * x * x, and PyTorch computes these as products too)"""
    if a.dtype.kind != "f":             # integers: numpy's pow, which refuses negative powers
        return a ** p
    if p == 1:
        return a.copy()
    if p == 2:
        return a * a
    if p == 3:
        return a * a * a
    if p == -1:
        return 1 / a
    if p == -2:
        return 1 / (a * a)
    if p == 0.5:
        return np.sqrt(a)
    return a ** p


class Pow(_Op):
    """out = a ** p (p a Python number);  da = g * p * a^(p-1), and 0 when p = 0"""
    def forward(self, a, exponent):
        self.exponent = exponent
        self.save_for_backward(a)
        return _power(a, exponent)

    def backward(self, g):
        (a,) = self.saved
        if self.exponent == 0:          # a^0 = 1 everywhere, also at a = 0 (0 * 0^-1 is nan)
            return np.zeros(a.shape, g.dtype)
        return g * self.exponent * _power(a, self.exponent - 1)


class PowTensor(_Op):
    """out = a ** b;  da = g * b * a^(b-1) (0 where b = 0), db = g * out * log(a) (0 where
    a = 0 and b >= 0: the limit, as PyTorch takes it)"""
    op = "pow"

    def forward(self, a, b):
        out = a ** b
        self.save_for_backward(a, b, out)
        return out

    def backward(self, g):
        a, b, out = self.saved
        da = db = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.needs(0):
                da = np.where(b == 0, 0, g * b * a ** (b - 1))
            if self.needs(1):
                db = g * np.where((a == 0) & (b >= 0), 0, out * np.log(a))
        return da, db


class Exp(_Op):
    """out = e^a;  da = g * out"""
    def forward(self, a):
        out = np.exp(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return g * out


class Log(_Op):
    """out = ln a;  da = g / a"""
    def forward(self, a):
        self.save_for_backward(a)
        return np.log(a)

    def backward(self, g):
        (a,) = self.saved
        return g / a


class Sqrt(_Op):
    """out = sqrt(a);  da = g / (2 out)"""
    def forward(self, a):
        out = np.sqrt(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return g / (2 * out)


class Rsqrt(_Op):
    """out = 1 / sqrt(a);  da = -g * out^3 / 2"""
    def forward(self, a):
        out = 1 / np.sqrt(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return -0.5 * g * out * out * out


class Log1p(_Op):
    """out = ln(1 + a) (accurate for small a);  da = g / (1 + a)"""
    def forward(self, a):
        self.save_for_backward(a)
        return np.log1p(a)

    def backward(self, g):
        (a,) = self.saved
        return g / (1 + a)


class Expm1(_Op):
    """out = e^a - 1 (accurate for small a);  da = g * (out + 1)"""
    def forward(self, a):
        out = np.expm1(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return g * (out + 1)


class Sin(_Op):
    """out = sin(a);  da = g * cos(a)"""
    def forward(self, a):
        self.save_for_backward(a)
        return np.sin(a)

    def backward(self, g):
        (a,) = self.saved
        return g * np.cos(a)


class Cos(_Op):
    """out = cos(a);  da = -g * sin(a)"""
    def forward(self, a):
        self.save_for_backward(a)
        return np.cos(a)

    def backward(self, g):
        (a,) = self.saved
        return -g * np.sin(a)


class Erf(_Op):
    """out = erf(a);  da = g * 2/sqrt(pi) * e^(-a^2)"""
    def forward(self, a):
        self.save_for_backward(a)
        return backend.erf(a)

    def backward(self, g):
        (a,) = self.saved
        return g * (2 / math.sqrt(math.pi)) * np.exp(-a * a)


class _Stepwise(_Op):
    """A piecewise-constant function: its gradient is zero (as PyTorch's), not missing, so a
    graph through it still runs backward."""
    def backward(self, g):
        return np.zeros(self.in_shapes[0], g.dtype)


class Sign(_Stepwise):
    """out = -1, 0 or 1 as a is negative, zero or positive;  da = 0"""
    def forward(self, a):
        return np.sign(a)


class Floor(_Stepwise):
    """out = the largest integer <= a;  da = 0"""
    def forward(self, a):
        return np.floor(a)


class Ceil(_Stepwise):
    """out = the smallest integer >= a;  da = 0"""
    def forward(self, a):
        return np.ceil(a)


class Round(_Stepwise):
    """out = a rounded to `decimals` places, halves to even (as PyTorch and numpy);  da = 0"""
    def forward(self, a, decimals=0):
        return np.round(a, decimals)


class Tanh(_Op):
    """out = tanh(a);  da = g * (1 - out^2)"""
    def forward(self, a):
        out = np.tanh(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return backend.tanh_backward(out, g)


class Sigmoid(_Op):
    """out = 1 / (1 + e^-a);  da = g * out * (1 - out)"""
    def forward(self, a):
        out = backend.sigmoid_forward(a)   # one pass; stable at any |a| (kernels/__init__.py)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return backend.sigmoid_backward(out, g)


class Relu(_Op):
    """out = max(a, 0);  da = g * [a > 0]"""
    def forward(self, a):
        out = np.maximum(a, 0)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return backend.relu_backward(out, g)


class Abs(_Op):
    """out = |a|;  da = g * sign(a)"""
    def forward(self, a):
        self.save_for_backward(a)
        return np.abs(a)

    def backward(self, g):
        (a,) = self.saved
        return g * np.sign(a)


class Maximum(_Op):
    """out = max(a, b);  da = g * [a > b], db = g * [b > a], ties split the gradient in half"""
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return np.maximum(a, b)

    def backward(self, g):
        a, b = self.saved
        to_a = ((a > b) + 0.5 * (a == b)).astype(g.dtype)
        return g * to_a, g * (1 - to_a)


class Minimum(_Op):
    """out = min(a, b);  da = g * [a < b], db = g * [b < a], ties split the gradient in half"""
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return np.minimum(a, b)

    def backward(self, g):
        a, b = self.saved
        to_a = ((a < b) + 0.5 * (a == b)).astype(g.dtype)
        return g * to_a, g * (1 - to_a)


class Where(_Op):
    """out = cond ? a : b;  da = g * cond, db = g * !cond (cond gets no gradient)"""
    def forward(self, cond, a, b):
        self.save_for_backward(cond)
        return np.where(cond, a, b)

    def backward(self, g):
        (cond,) = self.saved
        zero = np.zeros((), g.dtype)
        return None, np.where(cond, g, zero), np.where(cond, zero, g)


class Clamp(_Op):
    """out = min(max(a, lo), hi);  da = g * [lo <= a <= hi]"""
    def forward(self, a, lo=None, hi=None):
        self.save_for_backward(a)
        self.lo, self.hi = lo, hi
        return np.clip(a, lo, hi)

    def backward(self, g):
        (a,) = self.saved
        inside = np.ones(a.shape, dtype=bool)
        if self.lo is not None:
            inside &= a >= self.lo
        if self.hi is not None:
            inside &= a <= self.hi
        return g * inside


class Clone(_Op):
    """out = a copy of a (new memory);  da = g"""
    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return g


class Cast(_Op):
    """out = a as another float dtype;  da = g as a's dtype"""
    def forward(self, a, dtype):
        self.in_dtype = a.dtype
        return a.astype(dtype)

    def backward(self, g):
        return g.astype(self.in_dtype)
