"""The recurrent benchmarks still run: one row each, for our own variants, a few steps.

They run in their own process, as the benchmarks do: rnn_profile.py patches the ops' classes to
time them. Timings are not checked (speed is measured in benchmarks, not asserted in tests).
"""
import json
import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).parent.parent / "benchmarks"


def _row(script, variant):
    out = subprocess.run([sys.executable, str(BENCHMARKS / script), "--json", "--workload",
                          "charlm", "--cell", "RNN", "--variant", variant, "--steps", "2"],
                         check=True, capture_output=True, text=True, timeout=300).stdout
    return json.loads(out)


@pytest.mark.parametrize("variant", ["fused", "composed"])
def test_rnn_benchmark_row(variant):
    row = _row("rnn.py", variant)
    assert row["ms"] > 0 and row["mb"] >= 0


@pytest.mark.parametrize("variant", ["fused", "composed"])
def test_rnn_profile_row_splits_the_step_by_kind(variant):
    row = _row("rnn_profile.py", variant)
    assert row["plain"] > 0 and row["total"] > 0
    kinds = row["ms"]
    assert kinds["GEMM"] > 0     # the head at least; every matrix product for composed
    if variant == "fused":
        assert kinds["fused products"] > 0 and kinds["fused cells"] > 0
        assert kinds["fused loops other"] > 0 and kinds["fused Python"] > 0
    else:
        assert kinds["element-wise"] > 0 and kinds["grad norms"] > 0
    assert sum(kinds.values()) == pytest.approx(row["total"])


def test_rnn_curves_fused_and_composed_agree():
    """Two Adam steps of the full charlm workload: the fused and composed curves agree to
    float32 rounding (relative 1e-5, where the whole curve's float32 noise is ~1e-7 here)."""
    out = subprocess.run([sys.executable, str(BENCHMARKS / "rnn_curves.py"), "--workload",
                          "charlm", "--cell", "LSTM", "--steps", "2"],
                         check=True, capture_output=True, text=True, timeout=600).stdout
    rows = [line for line in out.splitlines() if line.startswith("| charlm")]
    assert len(rows) == 1
    fused_vs_composed, composed_vs_64, fused_vs_64 = map(float, rows[0].split("|")[-4:-1])
    assert max(fused_vs_composed, composed_vs_64, fused_vs_64) < 1e-5


@pytest.mark.parametrize("workload", ["encoder_layer", "mha"])
def test_attention_benchmark_row(workload):
    out = subprocess.run([sys.executable, str(BENCHMARKS / "attention.py"), "--workload",
                          workload, "--library", "tinygrad_seq", "--steps", "1", "--warmup",
                          "0"],
                         check=True, capture_output=True, text=True, timeout=300).stdout
    assert json.loads(out) > 0
