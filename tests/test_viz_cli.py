"""`tinygrad-seq gradflow` and the demo: the gradient-flow report printed, the graph and the
heatmaps written."""
import pathlib
import subprocess
import sys

from tinygrad_seq import cli


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "tinygrad_seq", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def test_gradflow_prints_the_report_and_writes_the_heatmaps(tmp_path):
    out = tmp_path / "m"
    assert run("train", "--task", "adding", "--cell", "lstm", "--hidden", 8, "--seq-len", 30,
               "--batch", 8, "--steps", 2, "--out", out).returncode == 0
    done = run("gradflow", "--checkpoint", out / "checkpoint.npz", "--out", out)
    assert done.returncode == 0, done.stderr
    report = done.stdout
    assert report.startswith("Gradient flow: ||dL/dh_t|| by time step")
    assert "LSTM rnn.l0 (forward, 30 steps, fused)" in report
    assert "gates saturated (below 0.01 or above 0.99)" in report     # retain_graph kept them
    assert "\nVerdict: the gradient reaching t=0 is" in report
    for name in ("gradflow.svg", "gradnorms.png", "heatmap.png"):
        assert f"wrote {out / name}" in report
    assert (out / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "gradflow.svg").read_text().lstrip().startswith("<?xml")


def test_the_demo_prints_the_report_and_writes_the_heatmaps(tmp_path, capsys):
    assert cli.main(["demo", "--steps", "1", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "LSTM rnn.l0 (forward, 24 steps, fused)" in printed and "Verdict: " in printed
    assert f"heatmaps of gradient and gate saturation over time: {tmp_path / 'heatmap.png'}" \
        in printed
    for name in ("gradflow.svg", "gradnorms.png", "heatmap.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_the_gallery_draws_the_demo_pictures_as_the_demo_does(tmp_path, monkeypatch):
    """viz/make_gallery.py's demo pictures come from the demo's own model (cli.demo_model): a
    renamed helper there once broke the gallery without any test noticing."""
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parent.parent / "viz"))
    import make_gallery
    monkeypatch.setattr(make_gallery, "HERE", str(tmp_path))
    monkeypatch.setattr(make_gallery, "DEMO_TRAIN_STEPS", 1)
    make_gallery.demo_pictures()
    report = (tmp_path / "demo_report.txt").read_text()
    assert report.startswith("the demo's LSTM after 1 training steps")
    assert "LSTM rnn.l0 (forward, 24 steps, fused)" in report and "Verdict: " in report
    for name in ("demo_gradflow.svg", "demo_gradnorms.png", "demo_heatmap.png"):
        assert (tmp_path / name).stat().st_size > 1000
