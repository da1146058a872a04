"""Functions on tensors, as torch.*: joining (cat, stack), selecting (where), element-wise
max/min, products (matmul, mm, bmm, einsum), and for each Tensor method that PyTorch also has
as a function, that function (`ts.sin(x)` is `x.sin()`), so code written either way runs.
"""
import builtins   # this module defines sum, max, min, any, all, abs, round, pow as PyTorch's

from . import ops
from .tensor import Tensor, _operands, _same_dtype


# ------------------------------------------------------------------------------ join, select
def cat(tensors, dim=0):
    """Join tensors along an existing dim (torch.cat)."""
    tensors = _same_dtype("cat", tensors)
    ref = tensors[0].array.shape
    axis = ops._axis("cat", dim, len(ref))
    for t in tensors[1:]:
        shape = t.array.shape
        if len(shape) != len(ref) or shape[:axis] != ref[:axis] or \
                shape[axis + 1:] != ref[axis + 1:]:
            raise ValueError(f"cat: shapes {[x.shape for x in tensors]} must match in every dim "
                             f"but dim {dim}")
    return ops.Cat.apply(*tensors, dim=axis)


def stack(tensors, dim=0):
    """Join tensors of one shape along a new dim (torch.stack)."""
    tensors = _same_dtype("stack", tensors)
    if len({t.shape for t in tensors}) != 1:
        raise ValueError(f"stack: all shapes must be equal, got {[t.shape for t in tensors]}")
    return ops.Stack.apply(*tensors, dim=ops._axis("stack", dim, tensors[0].ndim + 1))


def where(condition, input, other):
    """condition ? input : other, element-wise with broadcasting (torch.where)."""
    cond = condition.array if isinstance(condition, Tensor) else condition
    a, b = _operands("where", input, other)
    return ops.Where.apply(Tensor._make(Tensor(cond).array.astype(bool, copy=False), None, 0),
                           a, b)


def maximum(a, b):
    """Element-wise max(a, b); at least one of them must be a Tensor (torch.maximum)."""
    return Tensor.maximum(*_operands("maximum", *_one_tensor("maximum", a, b)))


def minimum(a, b):
    """Element-wise min(a, b); at least one of them must be a Tensor (torch.minimum)."""
    return Tensor.minimum(*_operands("minimum", *_one_tensor("minimum", a, b)))


def _one_tensor(op, a, b):
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op}: expected at least one Tensor, got {type(a).__name__} and "
                        f"{type(b).__name__} (for numbers, use Python's max/min)")
    return a, b


# ------------------------------------------------------------------------------ products
def matmul(input, other):
    return input.matmul(other)


def mm(input, mat2):
    """The product of two matrices (2-D only, as torch.mm)."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise ValueError(f"mm: expected two 2-D tensors, got shapes {input.shape} and "
                         f"{mat2.shape} (matmul broadcasts, mm does not)")
    return input.matmul(mat2)


def bmm(input, mat2):
    """Batched matrix products: (b, n, m) @ (b, m, p) -> (b, n, p), as torch.bmm."""
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise ValueError(f"bmm: expected (b, n, m) and (b, m, p) with one b, got shapes "
                         f"{input.shape} and {mat2.shape}")
    return input.matmul(mat2)


def einsum(equation, *operands):
    """Einstein summation, as torch.einsum: "bqd,bkd->bqk" (explicit output), "ij,jk"
    (implicit: the letters that appear once, in order), "..." for leading dims; the operands
    as arguments or as one list."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    operands = _same_dtype("einsum", operands)
    inputs, output = _parse_einsum(equation.replace(" ", ""), [t.shape for t in operands])
    return ops.Einsum.apply(*operands, inputs=inputs, output=output)


def _parse_einsum(equation, shapes):
    """The subscripts of each operand and of the output, with "..." spelled out as letters."""
    lhs, arrow, output = equation.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum: {equation!r} names {len(inputs)} operands, got {len(shapes)}")
    spare = iter(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in equation)
    width = builtins.max((len(s) - len(sub.replace("...", "")) for s, sub in
                          zip(shapes, inputs) if "..." in sub), default=0)
    ellipsis = "".join(next(spare) for _ in range(width))
    expanded = []
    for sub, shape in zip(inputs, shapes):
        if "..." in sub:
            n = len(shape) - len(sub.replace("...", ""))
            sub = sub.replace("...", ellipsis[width - n:] if n else "")
        if not sub.isalpha() and sub or len(sub) != len(shape):
            raise ValueError(f"einsum: subscripts {sub!r} do not fit an operand of shape {shape}")
        if len(set(sub)) != len(sub):
            raise ValueError(f"einsum: {sub!r} repeats a letter within one operand (a "
                             f"diagonal), which tinygrad_seq does not support")
        expanded.append(sub)
    if arrow:
        output = output.replace("...", ellipsis)
    else:
        letters = "".join(expanded)
        output = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1
                                           and c not in ellipsis))
    sizes = {}
    for sub, shape in zip(expanded, shapes):
        for c, n in zip(sub, shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: {c!r} has size {sizes[c]} in one operand and {n} in "
                                 f"another (shapes {shapes})")
    if builtins.any(c not in sizes for c in output) or len(set(output)) != len(output):
        raise ValueError(f"einsum: output subscripts {output!r} must be distinct letters of the "
                         f"inputs")
    return tuple(expanded), output


# ------------------------------------------------------------------------------ torch.f(x) = x.f()
def abs(input):                           # noqa: A001 - PyTorch's name
    return input.abs()


def exp(input):
    return input.exp()


def log(input):
    return input.log()


def log1p(input):
    return input.log1p()


def expm1(input):
    return input.expm1()


def sqrt(input):
    return input.sqrt()


def rsqrt(input):
    return input.rsqrt()


def square(input):
    return input.square()


def sin(input):
    return input.sin()


def cos(input):
    return input.cos()


def tanh(input):
    return input.tanh()


def sigmoid(input):
    return input.sigmoid()


def relu(input):
    return input.relu()


def erf(input):
    return input.erf()


def sign(input):
    return input.sign()


def floor(input):
    return input.floor()


def ceil(input):
    return input.ceil()


def round(input, decimals=0):             # noqa: A001
    return input.round(decimals)


def pow(input, exponent):                 # noqa: A001
    return input.pow(exponent) if isinstance(input, Tensor) else exponent.__rpow__(input)


def clamp(input, min=None, max=None):     # noqa: A002
    return input.clamp(min, max)


clip = clamp


def sum(input, dim=None, keepdim=False):  # noqa: A001
    return input.sum(dim, keepdim)


def mean(input, dim=None, keepdim=False):
    return input.mean(dim, keepdim)


def prod(input, dim=None, keepdim=False):
    return input.prod(dim, keepdim)


def cumsum(input, dim):
    return input.cumsum(dim)


def max(input, dim=None, keepdim=False):  # noqa: A001
    return input.max(dim, keepdim)


def min(input, dim=None, keepdim=False):  # noqa: A001
    return input.min(dim, keepdim)


def amax(input, dim=None, keepdim=False):
    return input.amax(dim, keepdim)


def amin(input, dim=None, keepdim=False):
    return input.amin(dim, keepdim)


def argmax(input, dim=None, keepdim=False):
    return input.argmax(dim, keepdim)


def argmin(input, dim=None, keepdim=False):
    return input.argmin(dim, keepdim)


def logsumexp(input, dim, keepdim=False):
    return input.logsumexp(dim, keepdim)


def softmax(input, dim):
    return input.softmax(dim)


def log_softmax(input, dim):
    return input.log_softmax(dim)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return input.var(dim, unbiased, keepdim, correction=correction)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return input.std(dim, unbiased, keepdim, correction=correction)


def norm(input, p="fro", dim=None, keepdim=False):
    return input.norm(p, dim, keepdim)


def any(input, dim=None, keepdim=False):  # noqa: A001
    return input.any(dim, keepdim)


def all(input, dim=None, keepdim=False):  # noqa: A001
    return input.all(dim, keepdim)


def topk(input, k, dim=-1, largest=True, sorted=True):  # noqa: A002
    return input.topk(k, dim, largest, sorted)


def sort(input, dim=-1, descending=False, stable=False):
    return input.sort(dim, descending, stable)


def argsort(input, dim=-1, descending=False, stable=False):
    return input.argsort(dim, descending, stable)


def reshape(input, shape):
    return input.reshape(shape)


def flatten(input, start_dim=0, end_dim=-1):
    return input.flatten(start_dim, end_dim)


def squeeze(input, dim=None):
    return input.squeeze(dim)


def unsqueeze(input, dim):
    return input.unsqueeze(dim)


def transpose(input, dim0, dim1):
    return input.transpose(dim0, dim1)


def permute(input, dims):
    return input.permute(dims)


def t(input):
    return input.t()


def flip(input, dims):
    return input.flip(dims)


def roll(input, shifts, dims=None):
    return input.roll(shifts, dims)


def narrow(input, dim, start, length):
    return input.narrow(dim, start, length)


def split(tensor, split_size_or_sections, dim=0):
    return tensor.split(split_size_or_sections, dim)


def chunk(input, chunks, dim=0):
    return input.chunk(chunks, dim)


def unbind(input, dim=0):
    return input.unbind(dim)


def gather(input, dim, index):
    return input.gather(dim, index)


def scatter(input, dim, index, src=None, *, value=None):
    return input.scatter(dim, index, src, value=value)


def scatter_add(input, dim, index, src):
    return input.scatter_add(dim, index, src)


def index_select(input, dim, index):
    return input.index_select(dim, index)


def masked_fill(input, mask, value):
    return input.masked_fill(mask, value)


def triu(input, diagonal=0):
    return input.triu(diagonal)


def tril(input, diagonal=0):
    return input.tril(diagonal)


def clone(input):
    return input.clone()


def numel(input):
    return input.numel()


def is_tensor(obj):
    return isinstance(obj, Tensor)
