"""Typical PyTorch programs run with only their imports changed (tests/ports/) and reach
PyTorch's losses from the same weights: a polynomial fit with manual SGD (tensors, and the
loop over model.parameters()), the character-RNN name classifier with its cell built from
nn.Linear, the LSTM part-of-speech tagger, and the word-level language model (tied weights,
dropout, repackage_hidden, clip_grad_norm_), for an LSTM and a GRU. The stored results come
from `python tests/golden_ports.py`; the live comparison runs when PyTorch is importable."""
import os

import numpy as np
import pytest

from golden_ports import FIXTURES, HERE, RUNS, word_lm
from porting import HAS_TORCH

# float64 runs agree to rounding; the polynomial fit runs in float32 as the tutorial does
# ("dtype = torch.float"), where the two libraries sum 2,000 terms in different orders
TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-5, atol=1e-5)}
FLOAT32 = {("polynomial", "losses"), ("polynomial", "coefficients")}


@pytest.fixture(scope="module")
def stored():
    with np.load(FIXTURES) as f:
        return dict(f)


def _compare(name, ours, theirs):
    assert sorted(ours) == sorted(theirs)
    for key, value in ours.items():
        tol = TOL["float32" if (name, key) in FLOAT32 else "float64"]
        np.testing.assert_allclose(value, theirs[key], **tol, err_msg=f"{name}: {key}")


@pytest.mark.parametrize("name", RUNS)
def test_port_reaches_pytorchs_stored_results(name, stored):
    ours = RUNS[name]("ours")
    _compare(name, ours, {k.split("/", 1)[1]: v for k, v in stored.items()
                          if k.startswith(f"{name}/")})
    losses = np.ravel(ours["losses"])
    quarter = max(1, len(losses) // 4)
    assert losses[-quarter:].mean() < losses[:quarter].mean()    # each program does learn


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed")
@pytest.mark.parametrize("name", RUNS)
def test_port_reaches_pytorchs_results_live(name):
    _compare(name, RUNS[name]("ours"), RUNS[name]("torch"))


def test_only_the_imports_name_tinygrad_seq():
    folder = os.path.join(HERE, "ports")
    for file in os.listdir(folder):
        with open(os.path.join(folder, file)) as f:
            body = [line for line in f if not line.startswith(("import ", "from "))]
        assert not [line for line in body if "tinygrad_seq" in line], file


def test_word_language_model_with_dropout_trains_and_ties_its_weights():
    result = word_lm("ours", dropout=0.3)
    assert result["tied"] and result["losses"][-1].mean() < result["losses"][0][:3].mean()
    assert np.isfinite(result["val_loss"])
