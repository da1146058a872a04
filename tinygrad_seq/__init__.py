"""tinygrad_seq: a tape-based autograd engine for learning recurrent networks from first principles.

    import tinygrad_seq as ts
    x = ts.randn(3, 4, requires_grad=True)
    loss = (x.tanh() * 2).sum()
    loss.backward()          # x.grad now holds d loss / d x
"""
from . import cuda, malloc, nn, optim, threads, utils, viz
from .autograd import (Function, Scope, Tape, current_scope, enable_grad, is_grad_enabled, no_grad,
                       scope, set_grad_enabled, unbroadcast)
from .generator import Generator, manual_seed
from .gradcheck import GradcheckError, gradcheck
from .kernels import set_backend
from .nn.functional import (binary_cross_entropy_with_logits, cross_entropy, dropout, embedding,
                            log_softmax, mse_loss, one_hot, softmax)
from .serialization import load, save
from .threads import get_num_threads, set_blas_threads, set_num_threads
from .creation import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like,
                       linspace, ones, ones_like, rand, rand_like, randint, randn, randn_like,
                       randperm, tensor, zeros, zeros_like)
from .device import device
from .functions import (abs, all, amax, amin, any, argmax, argmin, argsort, bmm, cat, ceil, chunk,
                        clamp, clip, clone, cos, cumsum, einsum, erf, exp, expm1, flatten, flip,
                        floor, gather, index_select, is_tensor, log, log1p, logsumexp, masked_fill,
                        matmul, max, maximum, mean, min, minimum, mm, narrow, norm, numel,
                        permute, pow, prod, relu, reshape, roll, round, rsqrt, scatter,
                        scatter_add, sigmoid, sign, sin, sort, split, sqrt, square, squeeze,
                        stack, std, sum, t, tanh, topk, transpose, tril, triu, unbind, unsqueeze,
                        var, where)
from .tensor import (Tensor, bool_, float32, float64, get_default_dtype, int8, int16, int32, int64,
                     set_default_dtype, uint8)

# PyTorch's names for the dtypes (numpy dtypes here: ts.float32 == np.float32)
float, double, long, int, short, bool = float32, float64, int64, int32, int16, bool_  # noqa: A001
from numpy import dtype  # noqa: E402 - isinstance(x.dtype, ts.dtype), as torch.dtype

__version__ = "0.1.0"

threads._from_environment()   # one BLAS thread, a lane per core: see threads.py
malloc._from_environment()    # keep freed memory for the next step: see malloc.py
