"""Every example runs to the end in a quick mode."""
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = sorted((pathlib.Path(__file__).parent.parent / "examples").glob("[0-9]*.py"))
QUICK_ARGS = {"01_rnn_from_primitives.py": ["--steps", "3"],
              "02_seed_lstm_classification.py": ["--epochs", "2", "--samples", "50"]}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path):
    result = subprocess.run([sys.executable, str(path), *QUICK_ARGS.get(path.name, [])],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "loss" in result.stdout
