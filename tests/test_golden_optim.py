"""Adagrad, parameter groups, zero_grad, step(closure), L-BFGS and the lr schedulers against
PyTorch: the stored fixtures (`python tests/golden_optim.py`) without PyTorch, and PyTorch
itself when it is importable."""
import importlib.util

import numpy as np
import pytest

from golden_optim import (CLOSED_FORM, FIXTURES, FLOAT32_CASE, LBFGS_CASES, OPTIMIZERS,
                          SCHEDULERS, run_closed_form, run_lbfgs, run_optimizer, run_scheduler)

TOL = dict(rtol=1e-10, atol=1e-10)
# L-BFGS runs 5 to 50 iterations per case, each feeding the last one's rounding (a matmul or a
# dot summed in another order than PyTorch's) into a line search and a history; the worst
# difference measured over the ten steps is 5e-11.
LBFGS_TOL = dict(rtol=1e-9, atol=1e-9)
# float32: rounding starts at 6e-8 and compounds over 30 iterations (measured: 1.6e-6).
FLOAT32_TOL = dict(rtol=1e-5, atol=1e-5)
live = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                          reason="PyTorch not installed")


@pytest.fixture(scope="module")
def stored():
    with np.load(FIXTURES) as f:
        return dict(f)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_matches_stored_pytorch(name, stored):
    ours = run_optimizer("ours", name)
    for key, value in ours.items():
        np.testing.assert_allclose(value, stored[f"optim/{name}/{key}"], **TOL, err_msg=key)


@pytest.mark.parametrize("name", LBFGS_CASES)
def test_lbfgs_matches_stored_pytorch(name, stored):
    ours = run_lbfgs("ours", name)
    np.testing.assert_array_equal(ours["counts"], stored[f"lbfgs/{name}/counts"])
    for key in ("trajectory", "losses"):
        np.testing.assert_allclose(ours[key], stored[f"lbfgs/{name}/{key}"], **LBFGS_TOL,
                                   err_msg=key)


def test_lbfgs_float32_matches_stored_pytorch(stored):
    ours = run_lbfgs("ours", FLOAT32_CASE, "float32")
    assert ours["trajectory"].dtype == np.float32
    np.testing.assert_array_equal(ours["counts"], stored[f"lbfgs_float32/{FLOAT32_CASE}/counts"])
    np.testing.assert_allclose(ours["trajectory"],
                               stored[f"lbfgs_float32/{FLOAT32_CASE}/trajectory"], **FLOAT32_TOL)


@pytest.mark.parametrize("name", SCHEDULERS)
def test_scheduler_matches_stored_pytorch_exactly(name, stored):
    # the same formulas in the same order: the same bits
    np.testing.assert_array_equal(run_scheduler("ours", name), stored[f"scheduler/{name}"])


@pytest.mark.parametrize("name", CLOSED_FORM)
def test_closed_form_matches_stored_pytorch_exactly(name, stored):
    np.testing.assert_array_equal(run_closed_form("ours", name), stored[f"closed_form/{name}"])


@live
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_live_optimizer(name):
    ours, theirs = run_optimizer("ours", name), run_optimizer("torch", name)
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], **TOL, err_msg=key)


@live
@pytest.mark.parametrize("name", LBFGS_CASES)
def test_live_lbfgs(name):
    ours, theirs = run_lbfgs("ours", name), run_lbfgs("torch", name)
    np.testing.assert_array_equal(ours["counts"], theirs["counts"])
    for key in ("trajectory", "losses"):
        np.testing.assert_allclose(ours[key], theirs[key], **LBFGS_TOL, err_msg=key)


@live
def test_live_lbfgs_float32():
    ours, theirs = run_lbfgs("ours", FLOAT32_CASE, "float32"), \
        run_lbfgs("torch", FLOAT32_CASE, "float32")
    np.testing.assert_array_equal(ours["counts"], theirs["counts"])
    np.testing.assert_allclose(ours["trajectory"], theirs["trajectory"], **FLOAT32_TOL)


@live
@pytest.mark.parametrize("name", SCHEDULERS)
def test_live_scheduler(name):
    np.testing.assert_array_equal(run_scheduler("ours", name), run_scheduler("torch", name))


@live
@pytest.mark.parametrize("name", CLOSED_FORM)
def test_live_closed_form(name):
    np.testing.assert_array_equal(run_closed_form("ours", name), run_closed_form("torch", name))
