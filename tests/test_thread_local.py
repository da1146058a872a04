"""Grad mode, name scopes and open tapes belong to the thread that set them, as in PyTorch."""
import sys
import threading

import numpy as np
import pytest

import tinygrad_seq as ts
from tinygrad_seq import nn, optim


@pytest.fixture(autouse=True)
def switch_often():
    """Switch threads every microsecond, so their steps interleave as much as they can."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def _model_and_data(seed):
    """Many small layers, so an optimizer step (under no_grad) takes a while."""
    ts.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8, dtype=ts.float64),
                          *[nn.Linear(8, 8, dtype=ts.float64) for _ in range(6)],
                          nn.Linear(8, 1, dtype=ts.float64))
    rng = np.random.default_rng(seed)
    x = ts.Tensor(rng.standard_normal((16, 3)))
    y = ts.Tensor(rng.standard_normal((16, 1)))
    return model, x, y


def _train(model, x, y, steps):
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()              # @no_grad inside: must not switch off the other thread's grad
    return [p.numpy().copy() for p in model.parameters()]


def _run(*targets):
    errors = []

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as e:      # noqa: BLE001 - reported by the test
                errors.append(e)
        return run

    threads = [threading.Thread(target=guarded(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors


def test_training_beside_a_thread_that_evaluates_under_no_grad():
    expected = _train(*_model_and_data(0), steps=30)
    model, x, y = _model_and_data(0)
    other, x2, _ = _model_and_data(1)
    evaluating, done, result = threading.Event(), threading.Event(), {}

    def evaluate():
        with ts.no_grad():
            evaluating.set()
            while not done.is_set():
                out = other(x2)
                assert not out.requires_grad

    def train():
        evaluating.wait(timeout=60)
        try:
            result["params"] = _train(model, x, y, steps=30)
        finally:
            done.set()

    _run(evaluate, train)
    for a, b in zip(result["params"], expected):
        np.testing.assert_array_equal(a, b)
    assert ts.is_grad_enabled()


def test_two_threads_training_their_own_models():
    expected = [_train(*_model_and_data(seed), steps=20) for seed in (0, 1)]
    models = [_model_and_data(seed) for seed in (0, 1)]
    results = {}

    def trainer(k):
        return lambda: results.__setitem__(k, _train(*models[k], steps=20))

    _run(trainer(0), trainer(1))
    for k in (0, 1):
        for a, b in zip(results[k], expected[k]):
            np.testing.assert_array_equal(a, b)


def test_overlapping_no_grad_blocks_leave_each_thread_as_it_was():
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with ts.no_grad():
            first_in.set()
            second_in.wait(60)
        first_out.set()
        seen["first after"] = ts.is_grad_enabled()

    def second():
        first_in.wait(60)
        with ts.no_grad():
            second_in.set()
            first_out.wait(60)
            seen["second inside"] = ts.is_grad_enabled()
        seen["second after"] = ts.is_grad_enabled()

    _run(first, second)
    assert seen == {"first after": True, "second inside": False, "second after": True}
    assert ts.is_grad_enabled()


def test_a_new_thread_starts_with_grad_mode_on_no_scope_and_no_tape():
    seen = {}

    def child():
        x = ts.ones(2, requires_grad=True)
        seen["grad"] = ts.is_grad_enabled()
        seen["scope"] = ts.current_scope()
        seen["recorded"] = (x * 2).grad_fn is not None

    with ts.no_grad(), ts.scope("outer", step=3), ts.Tape() as tape:
        _run(child)
    assert seen == {"grad": True, "scope": None, "recorded": True}
    assert len(tape) == 0


def test_a_tape_collects_only_its_own_threads_nodes():
    x = ts.ones(3, requires_grad=True)
    started, stop = threading.Event(), threading.Event()

    def busy():
        started.set()
        while not stop.is_set():
            (x * 3).sum()

    worker = threading.Thread(target=busy)
    worker.start()
    started.wait(60)
    try:
        with ts.Tape() as tape, ts.scope("mine", step=1):
            for _ in range(200):
                y = (x + 1).tanh()
    finally:
        stop.set()
        worker.join(60)
    assert len(tape) == 400 and {n.op for n in tape} == {"add", "tanh"}
    assert all(n.scope.path == "mine" for n in tape) and y.grad_fn is tape[-1]


def test_set_grad_enabled_and_enable_grad():
    x = ts.ones(2, requires_grad=True)
    with ts.set_grad_enabled(False):
        assert (x * 2).grad_fn is None
        with ts.enable_grad():
            assert (x * 2).grad_fn is not None
    assert ts.is_grad_enabled()
    ts.set_grad_enabled(False)
    try:
        assert not ts.is_grad_enabled()
    finally:
        ts.set_grad_enabled(True)
