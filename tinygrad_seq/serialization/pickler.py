"""Writing: the object to pickle protocol 2, as torch.save pickles it."""
import collections
import pickle
import struct

import numpy as np

from ..device import device
from ..nn.module import Module, Parameter
from ..tensor import Tensor
from .storage import DTYPES, TORCH_NAME

NUMPY_CORE = np.ndarray.__reduce__(np.zeros(0))[0].__module__   # numpy.core / numpy._core


class Pickler:
    """Writes pickle protocol 2 for what `save` accepts, using only the opcodes that
    torch.load(weights_only=True) reads. Tensors become _rebuild_tensor_v2 calls on storages;
    `storages` collects each storage once: id(root array) -> (key, root)."""

    def __init__(self):
        self.out = bytearray()
        self.memo = {}          # id(object) -> memo index, so an object saved twice loads as one
        self.kept = []          # the memoized objects, alive until the dump is done
        self.memo_by_value = {}  # ("global" | "str", ...) -> memo index: written once
        self.memo_size = 0
        self.storages = {}
        self.open_tuples = set()

    def dump(self, obj):
        self.out += pickle.PROTO + b"\x02"
        self.save(obj, "obj")
        self.out += pickle.STOP
        return bytes(self.out)

    def save(self, obj, where):
        """Append the opcodes that rebuild obj; `where` names it in errors (obj['lstm'][0])."""
        out = self.out
        if id(obj) in self.memo:
            self.get(self.memo[id(obj)])
        elif obj is None:
            out += pickle.NONE
        elif obj is True or obj is False:
            out += pickle.NEWTRUE if obj else pickle.NEWFALSE
        elif isinstance(obj, np.generic):
            self.save_numpy_scalar(obj, where)
        elif type(obj) is int:
            self.save_int(obj)
        elif type(obj) is float:
            out += pickle.BINFLOAT + struct.pack(">d", obj)
        elif type(obj) is str:
            self.save_str(obj)
        elif type(obj) in (bytes, bytearray):
            self.save_bytes(obj)
        elif type(obj) is complex:
            self.save_call("builtins", "complex", (obj.real, obj.imag), where)
        elif isinstance(obj, np.dtype):
            self.save_dtype(obj, where)
        elif isinstance(obj, device):
            self.save_call("torch", "device", (obj.type,) if obj.index is None else
                           (obj.type, obj.index), where)
        elif isinstance(obj, Tensor):
            self.save_tensor(obj, where)
        elif isinstance(obj, np.ndarray):
            self.save_array(obj, where)
        elif type(obj) is tuple:
            self.save_tuple(obj, where)
        elif type(obj) is list:
            out += pickle.EMPTY_LIST
            self.put(obj)
            self.save_items(obj, pickle.APPENDS, where)
        elif type(obj) in (dict, collections.OrderedDict, collections.Counter):
            self.save_dict(obj, where)
        elif type(obj) is set:
            self.save_call("builtins", "set", (list(obj),), where)
        elif isinstance(obj, Module):
            raise TypeError(f"save: {where} is a {type(obj).__name__} module; a module is "
                            f"saved through its state_dict: ts.save(model.state_dict(), f), "
                            f"then model.load_state_dict(ts.load(f))")
        else:
            raise TypeError(f"save: cannot save {where}, a {type(obj).__name__}; what can be "
                            f"saved: tensors, numpy arrays, numbers, strings, bytes, None, "
                            f"dtypes, devices, and dicts, lists, tuples and sets of them")

    # --------------------------------------------------------------- plain values
    def save_int(self, n):
        if 0 <= n < 256:
            self.out += pickle.BININT1 + bytes([n])
        elif 0 <= n < 65536:
            self.out += pickle.BININT2 + struct.pack("<H", n)
        elif -2**31 <= n < 2**31:
            self.out += pickle.BININT + struct.pack("<i", n)
        else:
            encoded = pickle.encode_long(n)
            self.out += (pickle.LONG1 + bytes([len(encoded)]) if len(encoded) < 256 else
                         pickle.LONG4 + struct.pack("<i", len(encoded))) + encoded

    def save_str(self, s):
        """A short string (a name, a key, 'cpu') is written once, then looked up in the memo."""
        key = ("str", s) if len(s) <= 100 else None
        if key in self.memo_by_value:
            self.get(self.memo_by_value[key])
            return
        encoded = s.encode("utf-8", "surrogatepass")
        self.out += pickle.BINUNICODE + struct.pack("<I", len(encoded)) + encoded
        if key is not None:
            self.memo_by_value[key] = self.put()

    def save_bytes(self, b):
        """Protocol 2 has no bytes opcode: bytes are _codecs.encode(their latin-1 text)."""
        if type(b) is bytearray:
            self.global_("builtins", "bytearray")
        self.save_call("_codecs", "encode", (bytes(b).decode("latin1"), "latin1"), "bytes")
        if type(b) is bytearray:
            self.out += pickle.TUPLE1 + pickle.REDUCE

    def global_(self, module, name):
        """GLOBAL module.name; written once, then looked up in the memo."""
        key = ("global", module, name)
        if key in self.memo_by_value:
            self.get(self.memo_by_value[key])
        else:
            self.out += pickle.GLOBAL + f"{module}\n{name}\n".encode()
            self.memo_by_value[key] = self.put()

    def save_call(self, module, name, args, where):
        """module.name(*args): GLOBAL, the arguments as a tuple, REDUCE."""
        self.global_(module, name)
        self.save_tuple(args, where)
        self.out += pickle.REDUCE

    def save_tuple(self, items, where):
        if id(items) in self.open_tuples:
            raise ValueError(f"save: {where} contains itself through a tuple")
        if not items:
            self.out += pickle.EMPTY_TUPLE
            return
        self.open_tuples.add(id(items))
        if len(items) > 3:
            self.out += pickle.MARK
        for i, item in enumerate(items):
            self.save(item, f"{where}[{i}]")
        self.out += {1: pickle.TUPLE1, 2: pickle.TUPLE2, 3: pickle.TUPLE3}.get(len(items),
                                                                             pickle.TUPLE)
        self.open_tuples.discard(id(items))

    def save_items(self, items, opcode, where):
        if items:
            self.out += pickle.MARK
            for i, item in enumerate(items):
                self.save(item, f"{where}[{i}]")
            self.out += opcode

    def save_dict(self, d, where):
        if type(d) is dict:
            self.out += pickle.EMPTY_DICT
        else:       # OrderedDict() or Counter(): a call, then the items set into it
            self.global_("collections", type(d).__name__)
            self.out += pickle.EMPTY_TUPLE + pickle.REDUCE
        self.put(d)
        attributes = getattr(d, "__dict__", None)
        if d:
            self.out += pickle.MARK
            for key, value in d.items():
                self.save(key, f"{where} key")
                self.save(value, f"{where}[{key!r}]")
            self.out += pickle.SETITEMS
        if attributes:     # a PyTorch state_dict's _metadata
            self.save(dict(attributes), f"{where}.__dict__")
            self.out += pickle.BUILD

    # --------------------------------------------------------------- memo
    def put(self, obj=None):
        """Store the object just written in the memo (by identity when obj is given); returns
        its index."""
        index = self.memo_size
        self.memo_size += 1
        if obj is not None:
            self.memo[id(obj)] = index
            self.kept.append(obj)
        self.out += (pickle.BINPUT + bytes([index]) if index < 256
                     else pickle.LONG_BINPUT + struct.pack("<I", index))
        return index

    def get(self, index):
        self.out += (pickle.BINGET + bytes([index]) if index < 256
                     else pickle.LONG_BINGET + struct.pack("<I", index))

    # --------------------------------------------------------------- tensors and arrays
    def save_dtype(self, dtype, where):
        name = TORCH_NAME.get(dtype)
        if name is None:
            raise TypeError(f"save: {where} is the dtype {dtype}, which has no PyTorch dtype")
        self.global_("torch", name)

    def save_tensor(self, t, where):
        """torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
        OrderedDict()); a Parameter is _rebuild_parameter(that tensor, requires_grad, {})."""
        if isinstance(t, Parameter):
            self.global_("torch._utils", "_rebuild_parameter")
            self.save_tensor(t.detach(), where)
            self.out += pickle.NEWTRUE if t.requires_grad else pickle.NEWFALSE
            self.save_empty_ordered_dict()
            self.out += pickle.TUPLE3 + pickle.REDUCE
            self.put(t)
            return
        name = TORCH_NAME.get(t.dtype)
        if name is None:
            raise TypeError(f"save: {where} is a {t.dtype} tensor, which PyTorch cannot hold")
        root, offset, stride = storage_view(t.array)
        key, _ = self.storages.setdefault(id(root), (str(len(self.storages)), root))
        storage_class = DTYPES[name][1]
        self.global_("torch._utils", "_rebuild_tensor_v2" if storage_class else
                     "_rebuild_tensor_v3")
        self.out += pickle.MARK + pickle.MARK
        self.save_str("storage")
        self.global_(*(("torch", storage_class) if storage_class
                       else ("torch.storage", "UntypedStorage")))
        self.save_str(key)
        self.save_str("cpu")
        self.save_int(root.size if storage_class else root.nbytes)
        self.out += pickle.TUPLE + pickle.BINPERSID
        self.save_int(offset)
        self.save_tuple(t.shape, where)
        self.save_tuple(stride, where)
        self.out += pickle.NEWTRUE if t.requires_grad else pickle.NEWFALSE
        self.save_empty_ordered_dict()
        if not storage_class:
            self.global_("torch", name)
        self.out += pickle.TUPLE + pickle.REDUCE
        self.put(t)

    def save_empty_ordered_dict(self):
        self.global_("collections", "OrderedDict")
        self.out += pickle.EMPTY_TUPLE + pickle.REDUCE

    def save_numpy_dtype(self, dtype, where):
        """numpy.dtype('f4', False, True), then BUILD with its state (the byte order)."""
        _, args, state = dtype.__reduce__()
        self.save_call("numpy", "dtype", args, where)
        self.save_tuple(state, where)
        self.out += pickle.BUILD

    def save_array(self, a, where):
        """As numpy pickles an array: _reconstruct(ndarray, (0,), b'b'), then BUILD with
        (1, shape, dtype, is_fortran, bytes)."""
        check_numpy_dtype(a.dtype, where)
        self.global_(NUMPY_CORE, "_reconstruct")
        self.global_("numpy", "ndarray")
        self.save_tuple((0,), where)
        self.save_bytes(b"b")
        self.out += pickle.TUPLE3 + pickle.REDUCE
        fortran = bool(a.flags.f_contiguous and not a.flags.c_contiguous)
        self.out += pickle.MARK
        self.save_int(1)
        self.save_tuple(a.shape, where)
        self.save_numpy_dtype(a.dtype, where)
        self.out += pickle.NEWTRUE if fortran else pickle.NEWFALSE
        self.save_bytes(a.tobytes(order="F" if fortran else "C"))
        self.out += pickle.TUPLE + pickle.BUILD
        self.put(a)

    def save_numpy_scalar(self, x, where):
        """As numpy pickles a scalar: numpy._core.multiarray.scalar(dtype, bytes)."""
        check_numpy_dtype(x.dtype, where)
        self.global_(NUMPY_CORE, "scalar")
        self.save_numpy_dtype(x.dtype, where)
        self.save_bytes(x.tobytes())
        self.out += pickle.TUPLE2 + pickle.REDUCE


def check_numpy_dtype(dtype, where):
    if dtype.kind not in "biufc" or dtype.fields is not None or dtype.subdtype is not None:
        raise TypeError(f"save: {where} has the numpy dtype {dtype}; numpy arrays and scalars "
                        f"are saved when they are numbers or bools")


def storage_view(array):
    """(root, offset, stride): the array that owns `array`'s memory, and where `array` sits in
    it, in elements, as a tensor's storage describes it. When that cannot be described (the
    root is of another dtype, not contiguous, or big-endian; a negative stride), a contiguous
    copy is its own storage."""
    root = array
    while isinstance(root.base, np.ndarray):
        root = root.base
    itemsize = array.itemsize
    start = array.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    if (root.dtype != array.dtype or not array.dtype.isnative or start % itemsize
            or not (root.flags.c_contiguous or root.flags.f_contiguous)
            or any(s < 0 or s % itemsize for s in array.strides)):
        root = np.ascontiguousarray(array, array.dtype.newbyteorder("="))
        return root, 0, tuple(s // itemsize for s in root.strides)
    return root, start // itemsize, tuple(s // itemsize for s in array.strides)
