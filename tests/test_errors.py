"""Bad input gets a clear error naming the op, the shapes or dtypes, and what was expected."""
import numpy as np
import pytest

import tinygrad_seq as ts
import tinygrad_seq.nn.functional as F


def test_broadcast_mismatch_names_op_and_both_shapes():
    a, b = ts.ones(2, 3), ts.ones(4)
    with pytest.raises(ValueError, match=r"^add: .*\(2, 3\) float32, \(4,\) float32"):
        a + b
    with pytest.raises(ValueError, match=r"^mul: .*\(2, 3\).*\(4,\)"):
        a * b


def test_matmul_mismatch_says_what_was_expected():
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ: \(2, 3\) @ \(4, 5\); "
                                         r"expected a.shape\[-1\] \(3\) == b.shape\[-2\] \(4\)"):
        ts.ones(2, 3) @ ts.ones(4, 5)


def test_linear_errors_name_the_shapes_and_dtypes():
    with pytest.raises(ValueError, match=r"linear: expected input \(..., in_features\), "
                                         r"weight \(out_features, in_features\) and bias "
                                         r"\(out_features,\); got input \(2, 3\) float32, "
                                         r"weight \(4, 5\) float32, bias \(4,\) float32"):
        F.linear(ts.ones(2, 3), ts.ones(4, 5), ts.ones(4))
    with pytest.raises(ValueError, match=r"bias \(3,\) float32"):
        F.linear(ts.ones(2, 5), ts.ones(4, 5), ts.ones(3))
    with pytest.raises(TypeError, match=r"linear: expected floating-point tensors of one dtype; "
                                        r"got input \(2, 5\) float64, weight \(4, 5\) float32"):
        F.linear(ts.ones(2, 5, dtype=ts.float64), ts.ones(4, 5))
    with pytest.raises(TypeError, match=r"linear: expected floating-point tensors of one dtype"):
        F.linear(ts.Tensor(np.ones((2, 5), np.int64)), ts.Tensor(np.ones((4, 5), np.int64)))
    with pytest.raises(TypeError, match=r"linear: expected Tensors; got ndarray, Tensor"):
        F.linear(np.ones((2, 5), np.float32), ts.ones(4, 5))


def test_shape_op_errors():
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\)"):
        ts.ones(2, 3).reshape(4, -1)
    with pytest.raises(ValueError, match=r"cat: shapes \[\(2, 3\), \(2, 4\)\]"):
        ts.cat([ts.ones(2, 3), ts.ones(2, 4)])
    with pytest.raises(ValueError, match="stack: all shapes must be equal"):
        ts.stack([ts.ones(2), ts.ones(3)])
    with pytest.raises(ValueError, match="split: sections"):
        ts.ones(5).split([2, 2])
    with pytest.raises(IndexError, match="sum: dim 2 is out of range for a tensor with 2 dims"):
        ts.ones(2, 3).sum(dim=2)
    with pytest.raises(ValueError, match="permute"):
        ts.ones(2, 3).permute(0, 0)
    with pytest.raises(IndexError, match=r"getitem: .*\(2, 3\)"):
        ts.ones(2, 3)[5]


def test_backward_of_non_scalar_needs_gradient():
    x = ts.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"gradient can only be left out for a scalar output, "
                                           r"this one has shape \(3,\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(2,\), expected .* \(3,\)"):
        (x * 2).backward(np.ones(2))


def test_second_backward_without_retain_graph():
    x = ts.ones(3, requires_grad=True)
    y = (x.tanh() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_backward_without_graph():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ts.ones(2).sum().backward()


def test_requires_grad_on_integer_tensor():
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients, "
                                        "this one is int64"):
        ts.Tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        (ts.ones(2, requires_grad=True) * 2).requires_grad_()


def test_mixing_float32_and_float64_is_refused():
    a, b = ts.ones(2, dtype=ts.float32), ts.ones(2, dtype=ts.float64)
    with pytest.raises(TypeError, match=r"add: cannot mix float32 and float64 .*\.double\(\)"):
        a + b
    with pytest.raises(TypeError, match="matmul: cannot mix"):
        ts.ones(2, 2) @ ts.ones(2, 2, dtype=ts.float64)
    with pytest.raises(TypeError, match="cat: all tensors need one dtype"):
        ts.cat([a, b])
    with pytest.raises(TypeError, match="cat: expected a sequence of Tensors, got list at "
                                        "position 2"):
        ts.cat([a, b, [1, 2]])


def test_unsupported_dtypes():
    with pytest.raises(TypeError, match="unsupported dtype complex128"):
        ts.Tensor(np.ones(2, dtype=complex))


def test_loss_input_errors():
    logits = ts.randn(4, 3)
    with pytest.raises(ValueError, match=r"cross_entropy: class probabilities must have the "
                                         r"input's shape \(4, 3\), got \(4,\)"):
        F.cross_entropy(logits, ts.ones(4))
    with pytest.raises(TypeError, match="cross_entropy: target must hold integer"):
        F.cross_entropy(logits, ts.tensor([True, False, True, True]))
    with pytest.raises(ValueError, match=r"cross_entropy: input \(4, 3\) and target \(5,\)"):
        F.cross_entropy(logits, ts.Tensor(np.zeros(5, dtype=np.int64)))
    with pytest.raises(IndexError, match="target 3 is out of range for 3 classes"):
        F.cross_entropy(logits, ts.Tensor(np.array([0, 1, 3, 2])))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(logits, ts.Tensor(np.array([0, 1, 2, 2])), reduction="avg")
    with pytest.raises(ValueError, match=r"mse_loss: input \(4, 1\) and target \(4,\) must have "
                                         r"the same shape"):
        F.mse_loss(ts.ones(4, 1), ts.ones(4))
    with pytest.raises(IndexError, match=r"embedding: indices must be in \[0, 3\)"):
        F.embedding(ts.Tensor([0, 3]), ts.ones(3, 2))
    with pytest.raises(ValueError, match=r"dropout: p must be in \[0, 1\]"):
        F.dropout(ts.ones(2), p=1.5)
    with pytest.raises(TypeError, match=r"dropout: expected a floating-point input, got int64 "
                                        r"of shape \(2,\)"):
        F.dropout(ts.tensor([1, 2]), p=0.5)


def test_hook_returning_wrong_shape():
    x = ts.ones(3, requires_grad=True)
    x.register_hook(lambda g: np.ones(2))
    with pytest.raises(ValueError, match=r"hook returned a gradient of shape \(2,\), expected \(3,\)"):
        (x * 2).sum().backward()


# ------------------------------------------------------------------ edge cases from ported code
def test_scalars_meet_where_maximum_and_minimum():
    mask = ts.tensor([True, False])
    assert ts.where(mask, 1, 3).tolist() == [1, 3] and ts.where(mask, 1, 3).dtype == ts.int64
    assert ts.maximum(ts.tensor([1.0, 5.0]), 2).tolist() == [2.0, 5.0]
    with pytest.raises(TypeError, match="maximum: expected at least one Tensor, got int and int"):
        ts.maximum(2, 3)
    with pytest.raises(TypeError, match="minimum: expected at least one Tensor"):
        ts.minimum(2.0, 3)


def test_dims_out_of_range_are_named():
    x = ts.ones(2, 3)
    for call, op in ((lambda: x.transpose(0, 2), "transpose"), (lambda: x.split(1, dim=2), "split"),
                     (lambda: x.size(2), "size"), (lambda: x.flatten(5), "flatten"),
                     (lambda: x.sum(dim=-3), "sum"), (lambda: x.chunk(2, dim=4), "chunk"),
                     (lambda: x.max(dim=2), "max"), (lambda: x.argmax(dim=3), "argmax")):
        with pytest.raises(IndexError, match=rf"^{op}: dim -?\d is out of range for a tensor "
                                             rf"with 2 dims \(expected -2..1\)"):
            call()
    assert ts.ones(5).flatten(0).shape == (5,) and ts.tensor(3.0).flatten().shape == (1,)
    with pytest.raises(ValueError, match="flatten: start_dim 1 comes after end_dim 0"):
        ts.ones(2, 3, 4).flatten(1, 0)


def test_sections_sizes_and_sequences_are_checked():
    with pytest.raises(ValueError, match=r"split: sections must be non-negative integers, "
                                         r"got \[-1, 6\]"):
        ts.ones(5).split([-1, 6])
    with pytest.raises(TypeError, match=r"reshape: sizes must be integers, got \(1.5, 4\)"):
        ts.ones(6).reshape(1.5, 4)
    with pytest.raises(ValueError, match="Linear: in_features must be a non-negative integer, "
                                         "got -3"):
        ts.nn.Linear(-3, 2)
    with pytest.raises(TypeError, match="cat: expected a sequence of Tensors, got ndarray at "
                                        "position 0"):
        ts.cat([np.ones(3)])
    with pytest.raises(TypeError, match=r"stack: expected a sequence of tensors, got one Tensor"):
        ts.stack(ts.ones(3))


def test_integer_powers_and_casts_follow_pytorch():
    ints = ts.tensor([2, 3])
    assert (ints ** 2).dtype == ts.int64 and (ints ** 2).tolist() == [4, 9]
    assert (ints ** 0.5).dtype == ts.float32
    with pytest.raises(ValueError, match="pow: Integers to negative integer powers are not "
                                         "allowed"):
        ints ** -2
    x = ts.tensor([1.7, -2.2], requires_grad=True)
    as_int = x.long()
    assert as_int.tolist() == [1, -2] and as_int.dtype == ts.int64 and not as_int.requires_grad


def test_gradcheck_leaves_a_0d_input_as_it_was():
    s = ts.tensor(0.7, dtype=ts.float64, requires_grad=True)
    array = s.numpy()
    assert ts.gradcheck(lambda s: (s * s).sum(0) + s.softmax(-1), s)
    assert s.shape == () and s.numpy() is array


def test_pytorch_api_refusals_name_the_op_and_shapes():
    x = ts.ones(3, 4)
    cases = [
        (IndexError, r"gather: index of shape \(3,\) does not fit a tensor of shape \(3, 4\)",
         lambda: x.gather(1, ts.tensor([0, 1, 2]))),
        (IndexError, r"gather: index values must be in \[0, 4\) for dim 1, got 0..4",
         lambda: x.gather(1, ts.tensor([[0, 4]]))),
        (TypeError, "gather: index must hold integers", lambda: x.gather(0, ts.ones(1, 1))),
        (TypeError, "scatter: expected src", lambda: x.scatter(0, ts.tensor([[0]]))),
        (IndexError, r"topk: k=5 is out of range for dim -1 of size 4", lambda: x.topk(5)),
        (IndexError, r"narrow: start 3 and length 2 do not fit in dim 1 of size 4",
         lambda: x.narrow(1, 3, 2)),
        (ValueError, r"einsum: subscripts 'ij' do not fit an operand of shape \(4,\)",
         lambda: ts.einsum("ij,jk->ik", ts.ones(4), x)),
        (ValueError, r"einsum: 'j' has size 4 in one operand and 3 in another",
         lambda: ts.einsum("ij,jk", x, x)),
        (ValueError, "einsum: 'ii' repeats a letter", lambda: ts.einsum("ii->i", ts.ones(3, 3))),
        (ValueError, r"repeat: expected at least 2 non-negative repeat counts",
         lambda: x.repeat(2)),
        (ValueError, r"pad: expected pairs \(before, after\) for at most 2 dims",
         lambda: F.pad(x, (1, 1, 1))),
        (TypeError, "masked_fill: mask must be a bool tensor", lambda: x.masked_fill(x, 0.0)),
        (RuntimeError, r"masked_fill: a mask of shape \(5,\) does not broadcast to \(3, 4\)",
         lambda: x.masked_fill(ts.ones(5, dtype=ts.bool), 0.0)),
        (RuntimeError, "to: tinygrad_seq computes on the CPU only, so device 'cuda' is not "
                       "available", lambda: x.to("cuda")),
        (RuntimeError, "zeros: tinygrad_seq computes on the CPU only, so device 'cuda:1'",
         lambda: ts.zeros(2, device="cuda:1")),
        (RuntimeError, "cuda: tinygrad_seq computes on the CPU only", lambda: x.cuda()),
        (TypeError, "to: float16 is not supported", lambda: x.to(np.float16)),
        (TypeError, r"to: 'fp32' is not a dtype", lambda: x.to(dtype="fp32")),
        (ValueError, r"cross_entropy: label_smoothing must be in \[0, 1\]",
         lambda: F.cross_entropy(x, ts.tensor([0, 1, 2]), label_smoothing=2.0)),
        (ValueError, r"nll_loss: weight must be a Tensor of shape \(4,\)",
         lambda: F.nll_loss(x, ts.tensor([0, 1, 2]), weight=ts.ones(3))),
        (RuntimeError, r"nll_loss: the class weights get no gradient",
         lambda: F.nll_loss(x, ts.tensor([0, 1, 2]), weight=ts.ones(4, requires_grad=True))),
        (ValueError, "binary_cross_entropy: input must hold probabilities in \\[0, 1\\]",
         lambda: F.binary_cross_entropy(x * 2, x)),
        (TypeError, "cross_entropy: size_average and reduce are PyTorch's deprecated",
         lambda: F.cross_entropy(x, ts.tensor([0, 1, 2]), size_average=True)),
        (ValueError, "mm: expected two 2-D tensors", lambda: ts.mm(x, ts.ones(4))),
        (ValueError, r"bmm: expected \(b, n, m\) and \(b, m, p\)", lambda: ts.bmm(x, x)),
        (TypeError, "randint: expected randint\\(high, size\\)", lambda: ts.randint(5)),
        (ValueError, r"zeros: sizes must be non-negative integers, got \(-1,\)",
         lambda: ts.zeros(-1)),
        (ValueError, "t: expects a tensor with at most 2 dims", lambda: ts.ones(2, 2, 2).t()),
    ]
    for error, pattern, call in cases:
        with pytest.raises(error, match=pattern):
            call()
