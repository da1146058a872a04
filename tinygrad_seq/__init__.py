"""tinygrad_seq: a tape-based autograd engine for learning recurrent networks from first principles.

    import tinygrad_seq as ts
    x = ts.randn(3, 4, requires_grad=True)
    loss = (x.tanh() * 2).sum()
    loss.backward()          # x.grad now holds d loss / d x
"""
from . import malloc, nn, optim, threads, viz
from .autograd import (Function, Scope, Tape, current_scope, enable_grad, is_grad_enabled, no_grad,
                       scope, set_grad_enabled, unbroadcast)
from .gradcheck import GradcheckError, gradcheck
from .kernels import set_backend
from .nn.functional import (binary_cross_entropy_with_logits, cross_entropy, dropout, embedding,
                            log_softmax, mse_loss, one_hot, softmax)
from .serialization import load, save
from .threads import get_num_threads, set_blas_threads, set_num_threads
from .tensor import (Tensor, arange, bool_, cat, float32, float64, full, get_default_dtype, int32,
                     int64, manual_seed, maximum, minimum, ones, ones_like, rand, randn,
                     set_default_dtype, stack, tensor, where, zeros, zeros_like)

__version__ = "0.1.0"

threads._from_environment()   # one BLAS thread, a lane per core: see threads.py
malloc._from_environment()    # keep freed memory for the next step: see malloc.py
