"""In-place ops, max/min with indices, 0-d reductions, pow at 0, indexing order and dtypes
against PyTorch: the stored fixtures (from `python tests/golden_semantics.py`) always, and
PyTorch itself when it is importable. float64, to 1e-10."""
import importlib.util

import numpy as np
import pytest

from golden_semantics import CASES, FIXTURES, inputs_for, run_ours, run_torch

TOL = dict(rtol=1e-10, atol=1e-10)


@pytest.fixture(scope="module")
def stored():
    with np.load(FIXTURES) as f:
        return dict(f)


def _compare(ours, value, grads, extras):
    np.testing.assert_allclose(ours[0], value, **TOL)
    for i, (g_ours, g) in enumerate(zip(ours[1], grads)):
        np.testing.assert_allclose(g_ours, g, **TOL, err_msg=f"gradient of input {i}")
    assert len(ours[2]) == len(extras)
    for i, ((e_ours, dtype_ours), (e, dtype)) in enumerate(zip(ours[2], extras)):
        assert dtype_ours == dtype, f"extra {i}: dtype {dtype_ours}, PyTorch's {dtype}"
        assert e_ours.shape == e.shape, f"extra {i}: shape {e_ours.shape}, PyTorch's {e.shape}"
        np.testing.assert_allclose(e_ours, e, **TOL, err_msg=f"extra {i}")


@pytest.mark.parametrize("name", CASES)
def test_against_stored_pytorch_values(name, stored):
    arrays = [stored[f"{name}/input{i}"] for i in range(len(CASES[name][1]))]
    count = sum(1 for k in stored if k.startswith(f"{name}/extra") and not k.endswith("_dtype"))
    extras = [(stored[f"{name}/extra{i}"], str(stored[f"{name}/extra{i}_dtype"]))
              for i in range(count)]
    grads = [stored[f"{name}/grad{i}"] for i in range(len(arrays))]
    _compare(run_ours(name, arrays), stored[f"{name}/value"], grads, extras)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
@pytest.mark.parametrize("name", CASES)
def test_against_live_pytorch(name):
    arrays = inputs_for(name)
    _compare(run_ours(name, arrays), *run_torch(name, arrays))
