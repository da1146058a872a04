"""Optimizers, L-BFGS and learning-rate schedulers, run by one code path in tinygrad_seq and
PyTorch.

`python tests/golden_optim.py` (with PyTorch installed) writes tests/golden/optim.npz: every
case's parameter trajectory, returned losses, L-BFGS's evaluation counts and every scheduler's
lrs (and momenta) per step, from PyTorch in float64. The tests check ours against the stored
values without PyTorch, and against PyTorch itself when it is importable.
"""
import os

import numpy as np

FIXTURES = os.path.join(os.path.dirname(__file__), "golden", "optim.npz")
STEPS = 6


def _lib(lib_name):
    if lib_name == "torch":
        import torch
        torch.set_num_threads(1)      # tiny ops: threads only wait for each other on a busy machine
        return torch
    import tinygrad_seq
    return tinygrad_seq


def _leaf(lib, array):
    return lib.tensor(array.copy(), requires_grad=True)


def problem():
    """A linear least-squares fit with two parameter tensors: w (3, 4) and b (4,)."""
    rng = np.random.default_rng(sum(map(ord, "golden_optim")))
    return {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4),
            "x": rng.standard_normal((5, 3)), "y": rng.standard_normal((5, 4))}


# ------------------------------------------------------------------------------ optimizers
# name -> (how the optimizer is built from (optim, w, b), options)
#   closure:       step(closure) instead of backward(); step()
#   b_every_other: b is in the loss on even steps only (zero_grad's set_to_none shows)
#   set_to_none:   zero_grad's argument
#   add_b_at:      b joins (add_param_group) before this step
OPTIMIZERS = {
    "adagrad": (lambda optim, w, b: optim.Adagrad([w, b], lr=0.1), {}),
    "adagrad_all_options": (lambda optim, w, b: optim.Adagrad(
        [w, b], lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2,
        eps=1e-6), {}),
    "sgd_groups": (lambda optim, w, b: optim.SGD(
        [{"params": [w], "lr": 0.1, "momentum": 0.9}, {"params": b}], lr=0.05), {}),
    "adam_groups": (lambda optim, w, b: optim.Adam(
        [{"params": [w]}, {"params": [b], "lr": 0.1, "betas": (0.5, 0.9)}], lr=0.01), {}),
    "adam_add_param_group": (lambda optim, w, b: optim.Adam([w], lr=0.01), {"add_b_at": 3}),
    "rmsprop_groups": (lambda optim, w, b: optim.RMSprop(
        [{"params": [w], "centered": True}, {"params": [b], "momentum": 0.5}], lr=0.01), {}),
    "sgd_zero_grad_to_zeros": (lambda optim, w, b: optim.SGD(
        [w, b], lr=0.1, momentum=0.9, weight_decay=0.1),
        {"b_every_other": True, "set_to_none": False}),
    "sgd_zero_grad_to_none": (lambda optim, w, b: optim.SGD(
        [w, b], lr=0.1, momentum=0.9, weight_decay=0.1),
        {"b_every_other": True, "set_to_none": True}),
    "sgd_closure": (lambda optim, w, b: optim.SGD([w, b], lr=0.05, momentum=0.5),
                    {"closure": True}),
    "adam_closure": (lambda optim, w, b: optim.Adam([w, b], lr=0.01), {"closure": True}),
    "adamw_closure": (lambda optim, w, b: optim.AdamW([w, b], lr=0.01), {"closure": True}),
    "rmsprop_closure": (lambda optim, w, b: optim.RMSprop([w, b], lr=0.01), {"closure": True}),
    "adagrad_closure": (lambda optim, w, b: optim.Adagrad([w, b], lr=0.1), {"closure": True}),
}


def run_optimizer(lib_name, name):
    """{"trajectory": w and b after each step (flattened), "losses": the losses}."""
    lib = _lib(lib_name)
    a = problem()
    w, b = _leaf(lib, a["w"]), _leaf(lib, a["b"])
    x, y = lib.tensor(a["x"]), lib.tensor(a["y"])
    build, options = OPTIMIZERS[name]
    opt = build(lib.optim, w, b)
    trajectory, losses = [], []
    for k in range(STEPS):
        if k == options.get("add_b_at"):
            opt.add_param_group({"params": [b], "lr": 0.05})

        def closure():
            opt.zero_grad(set_to_none=options.get("set_to_none", True))
            use_b = k % 2 == 0 or not options.get("b_every_other")
            loss = ((x @ w + (b if use_b else 0) - y) ** 2).sum()
            loss.backward()
            return loss

        if options.get("closure"):
            losses.append(float(opt.step(closure).detach()))
        else:
            losses.append(float(closure().detach()))
            opt.step()
        trajectory.append(np.concatenate([w.detach().numpy().ravel(), b.detach().numpy()]))
    return {"trajectory": np.stack(trajectory), "losses": np.array(losses)}


# ------------------------------------------------------------------------------ L-BFGS
LBFGS_STEPS = 10


def _data(name, n, dtype, scale=(1.0, 1.0, 1.0)):
    """n inputs (in dtype and in float64), column k times scale[k], and the generator that
    made them."""
    rng = np.random.default_rng(sum(map(ord, name)))
    x = rng.standard_normal((n, len(scale))) * np.array(scale)
    return x.astype(dtype), x, rng


def softmax_regression(lib, p):
    """Multinomial logistic regression (5 features, 4 classes) with a small L2 term: convex,
    with one minimum; the features' scales differ, so it takes L-BFGS a few dozen iterations."""
    dtype = p["w"].detach().numpy().dtype
    x, x64, rng = _data("softmax_regression", 80, dtype, scale=(1.0, 4.0, 0.3, 2.0, 0.5))
    labels = np.argmax(x64 @ rng.standard_normal((5, 4)) + rng.standard_normal((80, 4)), 1)
    one_hot = lib.tensor(np.eye(4, dtype=dtype)[labels])
    logits = lib.tensor(x) @ p["w"] + p["b"]
    return -(logits.log_softmax(dim=1) * one_hot).sum() / 80 + 1e-3 * (p["w"] ** 2).sum()


def tanh_fit(lib, p):
    """A small tanh network (3 -> 4 -> 2) fitted by least squares to a teacher's outputs, with
    an L2 term (not convex); p["unused"] never gets a gradient (L-BFGS treats it as zeros)."""
    dtype = p["w"].detach().numpy().dtype
    x, x64, rng = _data("tanh_fit", 40, dtype)
    y = (np.tanh(x64 @ rng.standard_normal((3, 4))) @ rng.standard_normal((4, 2))).astype(dtype)
    hidden = (lib.tensor(x) @ p["w"] + p["b"]).tanh()
    l2 = (p["w"] ** 2).sum() + (p["v"] ** 2).sum()
    return ((hidden @ p["v"] - lib.tensor(y)) ** 2).mean() + 0.01 * l2


def rosenbrock(lib, p):
    x = p["x"]
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


PROBLEMS = {"softmax_regression": softmax_regression, "tanh_fit": tanh_fit,
            "rosenbrock": rosenbrock}


def _start(problem_name):
    rng = np.random.default_rng(sum(map(ord, problem_name)))
    if problem_name == "rosenbrock":
        return {"x": np.array([-1.2, 1.0, -1.2, 1.0, 0.5, -0.3])}
    if problem_name == "softmax_regression":
        return {"w": rng.standard_normal((5, 4)), "b": np.zeros(4)}
    return {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4) * 0.1,
            "v": rng.standard_normal((4, 2)), "unused": rng.standard_normal(2)}


# Long runs of iterations (the default max_iter=20, ten steps) are on the convex problem. On
# tanh_fit they amplify rounding: ours against PyTorch differ by 3e-7 at the sixth step, and
# so does PyTorch against itself with one starting weight moved by one ulp (2e-7). The
# non-convex cases take 3-5 iterations a step.
LBFGS_CASES = {
    "default": ("softmax_regression", {}),
    "strong_wolfe": ("softmax_regression", {"line_search_fn": "strong_wolfe"}),
    "short_history": ("tanh_fit", {"lr": 0.5, "max_iter": 5, "history_size": 3}),
    "strong_wolfe_short": ("tanh_fit", {"line_search_fn": "strong_wolfe", "max_iter": 4,
                                        "max_eval": 6, "history_size": 2,
                                        "tolerance_change": 1e-6}),
    "rosenbrock_strong_wolfe": ("rosenbrock", {"line_search_fn": "strong_wolfe", "max_iter": 3}),
    "rosenbrock_fixed_step": ("rosenbrock", {"lr": 0.2, "max_iter": 3, "history_size": 4}),
}



FLOAT32_CASE = "rosenbrock_fixed_step"     # also run in float32


def run_lbfgs(lib_name, name, dtype="float64"):
    """{"trajectory": all parameters after each step, "losses": what step() returned,
    "counts": (func_evals, n_iter) after each step}."""
    lib = _lib(lib_name)
    problem_name, kw = LBFGS_CASES[name]
    loss_fn = PROBLEMS[problem_name]
    p = {k: _leaf(lib, v.astype(dtype)) for k, v in _start(problem_name).items()}
    opt = lib.optim.LBFGS(list(p.values()), **kw)

    def closure():
        opt.zero_grad()
        loss = loss_fn(lib, p)
        loss.backward()
        return loss

    trajectory, losses, counts = [], [], []
    for _ in range(LBFGS_STEPS):
        losses.append(float(opt.step(closure).detach()))
        trajectory.append(np.concatenate([t.detach().numpy().ravel() for t in p.values()]))
        first = p[next(iter(p))]
        state = opt.state[first] if lib_name == "torch" else opt.state[id(first)]
        counts.append((state["func_evals"], state["n_iter"]))
    return {"trajectory": np.stack(trajectory), "losses": np.array(losses),
            "counts": np.array(counts)}


# ------------------------------------------------------------------------------ schedulers
PLATEAU_METRICS = [1.0, 0.9, 0.91, 0.92, 0.93, 0.85, 0.86, 0.8501, 0.87, 0.88, 0.7, 0.71,
                   0.72, 0.73, 0.74, 0.75]


class WarmUp:
    """A callable object as lr_lambda (PyTorch saves its __dict__ in state_dict)."""

    def __init__(self, epochs):
        self.epochs = epochs

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.epochs)


# name -> (optimizer name, its options, schedulers built from (sched module, optimizer),
#          epochs, what to record besides lr: None, "momentum" or "beta1")
SCHEDULERS = {
    "steplr": ("SGD", {}, lambda s, o: [s.StepLR(o, step_size=3, gamma=0.5)], 12, None),
    "steplr_gamma_0.1": ("SGD", {}, lambda s, o: [s.StepLR(o, step_size=2)], 12, None),
    "multisteplr": ("SGD", {}, lambda s, o: [s.MultiStepLR(o, milestones=[2, 5, 5, 9],
                                                           gamma=0.3)], 12, None),
    "exponentiallr": ("SGD", {}, lambda s, o: [s.ExponentialLR(o, gamma=0.9)], 12, None),
    "cosine": ("SGD", {}, lambda s, o: [s.CosineAnnealingLR(o, T_max=5, eta_min=0.01)], 16, None),
    "cosine_no_floor": ("Adam", {}, lambda s, o: [s.CosineAnnealingLR(o, T_max=7)], 20, None),
    "lambdalr": ("SGD", {}, lambda s, o: [s.LambdaLR(o, lambda epoch: 0.95 ** epoch)], 12, None),
    "lambdalr_per_group": ("SGD", {}, lambda s, o: [s.LambdaLR(
        o, [WarmUp(4), lambda epoch: 1 / (1 + epoch)])], 12, None),
    "chained_exponential_steplr": ("SGD", {}, lambda s, o: [
        s.ExponentialLR(o, gamma=0.9), s.StepLR(o, step_size=3, gamma=0.5)], 12, None),
    "plateau_min": ("SGD", {}, lambda s, o: [s.ReduceLROnPlateau(
        o, factor=0.5, patience=2, cooldown=1, min_lr=[0.3, 0.1])], 16, None),
    "plateau_min_abs": ("SGD", {}, lambda s, o: [s.ReduceLROnPlateau(
        o, patience=1, threshold=0.02, threshold_mode="abs")], 16, None),
    "plateau_max": ("SGD", {}, lambda s, o: [s.ReduceLROnPlateau(
        o, mode="max", factor=0.3, patience=0, eps=0.01)], 16, None),
    "onecycle_sgd": ("SGD", {"momentum": 0.9}, lambda s, o: [s.OneCycleLR(
        o, max_lr=[1.0, 0.1], total_steps=20)], 20, "momentum"),
    "onecycle_linear_three_phase": ("SGD", {"momentum": 0.9}, lambda s, o: [s.OneCycleLR(
        o, max_lr=0.5, epochs=3, steps_per_epoch=7, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, div_factor=10.0, final_div_factor=100.0)], 21, "momentum"),
    "onecycle_adam": ("Adam", {}, lambda s, o: [s.OneCycleLR(
        o, max_lr=0.01, total_steps=15, base_momentum=0.8, max_momentum=0.9)], 15, "beta1"),
    "onecycle_no_momentum": ("Adagrad", {}, lambda s, o: [s.OneCycleLR(
        o, max_lr=0.2, total_steps=10, cycle_momentum=False)], 10, None),
}


def _groups(lib):
    a = problem()
    return [{"params": [_leaf(lib, a["w"])], "lr": 1.0},
            {"params": [_leaf(lib, a["b"])], "lr": 0.5}]


def run_scheduler(lib_name, name):
    """Rows per step, from construction on: each group's lr (then momentum or beta1)."""
    lib = _lib(lib_name)
    opt_name, kw, build, epochs, extra = SCHEDULERS[name]
    opt = getattr(lib.optim, opt_name)(_groups(lib), **kw)
    schedulers = build(lib.optim.lr_scheduler, opt)

    def row():
        values = [g["lr"] for g in opt.param_groups]
        if extra == "momentum":
            values += [g["momentum"] for g in opt.param_groups]
        elif extra == "beta1":
            values += [g["betas"][0] for g in opt.param_groups]
        return values

    rows = [row()]
    for epoch in range(epochs):
        opt.step()                       # no gradients: nothing moves, but the order is right
        for s in schedulers:
            if name.startswith("plateau"):
                s.step(PLATEAU_METRICS[epoch])
            else:
                s.step()
        rows.append(row())
        assert schedulers[-1].get_last_lr() == rows[-1][:2]
    return np.array(rows, dtype=np.float64)


CLOSED_FORM_EPOCHS = [3, 1, 7, 4, 12]
CLOSED_FORM = {
    "steplr": lambda s, o: s.StepLR(o, step_size=3, gamma=0.1),
    "multisteplr": lambda s, o: s.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
    "exponentiallr": lambda s, o: s.ExponentialLR(o, gamma=0.9),
    "cosine": lambda s, o: s.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
}


def run_closed_form(lib_name, name):
    """The lrs after step(epoch) (deprecated in PyTorch) for each of CLOSED_FORM_EPOCHS."""
    import warnings
    lib = _lib(lib_name)
    opt = lib.optim.SGD(_groups(lib))
    scheduler = CLOSED_FORM[name](lib.optim.lr_scheduler, opt)
    rows = []
    for epoch in CLOSED_FORM_EPOCHS:
        opt.step()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scheduler.step(epoch)
        rows.append([g["lr"] for g in opt.param_groups])
    return np.array(rows)


def main():
    import torch
    stored = {}
    for name in OPTIMIZERS:
        for key, value in run_optimizer("torch", name).items():
            stored[f"optim/{name}/{key}"] = value
    for name in LBFGS_CASES:
        for key, value in run_lbfgs("torch", name).items():
            stored[f"lbfgs/{name}/{key}"] = value
    for key, value in run_lbfgs("torch", FLOAT32_CASE, "float32").items():
        stored[f"lbfgs_float32/{FLOAT32_CASE}/{key}"] = value
    for name in SCHEDULERS:
        stored[f"scheduler/{name}"] = run_scheduler("torch", name)
    for name in CLOSED_FORM:
        stored[f"closed_form/{name}"] = run_closed_form("torch", name)
    np.savez_compressed(FIXTURES, torch_version=np.array(torch.__version__), **stored)
    print(f"wrote {len(stored)} arrays to {FIXTURES} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
