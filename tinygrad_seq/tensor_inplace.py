"""Tensor's in-place methods, as PyTorch's: `x.add_(y)`, `x += y`, `x[i] = v`, `p.zero_()`, ...

They write into the tensor's own memory (views of it see the change) and bump its version
(autograd.Version). Each is its out-of-place op followed by a write, so every formula lives
in one place (ops/). A family of methods of `Tensor` (tensor.py), kept in its own file.
"""
import numpy as np

from . import autograd, ops
from .generator import rng
from .indexing import index_keys


class InPlaceOps:
    """The in-place methods of Tensor (a base class of it; every Tensor is an InPlaceOps)."""
    __slots__ = ()     # the storage is Tensor's

    def add_(self, other, alpha=1):
        return self._in_place("add_", type(self).add, _fitting("add_", self, other), alpha,
                              ufunc=np.add)

    def sub_(self, other, alpha=1):
        return self._in_place("sub_", type(self).sub, _fitting("sub_", self, other), alpha,
                              ufunc=np.subtract)

    def mul_(self, other):
        return self._in_place("mul_", type(self).mul, _fitting("mul_", self, other),
                              keep_old=True, ufunc=np.multiply)

    def div_(self, other):
        return self._in_place("div_", type(self).div, _fitting("div_", self, other),
                              keep_old=True, ufunc=np.true_divide)

    def clamp_(self, min=None, max=None):
        return self._in_place("clamp_", type(self).clamp, min, max, keep_old=True)

    def fill_(self, value):
        """Set every element to value (a number or a 0-d tensor), cast to this dtype."""
        if isinstance(value, InPlaceOps) and value.ndim:
            raise RuntimeError(f"fill_: expected a number or a 0-d tensor, got shape "
                               f"{value.shape}")
        return self.copy_(value)

    def zero_(self):
        return self.fill_(0)

    def relu_(self):
        return self._in_place("relu_", type(self).relu)

    def masked_fill_(self, mask, value):
        return self._in_place("masked_fill_", type(self).masked_fill, mask, value)

    def scatter_(self, dim, index, src=None, *, value=None):
        return self._in_place("scatter_", lambda x, s: x.scatter(dim, index, s),
                              value if src is None else src)

    def scatter_add_(self, dim, index, src):
        return self._in_place("scatter_add_", type(self).scatter_add, dim, index, src)

    def copy_(self, src):
        """Copy src's values (broadcast to this shape, cast to this dtype) into this tensor."""
        src = _fitting("copy_", self, src)
        return self._in_place("copy_", _replaced, src if src.dtype == self.dtype else
                              src.to(self.dtype))

    def uniform_(self, a=0.0, b=1.0):
        """Fill with draws from U(a, b) (the package generator, see manual_seed)."""
        return self._in_place("uniform_", _replaced, self._make(
            rng().uniform(a, b, self.shape).astype(self.dtype), None, 0))

    def normal_(self, mean=0.0, std=1.0):
        """Fill with draws from N(mean, std^2) (the package generator, see manual_seed)."""
        return self._in_place("normal_", _replaced, self._make(
            rng().normal(mean, std, self.shape).astype(self.dtype), None, 0))

    def __setitem__(self, key, value):
        value = self._operand(value)
        if value.dtype != self.dtype:
            value = value.to(self.dtype)     # assignment casts, as in PyTorch and numpy
        keys = index_keys(key)
        self._in_place("setitem", lambda x, v: ops.SetItem.apply(x, v, keys=keys), value)

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def _in_place(self, op, compute, *args, keep_old=False, ufunc=None):
        """Write compute(self, *args) into this tensor's memory; returns self.

        Under no_grad, or when nothing involved requires grad, the result is just written (an
        optimizer's `p -= lr * p.grad`; an arithmetic op on floats of one dtype goes straight
        to numpy's ufunc with out=, which gives the same numbers without the op's bookkeeping).
        Otherwise the op is recorded and this tensor takes its node, so the gradient flows as
        for `x = compute(x)`; the op's input is then the old value (a copy when the op saves it
        for backward: keep_old). A leaf that requires grad is refused outside no_grad, as
        PyTorch does: its old value would be lost.
        """
        recording = autograd.is_grad_enabled() and (self.requires_grad or any(
            isinstance(a, InPlaceOps) and a.requires_grad for a in args))
        if ufunc is not None and not recording and self.dtype.kind == "f" and \
                args[0].dtype == self.dtype and self.array.flags.writeable:
            operand = args[0].array if len(args) == 1 or args[1] == 1 else \
                args[0].array * self.dtype.type(args[1])     # add_/sub_'s alpha
            ufunc(self.array, operand, out=self.array)
            self._version_counter().writes += 1
            return self
        if not self.array.flags.writeable:
            raise RuntimeError(f"{op}: this tensor's memory is read-only (an expand() result "
                               f"repeats each element in several places); use .clone() first")
        if recording:
            if self._node is None and self.requires_grad:
                raise RuntimeError(
                    f"{op}: a leaf tensor that requires grad (shape {self.shape}) cannot be "
                    f"changed in place while gradients are recorded; do it inside `with "
                    f"ts.no_grad():` (as an optimizer's step does), or on .data")
            if self._view_rebases is not None:
                raise RuntimeError(
                    f"{op}: this tensor (shape {self.shape}) is a view of another tensor's "
                    f"memory (a slice, reshape, transpose, chunk or detach() of it); changing it "
                    f"in place while recording would leave the other tensor's graph out of "
                    f"date. Use the out-of-place op (x = x + y, or base[i] = base[i] + y), or "
                    f"take .clone() first")
            old = self
            if keep_old:
                old = self._make(self.array.copy(), self._node, self._index)
                old.requires_grad = self.requires_grad
            result = compute(old, *args)
        else:
            with autograd.no_grad():
                result = compute(self, *args)
        if result.shape != self.shape:
            raise RuntimeError(f"{op}: the result has shape {result.shape}, but the tensor it "
                               f"would be written into has shape {self.shape}")
        if not np.can_cast(result.dtype, self.dtype, "same_kind"):
            raise TypeError(f"{op}: the result is {result.dtype}, which a {self.dtype} tensor "
                            f"cannot hold (as in PyTorch); convert first, e.g. x = x.float()")
        if result.array is not self.array:
            np.copyto(self.array, result.array, casting="same_kind")
        if recording:
            self._node, self._index, self.requires_grad = result._node, result._index, True
            autograd.note_rebase(self._version_counter())
        else:
            self._version_counter().writes += 1
        return self


def _fitting(op, target, value):
    """value as a Tensor that broadcasts to target's shape, or a clear error (in-place ops
    write into target, so they cannot grow it)."""
    value = target._operand(value)
    if value.array.shape == target.array.shape:
        return value
    try:
        fits = np.broadcast_shapes(target.shape, value.shape) == target.shape
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"{op}: a value of shape {value.shape} does not broadcast to the "
                           f"shape {target.shape} of the tensor changed in place")
    return value


def _replaced(x, value):
    """value broadcast to x's shape, as an op on the graph: the gradient goes to value and
    none to x's old contents (fill_, copy_, uniform_)."""
    return ops.Where.apply(x._make(np.ones((), bool), None, 0), value, x)   # (one dtype here)
