"""The padded-and-packed batch classifier port (tests/ports/packed_classifier.py): PyTorch code
with only its imports changed reaches PyTorch's loss after every Adam step from the same
weights, to 1e-10 in float64 (the stored curve without PyTorch; live when it is importable).
"""
import numpy as np
import pytest

from golden_packed import HAS_TORCH, PORT, TOL, load_fixtures, run_port


def test_only_the_imports_name_tinygrad_seq():
    with open(PORT) as f:
        body = [line for line in f if not line.startswith(("import ", "from "))]
    assert not [line for line in body if "tinygrad_seq" in line]


def test_losses_match_pytorchs_stored_curve():
    losses, accuracy = run_port("ours")
    stored = load_fixtures()
    np.testing.assert_allclose(losses, stored["port/losses"], **TOL)
    assert accuracy == stored["port/accuracy"]
    assert len(losses) == 12 and losses[-1] < 0.9 * losses[0]   # it trains


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed")
def test_losses_match_pytorch_live():
    (ours, our_accuracy), (theirs, their_accuracy) = run_port("ours"), run_port("torch")
    np.testing.assert_allclose(ours, theirs, **TOL)
    assert our_accuracy == their_accuracy
