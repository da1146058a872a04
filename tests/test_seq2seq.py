"""Sequence to sequence: the models' float64 gradcheck, decoding, the tasks, the gradient paths
and attention pictures, and the command line (`--task reverse|dates --model ...`): settings
checked and bounded, checkpoints that resume bit for bit (also after a signal), gradflow."""
import datetime
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import tinygrad_seq as ts
from tinygrad_seq import cli, data, nn, training, viz

V = 6


def ids(*shape, seed=0):
    return ts.Tensor(np.random.default_rng(seed).integers(2, V, size=shape))


def _params_check(model, fn):
    assert ts.gradcheck(lambda *_: fn(), *model.parameters())


# ------------------------------------------------------------------------------ models
@pytest.mark.parametrize("cell,attention", [("gru", "additive"), ("lstm", "general"),
                                            ("rnn", None)])
def test_gradcheck_seq2seq(cell, attention):
    model = nn.Seq2Seq(V, V, 2, 3, cell=cell, attention=attention, dtype="float64")
    src, tgt_in = ids(3, 2), ids(2, 2, seed=1)
    mask = ts.tensor(np.array([[True, False, False], [False, False, False]]))
    _params_check(model, lambda: model(src, tgt_in, mask)[0])


def test_gradcheck_transformer_seq2seq_and_hybrid():
    model = nn.TransformerSeq2Seq(V, V, 4, 2, 1, 6, max_len=8, dtype="float64")
    _params_check(model, lambda: model(ids(3, 2), ids(2, 2, seed=1))[0])
    hybrid = nn.LSTMSelfAttention(3, 4, num_heads=2, dtype="float64")
    x = ts.tensor(np.random.default_rng(2).standard_normal((3, 2, 3)), requires_grad=True)

    def fn(x, *_):
        y, (h, c), weights = hybrid(x)
        return y.sum() + h.sum() + (weights * weights).sum()
    assert ts.gradcheck(fn, x, *hybrid.parameters())


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_encode_steps_equals_encode(cell):
    model = nn.Seq2Seq(V, V, 3, 4, cell=cell, attention="additive")
    memory, start = model.encode(ids(5, 3))
    states, start_steps = model.encode_steps(ids(5, 3))
    np.testing.assert_allclose(np.stack([s.numpy() for s in states]), memory.numpy(), atol=1e-6)
    for a, b in zip(start if cell == "lstm" else [start],
                    start_steps if cell == "lstm" else [start_steps]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


@pytest.mark.parametrize("kind", ["seq2seq", "transformer"])
def test_greedy_decoding_feeds_back_its_own_guesses(kind):
    ts.manual_seed(0)
    model = nn.Seq2Seq(V, V, 3, 4, attention="additive") if kind == "seq2seq" else \
        nn.TransformerSeq2Seq(V, V, 4, 2, 1, 8)
    src = ids(4, 3)
    with ts.no_grad():
        tokens, weights = model.greedy(src, 5, data.BOS)
        fed = ts.Tensor(np.concatenate([np.full((1, 3), data.BOS), tokens.numpy()[:-1]]))
        logits, _ = model(src, fed)
    assert tokens.shape == (5, 3)
    np.testing.assert_array_equal(logits.argmax(dim=-1).numpy(), tokens.numpy())
    if kind == "seq2seq":
        assert weights.shape == (5, 3, 4)
        np.testing.assert_allclose(weights.numpy().sum(-1), 1, rtol=1e-5)


def test_bad_settings_and_inputs_are_refused():
    with pytest.raises(ValueError, match="cell must be"):
        nn.Seq2Seq(V, V, 2, 3, cell="tanh")
    with pytest.raises(ValueError, match="attention must be"):
        nn.Seq2Seq(V, V, 2, 3, attention="dot")
    with pytest.raises(ValueError, match=r"src must be integer ids of shape \(length, batch\)"):
        nn.Seq2Seq(V, V, 2, 3)(ts.randn(3, 2), ids(2, 2))


@pytest.mark.parametrize("task,model", [("reverse", "seq2seq"), ("dates", "seq2seq-attention"),
                                        ("dates", "transformer")])
@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")   # PyTorch's, on its own
def test_the_pytorch_twin_of_the_results_table_computes_the_same(task, model, monkeypatch):
    """benchmarks/seq2seq_torch.py trains the README's PyTorch rows: from our weights, on one
    batch (dates: with padding), its loss and every parameter's gradient are ours. Both run in
    float32 (the CLI's dtype), summing in different orders: hence 1e-5, not 1e-10."""
    pytest.importorskip("torch")
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parent.parent / "benchmarks"))
    import seq2seq_torch
    config = dict(task=task, cell="gru", model=model, hidden=8, layers=1, seq_len=2, batch=4,
                  lr=3e-3, clip=1.0, embedding=6, seed=3, tbptt=0, dropout=0.0)
    training.check_config(config)
    task_, ours, _ = training.build(config)
    theirs = seq2seq_torch.twin(config, ours)
    batch, y = task_.batch(np.random.default_rng(0), config)
    loss = task_.loss(ours(batch)[0], y)
    loss.backward()
    logits = theirs.net(*seq2seq_torch.as_torch(batch))
    their_loss = seq2seq_torch.nn.functional.cross_entropy(
        logits.reshape(-1, config["symbols"]), seq2seq_torch.torch.tensor(y.numpy()).reshape(-1))
    their_loss.backward()
    np.testing.assert_allclose(loss.item(), their_loss.item(), rtol=1e-5)
    grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name].grad.numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=name)


# ------------------------------------------------------------------------------ tasks
def test_reverse_and_dates():
    src, tgt = data.reverse_sequence(5, 7, np.random.default_rng(0))
    assert src.shape == tgt.shape == (7, 5) and (tgt == src[::-1]).all() and src.min() >= 2
    src, tgt, (sources, targets) = data.dates(50, 3, np.random.default_rng(1))
    assert tgt.shape == (32, 50) and src.shape[0] == max(map(len, sources))
    for j, (text, iso) in enumerate(zip(sources, targets)):
        assert data.decode_dates(src[:, j]) == text and data.decode_dates(tgt[:, j]) == iso
        for written, day in zip(text.split("; "), iso.split(" ")):
            parsed = datetime.date.fromisoformat(day)
            assert str(parsed.year) in written and str(parsed.day) in written
        assert (src[:src.shape[0] - len(text), j] == data.PAD).all()
    assert {s.count(".") > 0 for s in sources} == {True, False}     # several styles


# ------------------------------------------------------------------------------ pictures
def test_gradient_paths_and_the_pictures(tmp_path):
    ts.manual_seed(0)
    src, tgt = data.reverse_sequence(4, 5, np.random.default_rng(0))
    batch = training.Seq2SeqBatch(src, tgt)
    found = {}
    for attention in (None, "additive"):
        model = nn.Seq2Seq(12, 12, 4, 8, attention=attention)
        found[attention] = viz.gradient_paths(model, batch.src, batch.tgt_in, ts.Tensor(tgt))
        assert all(p.grad is None or not p.grad.numpy().any() for p in model.parameters())
    plain, attended = found[None], found["additive"]
    assert plain.total.shape == (5, 5) and plain.direct is None
    assert np.array_equal(plain.chain, plain.total)
    assert (attended.direct > 0).all() and (attended.total > 0).all()
    # the chain alone reaches an encoder step only through the later ones: it grows along s
    assert (np.diff(np.log(attended.chain[-1])) > -1).all()
    text = str(attended)
    assert "recurrent chain alone" in text and "attention's one hop carries" in text
    viz.save(viz.gradient_path_figure({"plain": plain, "attention": attended}),
             tmp_path / "paths.png")
    weights = np.full((3, 4), 0.25)
    viz.save(viz.attention_heatmap(weights, "abcd", "xyz", expected="xyw"), tmp_path / "a.png")
    assert (tmp_path / "paths.png").stat().st_size > 1000
    with pytest.raises(ValueError, match=r"expected weights \(len\(target\), len\(source\)\)"):
        viz.attention_heatmap(weights, "abc", "xyz")


def test_the_graph_views_of_a_seq2seq(monkeypatch):
    """The gallery's small encoder-decoder: the decoder's inputs (tgt_in[t], its embedding)
    are glue outside every scope, and the cell view still names both recurrent layers by their
    cell and draws every step; attention ops are grouped, a cluster per call."""
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parent.parent / "viz"))
    import make_gallery
    loss = make_gallery.small_seq2seq_loss()
    cells = viz.draw(loss, view="cell").source
    assert "GRU encoder.l0 (forward), 3 steps" in cells
    assert "GRU decoder (forward), 3 steps" in cells
    # each decoder step's attention is a cluster of its own, in both views, every op inside
    for view in ("op", "cell"):
        source = viz.draw(loss, view=view).source
        for t in range(3):
            box = source.split(f'label="AdditiveAttention attention #{t}"')[1].split("}")[0]
            assert box.count("softmax") == 1 and box.count("tanh") == 1
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0)
    source = viz.draw(layer(ts.randn(3, 2, 4)).sum()).source
    assert source.count('label="MultiheadAttention self_attn"') == 1


# ------------------------------------------------------------------------------ command line
SMALL = ["--hidden", "8", "--batch", "4", "--seed", "2"]


@pytest.fixture
def main(capfd):
    def call(*args):
        try:
            status = cli.main([str(a) for a in args])
        except SystemExit as e:
            status = e.code
        out, err = capfd.readouterr()
        return status, out, err
    return call


@pytest.mark.parametrize("task,model", [("reverse", "seq2seq"), ("reverse", "transformer"),
                                        ("dates", "seq2seq-attention")])
def test_resume_equals_uninterrupted_training(main, tmp_path, task, model):
    common = ["--task", task, "--model", model, *SMALL, "--seq-len", 2 if task == "dates" else 5]
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    status, stdout, stderr = main("train", *common, "--steps", 6, "--out", whole)
    assert status == 0, stderr
    assert "sequence accuracy at" in stdout
    assert main("train", *common, "--steps", 3, "--out", halves)[0] == 0
    status, _, stderr = main("train", "--resume", halves / "checkpoint.npz", "--steps", 6,
                             "--out", halves)
    assert status == 0, stderr
    assert (whole / "checkpoint.npz").read_bytes() == (halves / "checkpoint.npz").read_bytes()
    status, _, stderr = main("train", "--resume", halves / "checkpoint.npz", "--model",
                             "seq2seq-attention" if model != "seq2seq-attention" else "seq2seq",
                             "--steps", 8, "--out", halves)
    assert status == 2 and "a resumed run keeps its task, cell, model sizes" in stderr


@pytest.mark.parametrize("args,message", [
    (["--task", "charlm", "--model", "seq2seq"], "--model is for --task reverse or dates"),
    (["--task", "reverse", "--model", "seq2seq", "--layers", "2"], "--layers must be 1"),
    (["--task", "reverse", "--model", "transformer", "--hidden", "6"],
     "--hidden must be divisible by 4"),
    (["--task", "dates", "--tbptt", "2"], "--tbptt is for charlm and copy"),
    (["--task", "reverse", "--seq-len", 10**7], " of memory (the model, its gradients"),
    (["--task", "dates", "--model", "transformer", "--hidden", 4 * 10**5],
     " of memory (the model, its gradients"),
])
def test_settings_are_refused_before_training(main, tmp_path, args, message):
    status, stdout, stderr = main("train", *args, "--out", tmp_path / "out")
    assert status == 2 and message in stderr, stderr
    assert "Traceback" not in stderr and "training " not in stdout
    assert not (tmp_path / "out" / "checkpoint.npz").exists()


def test_explore_refuses_the_encoder_decoders(main, tmp_path):
    status, _, err = main("explore", "--task", "dates", "--out", tmp_path / "page.html")
    assert status == 2 and "explore steps through the recurrent tasks" in err
    assert "Traceback" not in err and not list(tmp_path.iterdir())
    main("train", "--task", "reverse", "--seq-len", "3", "--steps", "1", *SMALL, "--out",
         tmp_path)
    status, _, err = main("explore", "--checkpoint", tmp_path / "checkpoint.npz", "--out",
                          tmp_path / "page.html")
    assert status == 2 and "this checkpoint's task, reverse, is an encoder-decoder's" in err
    assert not (tmp_path / "page.html").exists()


def test_a_checkpoint_with_an_unknown_model_is_refused(main, tmp_path):
    out = tmp_path / "run"
    assert main("train", "--task", "reverse", *SMALL, "--steps", 1, "--out", out)[0] == 0
    path = out / "checkpoint.npz"
    extra = nn.utils.read_extras(path)
    model, opt = training.build(dict(extra["config"]))[1:]
    nn.utils.load(path, model, opt)
    bad = tmp_path / "bad.npz"
    nn.utils.save(bad, model, opt, config=dict(extra["config"], model="lstm-attention"),
                  step=extra["step"], rng=extra["rng"])
    status, _, stderr = main("train", "--resume", bad, "--out", tmp_path / "again")
    assert status == 2 and "--model must be one of" in stderr, stderr


def test_gradflow_of_a_seq2seq_checkpoint(main, tmp_path):
    out = tmp_path / "run"
    assert main("train", "--task", "dates", "--model", "seq2seq-attention", *SMALL,
                "--seq-len", 1, "--steps", 2, "--out", out)[0] == 0
    status, stdout, stderr = main("gradflow", "--checkpoint", out / "checkpoint.npz", "--out",
                                  tmp_path / "pictures")
    assert status == 0, stderr
    assert "GRU net.encoder.l0" in stdout and "Gradient paths, GRU seq2seq-attention" in stdout
    assert {p.name for p in (tmp_path / "pictures").iterdir()} == {"gradient_paths.png",
                                                                   "attention.png"}
    status, _, stderr = main("gradflow", "--checkpoint", out / "checkpoint.npz", "--steps", 3,
                             "--out", tmp_path / "pictures")
    assert status == 2 and "trained on dates up to 1" in stderr


def test_a_signal_stops_at_a_step_and_the_resumed_run_ends_identical(tmp_path):
    """SIGINT in a real process: the checkpoint it leaves resumes to the bytes of a run never
    stopped (the interrupt tests of test_cli_interrupts.py, for one sequence-to-sequence run)."""
    common = ["train", "--task", "reverse", "--model", "seq2seq-attention", *SMALL,
              "--seq-len", "6", "--steps", "400"]
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    done = subprocess.run([sys.executable, "-m", "tinygrad_seq", *common, "--out", str(whole)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_seq", *common, "--out",
                             str(stopped)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    for line in proc.stdout:
        if line.startswith("training "):
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    checkpoint = stopped / "checkpoint.npz"
    if proc.returncode == 0:       # it ended before the signal came: nothing to resume
        assert checkpoint.read_bytes() == (whole / "checkpoint.npz").read_bytes()
        return
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert 0 < nn.utils.read_extras(checkpoint)["step"] < 400
    done = subprocess.run([sys.executable, "-m", "tinygrad_seq", "train", "--resume",
                           str(checkpoint), "--steps", "400", "--out", str(stopped)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert checkpoint.read_bytes() == (whole / "checkpoint.npz").read_bytes()
