"""Optimizers (SGD, Adam, AdamW, RMSprop, Adagrad, LBFGS) and, in `optim.lr_scheduler`,
learning-rate schedulers, following torch.optim.

Each `step()` updates `p.array` in place from `p.grad` (bumping the parameter's version, as
PyTorch's in-place updates do), with the same arithmetic as PyTorch's single-tensor
implementations so that runs agree to rounding. `step(closure)` first re-evaluates the loss
with gradients recorded (`closure` zeroes the grads, computes the loss, calls backward and
returns it) and returns that loss.
"""
import copy
import math
import numbers
import warnings

import numpy as np

from ..autograd import enable_grad, no_grad
from ..kernels import backend
from ..tensor import Tensor

# Hyper-parameters checked in every group of every optimizer, in one place, with PyTorch's words
# for them ("Invalid learning rate: -1"). Each must be a finite number >= 0: PyTorch lets inf and
# nan through to the first step, which then fills the weights with nan.
_NON_NEGATIVE = {
    "lr": "learning rate", "eps": "epsilon value", "momentum": "momentum value",
    "dampening": "dampening value", "weight_decay": "weight_decay value", "alpha": "alpha value",
    "lr_decay": "lr_decay value", "initial_accumulator_value": "initial_accumulator_value value",
    "tolerance_grad": "tolerance_grad value", "tolerance_change": "tolerance_change value",
}
_POSITIVE_INT = ("max_iter", "max_eval", "history_size")


class Optimizer:
    """Holds param_groups (dicts of "params" and hyper-parameters) and per-parameter state.

    `params` is an iterable of tensors, or of dicts {"params": tensors, **options} (parameter
    groups; an option missing from a group takes the optimizer's default).
    """

    def __init__(self, params, defaults):
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params should be an iterable of Tensors or dicts, got one "
                            f"Tensor; pass [tensor] or model.parameters()")
        params = list(params)
        if not params:
            raise ValueError(f"{name}: got an empty parameter list")
        self.defaults, self.param_groups, self.state = defaults, [], {}
        for group in params if isinstance(params[0], dict) else [{"params": params}]:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group {"params": tensors, **options}; options it omits take the defaults (the
        given dict itself is completed and kept, as in PyTorch)."""
        name = type(self).__name__
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"{name}: a parameter group must be a dict with a 'params' entry, "
                            f"got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, set):
            raise TypeError(f"{name}: parameters need an ordered collection (a set's order "
                            f"changes between runs); use a list")
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (shape {p.shape}, "
                                 f"the result of an op); optimize the leaves it was made from")
        candidate = {**self.defaults, **param_group, "params": params}
        self._check_hyper(candidate)
        if len({id(p) for p in params}) != len(params):
            warnings.warn(f"{name}: a parameter group lists a parameter more than once; it "
                          f"will be updated that many times per step", stacklevel=3)
        taken = {id(p) for p in self._params()}
        if any(id(p) in taken for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        param_group.update(candidate)
        self.param_groups.append(param_group)

    def _check_hyper(self, group):
        """Refuse a group's hyper-parameters that would make an update nan or meaningless."""
        name = type(self).__name__
        for key, words in _NON_NEGATIVE.items():
            if key in group and not (_is_finite(group[key]) and group[key] >= 0):
                raise ValueError(f"{name}: Invalid {words}: {group[key]!r} ({key} must be a "
                                 f"finite number >= 0, got {group[key]!r})")
        for key in _POSITIVE_INT:
            value = group.get(key, 1)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: Invalid {key} value: {value!r} ({key} must be a "
                                 f"whole number >= 1)")
        if group.get("alpha", 0.0) > 1:
            raise ValueError(f"{name}: Invalid alpha value: {group['alpha']!r} (alpha must be in "
                             f"[0, 1], got {group['alpha']!r})")
        if "betas" in group:
            betas = group["betas"]
            if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
                raise ValueError(f"{name}: betas must be two numbers in [0, 1), got {betas!r}")
            for i, beta in enumerate(betas):
                if not (_is_finite(beta) and 0 <= beta < 1):
                    raise ValueError(f"{name}: Invalid beta parameter at index {i}: {beta!r} "
                                     f"(betas must be two numbers in [0, 1), got {betas!r})")
        if group.get("nesterov") and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"{name}: Nesterov momentum requires a momentum and zero dampening "
                             f"(got momentum={group['momentum']!r}, "
                             f"dampening={group['dampening']!r})")

    def _params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self, set_to_none=True):
        """Drop every parameter's gradient (set_to_none=False: fill it with zeros in place, so
        a parameter that gets no gradient in the next backward still takes a step)."""
        for p in self._params():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    with no_grad():
                        p.grad.zero_()

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns closure()'s loss (or None)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        state = self.state.setdefault(id(p), {})
                        self._update(p.array, p.grad.array, state, group)
                        p._version_counter().writes += 1
        return loss

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines + [")"])

    def state_dict(self):
        """{"state": {param index: {name: value}}, "param_groups": [...]} as in PyTorch (a copy:
        later steps do not change it)."""
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {index[k]: copy.deepcopy(s) for k, s in self.state.items()}
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore state saved by state_dict(); checks everything before changing anything."""
        self._apply_state(*self.check_state_dict(state_dict))

    def check_state_dict(self, state_dict):
        """The state and hyper-parameters `state_dict` would load, or a ValueError; changes
        nothing (checkpoint loading checks model and optimizer before touching either). Checked:
        the groups' layout, every hyper-parameter, and each parameter's state (see
        `_checked_param_state`)."""
        params, name = self._params(), type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)):
            raise ValueError(f"{name}.load_state_dict: the saved parameter groups "
                             f"({[len(g['params']) for g in groups]} parameters) do not match "
                             f"this optimizer's ({[len(g['params']) for g in self.param_groups]})")
        order = [i for g in groups for i in g["params"]]
        if order != list(range(len(params))):
            raise ValueError(f"{name}.load_state_dict: the saved groups list the parameters "
                             f"{order}, expected 0 to {len(params) - 1} in order")
        hyper, group_of = [], {}
        for g, own in zip(groups, self.param_groups):
            missing = sorted(k for k in own if k not in g)
            if missing:
                raise ValueError(f"{name}.load_state_dict: a saved group lacks {missing}")
            try:
                self._check_hyper(g)
            except ValueError as e:     # "Adam: Invalid..." -> "Adam.load_state_dict: Invalid..."
                raise ValueError(f"{name}.load_state_dict: {str(e)[len(name) + 2:]}") from None
            hyper.append({k: copy.deepcopy(v) for k, v in g.items() if k != "params"})
            group_of.update(dict.fromkeys(g["params"], hyper[-1]))
        new_state = {}
        for i, s in state_dict["state"].items():
            i = int(i)
            if not 0 <= i < len(params):
                raise ValueError(f"{name}.load_state_dict: state for parameter {i}, but there "
                                 f"are only {len(params)}")
            new_state[id(params[i])] = self._checked_param_state(i, params[i], s, group_of[i])
        return new_state, hyper

    def _checked_param_state(self, i, p, saved, group):
        """A copy of one parameter's saved state: the names this optimizer keeps
        (`_state_names`), arrays of floats shaped like p (cast to p's dtype), counts >= 1."""
        name = type(self).__name__
        arrays, counters = self._state_names(group)
        if saved and set(saved) != arrays | counters:
            raise ValueError(f"{name}.load_state_dict: the state of parameter {i} holds "
                             f"{sorted(saved)}; {name} keeps {sorted(arrays | counters)}")
        for key in arrays & set(saved):
            value = saved[key]
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
                raise ValueError(f"{name}.load_state_dict: {key} of parameter {i} must be an "
                                 f"array of floats, got {_kind(value)}")
            if value.shape != p.shape:
                raise ValueError(f"{name}.load_state_dict: {key} of parameter {i} has shape "
                                 f"{value.shape}, the parameter {p.shape}")
        for key in counters & set(saved):
            if not isinstance(saved[key], numbers.Integral) or isinstance(saved[key], bool) \
                    or saved[key] < 1:
                raise ValueError(f"{name}.load_state_dict: {key} of parameter {i} must be a "
                                 f"whole number >= 1, got {saved[key]!r}")
        return {k: np.array(v, dtype=p.dtype) if k in arrays else int(v)
                for k, v in saved.items()}

    def _apply_state(self, new_state, hyper):
        self.state = new_state
        for own, saved in zip(self.param_groups, hyper):
            own.update(saved)


def _kind(value):
    return f"{value.dtype} array" if isinstance(value, np.ndarray) else type(value).__name__


def _is_finite(value):
    """A real number (not a bool), neither inf nor nan."""
    try:
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and \
            math.isfinite(value)
    except OverflowError:       # an int beyond float's range
        return False


class SGD(Optimizer):
    """p -= lr * v, v = momentum * v + (1 - dampening) * (g + weight_decay * p)
    (nesterov: p -= lr * (g + momentum * v))."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    @staticmethod
    def _state_names(group):
        """(arrays, counters) of a parameter's state once it has taken a step."""
        return ({"momentum_buffer"} if group["momentum"] else set()), set()

    def _update(self, p, g, state, group):
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p
        momentum = group["momentum"]
        if momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = np.array(g)
            else:
                buf = state["momentum_buffer"]
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            buf = state["momentum_buffer"]
            g = g + momentum * buf if group["nesterov"] else buf
        p -= group["lr"] * g


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015): m, v running moments of g; p -= lr * m_hat / (sqrt(v_hat) + eps).
    weight_decay adds weight_decay * p to g (L2); AdamW decays the weights directly instead."""

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @staticmethod
    def _state_names(group):
        """(arrays, counters) of a parameter's state once it has taken a step."""
        return {"exp_avg", "exp_avg_sq"}, {"step"}

    def _update(self, p, g, state, group):
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(p), exp_avg_sq=np.zeros_like(p))
        state["step"] += 1
        # one pass of a numba kernel, the same numbers as its numpy twin (which has the
        # formulas, kernels/reference.py): 3.4-3.7x faster on 65k-262k float32 weights
        (beta1, beta2), wd = group["betas"], group["weight_decay"]
        backend.adam_update(p, g, state["exp_avg"], state["exp_avg_sq"], state["step"],
                            group["lr"], beta1, beta2, group["eps"], wd, self.decoupled)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): p *= 1 - lr * weight_decay."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """s = alpha * s + (1 - alpha) g^2; p -= lr * g / (sqrt(s) + eps) (centered: s - mean(g)^2)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    @staticmethod
    def _state_names(group):
        """(arrays, counters) of a parameter's state once it has taken a step."""
        arrays = {"square_avg"} | ({"momentum_buffer"} if group["momentum"] else set()) | \
            ({"grad_avg"} if group["centered"] else set())
        return arrays, {"step"}

    def _update(self, p, g, state, group):
        alpha = group["alpha"]
        if not state:
            state.update(step=0, square_avg=np.zeros_like(p))
            if group["momentum"]:
                state["momentum_buffer"] = np.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p)
        state["step"] += 1
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p
        sq = state["square_avg"]
        sq *= alpha
        sq += (1 - alpha) * g * g
        if group["centered"]:
            ga = state["grad_avg"]
            ga += (1 - alpha) * (g - ga)
            avg = np.sqrt(sq - ga * ga) + group["eps"]
        else:
            avg = np.sqrt(sq) + group["eps"]
        if group["momentum"]:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += g / avg
            p -= group["lr"] * buf
        else:
            p -= group["lr"] * g / avg


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011): s += g^2; p -= clr * g / (sqrt(s) + eps), where
    clr = lr / (1 + (step - 1) * lr_decay) and s starts at initial_accumulator_value."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps,
                                      weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value))

    @staticmethod
    def _state_names(group):
        """(arrays, counters) of a parameter's state once it has taken a step."""
        return {"sum"}, {"step"}

    def _update(self, p, g, state, group):
        if not state:
            state.update(step=0, sum=np.full_like(p, group["initial_accumulator_value"]))
        state["step"] += 1
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        total = state["sum"]
        total += g * g
        p -= clr * g / (np.sqrt(total) + group["eps"])


from . import lr_scheduler          # noqa: E402  (they import Optimizer from here)
from .lbfgs import LBFGS            # noqa: E402
