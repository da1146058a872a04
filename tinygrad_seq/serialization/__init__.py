"""ts.save and ts.load: objects holding tensors, in PyTorch's .pt format both ways; no pickle
from a file is ever run.

    ts.save(model.state_dict(), "model.pt")       # torch.load("model.pt") reads it
    model.load_state_dict(ts.load("model.pt"))    # and this reads what torch.save wrote

What torch.save writes (PyTorch >= 1.6) is a zip archive of uncompressed records, under a
folder named after the file ("model/"):

    model/data.pkl              the object, pickled (protocol 2). A tensor in it is the call
                                torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
                                requires_grad, hooks); its storage is a reference
                                ('storage', torch.FloatStorage, key, 'cpu', numel) to a record
    model/data/0, data/1, ...   the storages' bytes, little-endian, each at a multiple of 64
                                bytes in the file. Views and tied weights share one storage.
    model/.format_version "1", .storage_alignment "64", byteorder "little", version "3",
    model/.data/serialization_id

Pickle is a small stack language whose GLOBAL and REDUCE opcodes import and call whatever the
file names, so unpickling a file runs its code. Loading here never uses the pickle module:
unpickler.Unpickler reads the opcodes itself and looks each GLOBAL up in a fixed table,
unpickler.GLOBALS: what torch.load(weights_only=True) allows (tensors, storages, OrderedDict,
torch.Size, ...) plus numpy arrays and scalars. Our own code rebuilds each from checked
arguments; any other global is refused by name before anything is built.

    __init__.py    save and load
    pickler.py     the object -> pickle opcodes (tensors as _rebuild_tensor_v2 calls)
    unpickler.py   pickle opcodes -> the object, running nothing from the file
    archive.py     the zip archive written and read; the pre-1.6 format read (torch.save with
                   _use_new_zipfile_serialization=False: pickles one after another, then the
                   raw storages)
    storage.py     the dtypes a file can hold
"""
import hashlib
import io
import os
import pickle
import zlib

import numpy as np

from .. import device as _device
from .archive import ALIGNMENT, ZIP_LIMIT, ZipArchive, load_legacy, write_zip
from .pickler import Pickler

__all__ = ["save", "load"]


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False, *, format="torch"):
    """Write `obj` to `f` (a path or a binary file open for writing) as torch.save does.

    obj: tensors, Parameters, numpy arrays and scalars, numbers, strings, bytes, None, dtypes,
    devices, and dicts (OrderedDicts), lists, tuples and sets of them: a state_dict, an
    optimizer's state_dict, a checkpoint dict. The file is PyTorch's zip format, which
    torch.load reads; with only tensors, numbers and strings in it (a state_dict)
    torch.load(weights_only=True) reads it. Numpy arrays are pickled as numpy pickles them, as
    torch.save does, so PyTorch needs torch.serialization.add_safe_globals for them; ts.load
    reads them back as arrays. A tensor that is a view (a slice, a transpose, a tied weight)
    is saved with its whole storage, shared with the other views of it, as in PyTorch.

    torch.save's arguments are accepted: pickle_module (None or the pickle module),
    pickle_protocol (2 to 5; protocol 2 is written, which every torch.load reads),
    _disable_byteorder_record. Everything is checked before the file is opened, so a refused
    object leaves an existing file as it was.
    """
    if format != "torch":
        raise ValueError(f"save: format must be 'torch' (PyTorch's zip format, the one format "
                         f"written), got {format!r}")
    if pickle_module not in (None, pickle):
        raise ValueError(f"save: pickle_module must be None or the pickle module; tinygrad_seq "
                         f"writes the pickle itself, got {pickle_module!r}")
    if pickle_protocol not in (2, 3, 4, 5):
        raise ValueError(f"save: pickle_protocol must be 2 to 5, got {pickle_protocol!r}")
    if not _use_new_zipfile_serialization:
        raise ValueError("save: only PyTorch's zip format is written "
                         "(_use_new_zipfile_serialization=True)")
    pickler = Pickler()
    data_pkl = pickler.dump(obj)
    records = [("data.pkl", data_pkl), (".format_version", b"1"),
               (".storage_alignment", str(ALIGNMENT).encode())]
    if not _disable_byteorder_record:
        records.append(("byteorder", b"little"))
    records += [(f"data/{key}", root.reshape(-1, order="A").view(np.uint8))
                for key, root in pickler.storages.values()]
    records.append(("version", b"3\n"))
    records = [(name, data, zlib.crc32(data)) for name, data in records]
    records.append(_serialization_id(records))
    size = sum(len(data) + 200 + ALIGNMENT for _, data, _ in records)
    if size >= ZIP_LIMIT:
        raise ValueError(f"save: the file would be about {size / 2**30:.1f} GiB; files of 4 "
                         f"GiB or more are not written (zip64 offsets are not implemented)")
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        with open(path, "wb") as file:
            write_zip(file, _archive_name(path), records)
    elif isinstance(f, io.TextIOBase):
        raise TypeError("save: the file is open in text mode; open it with 'wb'")
    elif hasattr(f, "write"):
        write_zip(f, "archive", records)
    else:
        raise TypeError(f"save: f must be a path or a binary file open for writing, got "
                        f"{type(f).__name__}")


def _archive_name(path):
    """The folder inside the zip, as PyTorch names it: the file's name without extension,
    or "archive" when that is empty or not ASCII."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return stem if stem and stem.isascii() else "archive"


def _serialization_id(records):
    """The record .data/serialization_id: 40 digits naming this content, from the records'
    names, sizes and CRCs (PyTorch writes a random id; ours is the same for the same state)."""
    digest = hashlib.sha1()
    for name, data, crc in records:
        digest.update(f"{name} {len(data)} {crc}\n".encode())
    serial = str(int(digest.hexdigest(), 16) % 10**40).zfill(40).encode()
    return ".data/serialization_id", serial, zlib.crc32(serial)


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None,
         **pickle_load_args):
    """Read an object that torch.save or ts.save wrote; tensors come back as Tensors.

    f: a path or a binary file open for reading. Nothing in the file is run: the pickle is
    read by our own reader, which rebuilds only tensors (Parameters), storages, numbers,
    strings, bytes, None, dicts (OrderedDict, Counter), lists, tuples, sets, torch.Size,
    torch dtypes (as numpy dtypes, which ts.float32 and the rest are), torch.device (as a
    ts.device), and numpy arrays and scalars;
    any other global in the file is refused with an error naming it. Tensors that shared a
    storage when saved (views, tied weights) share memory again. float16 and bfloat16 tensors
    load as float32 (exact); complex and quantized tensors are refused.

    torch.load's arguments are accepted. map_location: None, "cpu", a torch.device("cpu"),
    a dict mapping the saved locations ("cuda:0") to "cpu", or a function(storage, location)
    returning None or the storage (a numpy array here); a file saved from a GPU needs one of
    these, as in PyTorch on a machine without that GPU, and any other device is refused.
    weights_only: True (PyTorch's default), False or None, and whichever it is, nothing is
    unpickled with the pickle module: a file needing more than the above is refused.
    mmap=True maps the storages from the file (copy-on-write) instead of reading them; as in
    PyTorch, mapped records are not checked against their CRC.
    encoding (default "utf-8") decodes Python 2 strings; "bytes" keeps them as bytes.
    """
    if pickle_module is not None:
        raise ValueError("load: pickle_module is not used; tinygrad_seq never unpickles with a "
                         "pickle module (it reads tensors itself, as weights_only=True does)")
    if weights_only not in (None, True, False):
        raise TypeError(f"load: weights_only must be True, False or None, got {weights_only!r}")
    unknown = set(pickle_load_args) - {"encoding"}
    if unknown:
        raise TypeError(f"load: unexpected arguments {sorted(unknown)}; of pickle's load "
                        f"arguments only encoding is used")
    encoding = pickle_load_args.get("encoding", "utf-8")
    restore = _restore_location(map_location)
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        with open(path, "rb") as file:
            return _load_file(file, path, restore, encoding, mmap_path=path if mmap else None)
    if mmap:
        raise ValueError("load: mmap=True needs f to be a path (a file object cannot be mapped)")
    if isinstance(f, io.TextIOBase):
        raise TypeError("load: the file is open in text mode; open it with 'rb'")
    if not hasattr(f, "read"):
        raise TypeError(f"load: f must be a path or a binary file open for reading, got "
                        f"{type(f).__name__} (bytes in memory: ts.load(io.BytesIO(data)))")
    if not (hasattr(f, "seekable") and f.seekable()):
        f = io.BytesIO(f.read())
    return _load_file(f, getattr(f, "name", "the file"), restore, encoding, mmap_path=None)


def _load_file(file, what, restore, encoding, mmap_path):
    start = file.read(4)
    file.seek(-len(start), os.SEEK_CUR)
    if start == b"PK\x03\x04":
        return ZipArchive(file, what, restore, encoding, mmap_path).load()
    if mmap_path is not None:
        raise ValueError(f"load: mmap=True needs PyTorch's zip format; {what} is in the older "
                         f"format")
    if start[:2] == b"\x80\x02":
        return load_legacy(file.read(), what, restore, encoding)
    if not start:
        raise RuntimeError(f"load: {what} is empty")
    raise RuntimeError(f"load: {what} is not a file torch.save or ts.save writes (a zip archive, "
                       f"or the pre-1.6 format); it starts with {start!r}")


def _restore_location(map_location):
    """function(storage array, saved location) -> array, from torch.load's map_location; only
    the CPU exists here."""
    def default(storage, location):
        if location not in ("cpu", "cpu:0"):
            raise RuntimeError(f"load: a storage was saved on {location!r}, and only the CPU "
                               f"exists in tinygrad_seq; pass map_location='cpu' (as PyTorch "
                               f"needs on a machine without that device)")
        return storage

    if map_location is None:
        return default
    if isinstance(map_location, dict):
        def remap(storage, location):
            target = map_location.get(location, location)
            if target == location:
                return default(storage, location)
            _device.check(str(target), "load: map_location")
            return storage
        return remap
    if callable(map_location) and not isinstance(map_location, (str, bytes)):
        def call(storage, location):
            result = map_location(storage, location)
            if result is None:
                return default(storage, location)
            if (not isinstance(result, np.ndarray) or result.dtype != storage.dtype
                    or result.shape != storage.shape):
                raise TypeError(f"load: map_location(storage, {location!r}) must return None "
                                f"or a storage (a numpy array of {storage.dtype}, shape "
                                f"{storage.shape}), got {type(result).__name__}")
            return result
        return call
    _device.check(str(map_location), "load: map_location")     # a ts or torch device, a name
    return lambda storage, location: storage
