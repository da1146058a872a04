"""Cells, unrolled layers (composed and fused) and optimizers against PyTorch, to 1e-10 in float64.

Fixtures come from `python tests/golden_nn.py`; PyTorch's own weights are loaded into our
modules by name (a converted PyTorch state_dict loads directly). The live comparison runs when
PyTorch is importable.
"""
import importlib.util

import numpy as np
import pytest

from golden_nn import CELLS, FIXTURES, LAYERS, OPTIMIZERS, run, run_optimizer

TOL = dict(rtol=1e-10, atol=1e-10)
HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def stored():
    with np.load(FIXTURES) as f:
        return dict(f)


def compare(name, ours, stored):
    for i, o in enumerate(ours["outputs"]):
        np.testing.assert_allclose(o, stored[f"{name}/output{i}"], **TOL, err_msg=f"output{i}")
    for i, g in enumerate(ours["input_grads"]):
        np.testing.assert_allclose(g, stored[f"{name}/input_grad{i}"], **TOL,
                                   err_msg=f"input grad {i}")
    assert set(ours["param_grads"]) == {k.split("/", 2)[2] for k in stored
                                        if k.startswith(f"{name}/grad/")}
    for n, g in ours["param_grads"].items():
        np.testing.assert_allclose(g, stored[f"{name}/grad/{n}"], **TOL, err_msg=n)


def weights_of(name, stored):
    prefix = f"{name}/weight/"
    return {k[len(prefix):]: v for k, v in stored.items() if k.startswith(prefix)}


@pytest.mark.parametrize("fused", [False, True], ids=["composed", "fused"])
@pytest.mark.parametrize("name", CELLS)
def test_cell_matches_pytorch(name, fused, stored):
    compare(name, run("ours", "cell", name, weights_of(name, stored), fused), stored)


@pytest.mark.parametrize("fused", [False, True], ids=["composed", "fused"])
@pytest.mark.parametrize("name", LAYERS)
def test_layer_matches_pytorch(name, fused, stored):
    compare(name, run("ours", "layer", name, weights_of(name, stored), fused), stored)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_steps_match_pytorch(name, stored):
    np.testing.assert_allclose(run_optimizer("ours", name), stored[f"optim/{name}"], **TOL)


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed")
@pytest.mark.parametrize("fused", [False, True], ids=["composed", "fused"])
@pytest.mark.parametrize("kind,name", [("cell", n) for n in CELLS] + [("layer", n) for n in LAYERS])
def test_live_against_pytorch(kind, name, fused):
    theirs = run("torch", kind, name)
    ours = run("ours", kind, name, theirs["weights"], fused)
    for a, b in zip(ours["outputs"] + ours["input_grads"], theirs["outputs"] + theirs["input_grads"]):
        np.testing.assert_allclose(a, b, **TOL)
    for n, g in ours["param_grads"].items():
        np.testing.assert_allclose(g, theirs["param_grads"][n], **TOL, err_msg=n)


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed")
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_live_optimizers(name):
    np.testing.assert_allclose(run_optimizer("ours", name), run_optimizer("torch", name), **TOL)
