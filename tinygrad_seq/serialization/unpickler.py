"""Reading pickles without running them: our own opcode reader, and the table of globals it
rebuilds (each by our code, from checked arguments)."""
import _compat_pickle
import collections
import math
import pickle
import re
import struct

import numpy as np

from ..device import device
from ..nn.module import Parameter
from ..tensor import Tensor
from .storage import DTYPES, TORCH_NAME, Storage


class Global:
    """A name a file may import, from `GLOBALS`: `build(*args)` makes what REDUCE on it gives
    (our code, never the named object); None for names that are only values, such as
    torch.FloatStorage (`dtype_name` says which storage)."""
    __slots__ = ("name", "build", "dtype_name")

    def __init__(self, name, build=None, dtype_name=None):
        self.name, self.build, self.dtype_name = name, build, dtype_name

    def __repr__(self):
        return self.name


class Pending:
    """numpy's _reconstruct(...) or dtype(...) result, waiting for the BUILD that completes it
    (`finish(state)` gives the real object, which then replaces this one in the memo)."""
    __slots__ = ("finish", "memo_keys")

    def __init__(self, finish):
        self.finish, self.memo_keys = finish, []

    def __repr__(self):
        return "<a numpy object the file left unfinished>"


class Unpickler:
    """Reads pickle opcodes into Python objects; nothing named in the file is imported or
    called. Opcodes that build values (protocols 2 to 5) are read; opcodes that call classes
    (INST, OBJ, the copyreg extensions) are refused. `load()` returns (object, end position)."""

    def __init__(self, data, what, encoding="utf-8", persistent_load=None, position=0):
        self.data, self.what, self.encoding = data, what, encoding
        self.persistent_load, self.position = persistent_load, position
        self.stack, self.metastack, self.memo = [], [], {}

    def fail(self, message):
        raise pickle.UnpicklingError(f"load: {self.what}: {message}")

    def read(self, n):
        start, self.position = self.position, self.position + n
        if self.position > len(self.data):
            self.fail("the pickle ends too early; the file is cut short or damaged")
        return self.data[start:self.position]

    def readline(self):
        end = self.data.find(b"\n", self.position)
        if end < 0:
            self.fail("the pickle ends too early; the file is cut short or damaged")
        line, self.position = self.data[self.position:end], end + 1
        return line.decode("utf-8", "replace")

    def load(self):
        while True:
            opcode = self.read(1)
            if opcode == pickle.STOP:
                if len(self.stack) != 1 or self.metastack:
                    self.fail("the pickle is malformed (its stack does not end with one object)")
                return self.stack.pop(), self.position
            handler = self.dispatch.get(opcode[0])
            if handler is None:
                name = OPCODE_NAMES.get(opcode[0], f"byte {opcode!r}")
                self.fail(f"the pickle opcode {name} is not read here (it is not one that "
                          f"plain data needs), so the file is refused")
            handler(self)

    def pop(self):
        if not self.stack:
            self.fail("the pickle is malformed (it pops an empty stack)")
        return self.stack.pop()

    def top(self):
        if not self.stack:
            self.fail("the pickle is malformed (it reads an empty stack)")
        return self.stack[-1]

    def pop_mark(self):
        if not self.metastack:
            self.fail("the pickle is malformed (no MARK to go back to)")
        items, self.stack = self.stack, self.metastack.pop()
        return items

    dispatch = {}

    # --------------------------------------------------------------- framing, stack, memo
    def load_proto(self):
        if self.read(1)[0] > 5:
            self.fail("the pickle's protocol is newer than 5")
    dispatch[pickle.PROTO[0]] = load_proto

    def load_frame(self):
        self.read(8)                 # a frame's length; the bytes follow as ordinary opcodes
    dispatch[pickle.FRAME[0]] = load_frame

    def load_mark(self):
        self.metastack.append(self.stack)
        self.stack = []
    dispatch[pickle.MARK[0]] = load_mark

    def load_pop(self):
        self.pop()
    dispatch[pickle.POP[0]] = load_pop

    def load_pop_mark(self):
        self.pop_mark()
    dispatch[pickle.POP_MARK[0]] = load_pop_mark

    def load_dup(self):
        self.stack.append(self.top())
    dispatch[pickle.DUP[0]] = load_dup

    def get(self, index):
        if index not in self.memo:
            self.fail(f"the pickle is malformed (memo entry {index} was never stored)")
        self.stack.append(self.memo[index])

    def put(self, index):
        value = self.memo[index] = self.top()
        if isinstance(value, Pending):
            value.memo_keys.append(index)

    dispatch[pickle.BINGET[0]] = lambda self: self.get(self.read(1)[0])
    dispatch[pickle.LONG_BINGET[0]] = lambda self: self.get(struct.unpack("<I", self.read(4))[0])
    dispatch[pickle.BINPUT[0]] = lambda self: self.put(self.read(1)[0])
    dispatch[pickle.LONG_BINPUT[0]] = lambda self: self.put(struct.unpack("<I", self.read(4))[0])
    dispatch[pickle.MEMOIZE[0]] = lambda self: self.put(len(self.memo))

    # --------------------------------------------------------------- numbers and strings
    dispatch[pickle.NONE[0]] = lambda self: self.stack.append(None)
    dispatch[pickle.NEWTRUE[0]] = lambda self: self.stack.append(True)
    dispatch[pickle.NEWFALSE[0]] = lambda self: self.stack.append(False)
    dispatch[pickle.BININT[0]] = lambda self: self.stack.append(
        struct.unpack("<i", self.read(4))[0])
    dispatch[pickle.BININT1[0]] = lambda self: self.stack.append(self.read(1)[0])
    dispatch[pickle.BININT2[0]] = lambda self: self.stack.append(
        struct.unpack("<H", self.read(2))[0])
    dispatch[pickle.LONG1[0]] = lambda self: self.stack.append(
        pickle.decode_long(self.read(self.read(1)[0])))
    dispatch[pickle.LONG4[0]] = lambda self: self.stack.append(
        pickle.decode_long(self.read(self.sized(4))))
    dispatch[pickle.BINFLOAT[0]] = lambda self: self.stack.append(
        struct.unpack(">d", self.read(8))[0])

    def sized(self, width):
        """A length of `width` bytes (little-endian, unsigned)."""
        return int.from_bytes(self.read(width), "little")

    def text(self, raw):
        try:
            return str(raw, "utf-8", "surrogatepass")
        except UnicodeDecodeError:
            self.fail("a string in the pickle is not valid UTF-8; the file is damaged")

    def python2_string(self, raw):
        """A Python 2 str: decoded with the encoding given to load ("bytes" keeps bytes)."""
        if self.encoding == "bytes":
            return raw
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError as e:
            self.fail(f"a Python 2 string does not decode as {self.encoding} ({e}); pass "
                      f"encoding='latin1' or encoding='bytes'")

    dispatch[pickle.BINUNICODE[0]] = lambda self: self.stack.append(
        self.text(self.read(self.sized(4))))
    dispatch[pickle.SHORT_BINUNICODE[0]] = lambda self: self.stack.append(
        self.text(self.read(self.sized(1))))
    dispatch[pickle.BINUNICODE8[0]] = lambda self: self.stack.append(
        self.text(self.read(self.sized(8))))
    dispatch[pickle.BINSTRING[0]] = lambda self: self.stack.append(
        self.python2_string(self.read(self.sized(4))))
    dispatch[pickle.SHORT_BINSTRING[0]] = lambda self: self.stack.append(
        self.python2_string(self.read(self.sized(1))))
    dispatch[pickle.BINBYTES[0]] = lambda self: self.stack.append(self.read(self.sized(4)))
    dispatch[pickle.SHORT_BINBYTES[0]] = lambda self: self.stack.append(self.read(self.sized(1)))
    dispatch[pickle.BINBYTES8[0]] = lambda self: self.stack.append(self.read(self.sized(8)))
    dispatch[pickle.BYTEARRAY8[0]] = lambda self: self.stack.append(
        bytearray(self.read(self.sized(8))))

    # --------------------------------------------------------------- containers
    dispatch[pickle.EMPTY_TUPLE[0]] = lambda self: self.stack.append(())
    dispatch[pickle.EMPTY_LIST[0]] = lambda self: self.stack.append([])
    dispatch[pickle.EMPTY_DICT[0]] = lambda self: self.stack.append({})
    dispatch[pickle.EMPTY_SET[0]] = lambda self: self.stack.append(set())

    def push_marked(self, make):
        items = self.pop_mark()         # (before self.stack.append: pop_mark changes the stack)
        self.stack.append(make(items))

    dispatch[pickle.TUPLE[0]] = lambda self: self.push_marked(tuple)
    dispatch[pickle.LIST[0]] = lambda self: self.push_marked(list)
    dispatch[pickle.FROZENSET[0]] = lambda self: self.push_marked(
        lambda items: frozenset(self.hashable(items)))

    def load_tuple_n(self, n):
        if len(self.stack) < n:
            self.fail("the pickle is malformed (a tuple of more items than the stack holds)")
        items = tuple(self.stack[len(self.stack) - n:])
        del self.stack[len(self.stack) - n:]
        self.stack.append(items)

    dispatch[pickle.TUPLE1[0]] = lambda self: self.load_tuple_n(1)
    dispatch[pickle.TUPLE2[0]] = lambda self: self.load_tuple_n(2)
    dispatch[pickle.TUPLE3[0]] = lambda self: self.load_tuple_n(3)

    def hashable(self, items):
        for item in items:
            try:
                hash(item)
            except TypeError:
                self.fail(f"the pickle uses a {type(item).__name__} as a dict key or set item")
        return items

    def target(self, kind, types):
        target = self.top()
        if type(target) not in types:
            self.fail(f"the pickle adds {kind} to a {type(target).__name__}")
        return target

    def load_append(self):
        item = self.pop()
        self.target("items", (list,)).append(item)
    dispatch[pickle.APPEND[0]] = load_append

    def load_appends(self):
        items = self.pop_mark()
        self.target("items", (list,)).extend(items)
    dispatch[pickle.APPENDS[0]] = load_appends

    def set_items(self, items):
        if len(items) % 2:
            self.fail("the pickle is malformed (a key without a value)")
        target = self.target("keys", (dict, collections.OrderedDict, collections.Counter))
        for key, value in zip(self.hashable(items[::2]), items[1::2]):
            target[key] = value

    def load_setitem(self):
        value = self.pop()
        self.set_items([self.pop(), value])
    dispatch[pickle.SETITEM[0]] = load_setitem
    dispatch[pickle.SETITEMS[0]] = lambda self: self.set_items(self.pop_mark())

    def load_additems(self):
        items = self.pop_mark()
        self.target("items", (set,)).update(self.hashable(items))
    dispatch[pickle.ADDITEMS[0]] = load_additems

    # --------------------------------------------------------------- globals and calls
    def find_global(self, module, name):
        if (module, name) in _compat_pickle.NAME_MAPPING:        # Python 2 names
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        full_name = f"{module}.{name}"
        found = GLOBALS.get(full_name)
        if found is None:
            self.fail(f"refused the global {full_name!r}: nothing from the file was run. Only "
                      f"tensors, storages, numbers, strings, containers, torch.Size, dtypes, "
                      f"devices and numpy arrays are rebuilt, as torch.load(weights_only=True) "
                      f"does; a file that pickles other objects (a whole model, say) needs "
                      f"PyTorch and weights_only=False, on a file you trust. Save a "
                      f"state_dict instead")
        self.stack.append(found)

    def load_global(self):
        module = self.readline()
        self.find_global(module, self.readline())
    dispatch[pickle.GLOBAL[0]] = load_global

    def load_stack_global(self):
        name, module = self.pop(), self.pop()
        if type(name) is not str or type(module) is not str:
            self.fail("the pickle is malformed (STACK_GLOBAL of non-strings)")
        self.find_global(module, name)
    dispatch[pickle.STACK_GLOBAL[0]] = load_stack_global

    def call(self, function, args):
        if not (isinstance(function, Global) and function.build is not None):
            self.fail(f"the pickle calls {function!r}, which is not one of the functions the "
                      f"loader knows")
        if type(args) is not tuple:
            self.fail(f"the pickle calls {function!r} with {type(args).__name__} arguments")
        try:
            return function.build(*args)
        except (TypeError, ValueError) as e:
            self.fail(f"{function!r} got arguments it does not take ({e})")
        except BadArguments as e:
            self.fail(f"{function!r}: {e}")

    def load_reduce(self):
        args = self.pop()
        self.stack.append(self.call(self.pop(), args))
    dispatch[pickle.REDUCE[0]] = load_reduce

    def load_newobj(self):
        args = self.pop()
        cls = self.pop()
        if not (isinstance(cls, Global) and cls.name in _CLASSES):
            self.fail(f"the pickle makes an object of {cls!r}, which is not a class the loader "
                      f"knows")
        self.stack.append(self.call(cls, args))
    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_build(self):
        state = self.pop()
        inst = self.top()
        if isinstance(inst, Pending):
            try:
                built = inst.finish(state)
            except (BadArguments, TypeError, ValueError) as e:
                self.fail(f"a numpy object in the file is malformed ({e})")
            self.stack[-1] = built
            for key in inst.memo_keys:
                self.memo[key] = built
        elif type(inst) is collections.OrderedDict and type(state) is dict and all(
                type(k) is str and not k.startswith("__") for k in state):
            inst.__dict__.update(state)          # a PyTorch state_dict's _metadata
        else:
            self.fail(f"the pickle sets the state of a {type(inst).__name__}, which the "
                      f"loader does not do (only an OrderedDict's attributes, and numpy's)")
    dispatch[pickle.BUILD[0]] = load_build

    def load_binpersid(self):
        if self.persistent_load is None:
            self.fail("the pickle refers to outside data (a storage) where none is expected")
        pid = self.pop()
        try:
            self.stack.append(self.persistent_load(pid))
        except BadArguments as e:
            self.fail(str(e))
    dispatch[pickle.BINPERSID[0]] = load_binpersid


OPCODE_NAMES = {getattr(pickle, n)[0]: n for n in ("INST", "OBJ", "EXT1", "EXT2", "EXT4",
                                                     "PERSID", "INT", "LONG", "FLOAT", "STRING",
                                                     "UNICODE", "GET", "PUT", "DICT", "NEWOBJ_EX",
                                                     "NEXT_BUFFER", "READONLY_BUFFER")}


class BadArguments(Exception):
    """Raised by a rebuild function when the file gave it arguments it cannot use."""


# ---------------------------------------------------------------------------- rebuilding
def _tensor(storage, offset, size, stride, requires_grad, hooks, metadata=None, dtype=None):
    """A Tensor viewing `storage`, from torch._utils._rebuild_tensor_v2's arguments (v3 adds
    the dtype of an untyped storage)."""
    if not isinstance(storage, Storage):
        raise BadArguments(f"the storage is a {type(storage).__name__}")
    size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
    if (type(offset) is not int or offset < 0 or len(size) != len(stride)
            or type(requires_grad) is not bool):
        raise BadArguments(f"offset {offset!r}, size {size}, stride {stride}, requires_grad "
                           f"{requires_grad!r} do not describe a tensor")
    plain = metadata is None or type(metadata) is dict and all(
        v is False for v in metadata.values())
    if not _empty(hooks) or not plain:
        raise BadArguments("the tensor carries backward hooks or conjugate/negative bits, "
                           "which are not restored")
    dtype_name, base = storage.dtype_name, storage.array
    if dtype is not None:                # _v3: the storage is bytes, the tensor is of dtype
        dtype_name = TORCH_NAME.get(dtype)
        if dtype_name is None or base.dtype != np.uint8 or base.size % dtype.itemsize:
            raise BadArguments(f"a {dtype} tensor on a {base.dtype} storage")
        base = base.view(dtype)
    if dtype_name.startswith("complex"):
        raise BadArguments("complex tensors are not supported by tinygrad_seq")
    itemsize = base.itemsize
    empty = 0 in size
    end = 0 if empty else offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
    if end > base.size:
        raise BadArguments(f"a tensor of size {size}, stride {stride} at offset {offset} "
                           f"reaches past the end of its storage ({base.size} elements)")
    array = np.ndarray(size, base.dtype, buffer=base, offset=0 if empty else offset * itemsize,
                       strides=tuple(s * itemsize for s in stride))
    if dtype_name == "bfloat16":        # the high half of a float32: widening is exact
        array = (array.astype(np.uint32) << 16).view(np.float32)
    elif dtype_name == "float16":
        array = array.astype(np.float32)
    t = Tensor._make(array, None, 0)    # no copy: tensors on one storage share memory
    if requires_grad:
        t.requires_grad_()
    return t


def _empty(value):
    """None or an empty dict (backward hooks, attributes): what a plain tensor carries."""
    return value is None or type(value) in (dict, collections.OrderedDict) and not value


def _int_tuple(value, what):
    if type(value) is not tuple or not all(type(n) is int and n >= 0 for n in value):
        raise BadArguments(f"the {what} {value!r} is not a tuple of non-negative integers")
    return value


def _tensor_v1(storage, offset, size, stride):
    return _tensor(storage, offset, size, stride, False, None)


def _tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype, metadata=None):
    if not isinstance(dtype, np.dtype):
        raise BadArguments(f"the dtype {dtype!r} has no numpy equivalent")
    return _tensor(storage, offset, size, stride, requires_grad, hooks, metadata, dtype)


def _parameter(data, requires_grad, hooks, state=None):
    """torch._utils._rebuild_parameter(data, requires_grad, hooks[, state])."""
    if (not isinstance(data, Tensor) or type(requires_grad) is not bool or not _empty(hooks)
            or not _empty(state)):
        raise BadArguments("a Parameter is a tensor and a requires_grad flag, without hooks "
                           "or attributes")
    return Parameter(data, requires_grad=requires_grad)


def _from_type(function, new_type, args, state):
    """torch._tensor._rebuild_from_type_v2: a tensor rebuilt by `function`, then made a
    `new_type` (Tensor or Parameter) with attributes `state` (none are restored)."""
    if not (isinstance(function, Global) and function.name in _TENSOR_REBUILDERS
            and isinstance(new_type, Global) and new_type.name in _TENSOR_TYPES):
        raise BadArguments(f"rebuilding {new_type!r} with {function!r} is not supported")
    if not _empty(state):
        raise BadArguments("the tensor carries attributes, which are not restored")
    t = function.build(*args)
    if new_type.name == "torch.nn.parameter.Parameter" and not isinstance(t, Parameter):
        t = Parameter(t, requires_grad=t.requires_grad)
    return t


def _size(dims=()):
    return _int_tuple(tuple(dims), "torch.Size")


def _device(kind, index=None):
    """torch.device(type[, index]) as a ts.device (any device can be named, as in a config;
    only the CPU holds tensors)."""
    if type(kind) is not str or index is not None and type(index) is not int:
        raise BadArguments(f"torch.device({kind!r}, {index!r})")
    try:
        return device(kind, index)
    except RuntimeError as e:
        raise BadArguments(str(e)) from None


def _encode(text, encoding="latin1"):
    """_codecs.encode(text, 'latin1'): how protocol 2 pickles bytes."""
    if type(text) is not str or type(encoding) is not str or encoding not in ("latin1",
                                                                               "latin-1"):
        raise BadArguments(f"only latin-1 text is encoded to bytes, got {encoding!r}")
    return text.encode("latin1")


def _numbers(value, kinds):
    if type(value) not in kinds:
        raise BadArguments(f"{value!r} is not a {' or '.join(k.__name__ for k in kinds)}")
    return value


_NUMPY_DTYPE_CODE = re.compile(r"[biufc][0-9]{1,2}")


def _numpy_dtype(code, align=False, copy=True):
    """numpy.dtype('f4', False, True), completed by BUILD (its byte order)."""
    if type(code) is not str or not _NUMPY_DTYPE_CODE.fullmatch(code):
        raise BadArguments(f"the numpy dtype {code!r} is not a number or bool type")
    dtype = np.dtype(code)

    def finish(state):
        if (type(state) is not tuple or len(state) < 8 or type(state[1]) is not str
                or state[1] not in "<>|=" or any(x is not None for x in state[2:5])):
            raise BadArguments(f"dtype state {state!r}")
        return dtype.newbyteorder(state[1]) if state[1] in "<>" else dtype
    return Pending(finish)


def _numpy_array(cls, shape, typecode):
    """numpy's _reconstruct(ndarray, (0,), b'b'), completed by BUILD with (version, shape,
    dtype, is_fortran, data)."""
    if not (isinstance(cls, Global) and cls.name == "numpy.ndarray"):
        raise BadArguments(f"numpy arrays of class {cls!r} are not rebuilt")

    def finish(state):
        if type(state) is tuple and len(state) == 5:
            state = state[1:]
        shape, dtype, fortran, data = state
        if isinstance(data, str):
            data = data.encode("latin1")
        if (not isinstance(dtype, np.dtype) or type(data) not in (bytes, bytearray)
                or type(fortran) is not bool):
            raise BadArguments("a numpy array of objects (only numbers and bools are rebuilt)")
        shape = _int_tuple(tuple(shape), "shape")
        if len(data) != math.prod(shape) * dtype.itemsize:
            raise BadArguments(f"{len(data)} bytes for a {dtype} array of shape {shape}")
        array = np.frombuffer(bytearray(data), dtype).reshape(shape, order="F" if fortran else "C")
        return array if dtype.isnative else array.astype(dtype.newbyteorder("="))   # as numpy
    return Pending(finish)


def _numpy_scalar(dtype, data):
    if not isinstance(dtype, np.dtype) or type(data) is not bytes or len(data) != dtype.itemsize:
        raise BadArguments("a numpy scalar that is not a number or bool")
    return np.frombuffer(data, dtype)[0]


def _pairs(items=()):
    return collections.OrderedDict(items)


_TENSOR_REBUILDERS = {"torch._utils._rebuild_tensor": _tensor_v1,
                      "torch._utils._rebuild_tensor_v2": _tensor,
                      "torch._utils._rebuild_tensor_v3": _tensor_v3,
                      "torch._utils._rebuild_parameter": _parameter,
                      "torch._utils._rebuild_parameter_with_state": _parameter}
_TENSOR_TYPES = ("torch.Tensor", "torch.nn.parameter.Parameter")
_CLASSES = {"collections.OrderedDict": _pairs,
            "collections.Counter": lambda counts=(): collections.Counter(counts),
            "builtins.set": lambda items=(): set(items),
            "builtins.frozenset": lambda items=(): frozenset(items),
            "builtins.bytearray": lambda data=b"": bytearray(_numbers(data, (bytes,))),
            "builtins.complex": lambda real=0.0, imag=0.0: complex(
                _numbers(real, (int, float)), _numbers(imag, (int, float))),
            "torch.Size": _size,
            "torch.device": _device,
            "torch.nn.parameter.Parameter": lambda data, requires_grad=True: _parameter(
                data, requires_grad, None)}
GLOBALS = {
    **{name: Global(name, build) for name, build in {
        **_TENSOR_REBUILDERS, **_CLASSES,
        "torch._tensor._rebuild_from_type_v2": _from_type,
        "_codecs.encode": _encode,
        "numpy.core.multiarray._reconstruct": _numpy_array,
        "numpy._core.multiarray._reconstruct": _numpy_array,
        "numpy.core.multiarray.scalar": _numpy_scalar,
        "numpy._core.multiarray.scalar": _numpy_scalar,
        "numpy.dtype": _numpy_dtype}.items()},
    **{name: Global(name) for name in ("torch.Tensor", "numpy.ndarray")},
    **{f"torch.{storage}": Global(f"torch.{storage}", dtype_name=dtype_name)
       for dtype_name, (_, storage) in DTYPES.items() if storage},
    **{name: Global(name, dtype_name="uint8")
       for name in ("torch.UntypedStorage", "torch.storage.UntypedStorage")},
    **{f"torch.{name}": np.dtype(np_name) for name, (np_name, _) in DTYPES.items()
       if name != "bfloat16"},
}
