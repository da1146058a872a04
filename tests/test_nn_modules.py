"""Modules, layers, state dicts, checkpoints, optimizers, schedulers and clipping."""
import gc
import os
import sys

import numpy as np
import pytest

import tinygrad_seq as ts
from tinygrad_seq import nn, optim


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4, padding_idx=0)
        self.lstm = nn.LSTM(4, 6)
        self.head = nn.Sequential(nn.LayerNorm(6), nn.Dropout(0.1), nn.Linear(6, 3))

    def forward(self, idx):
        out, _ = self.lstm(self.embed(idx))
        return self.head(out)


def test_registration_and_traversal():
    m = Model()
    names = [n for n, _ in m.named_parameters()]
    assert names[:3] == ["embed.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0"]
    assert names[-4:] == ["head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias"]
    assert all(p.name == n for n, p in m.named_parameters())
    assert [type(c).__name__ for c in m.children()] == ["Embedding", "LSTM", "Sequential"]
    assert len(list(m.modules())) == 7
    m.eval()
    assert not any(mod.training for mod in m.modules())
    m.train()
    assert all(mod.training for mod in m.modules())
    assert "(lstm): LSTM(4, 6)" in repr(m) and "(2): Linear(in_features=6" in repr(m)
    del m.head
    assert "head" not in dict(m.named_children())


def test_layers_gradcheck(rng):
    ts.set_default_dtype("float64")
    try:
        lin, norm = nn.Linear(3, 2), nn.LayerNorm(3)
        x = ts.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
        assert ts.gradcheck(lambda x, *ps: lin(x), x, *lin.parameters())
        norm.weight.array[:] = rng.standard_normal(3)
        assert ts.gradcheck(lambda x, *ps: norm(x), x, *norm.parameters())
        emb = nn.Embedding(5, 2, padding_idx=1)
        idx = ts.Tensor(np.array([1, 3, 3, 0]))
        emb(idx).sum().backward()
        assert np.array_equal(emb.weight.grad.array[:, 0], [1, 0, 0, 2, 0])
        assert np.all(emb.weight.array[1] == 0)
    finally:
        ts.set_default_dtype("float32")


def test_state_dict_round_trip_and_pytorch_names():
    a, b = Model(), Model()
    b.load_state_dict(a.state_dict())
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert np.array_equal(p.array, q.array)
    sd = a.state_dict()                     # as in PyTorch: detached tensors sharing memory
    assert all(isinstance(v, ts.Tensor) and not v.requires_grad for v in sd.values())
    sd["lstm.weight_hh_l0"][:] = 0
    assert np.all(a.lstm.weight_hh_l0.array == 0)


def test_refused_load_state_dict_changes_nothing():
    m = Model()
    before = {n: p.array.copy() for n, p in m.named_parameters()}
    sd = {k: v.numpy() + 1 for k, v in m.state_dict().items()}
    sd["lstm.weight_hh_l0"] = np.zeros((24, 5), np.float32)
    sd["extra.weight"] = np.zeros(3, np.float32)
    del sd["head.2.bias"]
    sd["embed.weight"] = sd["embed.weight"].astype(np.float64)
    with pytest.raises(ValueError) as info:
        m.load_state_dict(sd)
    message = str(info.value)
    assert "nothing was changed" in message and "missing: head.2.bias" in message
    assert "unexpected: extra.weight" in message
    assert "lstm.weight_hh_l0: shape (24, 5) in the state, (24, 6) in the model" in message
    assert "embed.weight: dtype float64 in the state, float32 in the model" in message
    for n, p in m.named_parameters():
        assert np.array_equal(p.array, before[n]), n
    partial = {"head.2.bias": np.ones(3, np.float32)}
    m.load_state_dict(partial, strict=False)
    assert np.all(m.head[2].bias.array == 1)


def train_a_little(model, opt, steps=2):
    idx = ts.Tensor(np.array([[1, 2, 3], [4, 5, 0]]))
    target = ts.Tensor(np.array([[0, 1, 2], [2, 1, 0]]))
    for _ in range(steps):
        opt.zero_grad()
        logits = model(idx)
        loss = nn.functional.cross_entropy(logits.reshape(-1, 3), target.reshape(-1))
        loss.backward()
        opt.step()
    return loss.item()


def test_checkpoint_round_trip_with_optimizer(tmp_path):
    ts.manual_seed(0)
    model, path = Model().eval(), tmp_path / "ckpt.npz"
    opt = optim.Adam(model.parameters(), lr=0.01)
    train_a_little(model, opt)
    nn.utils.save(path, model, opt, step=2, note="hello")
    twin = Model().eval()
    twin_opt = optim.Adam(twin.parameters(), lr=0.5)
    extra = nn.utils.load(path, twin, twin_opt)
    assert extra == {"step": 2, "note": "hello"} and twin_opt.param_groups[0]["lr"] == 0.01
    # identical state: both continue identically
    assert train_a_little(model, opt) == train_a_little(twin, twin_opt)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]


def test_refused_checkpoint_changes_nothing(tmp_path):
    model, path = Model(), tmp_path / "ckpt.npz"
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train_a_little(model, opt)
    nn.utils.save(path, model, opt)
    other = nn.Sequential(nn.Linear(2, 2))
    before = {k: v.numpy().copy() for k, v in other.state_dict().items()}
    with pytest.raises(ValueError, match="missing: 0.weight"):
        nn.utils.load(path, other)
    assert all(np.array_equal(before[k], v) for k, v in other.state_dict().items())
    # right model, optimizer of another shape: refused before the model is touched
    fresh = Model()
    weights = {k: v.numpy().copy() for k, v in fresh.state_dict().items()}
    with pytest.raises(ValueError, match="parameter groups"):
        nn.utils.load(path, fresh, optim.SGD(list(fresh.parameters())[:2], lr=0.1))
    assert all(np.array_equal(weights[k], v) for k, v in fresh.state_dict().items())
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable tinygrad_seq checkpoint"):
        nn.utils.load(bad, fresh)
    path.write_bytes(path.read_bytes()[:200])     # truncated
    with pytest.raises(ValueError, match="not a readable"):
        nn.utils.load(path, fresh)


def test_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    model, path = Model(), tmp_path / "ckpt.npz"
    nn.utils.save(path, model)
    old = path.read_bytes()

    def broken_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", broken_write)
    with pytest.raises(OSError, match="disk full"):
        nn.utils.save(path, model)
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["ckpt.npz"]


def test_optimizer_state_dict_round_trip():
    w = nn.Parameter(np.ones(3))
    opt = optim.RMSprop([w], lr=0.1, momentum=0.5, centered=True)
    for _ in range(2):
        w.grad = ts.Tensor(np.array([0.1, -0.2, 0.3]))
        opt.step()
    sd = opt.state_dict()
    assert sd["state"][0]["step"] == 2 and sd["param_groups"][0]["params"] == [0]
    w2 = nn.Parameter(w.array.copy())
    opt2 = optim.RMSprop([w2], lr=0.1, momentum=0.5, centered=True)
    opt2.load_state_dict(sd)
    for p, o in ((w, opt), (w2, opt2)):
        p.grad = ts.Tensor(np.array([0.1, -0.2, 0.3]))
        o.step()
    np.testing.assert_array_equal(w.array, w2.array)


def test_schedulers():
    w = nn.Parameter(np.ones(1))
    opt = optim.SGD([w], lr=1.0)
    step = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        step.step()
        lrs.append(step.get_last_lr()[0])
    assert lrs == [1.0, 0.5, 0.5, 0.25, 0.25]
    opt = optim.Adam([w], lr=1.0)
    cosine = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    values = []
    for _ in range(4):
        cosine.step()
        values.append(cosine.get_last_lr()[0])
    np.testing.assert_allclose(values, [0.1 + 0.9 * (1 + np.cos(np.pi * e / 4)) / 2
                                        for e in range(1, 5)])


def test_clipping():
    a, b = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(1))
    a.grad, b.grad = ts.Tensor(np.array([3.0, 0.0])), ts.Tensor(np.array([4.0]))
    total = nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
    assert np.isclose(total.item(), 5.0)
    np.testing.assert_allclose(np.concatenate([a.grad.array, b.grad.array]), [0.6, 0, 0.8],
                               rtol=1e-5)
    assert np.isclose(nn.utils.clip_grad_norm_([a, b], max_norm=10).item(), 1.0, rtol=1e-5)
    grads = [np.random.default_rng(k).standard_normal(n).astype(np.float32) for k, n in
             enumerate((3, 1000, 77))]
    params = [ts.Tensor(np.zeros(len(g), np.float32), requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = ts.Tensor(g.copy())
    whole = np.linalg.norm(np.concatenate(grads).astype(np.float64))   # summed in float64
    total = nn.utils.clip_grad_norm_(params, max_norm=1e9)   # returned in the grads' float32
    assert total.dtype == np.float32 and total.item() == np.float32(whole)
    # a nan norm scales every gradient by nan, as PyTorch's min(max_norm / norm, 1) does; with
    # error_if_nonfinite the gradients stay as they were; foreach is accepted
    a.grad, b.grad = ts.Tensor(np.array([np.nan, 1.0])), ts.Tensor(np.array([2.0]))
    assert np.isnan(nn.utils.clip_grad_norm_([a, b], 1.0, foreach=True).item())
    assert np.isnan(a.grad.array).all() and np.isnan(b.grad.array).all()
    a.grad, b.grad = ts.Tensor(np.array([np.inf, 1.0])), ts.Tensor(np.array([2.0]))
    with pytest.raises(RuntimeError, match="norm of order 2.0 is inf"):
        nn.utils.clip_grad_norm_([a, b], 1.0, error_if_nonfinite=True)
    assert a.grad.array.tolist() == [np.inf, 1.0] and b.grad.array.tolist() == [2.0]
    nn.utils.clip_grad_norm_([a, b], 1.0)   # inf: the finite gradients to 0, inf * 0 = nan
    assert np.isnan(a.grad.array[0]) and a.grad.array[1] == 0 and b.grad.array[0] == 0
    a.grad = ts.Tensor(np.array([3.0, -7.0]))
    nn.utils.clip_grad_value_(a, 2.0)
    assert a.grad.array.tolist() == [2.0, -2.0]


def test_memory_stays_flat_training_an_lstm():
    ts.manual_seed(0)
    lstm, head = nn.LSTM(2, 8), nn.Linear(8, 2)
    params = list(lstm.parameters()) + list(head.parameters())
    opt = optim.Adam(params, lr=1e-3)
    x = ts.randn(4, 4, 2)
    y = ts.Tensor(np.array([0, 1, 1, 0]))

    def step():
        opt.zero_grad()
        out, _ = lstm(x)
        loss = nn.functional.cross_entropy(head(out[-1]), y)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    # numpy keeps bounded internal caches (~1,000 small entries) that fill up at first
    for _ in range(1500):
        step()
    gc.collect()
    baseline = sys.getallocatedblocks()   # every live Python object, cheaper than tracemalloc
    for _ in range(2000):
        step()
    gc.collect()
    grown = sys.getallocatedblocks() - baseline
    # a leaked node per step (a Function, its dict, tuples, arrays) would be 10,000+ blocks
    assert grown < 300, grown


def test_module_errors():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2))

    with pytest.raises(AttributeError, match="call super\\(\\).__init__\\(\\)"):
        Broken()
    with pytest.raises(ValueError, match="Linear: expected input \\(..., 3\\)"):
        nn.Linear(3, 2)(ts.ones(2, 4))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([ts.ones(2, requires_grad=True) * 2], lr=0.1)
