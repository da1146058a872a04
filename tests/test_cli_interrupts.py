"""Training that never loses work, tested with real signals sent to real `tinygrad-seq train`
processes at random moments: whatever the moment (start-up, inside a step, inside a save, a
second signal during the save), the checkpoint left is byte-identical to an uninterrupted
run's at the same step, and the run resumed from it ends with the uninterrupted run's final
checkpoint; `kill -9` at random moments leaves only such checkpoints (each one loads and
resumes) and no pile of temporary files.

The assertions are about equality and exit statuses, never about speed: signals are sent at
random delays after training has started, and a run that ends before its signal arrives just
does not count as an interrupt.
"""
import hashlib
import json
import random
import re
import signal
import subprocess
import sys
import time

import pytest

from tinygrad_seq import nn, training

ADDING = ["--task", "adding", "--cell", "lstm", "--hidden", "8", "--seq-len", "10",
          "--batch", "8", "--seed", "3"]
STEPS = {"adding": 1200, "charlm": 600}
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
# Starts the command with the three signals at their defaults (or ignored, as under nohup),
# whatever this process inherited: a background job's SIGINT is ignored, and an ignored signal
# stays ignored in the command, as in Python itself.
TRAMPOLINE = """
import os, signal, sys
ignored = {int(s) for s in sys.argv[1].split(",") if s}
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN if s in ignored else signal.SIG_DFL)
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


def start(args, stderr_path, ignore=(), python=("-m", "tinygrad_seq")):
    """A `tinygrad-seq` process in its own session (no terminal signal reaches it)."""
    ignored = ",".join(str(int(s)) for s in ignore)
    return subprocess.Popen([sys.executable, "-c", TRAMPOLINE, ignored, *python, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=open(stderr_path, "w"), text=True,
                            start_new_session=True)


def wait_for_training(proc):
    """Read stdout up to the "training ..." line; False if the process ended first."""
    for line in proc.stdout:
        if line.startswith("training "):
            return True
    return False


def step_of(path):
    return nn.utils.read_extras(path)["step"]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "tiny.txt"
    path.write_text("the quick brown fox jumps over the lazy dog; " * 30, encoding="utf-8")
    return path


# An uninterrupted run that records the SHA-256 of its checkpoint after every step (the same
# bytes as any run's at that step: --save-every changes no state; fsync is skipped for speed).
RECORDER = """
import hashlib, json, os, sys
from tinygrad_seq import cli, training
os.fsync = lambda fd: None
real_save, hashes = training.save_checkpoint, {}
def save_checkpoint(out_dir, model, opt, config, state):
    path = real_save(out_dir, model, opt, config, state)
    hashes[state["step"]] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return path
training.save_checkpoint = save_checkpoint
status = cli.main()
json.dump(hashes, open(sys.argv[-1] + "/hashes.json", "w"))
sys.exit(status)
"""


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def configs(tmp_path_factory, text_file):
    """name -> (training arguments, {step: SHA-256 of an uninterrupted run's checkpoint})."""
    found = {}
    for name, args in (("adding", ADDING),
                       ("charlm", ["--text", text_file, "--cell", "gru", "--hidden", "8",
                                   "--seq-len", "12", "--batch", "4", "--tbptt", "4"])):
        args = ["train", *args, "--steps", STEPS[name]]
        out = tmp_path_factory.mktemp(f"reference-{name}")
        done = subprocess.run([sys.executable, "-c", RECORDER, *map(str, args), "--save-every",
                               "1", "--out", out], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        hashes = {int(step): h for step, h in json.loads((out / "hashes.json").read_text()).items()}
        assert sorted(hashes) == list(range(1, STEPS[name] + 1))
        assert hashes[STEPS[name]] == sha256(out / "checkpoint.npz")
        found[name] = (args, hashes)
    return found


HANDLED = 21     # interrupts the command must handle (more land before it has started)


def run_to_the_end(args, reference, out, stderr_path, rng, kinds, landed, at_steps):
    """Start, interrupt and resume one run until it ends by itself; a signal (of a kind drawn
    from `kinds`) is sent to each process until HANDLED of them were handled overall. After
    every interrupt the checkpoint left must be, byte for byte, the uninterrupted run's at the
    same step (its SHA-256 in `reference`)."""
    checkpoint, total = out / "checkpoint.npz", args[args.index("--steps") + 1]
    while not (checkpoint.exists() and step_of(checkpoint) == total):
        resume = ["--resume", checkpoint] if checkpoint.exists() else []
        kind = rng.choice(kinds) if handled(landed) < HANDLED else None
        sig = {"SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP, "start-up": rng.choice(
            list(EXIT))}.get(kind, signal.SIGINT)
        proc = start([*args, "--out", out, *resume], stderr_path)
        try:
            if kind == "start-up":
                time.sleep(rng.uniform(0, 1.2))
            else:           # the first step takes ~0.6 s here: numba loads its kernels
                wait_for_training(proc)
                time.sleep(rng.uniform(0, 1.5))
            if kind is not None:
                proc.send_signal(sig)
                if kind == "double SIGINT":
                    time.sleep(rng.uniform(0, 0.03))
                    proc.send_signal(sig)
            stdout, _ = proc.communicate(timeout=600)
        finally:
            proc.kill()
        stderr = stderr_path.read_text()
        if proc.returncode == 0:
            assert "held-out:" in stdout and "Traceback" not in stderr, stderr
            return          # it ended before the signal came
        step = step_of(checkpoint) if checkpoint.exists() else 0
        if step:
            assert sha256(checkpoint) == reference[step], (kind, stdout)
        if proc.returncode == EXIT[sig]:
            assert "Traceback" not in stderr, stderr
            landed.append(kind)
            at_steps.append(step)
        else:
            # Python's own reaction to a signal before the command has started (Python is
            # still importing numpy and the package): killed by the signal, or for SIGINT a
            # KeyboardInterrupt traceback (exit 1 if it hit the `site` import); nothing printed
            # or written yet
            assert kind == "start-up" and not stdout and proc.returncode in (-sig, 1), (
                kind, proc.returncode, stdout, stderr)
            assert not re.search(r'cli\.py", line \d+, in main', stderr), stderr
            landed.append("before the command started")


def handled(landed):
    return sum(kind != "before the command started" for kind in landed)


def test_interrupted_and_resumed_runs_end_byte_identical(configs, tmp_path):
    """SIGINT, SIGTERM, SIGHUP, a second SIGINT soon after the first (often inside the save),
    and one of the three in the first 1.2 s, not waiting for training to start (start-up:
    Python's imports, the command's checks, numba loading its kernels), at random moments."""
    rng, landed, at_steps = random.Random(15), [], []
    kinds = ["SIGINT", "SIGTERM", "SIGHUP", "double SIGINT", "start-up"]
    runs = 0
    while handled(landed) < HANDLED:
        name = ("adding", "charlm")[runs % 2]
        args, reference = configs[name]
        out = tmp_path / f"run{runs}"
        run_to_the_end(args, reference, out, tmp_path / "stderr.txt", rng, kinds, landed,
                       at_steps)
        assert sha256(out / "checkpoint.npz") == reference[STEPS[name]], name
        assert [p.name for p in out.iterdir()] == ["checkpoint.npz"]
        runs += 1
    print(f"{len(landed)} interrupts in {runs} runs:", {k: landed.count(k) for k in set(landed)},
          "checkpoints at steps", at_steps)
    assert set(kinds) - {"start-up"} <= set(landed)
    assert {"start-up", "before the command started"} & set(landed)


def saved_once_more(proc, checkpoint, before):
    """Wait until the process has replaced the checkpoint (a new file: a new inode), or ended."""
    while proc.poll() is None:
        if checkpoint.exists() and checkpoint.stat().st_ino != before:
            return
        time.sleep(0.01)


def test_kill_9_at_random_moments_leaves_loadable_checkpoints(configs, tmp_path):
    """Each process is killed at a random moment after its first save, so every run makes
    progress however slow the machine; with --save-every 1 or 7 much of the time goes into
    saves, and many kills land in one."""
    args, reference = configs["adding"]
    out, rng = tmp_path / "killed", random.Random(9)
    checkpoint, steps_seen = out / "checkpoint.npz", []
    for kill in range(16):
        resume = ["--resume", checkpoint] if checkpoint.exists() else []
        before = checkpoint.stat().st_ino if checkpoint.exists() else None
        proc = start([*args, "--save-every", (1, 7)[kill % 2], "--out", out, *resume],
                     tmp_path / "stderr.txt")
        try:
            saved_once_more(proc, checkpoint, before)
            time.sleep(rng.uniform(0, 0.5))
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=600)
        finally:
            proc.kill()
        temporary = [p.name for p in out.iterdir() if p.name != "checkpoint.npz"]
        assert len(temporary) <= 1, temporary         # at most the killed save's
        steps_seen.append(training.load_checkpoint(checkpoint)[4]["step"])  # with all checks
        assert sha256(checkpoint) == reference[steps_seen[-1]]       # the run's, at that step
        if steps_seen[-1] == STEPS["adding"]:
            break
    print("checkpoints after the kills were at steps", steps_seen)
    # each process was killed after saving once more: no kill ever lost a saved step
    assert all(a < b for a, b in zip(steps_seen, steps_seen[1:]))
    if steps_seen[-1] < STEPS["adding"]:
        proc = start([*args, "--out", out, "--resume", checkpoint], tmp_path / "stderr.txt")
        proc.communicate(timeout=600)
        assert proc.returncode == 0, (tmp_path / "stderr.txt").read_text()
    assert [p.name for p in out.iterdir()] == ["checkpoint.npz"]     # temporary files removed
    assert sha256(checkpoint) == reference[STEPS["adding"]]


# Deterministic moments: the command run by a small driver that sends a real signal to its own
# process from inside a chosen function.
DRIVER = """
import os, signal, sys
from tinygrad_seq import cli, nn, training
{patch}
sys.exit(cli.main())
"""


def run_driver(patch, args, tmp_path, ignore=()):
    proc = start(args, tmp_path / "stderr.txt", ignore=ignore,
                 python=("-c", DRIVER.format(patch=patch)))
    stdout, _ = proc.communicate(timeout=600)
    return proc.returncode, stdout, (tmp_path / "stderr.txt").read_text()


def reference_bytes(args, tmp_path):
    done = subprocess.run([sys.executable, "-m", "tinygrad_seq", *map(str, args), "--out",
                           tmp_path / "reference"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return (tmp_path / "reference" / "checkpoint.npz").read_bytes()


def test_signals_during_the_save_wait_for_it(tmp_path):
    """Ctrl-C inside step 5, then Ctrl-C and SIGTERM while the checkpoint is written."""
    patch = """
real_step, real_write, steps = training.train_step, nn.utils._write_npz, []
def train_step(*args):
    steps.append(1)
    if len(steps) == 5:
        os.kill(os.getpid(), signal.SIGINT)
    return real_step(*args)
def write(*args):
    os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGTERM)
    return real_write(*args)
training.train_step, nn.utils._write_npz = train_step, write
"""
    status, stdout, stderr = run_driver(patch, ["train", *ADDING, "--steps", 50, "--out",
                                                tmp_path / "out"], tmp_path)
    assert status == 130, stderr
    assert "SIGINT: stopping after this step" in stderr
    assert stderr.count("saving, please wait") == 2 and "Traceback" not in stderr
    assert "SIGINT at step 5: checkpoint saved to" in stdout
    assert (tmp_path / "out" / "checkpoint.npz").read_bytes() == reference_bytes(
        ["train", *ADDING, "--steps", 5], tmp_path)


def test_a_signal_python_could_not_raise_still_stops_training(tmp_path):
    """The issue's Ctrl-C while numba loads its kernels: the handler's exception raised inside a
    __del__, where Python only prints "Exception ignored"; training must not start."""
    patch = """
real_build = cli.build
class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
def build(*args, **kwargs):
    Finalized()
    return real_build(*args, **kwargs)
cli.build = build
"""
    out = tmp_path / "out"
    status, stdout, stderr = run_driver(patch, ["train", *ADDING, "--steps", 50, "--out", out],
                                        tmp_path)
    assert status == 130 and "Exception ignored" in stderr, stderr
    assert "SIGINT before the first step: nothing new to save" in stdout
    assert not (out / "checkpoint.npz").exists()


def test_a_signal_before_training_or_after_the_last_save_stops_at_once(tmp_path):
    patch = """
real_build = cli.build
def build(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    return real_build(*args, **kwargs)
cli.build = build
"""
    out = tmp_path / "out"
    status, stdout, stderr = run_driver(patch, ["train", *ADDING, "--steps", 50, "--out", out],
                                        tmp_path)
    assert status == 143 and "stopped by SIGTERM" in stderr and "Traceback" not in stderr
    assert "training" not in stdout and not out.exists()
    patch = """
real_evaluate = training.Adding.evaluate
def evaluate(*args):
    os.kill(os.getpid(), signal.SIGHUP)
    return real_evaluate(*args)
training.Adding.evaluate = evaluate
"""
    status, stdout, stderr = run_driver(patch, ["train", *ADDING, "--steps", 50, "--out", out],
                                        tmp_path)
    assert status == 129 and "stopped by SIGHUP" in stderr and "held-out" not in stdout
    assert (out / "checkpoint.npz").read_bytes() == reference_bytes(
        ["train", *ADDING, "--steps", 50], tmp_path)


def test_ignored_signals_stay_ignored(tmp_path):
    """nohup (SIGHUP ignored) and a background job (SIGINT ignored): the run goes on."""
    proc = start(["train", *ADDING, "--steps", 600, "--out", tmp_path / "out"],
                 tmp_path / "stderr.txt", ignore=(signal.SIGHUP, signal.SIGINT))
    try:
        wait_for_training(proc)
        proc.send_signal(signal.SIGHUP)
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "held-out" in stdout
