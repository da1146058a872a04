"""Activation functions beyond tanh, sigmoid and relu, with PyTorch's formulas and gradients
(including which side of a kink the gradient takes)."""
import math

import numpy as np

from ..kernels import backend
from .base import _Op

_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


class Gelu(_Op):
    """out = x * Phi(x), Phi the standard normal CDF (approximate="tanh": Phi(x) ~
    (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2);  dx = g * (Phi(x) + x * Phi'(x))"""
    def forward(self, x, approximate="none"):
        self.approximate = approximate
        self.save_for_backward(x)
        if approximate == "tanh":
            return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)))
        return 0.5 * x * (1 + backend.erf(x / math.sqrt(2)))

    def backward(self, g):
        (x,) = self.saved
        if self.approximate == "tanh":
            t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))
            slope = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * slope)
        cdf = 0.5 * (1 + backend.erf(x / math.sqrt(2)))
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return g * (cdf + x * pdf)


class LeakyRelu(_Op):
    """out = x if x > 0 else slope * x;  dx = g if x > 0 else slope * g"""
    op = "leaky_relu"

    def forward(self, x, negative_slope=0.01):
        self.slope = negative_slope
        self.save_for_backward(x)
        return np.where(x > 0, x, x * x.dtype.type(negative_slope))

    def backward(self, g):
        (x,) = self.saved
        return np.where(x > 0, g, g * g.dtype.type(self.slope))


class Elu(_Op):
    """out = x if x > 0 else alpha (e^x - 1);  dx = g if x > 0 else g * (out + alpha)"""
    def forward(self, x, alpha=1.0):
        self.alpha = alpha
        out = np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
        self.save_for_backward(x, out)
        return out

    def backward(self, g):
        x, out = self.saved
        return np.where(x > 0, g, g * (out + self.alpha))


class Softplus(_Op):
    """out = log(1 + e^(beta x)) / beta, or x where beta x > threshold;
    dx = g * sigmoid(beta x), or g past the threshold"""
    def forward(self, x, beta=1.0, threshold=20.0):
        self.beta, self.threshold = beta, threshold
        self.save_for_backward(x)
        bx = beta * x
        return np.where(bx > threshold, x, np.logaddexp(0, bx) / beta).astype(x.dtype)

    def backward(self, g):
        (x,) = self.saved
        bx = self.beta * x
        return np.where(bx > self.threshold, g, g * backend.sigmoid_forward(bx))


class LogSigmoid(_Op):
    """out = log sigmoid(x) = min(x, 0) - log(1 + e^-|x|);  dx = g * sigmoid(-x)"""
    op = "logsigmoid"

    def forward(self, x):
        self.save_for_backward(x)
        return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))

    def backward(self, g):
        (x,) = self.saved
        return g * backend.sigmoid_forward(-x)


class Hardtanh(_Op):
    """out = min(max(x, lo), hi);  dx = g strictly inside (lo, hi), 0 at and past the ends
    (PyTorch's hardtanh; clamp keeps the gradient at the ends)"""
    def forward(self, x, min_val=-1.0, max_val=1.0):
        self.lo, self.hi = min_val, max_val
        self.save_for_backward(x)
        return np.clip(x, min_val, max_val)

    def backward(self, g):
        (x,) = self.saved
        return g * ((x > self.lo) & (x < self.hi))


class Silu(_Op):
    """out = x * sigmoid(x) (swish);  dx = g * s * (1 + x (1 - s)), s = sigmoid(x)"""
    def forward(self, x):
        s = backend.sigmoid_forward(x)
        self.save_for_backward(x, s)
        return x * s

    def backward(self, g):
        x, s = self.saved
        return g * s * (1 + x * (1 - s))
