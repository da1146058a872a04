"""Containers that register what they hold: ModuleList, ModuleDict, ParameterList and
ParameterDict, as in torch.nn. A plain Python list of modules would hide their parameters from
parameters(), state_dict() and the optimizer; these register each item under its index or key
("layers.0.weight")."""
from ..tensor import Tensor
from .module import Module, Parameter


def _index(container, idx):
    """The position idx (negative from the end) as a string key, or an IndexError."""
    if not isinstance(idx, int) or isinstance(idx, bool):
        raise TypeError(f"{type(container).__name__} indices must be integers or slices, got "
                        f"{type(idx).__name__}")
    n = len(container)
    if not -n <= idx < n:
        raise IndexError(f"{type(container).__name__}: index {idx} is out of range for "
                         f"{n} items")
    return str(idx % n)


class _Holder:
    """A container is not called, its modules are: they record their nodes under its scope
    name and their key together ("layers.0"), however late the container gets its name."""

    def _scope_of_child(self, name):
        return f"{self._scope_name}.{name}" if self._scope_name else name

    def _set_scope_name(self, name):
        super()._set_scope_name(name)
        for key, module in self._modules.items():
            if module is not None:
                module._set_scope_name(self._scope_of_child(key))

    def _rename_parameters(self):
        """Items appended after the container was attached keep their parameters' paths
        ("layers.3.weight", not "3.weight")."""
        for path, p in self.named_parameters(prefix=self._scope_name or ""):
            p.name = path


class ModuleList(_Holder, Module):
    """A list of modules registered as "0", "1", ...; index, slice, iterate and append as with
    a list. It has no forward: a model calls its items itself (`for layer in self.layers`)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList._holding(list(self._modules.values())[idx])
        return self._modules[_index(self, idx)]

    @staticmethod
    def _holding(modules):
        """A ModuleList of these modules that leaves them as they are: a slice or a sum is a
        new list of the same modules, which keep their names and scopes."""
        result = ModuleList()
        result._modules.update((str(i), m) for i, m in enumerate(modules))
        return result

    def __setitem__(self, idx, module):
        self.add_module(_index(self, idx), module)

    def __delitem__(self, idx):
        if isinstance(idx, slice):
            for key in [str(i) for i in range(len(self))[idx]]:
                del self._modules[key]
        else:
            del self._modules[_index(self, idx)]
        self._renumber(list(self._modules.values()))

    def _renumber(self, modules):
        """Keys are positions: after a removal or insertion the items are registered again."""
        self._modules.clear()
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList._holding(list(self) + list(other))

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        try:
            modules = list(modules)
        except TypeError:
            raise TypeError(f"ModuleList.extend: expected an iterable of modules, got a "
                            f"{type(modules).__name__} (append adds one module)") from None
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._renumber(modules)

    def pop(self, idx=-1):
        module = self[idx]
        del self[idx]
        return module


class _Members:
    """The dict methods of ModuleDict and ParameterDict, over their registry (`_members`)."""

    def __getitem__(self, key):
        return self._members()[key]

    def __delitem__(self, key):
        del self._members()[key]

    def __len__(self):
        return len(self._members())

    def __iter__(self):
        return iter(self._members())

    def __contains__(self, key):
        return key in self._members()

    def keys(self):
        return self._members().keys()

    def items(self):
        return self._members().items()

    def values(self):
        return self._members().values()

    def get(self, key, default=None):
        return self._members().get(key, default)

    def pop(self, key):
        value = self[key]
        del self[key]
        return value

    def clear(self):
        self._members().clear()

    def update(self, pairs):
        """Add (key, value) pairs from a dict, a ModuleDict/ParameterDict or an iterable."""
        for item in pairs.items() if hasattr(pairs, "items") else pairs:
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise TypeError(f"{type(self).__name__}.update: expected (key, value) pairs, "
                                f"got {item!r}")
            self[item[0]] = item[1]


class ModuleDict(_Holder, _Members, Module):
    """An ordered dict of modules registered under their keys: `self.heads["pos"]`,
    `for name, head in self.heads.items()`."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def _members(self):
        return self._modules

    def __setitem__(self, key, module):
        self.add_module(key, module)


def _as_parameter(container, value):
    """A Tensor put into a ParameterList or ParameterDict becomes a Parameter sharing its
    memory, as in PyTorch."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{type(container).__name__} holds tensors (they become Parameters), "
                        f"got {type(value).__name__}")
    return value if isinstance(value, Parameter) else Parameter(value)


class ParameterList(Module):
    """A list of Parameters registered as "0", "1", ... (tensors become Parameters); a slice
    is a new list of the same Parameters."""

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            result = ParameterList()
            for i in range(len(self))[idx]:       # registered as they are, names unchanged
                result._parameters[str(len(result))] = self[i]
            return result
        return self._parameters[_index(self, idx)]

    def __setitem__(self, idx, value):
        setattr(self, _index(self, idx), _as_parameter(self, value))

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __iadd__(self, values):
        return self.extend(values)

    def append(self, value):
        setattr(self, str(len(self)), _as_parameter(self, value))
        return self

    def extend(self, values):
        if isinstance(values, Tensor):
            raise TypeError("ParameterList.extend: expected an iterable of tensors, got one "
                            "tensor (use append)")
        for value in values:
            self.append(value)
        return self

    def extra_repr(self):
        return ", ".join(f"({i}): {tuple(p.shape)} {p.dtype}" for i, p in enumerate(self))


class ParameterDict(_Members, Module):
    """An ordered dict of Parameters registered under their keys (tensors become Parameters)."""

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def _members(self):
        return self._parameters

    def __setitem__(self, key, value):
        self.register_parameter(key, _as_parameter(self, value))

    def extra_repr(self):
        return ", ".join(f"({k}): {tuple(p.shape)} {p.dtype}" for k, p in self.items())
