"""PyTorch's semantics and API coverage against PyTorch itself, to 1e-10 in float64: the
stored fixtures (from `python tests/golden_semantics.py` and `python tests/golden_api.py`)
always, and PyTorch live when it is importable. Cases and harness: golden*.py."""
import importlib.util

import numpy as np
import pytest

import golden
import golden_api
import golden_semantics

FAMILIES = {"semantics": golden_semantics, "api": golden_api}
CASES = [(family, name) for family, module in FAMILIES.items() for name in module.CASES]


@pytest.fixture(scope="module")
def stored():
    out = {}
    for family, module in FAMILIES.items():
        with np.load(module.FIXTURES) as f:
            out[family] = dict(f)
    return out


@pytest.mark.parametrize("family, name", CASES)
def test_against_stored_pytorch_values(family, name, stored):
    cases = FAMILIES[family].CASES
    arrays, value, grads, extras = golden.stored_case(stored[family], cases, name)
    golden.compare(golden.run_ours(cases, name, arrays), value, grads, extras)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")   # kl_div's mean, on purpose
@pytest.mark.parametrize("family, name", CASES)
def test_against_live_pytorch(family, name):
    cases = FAMILIES[family].CASES
    arrays = golden.inputs_for(cases, name)
    golden.compare(golden.run_ours(cases, name, arrays), *golden.run_torch(cases, name, arrays))
