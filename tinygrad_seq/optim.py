"""Optimizers (SGD, Adam, AdamW, RMSprop) and learning-rate schedulers, following torch.optim.

Each `step()` updates `p.data` in place from `p.grad`, with the same arithmetic as PyTorch's
single-tensor implementations so that runs agree to rounding.
"""
import copy
import math
import numbers

import numpy as np

from .autograd import no_grad


class Optimizer:
    """Holds param_groups (dicts of "params" and hyper-parameters) and per-parameter state."""

    def __init__(self, params, defaults):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults, self.param_groups, self.state = defaults, [], {}
        for group in groups:
            group = {**defaults, **group, "params": list(group["params"])}
            self._check_hyper(group)
            for p in group["params"]:
                if not p.requires_grad or not p.is_leaf:
                    raise ValueError(f"{type(self).__name__}: can only optimize leaf tensors that "
                                     f"require grad")
            self.param_groups.append(group)

    def _check_hyper(self, group):
        """Refuse hyper-parameters that would make an update nan or meaningless: torch.optim's
        checks (lr, eps, momentum, weight_decay, alpha >= 0; betas in [0, 1)), and also inf
        and nan, which PyTorch lets through to the first step."""
        name = type(self).__name__
        for key in ("lr", "eps", "momentum", "dampening", "weight_decay", "alpha"):
            value = group.get(key, 0.0)
            if not _is_finite(value) or value < 0:
                raise ValueError(f"{name}: {key} must be a finite number >= 0, got {value!r}")
        if group.get("alpha", 0.0) > 1:
            raise ValueError(f"{name}: alpha must be in [0, 1], got {group['alpha']!r}")
        betas = group.get("betas", (0.0, 0.0))
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2
                and all(_is_finite(b) and 0 <= b < 1 for b in betas)):
            raise ValueError(f"{name}: betas must be two numbers in [0, 1), got {betas!r}")

    def _params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self):
        for p in self._params():
            p.grad = None

    @no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    state = self.state.setdefault(id(p), {})
                    self._update(p.data, p.grad.data, state, group)

    def state_dict(self):
        """{"state": {param index: {name: array or number}}, "param_groups": [...]} as in PyTorch."""
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {index[k]: {n: np.copy(v) if isinstance(v, np.ndarray) else v
                            for n, v in s.items()} for k, s in self.state.items()}
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore state saved by state_dict(); checks everything before changing anything."""
        self._apply_state(*self.check_state_dict(state_dict))

    def check_state_dict(self, state_dict):
        """The state and hyper-parameters `state_dict` would load, or a ValueError; changes
        nothing (checkpoint loading checks model and optimizer before touching either). Checked:
        the groups' layout, every hyper-parameter, and each parameter's state: the names this
        optimizer keeps, arrays of floats shaped like the parameter, step counts >= 1."""
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
            except ValueError as e:     # "Adam: lr must..." -> "Adam.load_state_dict: lr must..."
                raise ValueError(f"{name}.load_state_dict: {str(e)[len(name) + 2:]}") from None
            hyper.append({k: copy.deepcopy(v) for k, v in g.items() if k != "params"})
            group_of.update(dict.fromkeys(g["params"], hyper[-1]))
        new_state = {}
        for i, s in state_dict["state"].items():
            i = int(i)
            if not 0 <= i < len(params):
                raise ValueError(f"{name}.load_state_dict: state for parameter {i}, but there "
                                 f"are only {len(params)}")
            arrays, counters = self._state_names(group_of[i])
            if s and set(s) != arrays | counters:
                raise ValueError(f"{name}.load_state_dict: the state of parameter {i} holds "
                                 f"{sorted(s)}; {name} keeps {sorted(arrays | counters)}")
            for key in arrays & set(s):
                value = s[key]
                if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
                    raise ValueError(f"{name}.load_state_dict: {key} of parameter {i} must be "
                                     f"an array of floats, got {_kind(value)}")
                if value.shape != params[i].shape:
                    raise ValueError(f"{name}.load_state_dict: {key} of parameter {i} has "
                                     f"shape {value.shape}, the parameter {params[i].shape}")
            for key in counters & set(s):
                if not isinstance(s[key], numbers.Integral) or isinstance(s[key], bool) \
                        or s[key] < 1:
                    raise ValueError(f"{name}.load_state_dict: {key} of parameter {i} must be "
                                     f"a whole number >= 1, got {s[key]!r}")
            new_state[id(params[i])] = {k: np.array(v, dtype=params[i].dtype) if k in arrays
                                        else int(v) for k, v in s.items()}
        return new_state, hyper

    def _apply_state(self, new_state, hyper):
        self.state = new_state
        for own, saved in zip(self.param_groups, hyper):
            own.update(saved)


def _is_finite(value):
    """A real number (not a bool), neither inf nor nan."""
    try:
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and \
            math.isfinite(value)
    except OverflowError:       # an int beyond float's range
        return False


def _kind(value):
    return f"{value.dtype} array" if isinstance(value, np.ndarray) else type(value).__name__


class SGD(Optimizer):
    """p -= lr * v, v = momentum * v + (1 - dampening) * (g + weight_decay * p)
    (nesterov: p -= lr * (g + momentum * v))."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening = 0")
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
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(p), exp_avg_sq=np.zeros_like(p))
        state["step"] += 1
        if wd and self.decoupled:
            p *= 1 - lr * wd
        elif wd:
            g = g + wd * p
        m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        m += (1 - beta1) * (g - m)                     # PyTorch's lerp
        v *= beta2
        v += (1 - beta2) * g * g
        denom = np.sqrt(v) / math.sqrt(1 - beta2 ** t) + group["eps"]
        p -= (lr / (1 - beta1 ** t)) * m / denom


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


# ------------------------------------------------------------------------------ schedulers
class LRScheduler:
    """Sets each group's lr from its initial lr and the epoch count; call step() once per epoch."""

    def __init__(self, optimizer):
        self.optimizer, self.last_epoch = optimizer, 0
        self.base_lrs = [g.setdefault("initial_lr", g["lr"]) for g in optimizer.param_groups]

    def step(self):
        self.last_epoch += 1
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base, self.last_epoch)

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state):
        self.last_epoch, self.base_lrs = state["last_epoch"], list(state["base_lrs"])


class StepLR(LRScheduler):
    """lr = initial_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def lr_at(self, base, epoch):
        return base * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def lr_at(self, base, epoch):
        return self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
