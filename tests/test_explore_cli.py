"""`tinygrad-seq explore`: a page for a new model of a task, or a checkpoint's, recorded from
primitives (the fused layers' numbers), with every leaf's running gradient ending at its .grad;
refusals exit with status 2 and write nothing."""
import numpy as np
import pytest

from tinygrad_seq import cli
from test_explore import page_data


def explore(capsys, *args):
    status = cli.main(["explore", *map(str, args)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_new_model_of_a_task(tmp_path, capsys):
    page = tmp_path / "adding.html"
    status, out, _ = explore(capsys, "--task", "adding", "--cell", "lstm", "--hidden", 8,
                             "--steps", 5, "--out", page)
    assert status == 0 and out.startswith(f"wrote {page}: ")
    data = page_data(page.read_text(encoding="utf-8"))
    assert data["recorded"] and data["view"] == "op"
    assert [s["label"] for s in data["steps"]] == [f"rnn.l0 t={t}" for t in range(5)]
    assert len(data["backward"]) == len(data["nodes"])
    for leaf in data["leaves"]:         # float32: both norms summed in float64, the same
        if leaf["parameter"]:
            assert leaf["shares"][-1][1] == leaf["grad"]["norm"]


def test_a_checkpoints_model_steps_through_the_same_numbers(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--task", "adding", "--cell", "gru", "--hidden", 8, "--seq-len", 20,
                     "--batch", 4, "--steps", 3, "--out", str(out)]) == 0
    capsys.readouterr()
    page = tmp_path / "gru.html"
    status, printed, _ = explore(capsys, "--checkpoint", out / "checkpoint.npz", "--steps", 4,
                                 "--out", page)
    assert status == 0, printed
    html = page.read_text(encoding="utf-8")
    assert "GRU on adding: 4 steps, batch 2 (" in html
    data = page_data(html)
    assert data["formulas"]["sigmoid"].startswith("out = 1 / (1 + e^-a)")
    # the layer ran from primitives: one tape node per op of every step, the gates named
    assert len(data["steps"]) == 4
    names = {o["name"] for n in data["nodes"] for o in n["outputs"]}
    assert {"r_t", "z_t", "n_t", "h_t"} <= names


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "{tmp}/none.npz"], "no checkpoint at"),
    (["--steps", "0"], "--steps: expected an integer >= 1"),
    (["--steps", "201"], "<= 200"),
    (["--out", "{tmp}/missing/page.html"], "does not exist"),
    (["--task", "adding", "--text", "{tmp}/t.txt"], "--text is for --task charlm"),
])
def test_refusals(tmp_path, capfd, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "page.html")]
    try:
        status = cli.main(["explore", *args])
    except SystemExit as stop:                       # argparse's own refusals
        status = stop.code
    assert status == 2 and message in capfd.readouterr().err
    assert not (tmp_path / "page.html").exists()


def test_a_checkpoint_keeps_its_own_settings(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--task", "adding", "--hidden", 8, "--seq-len", 10, "--steps", 1,
                     "--out", str(out)]) == 0
    capsys.readouterr()
    status, _, err = explore(capsys, "--checkpoint", out / "checkpoint.npz", "--cell", "gru",
                             "--out", tmp_path / "page.html")
    assert status == 2 and "--cell comes from the checkpoint" in err
    assert not (tmp_path / "page.html").exists()


def test_the_page_of_a_charlm_model_reads_characters(tmp_path, capsys):
    page = tmp_path / "lm.html"
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat. " * 40, encoding="utf-8")
    status, out, _ = explore(capsys, "--text", text, "--hidden", 8, "--steps", 3, "--out", page)
    assert status == 0, out
    data = page_data(page.read_text(encoding="utf-8"))
    assert data["nodes"][0]["op"] == "embedding" and data["nodes"][-1]["op"] == "cross_entropy"
    assert np.isfinite(data["leaves"][0]["grad"]["norm"])
