"""The archives: PyTorch's zip format written and read, and its older format read."""
import pickle
import struct
import sys
import zipfile
import zlib

import numpy as np

from .storage import DTYPES, Storage
from .unpickler import Global, Unpickler

ALIGNMENT = 64                # storages start at multiples of this, as PyTorch writes them
ZIP_LIMIT = 0xFFFFFFFF        # sizes and offsets past this need zip64 records, not written here
MAGIC_NUMBER, PROTOCOL_VERSION = 0x1950A86A20F9469CFC6C, 1001   # the pre-1.6 format's header
# what Python's zipfile raises on a damaged archive (a bad name, offset, size or method)
ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError, zlib.error,
              NotImplementedError, OverflowError, struct.error)


def write_zip(file, archive, records):
    """Write records (name, bytes, their CRC-32) under the folder `archive`, in a zip laid out
    as PyTorch's writer (miniz) lays it out: each record stored, its data at a multiple of 64
    bytes (padded by an "FB" extra field of "Z"s) and, unless empty, followed by a data
    descriptor; then the central directory, a zip64 end record, and the classic end record
    (torch.load's mmap offsets are computed from this layout). Written front to back, so any
    writable stream will do."""
    offset, entries = 0, []

    def put(data):
        nonlocal offset
        file.write(data)
        offset += len(data)

    for name, data, crc in records:
        name = f"{archive}/{name}".encode()
        size, header_at = len(data), offset
        flags = 0x0808 if size else 0x0800      # UTF-8 names; sizes in a data descriptor
        padding = -(header_at + 30 + len(name) + 4) % ALIGNMENT
        extra = b"FB" + struct.pack("<H", padding) + b"Z" * padding
        put(struct.pack("<IHHHHHIIIHH", 0x04034B50, 0, flags, 0, 0, 0, 0, 0, 0, len(name),
                        len(extra)) + name + extra)
        put(data)
        if size:
            put(struct.pack("<IIII", 0x08074B50, crc, size, size))
        entries.append((name, flags, crc, size, header_at))
    directory_at = offset
    for name, flags, crc, size, header_at in entries:
        put(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0, 0, flags, 0, 0, 0, crc, size,
                        size, len(name), 0, 0, 0, 0, 0, header_at) + name)
    directory_size, end64_at, n = offset - directory_at, offset, len(entries)
    put(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 0x002D, 0, 0, n, n, directory_size,
                    directory_at))
    put(struct.pack("<IIQI", 0x07064B50, 0, end64_at, 1))
    put(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, directory_size, directory_at, 0))
    if hasattr(file, "flush"):
        file.flush()


class ZipArchive:
    """A PyTorch zip archive: its records, and data.pkl read with storages from data/<key>."""

    def __init__(self, file, what, restore, encoding, mmap_path):
        self.what, self.restore, self.encoding, self.mmap_path = what, restore, encoding, mmap_path
        try:
            self.zip = zipfile.ZipFile(file)
        except ZIP_ERRORS as e:
            raise RuntimeError(f"load: {what} is not a readable zip archive ({e}); was it cut "
                               f"short or damaged?") from None
        names = self.zip.namelist()
        self.prefix = names[0].split("/")[0] + "/" if names else ""
        if self.prefix + "data.pkl" not in names:
            if self.prefix + "constants.pkl" in names:
                kind = ("a TorchScript archive (torch.jit.save), which holds code; save the "
                        "model's state_dict with torch.save instead")
            elif names and all(n.endswith(".npy") for n in names):
                kind = "a numpy .npz archive; open it with np.load (nn.utils.load for checkpoints)"
            else:
                kind = "a zip archive without data.pkl"
            raise RuntimeError(f"load: {what} is {kind}")
        self.byteorder = self.record("byteorder").decode() if self.has("byteorder") else "little"
        if self.byteorder not in ("little", "big"):
            raise RuntimeError(f"load: {what} names an unknown byte order {self.byteorder!r}")
        self.storages = {}

    def has(self, name):
        return self.prefix + name in self.zip.NameToInfo

    def record(self, name):
        try:
            return self.zip.read(self.prefix + name)
        except ZIP_ERRORS as e:
            raise RuntimeError(f"load: record {name} of {self.what} cannot be read ({e}); the "
                               f"file is damaged or cut short") from None

    def load(self):
        return Unpickler(self.record("data.pkl"), f"{self.what} (data.pkl)", self.encoding,
                          self.persistent_load).load()[0]

    def persistent_load(self, pid):
        """('storage', storage type, key, location, numel) -> the storage, read once per key."""
        if not (type(pid) is tuple and len(pid) == 5 and is_text(pid[0], "storage")
                and is_text(pid[2]) and is_text(pid[3])):
            raise pickle.UnpicklingError(f"load: {self.what} refers to {pid!r}; only storages "
                                         f"('storage', type, key, location, numel) are read")
        _, storage_type, key, location, numel = pid
        key = ascii_text(key)
        if key not in self.storages:
            dtype_name = storage_dtype(storage_type, self.what)
            self.storages[key] = self.read_storage(key, dtype_name, numel, ascii_text(location))
        return self.storages[key]

    def read_storage(self, key, dtype_name, numel, location):
        raw = np.dtype(DTYPES[dtype_name][0]).newbyteorder(
            "=" if self.byteorder == sys.byteorder else "S")
        if type(numel) is not int or numel < 0:
            raise pickle.UnpicklingError(f"load: storage {key} of {self.what} has a bad size "
                                         f"{numel!r}")
        name = self.prefix + f"data/{key}"
        info = self.zip.NameToInfo.get(name)
        if info is None:
            raise RuntimeError(f"load: {self.what} has no record data/{key} for a storage it "
                               f"uses; the file is damaged")
        if info.file_size != numel * raw.itemsize:
            raise RuntimeError(f"load: record data/{key} of {self.what} holds {info.file_size} "
                               f"bytes, but its storage needs {numel} x {raw.itemsize}")
        if self.mmap_path is not None:
            array = self.mapped(info, raw, numel)
        else:
            array = np.frombuffer(bytearray(self.record(f"data/{key}")), raw)
        if not raw.isnative:
            array = array.byteswap().view(raw.newbyteorder("="))
        return Storage(self.restore(array, location), dtype_name)

    def mapped(self, info, raw, numel):
        """The record's bytes mapped from the file, copy-on-write (PyTorch's mmap=True)."""
        if info.compress_type != zipfile.ZIP_STORED or not raw.isnative:
            raise ValueError(f"load: mmap=True needs stored, native-order records; "
                             f"{info.filename} is not")
        with open(self.mmap_path, "rb") as f:
            f.seek(info.header_offset)
            header = f.read(30)
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        if numel == 0:
            return np.zeros(0, raw)
        return np.memmap(self.mmap_path, raw, "c", info.header_offset + 30 + name_length +
                         extra_length, (numel,))


def ascii_text(value):
    """Python 2 pickles name storages with bytes; PyTorch decodes those keys as ASCII."""
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value


def is_text(value, expected=None):
    """Is value a str (or Python 2 bytes), equal to `expected` if given? Values from a file
    are type-checked before any comparison: a tensor's == is element-wise."""
    return type(value) in (str, bytes) and (expected is None or ascii_text(value) == expected)


def storage_dtype(storage_type, what):
    if not (isinstance(storage_type, Global) and storage_type.dtype_name):
        raise pickle.UnpicklingError(f"load: {what} names a storage of type {storage_type!r}, "
                                     f"not a storage class")
    return storage_type.dtype_name


# ---------------------------------------------------------------------------- the old format
def load_legacy(data, what, restore, encoding):
    """PyTorch's format before 1.6: pickles of the magic number, the protocol version and
    system info, then the object (storages referred to as ('storage', type, key, location,
    numel, view)), then the list of storage keys, and each storage's element count (int64)
    and bytes."""
    def next_pickle(position, persistent_load=None):
        return Unpickler(data, what, encoding, persistent_load, position).load()

    magic, position = next_pickle(0)
    if type(magic) is not int or magic != MAGIC_NUMBER:
        raise RuntimeError(f"load: {what} is not a file torch.save writes (no zip archive, and "
                           f"not the pre-1.6 format's magic number)")
    version, position = next_pickle(position)
    info, position = next_pickle(position)
    if (type(version) is not int or version != PROTOCOL_VERSION or type(info) is not dict
            or info.get("little_endian") is not True):
        raise RuntimeError(f"load: {what} is a pre-1.6 PyTorch file of protocol {version!r}, "
                           f"system {info!r}; only little-endian protocol 1001 files are read")
    storages = {}

    def persistent_load(pid):
        if not (type(pid) is tuple and len(pid) == 6 and is_text(pid[0], "storage")):
            raise pickle.UnpicklingError(f"load: {what} refers to {pid!r}; only storages are "
                                         f"read (a whole pickled module is not)")
        _, storage_type, key, location, numel, view = pid
        if not (is_text(key) and is_text(location)) or not (
                view is None or type(view) is tuple and len(view) == 3
                and all(type(n) is int and n >= 0 for n in view[1:])):
            raise pickle.UnpicklingError(f"load: {what} refers to a storage as {pid!r}, which "
                                         f"is malformed")
        if key not in storages:
            dtype_name = storage_dtype(storage_type, what)
            dtype = np.dtype(DTYPES[dtype_name][0])
            if type(numel) is not int or not 0 <= numel * dtype.itemsize <= len(data):
                raise pickle.UnpicklingError(f"load: {what} has a storage of {numel!r} "
                                             f"elements, more than the file holds")
            storages[key] = Storage(restore(np.zeros(numel, dtype), ascii_text(location)),
                                    dtype_name)
        storage = storages[key]
        if view is None:
            return storage
        _, view_offset, view_size = view
        return Storage(storage.array[view_offset:view_offset + view_size], storage.dtype_name)

    result, position = next_pickle(position, persistent_load)
    keys, position = next_pickle(position)
    if type(keys) is not list:
        raise RuntimeError(f"load: {what} is damaged (no list of storages after the object)")
    for key in keys:
        if key not in storages:
            raise RuntimeError(f"load: {what} lists a storage {key!r} that nothing uses")
        array = storages[key].array
        header = data[position:position + 8]
        count = struct.unpack("<q", header)[0] if len(header) == 8 else -1
        nbytes = array.nbytes
        if count != array.size or position + 8 + nbytes > len(data):
            raise RuntimeError(f"load: {what} is cut short or damaged (storage {key!r})")
        array.view(np.uint8)[:] = np.frombuffer(data, np.uint8, nbytes, position + 8)
        position += 8 + nbytes
    return result
