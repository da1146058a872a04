"""pytorch/examples' sine-wave time sequence prediction (two LSTMCells and a Linear trained
with LBFGS), written as for PyTorch with only the imports changed, reaches PyTorch's losses
from PyTorch's initial weights."""
import importlib.util

import numpy as np
import pytest

from golden_port_time_sequence import FIXTURES, run

# 40 closure calls (LBFGS, 2 steps) each feed the last one's rounding back into the weights;
# the worst difference measured against PyTorch is 2e-11 on losses of 0.5 to 5e-4
TOL = dict(rtol=1e-9, atol=1e-12)


@pytest.fixture(scope="module")
def stored():
    with np.load(FIXTURES) as f:
        return dict(f)


@pytest.fixture(scope="module")
def ours(stored):
    """Our run from PyTorch's initial weights."""
    weights = {k[len("weight/"):]: v for k, v in stored.items() if k.startswith("weight/")}
    return run("ours", weights)


def test_reaches_pytorchs_losses_from_the_same_weights(ours, stored):
    assert len(ours["losses"]) == len(stored["losses"]) == 40
    np.testing.assert_allclose(ours["losses"], stored["losses"], **TOL)
    np.testing.assert_allclose(ours["test_losses"], stored["test_losses"], **TOL)
    np.testing.assert_allclose(ours["prediction"], stored["prediction"], **TOL)
    assert ours["losses"][-1] < ours["losses"][0] / 100        # it did learn the waves


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
def test_live_against_pytorch(ours, stored):
    theirs = run("torch")
    for name, value in theirs["weights"].items():                 # the fixture is PyTorch's
        np.testing.assert_array_equal(value, stored[f"weight/{name}"])
    for key in ("losses", "test_losses", "prediction"):
        np.testing.assert_allclose(ours[key], theirs[key], **TOL, err_msg=key)
