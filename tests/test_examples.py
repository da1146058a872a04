"""Every example runs to the end in a quick mode and prints the line that says what it showed."""
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = sorted((pathlib.Path(__file__).parent.parent / "examples").glob("[0-9]*.py"))
# name -> (arguments for a run of a few seconds, text its output must contain); "{out}" becomes
# a temporary folder so that no example writes into the repository
QUICK_ARGS = {
    "01_rnn_from_primitives.py": (["--steps", "3"], "held-out accuracy"),
    "02_seed_lstm_classification.py": (["--epochs", "2", "--samples", "50", "--labels",
                                        "learnable", "--batch-size", "16"], "held-out accuracy"),
    "03_autodiff_by_hand.py": ([], "the tape agrees with the chain rule by hand"),
    "04_tensors_and_broadcasting.py": ([], "every gradient has its input's shape"),
    "05_gradcheck.py": ([], "gradcheck caught the wrong backward"),
    "06_lstm_gru_from_primitives.py": (["--seq-len", "4"], "match nn.GRU"),
    "07_bptt_and_truncated_bptt.py": (["--quick"], "final loss"),
    "08_vanishing_gradients.py": (["--quick", "--out", "{out}"], "pictures in"),
    "09_char_language_model.py": (["--quick", "--out", "{out}"],
                                  "sample from the reloaded model is identical: True"),
    "10_explore_backprop.py": (["--quick", "--no-open", "--out", "{out}"],
                               "open it in any browser, offline"),
    "11_attention_from_primitives.py": (["--length", "8"],
                                        "gradcheck of the hand-written attention: True"),
    "12_seq2seq_with_and_without_attention.py": (["--steps", "10", "--length", "3"],
                                                 "attention's one hop carries"),
    "13_small_transformer.py": (["--steps", "10", "--length", "3"], "at steps 0-1 by 0.0e+00"),
}


def test_every_example_has_a_quick_mode():
    assert sorted(QUICK_ARGS) == [p.name for p in EXAMPLES]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path, tmp_path):
    args, expected = QUICK_ARGS[path.name]
    args = [a.replace("{out}", str(tmp_path)) for a in args]
    result = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout, result.stdout[-2000:]
