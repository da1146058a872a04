"""The harness behind the golden fixtures: cases written once for tinygrad_seq and PyTorch.

A case is `fn(lib, *inputs) -> (loss, extras)`: a scalar to run backward from, and a list of
tensors whose values and dtypes must match as well (indices, integer results, shapes). `lib`
is `tinygrad_seq` or `torch`, so a case uses only names the two share (`lib.nn.functional`
for F). Inputs are float64 arrays: given ones as they are, shapes drawn from a generator
seeded by the case's name. `python tests/golden_<family>.py` with PyTorch installed rewrites
that family's fixtures; the tests check tinygrad_seq against them without PyTorch, and
against PyTorch itself when it is importable.
"""
import numpy as np


def inputs_for(cases, name):
    rng = np.random.default_rng(sum(map(ord, name)))
    return [np.asarray(s, dtype=np.float64) if isinstance(s, np.ndarray)
            else np.asarray(rng.standard_normal(s) * 2) for s in cases[name][1]]


def _dtype_name(t):
    return str(t.dtype).replace("torch.", "")


def run_torch(cases, name, arrays):
    """Loss, input gradients (None where none flowed) and extras (value, dtype name)."""
    import torch

    xs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    loss, extras = cases[name][0](torch, *xs)
    loss.backward()
    return (loss.detach().numpy(), [None if x.grad is None else x.grad.numpy() for x in xs],
            [(e.detach().numpy(), _dtype_name(e)) for e in extras])


def run_ours(cases, name, arrays):
    import tinygrad_seq as ts

    xs = [ts.Tensor(a, dtype=ts.float64, requires_grad=True) for a in arrays]
    loss, extras = cases[name][0](ts, *xs)
    loss.backward()
    return (loss.numpy(), [None if x.grad is None else x.grad.numpy() for x in xs],
            [(e.numpy(), _dtype_name(e)) for e in extras])


def write(cases, path):
    """Run every case in PyTorch and store inputs, loss, gradients and extras at path."""
    import torch
    stored = {}
    for name in cases:
        arrays = inputs_for(cases, name)
        value, grads, extras = run_torch(cases, name, arrays)
        stored[f"{name}/value"] = value
        for i, (a, g) in enumerate(zip(arrays, grads)):
            stored[f"{name}/input{i}"] = a
            stored[f"{name}/grad{i}"] = np.zeros_like(a) if g is None else g
        for i, (e, dtype) in enumerate(extras):
            stored[f"{name}/extra{i}"], stored[f"{name}/extra{i}_dtype"] = e, np.array(dtype)
    np.savez_compressed(path, torch_version=np.array(torch.__version__), **stored)
    print(f"wrote {len(cases)} cases to {path} (torch {torch.__version__})")


def stored_case(stored, cases, name):
    """(inputs, loss, gradients, extras) of a case as the fixtures hold them."""
    arrays = [stored[f"{name}/input{i}"] for i in range(len(cases[name][1]))]
    count = sum(1 for k in stored if k.startswith(f"{name}/extra") and not k.endswith("_dtype"))
    extras = [(stored[f"{name}/extra{i}"], str(stored[f"{name}/extra{i}_dtype"]))
              for i in range(count)]
    grads = [stored[f"{name}/grad{i}"] for i in range(len(arrays))]
    return arrays, stored[f"{name}/value"], grads, extras


def compare(ours, value, grads, extras, tol=1e-10):
    np.testing.assert_allclose(ours[0], value, rtol=tol, atol=tol)
    for i, (g_ours, g) in enumerate(zip(ours[1], grads)):
        g_ours = np.zeros_like(g) if g_ours is None else g_ours
        g = np.zeros_like(g_ours) if g is None else g
        np.testing.assert_allclose(g_ours, g, rtol=tol, atol=tol, err_msg=f"gradient of input {i}")
    assert len(ours[2]) == len(extras)
    for i, ((e_ours, dtype_ours), (e, dtype)) in enumerate(zip(ours[2], extras)):
        assert dtype_ours == dtype, f"extra {i}: dtype {dtype_ours}, PyTorch's {dtype}"
        assert e_ours.shape == e.shape, f"extra {i}: shape {e_ours.shape}, PyTorch's {e.shape}"
        np.testing.assert_allclose(e_ours, e, rtol=tol, atol=tol, err_msg=f"extra {i}")
