"""Module and Parameter: the containers models are built from, as in torch.nn."""
from collections import OrderedDict

import numpy as np

from ..autograd import scope
from ..tensor import Tensor, float32, float64


class Parameter(Tensor):
    """A leaf tensor that a Module registers as a learnable weight (requires_grad=True)."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model.

    Assigning a Parameter or a Module to an attribute registers it (as in PyTorch), which gives
    `parameters()`, `named_parameters()`, `state_dict()` and names: every parameter is named by
    its path from the outermost module (`lstm.weight_hh_l0`), and every call runs inside a name
    scope with the module's attribute name, so the nodes it records carry the same path.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_scope_name", None)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                 f"assigning attributes")
        if name in self._parameters and value is not None and not isinstance(value, Parameter):
            raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} to "
                            f"the parameter {name!r} (a Parameter or None expected); to change "
                            f"its values in place use `with ts.no_grad(): self.{name} -= ...` "
                            f"or .copy_(...)")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
            value.name = name
        elif isinstance(value, Module):
            self._modules[name] = value
            object.__setattr__(value, "_scope_name", name)
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)
        self._rename_parameters()

    def _rename_parameters(self):
        """Name each parameter by its path from this module; re-run as modules nest deeper."""
        for path, p in self.named_parameters():
            p.name = path

    def __getattr__(self, name):
        for registry in ("_parameters", "_modules"):
            found = self.__dict__.get(registry, {}).get(name)
            if found is not None:
                return found
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __call__(self, *args, **kwargs):
        if self._scope_name is None:
            return self.forward(*args, **kwargs)
        with scope(self._scope_name):
            return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} has no forward(); subclasses define it")

    # ------------------------------------------------------------------ traversal
    def named_parameters(self, prefix=""):
        """(path, parameter) pairs, each parameter once, depth first (PyTorch's order)."""
        seen = set()
        for mod_prefix, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mod_prefix}.{name}" if mod_prefix else name), p

    def parameters(self):
        return (p for _, p in self.named_parameters())

    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return iter(self._modules.values())

    def named_modules(self, prefix=""):
        """(path, module) pairs for this module and every module inside it, depth first."""
        stack = [(prefix, self)]
        while stack:
            path, module = stack.pop()
            yield path, module
            stack.extend(reversed([(f"{path}.{n}" if path else n, m)
                                   for n, m in module._modules.items()]))

    def modules(self):
        return (m for _, m in self.named_modules())

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def to(self, dtype):
        """Cast every parameter to dtype (float32 or float64), in place; returns self."""
        dtype = np.dtype(dtype)
        if dtype not in (float32, float64):
            raise TypeError(f"{type(self).__name__}.to: expected float32 or float64, got {dtype}")
        for p in self.parameters():
            p.array = p.array.astype(dtype)
            p.grad = None
        return self

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """An ordered dict of parameter path -> numpy array (a copy)."""
        return OrderedDict((name, p.array.copy()) for name, p in self.named_parameters())

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from `state_dict` into the parameters; all checked before any changes.

        Names, shapes and dtypes must match (with strict=False, missing and unexpected names
        are allowed). Values may be numpy arrays, Tensors or anything np.asarray accepts (a
        PyTorch state_dict after `{k: v.numpy() for k, v in sd.items()}` loads directly).
        """
        arrays = check_state(self, state_dict, strict)
        own = dict(self.named_parameters())
        for name, array in arrays.items():
            own[name].array = array.copy()
        return self

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + ("\n)" if len(lines) > 1 else ")")


def check_state(module, state_dict, strict=True):
    """The arrays of `state_dict` that `module` would load, or a ValueError listing every
    missing, unexpected or mismatched entry (shape or dtype). Changes nothing."""
    own = dict(module.named_parameters())
    arrays = {k: np.asarray(v.array if isinstance(v, Tensor) else v) for k, v in state_dict.items()}
    problems = []
    if strict:
        missing = [k for k in own if k not in arrays]
        unexpected = [k for k in arrays if k not in own]
        if missing:
            problems.append(f"missing: {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected: {', '.join(unexpected)}")
    for name, array in arrays.items():
        if name not in own:
            continue
        p = own[name]
        if array.shape != p.shape:
            problems.append(f"{name}: shape {array.shape} in the state, {p.shape} in the model")
        elif array.dtype != p.dtype:
            problems.append(f"{name}: dtype {array.dtype} in the state, {p.dtype} in the model "
                            f"(cast the model with .float()/.double() first)")
    if problems:
        raise ValueError(f"load_state_dict into {type(module).__name__} refused; nothing was "
                         f"changed:\n  " + "\n  ".join(problems))
    return {k: v for k, v in arrays.items() if k in own}
