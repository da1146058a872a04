"""Module and Parameter: the containers models are built from, as in torch.nn."""
import collections
from collections import OrderedDict

import numpy as np

from .. import autograd, device as _device
from ..autograd import Scope, no_grad
from ..tensor import Tensor, as_dtype, float32, float64, to_arguments


class Parameter(Tensor):
    """A leaf tensor that a Module registers as a learnable weight (requires_grad=True).

    As in PyTorch, `Parameter(t)` of a Tensor shares t's memory; an array or a list is copied.
    """

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            super().__init__(0)
            self.array = data.array
            autograd.share_version(data, self)
            self.requires_grad_(requires_grad)
        else:
            super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class _IncompatibleKeys(collections.namedtuple("IncompatibleKeys",
                                               ["missing_keys", "unexpected_keys"])):
    """What load_state_dict returns, as in PyTorch: the names the state lacked, and the names
    it had that the module does not."""

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys}, " \
               f"unexpected_keys={self.unexpected_keys})"

    __str__ = __repr__


class _Member:
    """`self.weight` for a registered parameter, buffer or child module, without __getattr__.

    A non-data descriptor that a module's class gets for each name registered on one of its
    instances (`_expose`): Python finds it after the instance's __dict__ (where registered
    names are not), and it reads the instance's registries as __getattr__ does. Why not
    __getattr__ alone: before each call of it Python 3.11 formats an AttributeError message
    and throws it away, about 40% of a lookup that runs for every self.weight of every
    forward. On an instance that has no such member it raises AttributeError, and Python
    goes on to __getattr__, whose message the user sees.
    """
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __get__(self, module, cls=None):
        if module is None:
            return self
        attributes, name = module.__dict__, self.name
        if "_modules" in attributes:        # (the last registry Module.__init__ makes)
            # written out, not looped: this runs for every self.weight in every forward
            members = attributes["_parameters"]
            if name in members:
                return members[name]
            members = attributes["_modules"]
            if name in members:
                return members[name]
            members = attributes["_buffers"]
            if name in members:
                return members[name]
        raise AttributeError(name)


def _expose(cls, name):
    """Give cls a _Member for `name`, unless the class (or a base) has that name already: a
    method or class attribute keeps shadowing a registered name, as it does in PyTorch."""
    if not hasattr(cls, name):
        setattr(cls, name, _Member(name))


class Module:
    """Base class of every layer and model.

    Assigning a Parameter or a Module to an attribute registers it (as in PyTorch), and so does
    `register_buffer` for a tensor that is state but not learned (a running mean, a mask).
    That gives `parameters()`, `buffers()`, `state_dict()` and names: every parameter is named
    by its path from the outermost module (`lstm.weight_hh_l0`), and every call runs inside a
    name scope with the module's attribute name, so the nodes it records carry the same path.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_scope_name", None)
        object.__setattr__(self, "_call_scope", None)

    def __setattr__(self, name, value):
        """As in PyTorch: a Parameter or a Module registers itself under `name`; a name already
        registered as a parameter, module or buffer keeps its kind (None empties it)."""
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                 f"assigning attributes")
        if isinstance(value, Parameter):
            self._forget(name, keep=self._parameters)
            self._parameters[name] = value
            _expose(type(self), name)
            self._rename_parameters()
        elif name in self._parameters:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} "
                                f"to the parameter {name!r} (a Parameter or None expected); to "
                                f"change its values in place use `with ts.no_grad(): "
                                f"self.{name} -= ...` or .copy_(...)")
            self._parameters[name] = None
        elif isinstance(value, Module):
            self._forget(name, keep=self._modules)
            self._modules[name] = value
            _expose(type(self), name)
            value._set_scope_name(self._scope_of_child(name))
            self._rename_parameters()
        elif name in self._modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} "
                                f"to the child module {name!r} (a Module or None expected)")
            self._modules[name] = None
        elif name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} "
                                f"to the buffer {name!r} (a Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name, keep=None):
        """Take `name` out of every registry but `keep` (where a name keeps its place, as in
        PyTorch: `self.decoder.weight = ...` leaves weight before bias)."""
        for registry in (self.__dict__, self._parameters, self._buffers, self._modules):
            if registry is not keep:
                registry.pop(name, None)
        if keep is not self._buffers:
            self._non_persistent_buffers_set.discard(name)

    def _scope_of_child(self, name):
        """The name scope a child registered as `name` records its nodes under."""
        return name

    def _set_scope_name(self, name):
        object.__setattr__(self, "_scope_name", name)
        # the scope of its calls from outside any other scope (a top-level child's: most
        # calls), made once: nothing in it depends on the call
        object.__setattr__(self, "_call_scope", None if name is None else Scope(name))

    def _rename_parameters(self):
        """Name each parameter by its path from this module; re-run as modules nest deeper."""
        for path, p in self.named_parameters():
            p.name = path

    def __getattr__(self, name):
        """Parameters, buffers and child modules whose class has no _Member for the name (one
        added to a registry directly), and the error for a name that is nowhere."""
        try:
            return _Member(name).__get__(self)
        except AttributeError:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute "
                                 f"{name!r}") from None

    def __delattr__(self, name):
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __call__(self, *args, **kwargs):
        if self._scope_name is None:
            return self.forward(*args, **kwargs)
        mode = autograd._threads.mode        # this thread's: its current scope
        if mode.scope is not None:           # inside another scope: this one extends it
            with Scope(self._scope_name):
                return self.forward(*args, **kwargs)
        mode.scope = self._call_scope
        try:
            return self.forward(*args, **kwargs)
        finally:
            mode.scope = None

    def forward(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} has no forward(); subclasses define it")

    # ------------------------------------------------------------------ registering
    def _register(self, what, registry, name, value, kind):
        """Check a name and a value (a `kind` or None) for register_buffer, register_parameter
        and add_module (`what`), then take the name out of the other registries."""
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                 f"{what}")
        if not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}.{what}: the name must be a string, got "
                            f"{type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{type(self).__name__}.{what}: a name must be non-empty and "
                           f"contain no '.', got {name!r}")
        if name not in registry and hasattr(self, name):
            raise KeyError(f"{type(self).__name__}.{what}: attribute {name!r} already exists")
        if value is not None and not isinstance(value, kind):
            raise TypeError(f"{type(self).__name__}.{what}: {name!r} must be a "
                            f"{kind.__name__} or None, got {type(value).__name__}")
        self._forget(name, keep=registry)
        registry.setdefault(name, None)       # so that setattr keeps the name of this kind

    def register_buffer(self, name, tensor, persistent=True):
        """Add a tensor that is state but not a parameter: in state_dict() (unless
        persistent=False), moved by .to(), never in parameters(). None reserves the name."""
        self._register("register_buffer", self._buffers, name, tensor, Tensor)
        self._buffers[name] = tensor
        _expose(type(self), name)
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name, param):
        """Add a Parameter (or None, which reserves the name) as an attribute would."""
        self._register("register_parameter", self._parameters, name, param, Parameter)
        setattr(self, name, param)

    def add_module(self, name, module):
        """Add a child module (or None) as an attribute would: add_module("fc", Linear(2, 3))."""
        self._register("add_module", self._modules, name, module, Module)
        setattr(self, name, module)

    register_module = add_module

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(path, module) pairs for this module and every module inside it, depth first; a
        module reached twice (shared) is listed once unless remove_duplicate=False."""
        seen = set() if memo is None else memo
        stack = [(prefix, self)]
        while stack:
            path, module = stack.pop()
            if remove_duplicate:
                if module in seen:
                    continue
                seen.add(module)
            yield path, module
            stack.extend(reversed([(f"{path}.{n}" if path else n, m)
                                   for n, m in module._modules.items() if m is not None]))

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and module not in seen:
                seen.add(module)
                yield name, module

    def children(self):
        return (m for _, m in self.named_children())

    def _registered(self, registry, prefix="", recurse=True, remove_duplicate=True):
        """(module path, name, value) of the parameters or buffers, depth first; the caller
        joins path and name only where it wants them (parameters() runs every step)."""
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for path, module in modules:
            for name, value in module.__dict__[registry].items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield path, name, value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(path, parameter) pairs, each parameter once (a tied weight under its first name),
        depth first: PyTorch's order."""
        return ((f"{path}.{name}" if path else name, p) for path, name, p in
                self._registered("_parameters", prefix, recurse, remove_duplicate))

    def parameters(self, recurse=True):
        return (p for _, _, p in self._registered("_parameters", recurse=recurse))

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return ((f"{path}.{name}" if path else name, b) for path, name, b in
                self._registered("_buffers", prefix, recurse, remove_duplicate))

    def buffers(self, recurse=True):
        return (b for _, _, b in self._registered("_buffers", recurse=recurse))

    def apply(self, fn):
        """Call fn(module) on every submodule, children before their parent and this module
        last (PyTorch's order, e.g. to initialise weights); returns self."""
        order, stack = [], [self]
        while stack:
            module = stack.pop()
            order.append(module)
            stack.extend(module.children())
        for module in reversed(order):
            fn(module)
        return self

    # ------------------------------------------------------------------ modes, grads, dtypes
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError(f"{type(self).__name__}.train: mode must be True or False, got "
                             f"{mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Turn gradients on or off for every parameter (freezing a part of a model)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                with no_grad():
                    p.grad.zero_()

    def to(self, *args, dtype=None, device=None, non_blocking=False, memory_format=None):
        """`to(dtype)`, `to(device)`, `to(device, dtype)`, `to(tensor)`, as in PyTorch: cast
        every floating-point parameter and buffer to dtype (float32 or float64) in place,
        gradients too; the device must be the CPU (see device.py). Returns self."""
        what = f"{type(self).__name__}.to"
        dtype, device = to_arguments(args, dtype, device)
        _device.check(device, what)
        if dtype is None:
            return self
        dtype = as_dtype(dtype, what)
        if dtype.kind != "f":
            raise TypeError(f"{what}: only floating-point dtypes (float32, float64) apply to a "
                            f"module's parameters and buffers, got {dtype}")
        for t in list(self.parameters()) + list(self.buffers()):
            if t.dtype.kind == "f" and t.dtype != dtype:
                t.array = t.array.astype(dtype)          # new memory, as PyTorch's .to()
                t._version_counter().writes += 1         # a graph recorded before is stale
                if t.grad is not None:
                    t.grad = Tensor(t.grad.array.astype(dtype))
        return self

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def cpu(self):
        return self

    def cuda(self, device=None):
        _device.check("cuda" if device is None else f"cuda:{device}",
                      f"{type(self).__name__}.cuda")

    # ------------------------------------------------------------------ state
    def state_dict(self, *, destination=None, prefix="", keep_vars=False):
        """An OrderedDict of name -> tensor for every parameter and persistent buffer, as in
        PyTorch: detached tensors sharing the module's memory (keep_vars=True: the parameters
        themselves), each name after `prefix` ("encoder."). A tied weight is listed under each
        of its names, so the state loads into the same model built by PyTorch, and into ours."""
        state = OrderedDict() if destination is None else destination
        for path, module in self.named_modules(remove_duplicate=False):
            entries = list(module._parameters.items()) + [
                (n, b) for n, b in module._buffers.items()
                if n not in module._non_persistent_buffers_set]
            for name, value in entries:
                if value is not None:
                    key = prefix + (f"{path}.{name}" if path else name)
                    state[key] = value if keep_vars else value.detach()
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy the tensors (or arrays) of `state_dict` into the parameters and buffers, in
        place; everything is checked before anything changes.

        Shapes and dtypes must match. With strict=True the names must match too; with
        strict=False missing and unexpected names are allowed. Returns the named tuple
        (missing_keys, unexpected_keys), as PyTorch does. A PyTorch state_dict loads directly,
        as torch tensors or after ts.load of a file torch.save wrote.
        """
        targets, arrays, missing, unexpected = _check_state(self, state_dict, strict)
        with no_grad():
            for name, array in arrays.items():
                targets[name].copy_(Tensor._make(array, None, 0))
        return _IncompatibleKeys(missing, unexpected)

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + ("\n)" if len(lines) > 1 else ")")


def _check_state(module, state_dict, strict=True):
    """(targets, arrays, missing, unexpected) for loading `state_dict` into `module`, where
    targets maps every state name (tied weights under each name) to the tensor it fills; or a
    ValueError listing every missing, unexpected or mismatched entry. Changes nothing."""
    targets = module.state_dict(keep_vars=True)
    arrays = {k: np.asarray(v.array if isinstance(v, Tensor) else v) for k, v in state_dict.items()}
    missing = [k for k in targets if k not in arrays]
    unexpected = [k for k in arrays if k not in targets]
    problems = []
    if strict:
        if missing:
            problems.append(f"missing: {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected: {', '.join(unexpected)}")
    for name, array in arrays.items():
        if name not in targets:
            continue
        target = targets[name]
        if array.shape != target.shape:
            problems.append(f"{name}: shape {array.shape} in the state, {target.shape} in the "
                            f"model")
        elif array.dtype != target.dtype:
            problems.append(f"{name}: dtype {array.dtype} in the state, {target.dtype} in the "
                            f"model (cast the model with .float()/.double() first)")
    if problems:
        raise ValueError(f"load_state_dict into {type(module).__name__} refused; nothing was "
                         f"changed:\n  " + "\n  ".join(problems))
    return targets, {k: v for k, v in arrays.items() if k in targets}, missing, unexpected


def check_state(module, state_dict, strict=True):
    """The arrays of `state_dict` that `module` would load, or a ValueError listing every
    missing, unexpected or mismatched entry (shape or dtype). Changes nothing."""
    return _check_state(module, state_dict, strict)[1]
