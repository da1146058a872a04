"""Values and gradients of core compositions against PyTorch, to 1e-10 in float64.

The stored fixtures come from `python tests/golden_core.py` with PyTorch installed; the live
comparison runs too when PyTorch is importable.
"""
import importlib.util

import numpy as np
import pytest

from golden_core import CASES, FIXTURES, inputs_for, run_ours, run_torch

TOL = dict(rtol=1e-10, atol=1e-10)


@pytest.fixture(scope="module")
def stored():
    with np.load(FIXTURES) as f:
        return dict(f)


@pytest.mark.parametrize("name", CASES)
def test_against_stored_pytorch_values(name, stored):
    arrays = [stored[f"{name}/input{i}"] for i in range(len(CASES[name][1]))]
    value, grads = run_ours(name, arrays)
    np.testing.assert_allclose(value, stored[f"{name}/value"], **TOL)
    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, stored[f"{name}/grad{i}"], **TOL, err_msg=f"grad{i}")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
@pytest.mark.parametrize("name", CASES)
def test_against_live_pytorch(name):
    arrays = inputs_for(name)
    ours, theirs = run_ours(name, arrays), run_torch(name, arrays)
    np.testing.assert_allclose(ours[0], theirs[0], **TOL)
    for g_ours, g_theirs in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(g_ours, g_theirs, **TOL)
