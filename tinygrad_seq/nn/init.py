"""Parameter initialisers, in place and with the package generator (see ts.manual_seed)."""
import math

import numpy as np

from ..autograd import no_grad
from ..generator import rng
from ..tensor import Tensor


def _fill(tensor, values):
    with no_grad():
        return tensor.copy_(Tensor._make(np.asarray(values), None, 0))


def uniform_(tensor, a=0.0, b=1.0):
    return _fill(tensor, rng().uniform(a, b, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    return _fill(tensor, rng().normal(mean, std, tensor.shape))


def constant_(tensor, value):
    return _fill(tensor, value)


def zeros_(tensor):
    return _fill(tensor, 0)


def ones_(tensor):
    return _fill(tensor, 1)


def xavier_uniform_(tensor, gain=1.0):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_out, fan_in = tensor.shape[0], int(np.prod(tensor.shape[1:]))
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def orthogonal_(tensor, gain=1.0):
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one (Saxe et al. 2014)."""
    rows, cols = tensor.shape[0], int(np.prod(tensor.shape[1:]))
    flat = rng().standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))          # makes the distribution uniform over orthogonal matrices
    q = q if rows >= cols else q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))
