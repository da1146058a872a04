"""Packed sequences against PyTorch, to 1e-10 in float64 (integer outputs exactly): the
nn.utils.rnn helpers' values and gradients, and RNN/LSTM/GRU fed a PackedSequence on both paths
(outputs, final states, the gradients of every sequence, initial state and parameter).

Fixtures come from `python tests/golden_packed.py` (see there for the cases); the live
comparisons run when PyTorch is importable, over every layer option and packing.
"""
import numpy as np
import pytest

from golden_packed import (EVERY_LAYER, HAS_TORCH, HELPERS, LAYERS, TOL, load, load_fixtures,
                           run_helper, run_layer)


@pytest.fixture(scope="module")
def stored():
    return load_fixtures()


def compare(ours, theirs, exact=False):
    """Same names, shapes and dtypes; integers equal, floats to 1e-10 (or equal: exact)."""
    for got, want in zip(ours, theirs):
        assert sorted(got) == sorted(want)
        for k, w in want.items():
            g = got[k]
            assert g.shape == w.shape and g.dtype.kind == w.dtype.kind, (k, g.shape, w.shape)
            if exact or w.dtype.kind != "f":
                np.testing.assert_array_equal(g, w, err_msg=k)
            else:
                np.testing.assert_allclose(g, w, **TOL, err_msg=k)


@pytest.mark.parametrize("fused", [False, True], ids=["composed", "fused"])
@pytest.mark.parametrize("name", LAYERS)
def test_packed_layer_matches_pytorch(name, fused, stored):
    compare(run_layer("ours", name, fused), load(stored, f"layer/{name}"))


@pytest.mark.parametrize("name", HELPERS)
def test_helper_matches_pytorch(name, stored):
    # the helpers only move numbers: values and gradients are PyTorch's bit for bit
    compare(run_helper("ours", name), load(stored, f"helper/{name}"), exact=True)


def test_fixtures_cover_every_layer_option():
    cases = [c for name, c in LAYERS.items() if not name.endswith("_big")]
    for key in (lambda c: (c["cls"], c["kw"].get("nonlinearity"), c["enforce_sorted"],
                           c["batch_first"]),
                lambda c: (c["kw"]["num_layers"], c["kw"]["bidirectional"], c["kw"]["bias"],
                           c["h0"])):
        seen = {key(c) for c in cases}
        assert len(seen) == 16, seen   # 4 modes x 4 packings; 2 x 2 x 2 x 2 options


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed")
@pytest.mark.parametrize("fused", [False, True], ids=["composed", "fused"])
@pytest.mark.parametrize("name", EVERY_LAYER)
def test_live_packed_layer(name, fused):
    compare(run_layer("ours", name, fused), run_layer("torch", name))


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed")
@pytest.mark.parametrize("name", HELPERS)
def test_live_helper(name):
    compare(run_helper("ours", name), run_helper("torch", name), exact=True)
