"""Optimizers and schedulers: bad arguments refused clearly, parameter groups, zero_grad,
step(closure), versions, and state_dict round trips (values against PyTorch are in
test_golden_optim.py)."""
import math
import warnings

import numpy as np
import pytest

import tinygrad_seq as ts
from tinygrad_seq import nn, optim
from tinygrad_seq.optim import lr_scheduler


def params(*shapes):
    rng = np.random.default_rng(0)
    return [nn.Parameter(rng.standard_normal(s)) for s in shapes]


def quadratic_closure(opt, ps, target=3.0):
    def closure():
        opt.zero_grad()
        loss = sum(((p - target) ** 2).sum() for p in ps)
        loss.backward()
        return loss
    return closure


# ------------------------------------------------------------------------------ refusals
BAD_HYPER = [
    (lambda w: optim.SGD(w, lr=-1), "SGD: Invalid learning rate: -1 "),
    (lambda w: optim.SGD(w, lr=float("inf")), "Invalid learning rate: inf"),
    (lambda w: optim.Adam(w, lr=float("nan")), "Invalid learning rate: nan"),
    (lambda w: optim.AdamW(w, lr="0.1"), "Invalid learning rate: '0.1'"),
    (lambda w: optim.Adam(w, eps=-1), "Adam: Invalid epsilon value: -1 "),
    (lambda w: optim.RMSprop(w, eps=float("inf")), "Invalid epsilon value: inf"),
    (lambda w: optim.Adam(w, betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    (lambda w: optim.Adam(w, betas=(-0.1, 0.9)), "Invalid beta parameter at index 0: -0.1"),
    (lambda w: optim.Adam(w, betas=0.9), r"betas must be two numbers in \[0, 1\), got 0.9"),
    (lambda w: optim.RMSprop(w, alpha=1.5), r"Invalid alpha value: 1.5 \(alpha must be in"),
    (lambda w: optim.SGD(w, momentum=-0.9), "Invalid momentum value: -0.9"),
    (lambda w: optim.Adam(w, weight_decay=-1e-2), "Invalid weight_decay value: -0.01"),
    (lambda w: optim.SGD(w, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum"),
    (lambda w: optim.Adagrad(w, lr_decay=-1), "Adagrad: Invalid lr_decay value: -1"),
    (lambda w: optim.Adagrad(w, initial_accumulator_value=-0.5),
     "Invalid initial_accumulator_value value: -0.5"),
    (lambda w: optim.Adagrad(w, eps=-1e-10), "Invalid epsilon value: -1e-10"),
    (lambda w: optim.LBFGS(w, lr=-0.5), "LBFGS: Invalid learning rate: -0.5"),
    (lambda w: optim.LBFGS(w, max_iter=0), "Invalid max_iter value: 0"),
    (lambda w: optim.LBFGS(w, history_size=2.5), "Invalid history_size value: 2.5"),
    (lambda w: optim.LBFGS(w, tolerance_grad=-1), "Invalid tolerance_grad value: -1"),
    (lambda w: optim.LBFGS(w, line_search_fn="wolfe"), "line_search_fn must be None or"),
    (lambda w: optim.SGD([{"params": w, "lr": float("inf")}]), "Invalid learning rate: inf"),
    (lambda w: optim.Adam([{"params": w[:1]}, {"params": w[1:], "eps": -1}]),
     "Invalid epsilon value: -1"),
]


@pytest.mark.parametrize("make, message", BAD_HYPER)
def test_bad_hyper_parameters_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make(params((2,), (3,)))


def test_messages_also_say_the_rule():
    with pytest.raises(ValueError) as e:
        optim.Adam(params((2,)), lr=-1)
    assert str(e.value) == ("Adam: Invalid learning rate: -1 (lr must be a finite number >= 0, "
                            "got -1)")


def test_bad_params_are_refused():
    w = params((2,))[0]
    with pytest.raises(TypeError, match="got one Tensor; pass \\[tensor\\]"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(TypeError, match="a set's order changes"):
        optim.SGD([{"params": {w}}], lr=0.1)
    with pytest.raises(TypeError, match="one of the params is ndarray"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor \\(shape \\(2,\\)"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam(iter([]))
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)
    with pytest.warns(UserWarning, match="more than once"):
        optim.SGD([w, w], lr=0.1)
    with pytest.raises(TypeError, match="a dict with a 'params' entry"):
        optim.SGD([w], lr=0.1).add_param_group([w])


def test_a_refused_group_leaves_the_optimizer_as_it_was():
    a, b = params((2,), (3,))
    opt = optim.SGD([a], lr=0.1)
    group = {"params": [b], "lr": -1}
    with pytest.raises(ValueError, match="Invalid learning rate"):
        opt.add_param_group(group)
    assert len(opt.param_groups) == 1 and group == {"params": [b], "lr": -1}
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a, b]})
    assert len(opt.param_groups) == 1


def test_lbfgs_has_one_group_and_needs_a_closure():
    a, b = params((2,), (3,))
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        optim.LBFGS([{"params": [a]}, {"params": [b]}])
    opt = optim.LBFGS([a])
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        opt.add_param_group({"params": [b]})
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'closure'"):
        opt.step()
    with pytest.raises(TypeError, match="LBFGS.step needs a closure: a function that zeroes"):
        opt.step(None)


# ------------------------------------------------------------------------------ groups, zero_grad, closure
def test_groups_take_the_defaults_and_keep_their_own():
    a, b = params((2,), (3,))
    opt = optim.SGD([{"params": [a], "lr": 0.5}, {"params": b}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.9]
    assert opt.param_groups[1]["params"] == [b]
    c = params((4,))[0]
    opt.add_param_group({"params": c, "momentum": 0.0})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.0
    assert "Parameter Group 2" in repr(opt) and "    momentum: 0.0" in repr(opt)


def test_frozen_parameters_are_accepted_and_left_alone():
    # PyTorch accepts leaves that do not require grad (a frozen embedding in
    # model.parameters()); they never get a gradient, so they never move
    a, frozen = params((2,), (3,))
    frozen.requires_grad_(False)
    before = frozen.array.copy()
    opt = optim.Adam([a, frozen], lr=0.1)
    opt.step(quadratic_closure(opt, [a]))
    np.testing.assert_array_equal(frozen.array, before)
    assert not np.array_equal(a.array, params((2,))[0].array)


def test_zero_grad_to_zeros_keeps_the_gradient_tensor():
    a, b = params((2,), (3,))
    opt = optim.SGD([a, b], lr=0.1)
    quadratic_closure(opt, [a, b])()
    grad, version = a.grad, a.grad._version
    opt.zero_grad(set_to_none=False)
    assert a.grad is grad and a.grad._version == version + 1
    np.testing.assert_array_equal(a.grad.array, 0)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


@pytest.mark.parametrize("make", [
    lambda p: optim.SGD(p, lr=0.1), lambda p: optim.Adam(p), lambda p: optim.AdamW(p),
    lambda p: optim.RMSprop(p), lambda p: optim.Adagrad(p), lambda p: optim.LBFGS(p)])
def test_step_runs_the_closure_with_grad_enabled_and_returns_its_loss(make):
    ps = params((2,), (3,))
    opt = make(ps)
    closure = quadratic_closure(opt, ps)
    expected = float(closure())
    versions = [p._version for p in ps]
    with ts.no_grad():                          # as in PyTorch, the closure still records
        loss = opt.step(closure)
    assert isinstance(loss, ts.Tensor) and float(loss) == expected
    assert all(p._version > v for p, v in zip(ps, versions))


def test_step_without_closure_returns_none():
    ps = params((2,))
    opt = optim.SGD(ps, lr=0.1)
    quadratic_closure(opt, ps)()
    assert opt.step() is None


def test_lbfgs_solves_a_quadratic():
    ps = params((2,), (3, 2))
    opt = optim.LBFGS(ps, line_search_fn="strong_wolfe")
    opt.step(quadratic_closure(opt, ps))
    for p in ps:
        np.testing.assert_allclose(p.array, 3.0, rtol=1e-7)


# ------------------------------------------------------------------------------ state dicts
def _run(make, steps, state=None, start=None):
    """`steps` steps from params() (or from the arrays `start`, with the optimizer state)."""
    ps = params((2,), (3,)) if start is None else [nn.Parameter(a.copy()) for a in start]
    opt = make(ps)
    if state is not None:
        opt.load_state_dict(state)
    for _ in range(steps):
        opt.step(quadratic_closure(opt, ps))
    return opt, ps


@pytest.mark.parametrize("make", [
    lambda p: optim.Adagrad(p, lr=0.5, lr_decay=0.1),
    lambda p: optim.LBFGS(p, max_iter=2, history_size=3),
    lambda p: optim.LBFGS(p, max_iter=2, line_search_fn="strong_wolfe")])
def test_state_dict_round_trip_continues_the_run(make):
    _, straight = _run(make, 6)
    opt, ps = _run(make, 3)
    saved, start = opt.state_dict(), [p.array.copy() for p in ps]
    opt.step(quadratic_closure(opt, ps))        # a later step does not change what was saved
    _, resumed = _run(make, 3, saved, start)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.array, b.array)


def test_lbfgs_checkpoint_round_trip(tmp_path):
    """nn.utils.save/load carry L-BFGS's history: the resumed run is the uninterrupted one."""
    x = ts.tensor(np.random.default_rng(1).standard_normal((6, 2)))

    def fit(model, steps, checkpoint=None):
        opt = optim.LBFGS(model.parameters(), max_iter=3, history_size=2,
                          line_search_fn="strong_wolfe")
        if checkpoint:
            nn.utils.load(checkpoint, model, opt)
        def closure():
            opt.zero_grad()
            loss = ((model(x).tanh() - 0.5) ** 2).sum()
            loss.backward()
            return loss

        for _ in range(steps):
            opt.step(closure)
        return opt

    def model():
        ts.manual_seed(0)
        return nn.Linear(2, 3, dtype="float64")

    straight = model()
    fit(straight, 4)
    first = model()
    nn.utils.save(tmp_path / "lbfgs.npz", first, fit(first, 2))
    resumed = model()
    fit(resumed, 2, tmp_path / "lbfgs.npz")
    for a, b in zip(straight.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(a.array, b.array)


def test_lbfgs_refuses_state_for_other_parameters():
    a, = params((2,))
    opt = optim.LBFGS([a], max_iter=2)
    opt.step(quadratic_closure(opt, [a]))
    with pytest.raises(ValueError, match="d has shape \\(2,\\), expected \\(5,\\)"):
        optim.LBFGS([nn.Parameter(np.ones(5))]).load_state_dict(opt.state_dict())


def test_scheduler_state_dict_round_trip():
    def make():
        opt = optim.SGD(params((2,), (3,)), lr=1.0, momentum=0.9)
        return opt, [lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=12),
                     lr_scheduler.LambdaLR(opt, Halving())]

    class Halving:
        def __init__(self):
            self.calls = 0

        def __call__(self, epoch):
            self.calls += 1
            return 0.5 ** epoch

    opt, schedulers = make()
    for _ in range(10):
        for s in schedulers:
            s.step()
    straight = opt.param_groups[0]["lr"]

    opt, schedulers = make()
    for _ in range(4):
        for s in schedulers:
            s.step()
    saved = [s.state_dict() for s in schedulers] + [opt.state_dict()]
    assert "optimizer" not in saved[0] and saved[1]["lr_lambdas"] == [{"calls": 5}]
    opt, schedulers = make()
    opt.load_state_dict(saved[-1])
    for s, state in zip(schedulers, saved):
        s.load_state_dict(state)
    assert schedulers[1].lr_lambdas[0].calls == 5
    for _ in range(6):
        for s in schedulers:
            s.step()
    assert opt.param_groups[0]["lr"] == straight


def test_plateau_state_dict_round_trip():
    opt = optim.SGD(params((2,)), lr=1.0)
    plateau = lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0)
    plateau.step(1.0)
    plateau.step(0.5)
    twin = lr_scheduler.ReduceLROnPlateau(optim.SGD(params((2,)), lr=1.0))
    twin.load_state_dict(plateau.state_dict())
    assert (twin.mode, twin.best, twin.mode_worse) == ("max", 1.0, -math.inf)
    assert plateau.get_last_lr() == [0.1]


def test_custom_scheduler_from_get_lr():
    class Halve(lr_scheduler._LRScheduler):
        def get_lr(self):
            return [base * 0.5 ** self.last_epoch for base in self.base_lrs]

    opt = optim.SGD(params((2,)), lr=1.0)
    scheduler = Halve(opt)
    for _ in range(3):
        scheduler.step()
    assert scheduler.get_last_lr() == [0.125]


def test_step_with_an_epoch_warns_and_uses_the_closed_form():
    opt = optim.SGD(params((2,)), lr=1.0)
    scheduler = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    with pytest.warns(UserWarning, match="deprecated"):
        scheduler.step(5)
    assert scheduler.get_last_lr() == [0.25] and scheduler.last_epoch == 5


# ------------------------------------------------------------------------------ scheduler refusals
def test_scheduler_errors():
    opt = optim.SGD(params((2,)), lr=1.0)
    with pytest.raises(TypeError, match="StepLR: list is not an Optimizer"):
        lr_scheduler.StepLR([], step_size=2)
    with pytest.raises(ValueError, match="StepLR: expected a positive integer step_size, got 0"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(TypeError, match="milestones must be epoch numbers"):
        lr_scheduler.MultiStepLR(opt, milestones=[2.5])
    with pytest.raises(ValueError, match="T_max must be a number of epochs > 0, got 0"):
        lr_scheduler.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match="expected 1 lr_lambdas"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0, lambda e: 1.0])
    with pytest.raises(TypeError, match="lr_lambda must be a function"):
        lr_scheduler.LambdaLR(opt, 0.5)
    with pytest.raises(KeyError, match="'initial_lr' is not specified in param_groups\\[0\\]"):
        lr_scheduler.ExponentialLR(optim.SGD(params((2,)), lr=1.0), gamma=0.9, last_epoch=3)
    with pytest.raises(ValueError, match="factor should be < 1.0, got 1.0"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max', got 'median'"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="median")
    with pytest.raises(ValueError, match="expected 1 min_lrs"):
        lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1, 0.2])
    with pytest.raises(ValueError, match="give either total_steps or"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, epochs=3)
    with pytest.raises(ValueError, match="pct_start, got 1"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=5, pct_start=1)
    with pytest.raises(ValueError, match="Adagrad has no momentum or beta1"):
        lr_scheduler.OneCycleLR(optim.Adagrad(params((2,))), max_lr=1.0, total_steps=5)
    with pytest.raises(ValueError, match="max_lr must have one value per parameter group"):
        lr_scheduler.OneCycleLR(opt, max_lr=[1.0, 2.0], total_steps=5)
    cycle = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=2)
    cycle.step()
    cycle.step()
    with pytest.raises(ValueError, match="tried to step 3 times; the specified number of total "
                                         "steps is 2"):
        cycle.step()


def test_schedulers_need_no_warnings_in_normal_use():
    opt = optim.SGD(params((2,)), lr=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scheduler = lr_scheduler.CosineAnnealingLR(opt, T_max=3)
        for _ in range(4):
            opt.step()
            scheduler.step()
