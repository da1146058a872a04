"""Checkpoint files (nn.utils.save/load): the same state gives the same bytes, killed saves'
temporary files are cleaned up, and a load that refuses (for any of the ways a file can be
wrong) changes nothing. And the optimizers' refusals of nonsense hyper-parameters."""
import io
import json
import os
import time
import zipfile

import numpy as np
import pytest

import tinygrad_seq as ts
from tinygrad_seq import nn, optim


def trained(seed=0):
    ts.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    for _ in range(2):
        opt.zero_grad()
        (model(ts.randn(5, 3)) ** 2).mean().backward()
        opt.step()
    return model, opt


def entries(path):
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def npy(array):
    f = io.BytesIO()
    np.lib.format.write_array(f, np.asanyarray(array))
    return f.getvalue()


def forged(descr, shape, data=b"\0" * 16):
    """An .npy entry whose header claims `shape` and `descr`, followed by `data`."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False,
                                                  "shape": shape})
    return header.getvalue() + data


def rewrite(path, out, change=None, meta=None, drop=()):
    """A copy of the checkpoint `path` at `out` with entries replaced (name -> bytes), removed,
    or the meta JSON edited by meta(dict)."""
    items = {k: v for k, v in entries(path).items() if k not in drop}
    if meta is not None:
        doc = json.loads(str(np.load(io.BytesIO(items["meta.npy"]))))
        meta(doc)
        items["meta.npy"] = npy(np.array(json.dumps(doc)))
    items.update(change or {})
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in items.items():
            zf.writestr(name, data)
    return out


def state(model, opt):
    sd = opt.state_dict()
    return ({k: np.copy(v) for k, v in model.state_dict().items()}, json.dumps(sd["param_groups"]),
            {i: {k: np.copy(v) for k, v in s.items()} for i, s in sd["state"].items()})


def same(a, b):
    weights_a, groups_a, state_a = a
    weights_b, groups_b, state_b = b
    return (weights_a.keys() == weights_b.keys()
            and all(np.array_equal(weights_a[k], weights_b[k]) for k in weights_a)
            and groups_a == groups_b and state_a.keys() == state_b.keys()
            and all(np.array_equal(state_a[i][k], state_b[i][k])
                    for i in state_a for k in state_a[i]))


def test_the_same_state_gives_the_same_bytes(tmp_path, monkeypatch):
    model, opt = trained()
    nn.utils.save(tmp_path / "a.npz", model, opt, step=2)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 400 * 86400)   # another day
    nn.utils.save(tmp_path / "b.npz", model, opt, step=2)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.npz") as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
    with np.load(tmp_path / "a.npz") as f:            # still a plain .npz
        assert np.array_equal(f["model/0.weight"], model.state_dict()["0.weight"])


def test_a_save_removes_the_temporary_files_of_killed_saves(tmp_path):
    model, opt = trained()
    dead, legacy = tmp_path / ".tmp-999999999-x1.npz", tmp_path / ".tmp-k2x9f_7a.npz"
    live = tmp_path / f".tmp-{os.getppid()}-y2.npz"        # a save in progress elsewhere
    other = tmp_path / "notes.tmp"
    for path in (dead, legacy, live, other):
        path.write_bytes(b"partial")
    nn.utils.save(tmp_path / "ckpt.npz", model, opt)
    assert sorted(os.listdir(tmp_path)) == sorted(["ckpt.npz", live.name, other.name])


def test_load_refuses_every_broken_file_and_changes_nothing(tmp_path):
    model, opt = trained(0)
    good = tmp_path / "good.npz"
    nn.utils.save(good, model, opt, step=2)
    target, target_opt = trained(1)
    before = state(target, target_opt)

    def adam_scalar(key, value):
        return lambda doc: doc["optim"]["scalars"]["0"].__setitem__(key, value)

    def group(key, value):
        return lambda doc: doc["optim"]["param_groups"][0].__setitem__(key, value)

    np.save(tmp_path / "plain.npy", np.zeros(3))
    cases = {
        "no extras": dict(meta=lambda doc: doc.pop("extra")),
        "header claims 10**10 floats": dict(change={"model/0.weight.npy": forged(
            "<f4", (10**10,))}),
        "optimizer key not an index": dict(change={"optim/x/exp_avg.npy": npy(np.zeros(4))}),
        "unknown entry": dict(change={"other.npy": npy(np.zeros(1))}),
        "object array": dict(change={"model/0.bias.npy": forged("|O", (4,))}),
        "step is a string": dict(meta=adam_scalar("step", "250")),
        "step is a bool": dict(meta=adam_scalar("step", True)),
        "unknown state": dict(meta=adam_scalar("momentum", 0.5)),
        "lr is nan": dict(meta=group("lr", float("nan"))),
        "lr missing": dict(meta=lambda doc: doc["optim"]["param_groups"][0].pop("lr")),
        "betas of 3": dict(meta=group("betas", [0.9, 0.99, 0.5])),
        "groups out of order": dict(meta=group("params", [1, 0, 2, 3])),
        "integer moments": dict(change={"optim/0/exp_avg.npy": npy(np.zeros((4, 3), np.int64))}),
        "moments of another shape": dict(change={"optim/0/exp_avg.npy": npy(np.zeros((3, 4)))}),
        "weights of another dtype": dict(change={"model/0.weight.npy": npy(np.zeros((4, 3)))}),
        "missing weights": dict(drop={"model/0.bias.npy"}),
        "optimizer layout": dict(meta=lambda doc: doc["optim"].__setitem__("scalars", [])),
    }
    for why, edit in cases.items():
        path = rewrite(good, tmp_path / "bad.npz", **edit)
        with pytest.raises(ValueError, match=r"^(load|load_state_dict|Adam)") as refused:
            nn.utils.load(path, target, target_opt)
        assert "\n" not in str(refused.value).split("refused")[0], why
        assert same(state(target, target_opt), before), why
    for path in (tmp_path / "plain.npy", tmp_path / "missing.npz", tmp_path):
        with pytest.raises(ValueError, match="not a readable tinygrad_seq checkpoint"):
            nn.utils.load(path, target, target_opt)
    assert same(state(target, target_opt), before)
    nn.utils.load(good, target, target_opt)         # and the good one loads
    assert same(state(target, target_opt), state(model, opt))


def test_a_forged_header_is_refused_before_anything_is_allocated(tmp_path):
    path = tmp_path / "forged.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model/w.npy", forged("<f8", (10**10,)))
        zf.writestr("meta.npy", npy(np.array(json.dumps({"extra": {}}))))
    assert path.stat().st_size < 1000
    with pytest.raises(ValueError, match=r"claim 80,000,000,\d+ bytes of arrays, the file has \d+"):
        nn.utils.load(path, nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"claim 80,000,000,\d+ bytes of arrays, the file has \d+"):
        nn.utils.read_extras(path)


@pytest.mark.parametrize("make, message", [
    (lambda w: optim.Adam(w, lr=-1), "lr must be a finite number >= 0, got -1"),
    (lambda w: optim.SGD(w, lr=-0.1), "lr must be a finite number >= 0, got -0.1"),
    (lambda w: optim.Adam(w, eps=-1), "eps must be a finite number >= 0, got -1"),
    (lambda w: optim.Adam(w, lr=float("inf")), "lr must be a finite number >= 0, got inf"),
    (lambda w: optim.AdamW(w, lr=float("nan")), "lr must be a finite number >= 0, got nan"),
    (lambda w: optim.RMSprop(w, eps=float("inf")), "eps must be a finite number >= 0"),
    (lambda w: optim.RMSprop(w, alpha=1.5), r"alpha must be in \[0, 1\], got 1.5"),
    (lambda w: optim.SGD(w, momentum=-0.9), "momentum must be a finite number >= 0"),
    (lambda w: optim.SGD([{"params": w, "lr": float("inf")}]), "lr must be a finite"),
    (lambda w: optim.Adam(w, weight_decay=-1e-2), "weight_decay must be a finite number"),
    (lambda w: optim.Adam(w, betas=(0.9, 1.0)), r"betas must be two numbers in \[0, 1\)"),
    (lambda w: optim.Adam(w, lr="0.1"), "lr must be a finite number >= 0, got '0.1'"),
])
def test_optimizers_refuse_nonsense_hyper_parameters(make, message):
    with pytest.raises(ValueError, match=message):
        make([nn.Parameter(np.ones(3))])


def test_optimizers_accept_zero_as_pytorch_does():
    w = [nn.Parameter(np.ones(3))]
    optim.SGD(w, lr=0.0)
    optim.Adam(w, lr=0.0, eps=0.0, betas=(0.0, 0.0))
