"""The tinygrad-seq command line: refusals with exit status 2, resume, Ctrl-C, sampling."""
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tinygrad_seq import cli

SMALL = ["--hidden", "8", "--seq-len", "10", "--batch", "8"]


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "tinygrad_seq", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "tiny.txt"
    path.write_text("hello world, this is a tiny corpus. " * 40, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def charlm_checkpoint(tmp_path_factory, text_file):
    out = tmp_path_factory.mktemp("charlm")
    done = run("train", "--text", text_file, "--steps", 3, "--hidden", 16, "--seq-len", 8,
               "--batch", 4, "--out", out)
    assert done.returncode == 0, done.stderr
    assert "held-out: loss" in done.stdout and "bpc" in done.stdout
    return out / "checkpoint.npz"


def test_refusals_exit_with_status_2(tmp_path, text_file):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 cr\xe8me".encode("latin1"))
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"\x00" * 64)
    cases = [
        (["train", "--task", "poetry"], "invalid choice: 'poetry'"),
        (["train", "--cell", "transformer"], "invalid choice: 'transformer'"),
        (["train", "--text", tmp_path / "missing.txt"], "no file at"),
        (["train", "--text", empty], "is empty"),
        (["train", "--text", latin1], "is not UTF-8 text"),
        (["train", "--hidden", "0"], "must be positive"),
        (["train", "--batch", "many"], "expected a number"),
        (["train", "--task", "adding", "--tbptt", "5"], "--tbptt needs a task with a loss"),
        (["train", "--resume", corrupt], "is not a tinygrad-seq checkpoint"),
        (["train", "--resume", tmp_path / "none.npz"], "no checkpoint at"),
        (["sample", "--checkpoint", corrupt], "is not a tinygrad-seq checkpoint"),
    ]
    for args, message in cases:
        done = run(*args, "--out", tmp_path) if args[0] == "train" else run(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)


def test_mismatched_checkpoint_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "a"
    assert run("train", "--task", "adding", "--cell", "gru", *SMALL, "--steps", 2,
               "--out", out).returncode == 0
    before = (out / "checkpoint.npz").read_bytes()
    done = run("train", "--resume", out / "checkpoint.npz", "--hidden", 16, "--steps", 4,
               "--out", out)
    assert done.returncode == 2
    assert "does not match the requested model: hidden is 8 there, 16 requested" in done.stderr
    done = run("train", "--resume", out / "checkpoint.npz", "--cell", "lstm", "--out", out)
    assert done.returncode == 2 and "cell is 'gru' there" in done.stderr
    assert (out / "checkpoint.npz").read_bytes() == before


def test_resume_equals_uninterrupted_training(tmp_path):
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    common = ["--task", "adding", "--cell", "lstm", *SMALL, "--seed", 3]
    assert run("train", *common, "--steps", 6, "--out", whole).returncode == 0
    assert run("train", *common, "--steps", 3, "--out", halves).returncode == 0
    done = run("train", "--resume", halves / "checkpoint.npz", "--steps", 6, "--out", halves)
    assert done.returncode == 0, done.stderr
    with np.load(whole / "checkpoint.npz") as a, np.load(halves / "checkpoint.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            assert np.array_equal(a[key], b[key]), key     # weights, Adam state, step, rng


def test_ctrl_c_saves_a_loadable_checkpoint(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_seq", "train", "--task", "adding",
                             *SMALL, "--minutes", "5", "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("training")
        time.sleep(3)                       # some steps
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "checkpoint saved to" in out
    task, model, opt, config, state = cli.load_checkpoint(tmp_path / "checkpoint.npz")
    assert state["step"] > 0 and config["task"] == "adding"


def test_sample_and_gradflow(charlm_checkpoint, tmp_path):
    done = run("sample", "--checkpoint", charlm_checkpoint, "--prime", "h\u20ac", "--length", 20)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("h\u20ac") and len(done.stdout.rstrip("\n")) == 22
    done = run("gradflow", "--checkpoint", charlm_checkpoint, "--steps", 6, "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "gradflow.svg").exists() and (tmp_path / "gradnorms.png").exists()
    done = run("sample", "--checkpoint", charlm_checkpoint, "--temperature", "0")
    assert done.returncode == 2 and "must be positive" in done.stderr


def test_gradflow_pictures(tmp_path):
    out = tmp_path / "m"
    assert run("train", "--task", "classify", "--cell", "gru", *SMALL, "--steps", 2,
               "--out", out).returncode == 0
    done = run("gradflow", "--checkpoint", out / "checkpoint.npz", "--out", out)
    assert done.returncode == 0, done.stderr
    assert (out / "gradflow.svg").read_text().lstrip().startswith("<?xml")
    assert (out / "gradnorms.png").read_bytes()[:4] == b"\x89PNG"


def test_render_and_tbptt(tmp_path, text_file):
    done = run("render", "--cell", "gru", "--steps", 3, "--view", "rolled",
               "--out", tmp_path / "g.svg")
    assert done.returncode == 0, done.stderr
    done = run("train", "--text", text_file, "--tbptt", 4, "--steps", 2, "--hidden", 8,
               "--seq-len", 8, "--batch", 4, "--out", tmp_path)
    assert done.returncode == 0, done.stderr


def test_demo_runs_end_to_end(tmp_path):
    done = run("demo", "--steps", 2, "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "held-out bits per character" in done.stdout and "sample" in done.stdout
    assert (tmp_path / "gradflow.svg").exists() and (tmp_path / "gradnorms.png").exists()
    assert (tmp_path / "checkpoint.npz").exists()
