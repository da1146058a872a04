"""ts.save / ts.load: PyTorch's .pt files read without PyTorch, ours read by PyTorch, nothing
from a file ever run, damaged files refused clearly.

The PyTorch-made files in tests/golden/ come from `python tests/golden_pt.py`; the live tests
at the end run when PyTorch is importable.
"""
import collections
import importlib.util
import io
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_seq as ts
from golden_pt import EXPECTED, LEGACY, OBJECTS, TOKENS, WORD_LM, word_lm
from tinygrad_seq import nn

HAS_TORCH = importlib.util.find_spec("torch") is not None
live = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed")
TOL = dict(rtol=1e-10, atol=1e-10)


@pytest.fixture(scope="module")
def expected():
    with np.load(EXPECTED) as f:
        return dict(f)


def run_word_lm(model):
    """Log-probabilities and final state on the fixture's tokens, in float64, eval mode."""
    log_probs, (h, c) = model.double().eval()(ts.tensor(TOKENS))
    return log_probs.numpy(), h.numpy(), c.numpy()


# ------------------------------------------------------------------------- PyTorch's files here
def test_pytorch_word_lm_file_loads_and_gives_pytorchs_outputs(expected):
    state = ts.load(WORD_LM)
    names = [k[len("word_lm/"):] for k in expected if k.startswith("word_lm/")]
    assert list(state) == names and "decoder.weight" in state        # tied: under both names
    for name, value in state.items():
        assert isinstance(value, ts.Tensor) and value.dtype == np.float32
        np.testing.assert_array_equal(value.numpy(), expected[f"word_lm/{name}"], err_msg=name)
    assert np.shares_memory(state["encoder.weight"].numpy(), state["decoder.weight"].numpy())
    assert state._metadata[""] == {"version": 1}          # PyTorch's state_dict metadata kept
    model = word_lm(ts)
    assert repr(model.load_state_dict(state)) == "<All keys matched successfully>"
    assert model.decoder.weight is model.encoder.weight
    for out, name in zip(run_word_lm(model), ("log_probs", "h", "c")):
        np.testing.assert_allclose(out, expected[f"word_lm_out/{name}"], **TOL, err_msg=name)


def test_pytorch_objects_file_keeps_dtypes_views_and_values(expected):
    obj = ts.load(OBJECTS)
    for name, t in obj["dtypes"].items():
        want = expected[f"objects/dtypes/{name}"]
        assert isinstance(t, ts.Tensor) and t.shape == want.shape, name
        assert t.dtype == want.dtype, name    # float16 and bfloat16 arrive as float32 (exact)
        np.testing.assert_array_equal(t.numpy(), want, err_msg=name)
    views = obj["views"]
    for name, t in views.items():
        np.testing.assert_array_equal(t.numpy(), expected[f"objects/views/{name}"], err_msg=name)
        assert np.shares_memory(t.numpy(), views["base"].numpy()), name
    assert views["transposed"].numpy().strides == (8, 32)                 # PyTorch's strides
    views["base"][1, 1] = -1.0                      # one storage, as after torch.load
    assert views["transposed"][1, 1].item() == views["row"][1].item() == -1.0
    assert obj["expanded"].numpy().strides == (4, 0)
    np.testing.assert_array_equal(obj["expanded"].numpy(), expected["objects/expanded"])
    assert isinstance(obj["parameter"], nn.Parameter) and obj["parameter"].requires_grad
    assert isinstance(obj["frozen"], nn.Parameter) and not obj["frozen"].requires_grad
    assert obj["plain"] == [1, 2.5, "text", None, True, (1, (2, "three")), b"\x00bytes",
                            2 ** 70, (2, 3), np.dtype("float64"), np.dtype("int64"),
                            {"nested": [[], {}]}]


def test_pytorch_pre_1_6_format_loads():
    obj = ts.load(LEGACY)
    np.testing.assert_array_equal(obj["weight"].numpy(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(obj["bias"].numpy(), [4.0, 5.0])
    assert np.shares_memory(obj["weight"].numpy(), obj["bias"].numpy()) and obj["step"] == 3


def test_the_pickle_module_is_never_used(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("the pickle module was asked to unpickle")
    for name in ("load", "loads", "Unpickler", "_Unpickler", "_load", "_loads"):
        monkeypatch.setattr(pickle, name, refuse, raising=False)
    assert "decoder.weight" in ts.load(WORD_LM)
    assert ts.load(LEGACY)["step"] == 3
    ts.save({"w": ts.ones(2), "a": np.ones(2)}, tmp_path / "ours.pt")
    assert ts.load(tmp_path / "ours.pt")["a"].sum() == 2


def test_map_location_and_other_torch_load_arguments():
    cpu = ts.load(WORD_LM, map_location="cpu", weights_only=False)
    same = ts.load(WORD_LM, map_location=lambda storage, location: storage, mmap=True,
                   encoding="utf-8")
    by_dict = ts.load(WORD_LM, map_location={"cuda:0": "cpu"}, weights_only=True)
    for name in cpu:
        np.testing.assert_array_equal(cpu[name].numpy(), same[name].numpy())
        np.testing.assert_array_equal(cpu[name].numpy(), by_dict[name].numpy())
    assert isinstance(same["decoder.bias"].numpy().base, np.memmap)
    same["decoder.bias"][0] = 5.0              # copy-on-write: the file is not changed
    assert ts.load(WORD_LM)["decoder.bias"][0].item() != 5.0
    with pytest.raises(RuntimeError, match="map_location: .* device 'cuda:0' is not available"):
        ts.load(WORD_LM, map_location="cuda:0")
    with pytest.raises(RuntimeError, match="device 'mps' is not available"):
        ts.load(WORD_LM, map_location={"cpu": "mps"})
    with pytest.raises(TypeError, match="must return None or a storage"):
        ts.load(WORD_LM, map_location=lambda storage, location: "elsewhere")
    with pytest.raises(ValueError, match="pickle_module is not used"):
        ts.load(WORD_LM, pickle_module=pickle)
    with pytest.raises(TypeError, match=r"unexpected arguments \['fix_imports'\]"):
        ts.load(WORD_LM, fix_imports=True)
    with open(WORD_LM, "rb") as f, pytest.raises(ValueError, match="mmap=True needs f to be"):
        ts.load(f, mmap=True)


def pytorch_zip(data_pkl, records=(), archive="archive"):
    """A zip laid out as torch.save's, holding this data.pkl (made with the stdlib zipfile)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(f"{archive}/data.pkl", data_pkl)
        for name, data in records:
            z.writestr(f"{archive}/{name}", data)
    return buffer.getvalue()


def test_a_file_saved_on_a_gpu_needs_map_location(tmp_path):
    data = ts.serialization.pickler.Pickler().dump(ts.ones(2))
    data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
    path = tmp_path / "gpu.pt"
    path.write_bytes(pytorch_zip(data, [("data/0", np.ones(2, np.float32).tobytes())]))
    with pytest.raises(RuntimeError, match=r"saved on 'cuda:0'.*pass map_location='cpu'"):
        ts.load(path)
    np.testing.assert_array_equal(ts.load(path, map_location="cpu").numpy(), [1, 1])
    np.testing.assert_array_equal(ts.load(path, map_location={"cuda:0": "cpu"}).numpy(), [1, 1])


# ------------------------------------------------------------------------- nothing from a file runs
class Payload:
    """Pickles as a call of `function(*args)`: what a malicious .pt carries."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def payloads(marker):
    """(name the refusal must mention, data.pkl) pairs, each one writing `marker` if run."""
    writes = f"open({str(marker)!r}, 'w')"
    found = []
    for function, args in ((os.system, (f"touch {marker}",)), (open, (str(marker), "w")),
                           (exec, (writes,)), (eval, (writes,))):
        name = f"{function.__module__}.{function.__qualname__}"      # posix.system, io.open
        for protocol in (2, 4):
            found.append((name, pickle.dumps(Payload(function, *args), protocol=protocol)))
    deep_inside = collections.OrderedDict(weight=[1.0, 2.0], bias=Payload(os.system, "true"))
    found += [
        ("posix.system", pickle.dumps(deep_inside, protocol=2)),
        ("builtins.eval", b"\x80\x02c__builtin__\neval\nX\x01\x00\x00\x001\x85R."),  # Python 2
        ("INST", b"(ios\nsystem\n."),                                   # protocol 0's call
        ("OBJ", b"\x80\x02(ccollections\nOrderedDict\no."),
        ("EXT1", b"\x80\x02\x82\x01)R."),                                # copyreg's registry
        ("a list", b"\x80\x02]X\x01\x00\x00\x00ab."),                    # BUILD on a list
        ("not one of the functions", b"\x80\x02]X\x01\x00\x00\x00a\x85R."),  # REDUCE a list
    ]
    return found


def test_a_file_with_any_other_global_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    for name, data_pkl in payloads(marker):
        for layout in ("zip", "legacy"):
            path = tmp_path / f"evil_{layout}.pt"
            if layout == "zip":
                path.write_bytes(pytorch_zip(data_pkl))
            else:        # the pre-1.6 format: the payload is its third pickle, the system info
                header = pickle.dumps(0x1950A86A20F9469CFC6C, 2) + pickle.dumps(1001, 2)
                path.write_bytes(header + data_pkl)
            with pytest.raises(pickle.UnpicklingError) as info:
                ts.load(path)
            assert name in str(info.value), (name, layout, str(info.value))
            assert not marker.exists(), (name, layout)


def test_refusal_message_names_the_global_and_says_nothing_ran(tmp_path):
    path = tmp_path / "evil.pt"
    path.write_bytes(pytorch_zip(pickle.dumps(Payload(os.system, "true"), protocol=2)))
    with pytest.raises(pickle.UnpicklingError,
                       match=r"refused the global 'posix.system': nothing from the file was run"):
        ts.load(path)


# ------------------------------------------------------------------------- damaged files
def test_damaged_files_are_refused_clearly(tmp_path):
    good = open(WORD_LM, "rb").read()
    cases = {
        "empty": (b"", RuntimeError, "is empty"),
        "text": (b"hello, world", RuntimeError, "not a file torch.save or ts.save writes"),
        "half": (good[:len(good) // 2], RuntimeError, "not a readable zip archive"),
        "no end": (good[:-10], RuntimeError, "not a readable zip archive"),
        "legacy cut": (open(LEGACY, "rb").read()[:-7], RuntimeError, "cut short"),
        "legacy pickle cut": (open(LEGACY, "rb").read()[:60], pickle.UnpicklingError,
                              "ends too early"),
    }
    # a storage byte flipped: the record's CRC no longer matches
    at = good.index(b"pt_word_lm/data/0") + len("pt_word_lm/data/0")
    at += 4 + struct.unpack("<H", good[at + 2:at + 4])[0]       # past the "FB" padding
    cases["flipped byte"] = (good[:at] + bytes([good[at] ^ 1]) + good[at + 1:], RuntimeError,
                             "record data/0 .* cannot be read")
    pkl = zipfile.ZipFile(WORD_LM).read("pt_word_lm/data.pkl")
    storage = np.zeros(3, np.float32).tobytes()
    tensor_pkl = ts.serialization.pickler.Pickler().dump(ts.zeros(3))
    cases.update({
        "pickle cut": (pytorch_zip(pkl[:40]), pickle.UnpicklingError, "ends too early"),
        "no storage": (pytorch_zip(tensor_pkl), RuntimeError, "no record data/0"),
        "short storage": (pytorch_zip(tensor_pkl, [("data/0", storage[:8])]), RuntimeError,
                          "holds 8 bytes, but its storage needs 3 x 4"),
        "past the end": (pytorch_zip(tensor_pkl.replace(b"K\x03\x85", b"K\x09\x85"),
                                     [("data/0", storage)]), pickle.UnpicklingError,
                         r"reaches past the end of its storage \(3 elements\)"),
        "npz": (None, RuntimeError, "a numpy .npz archive"),
        "torchscript": (pytorch_zip(b"", [("constants.pkl", b"")]).replace(b"data.pkl",
                                                                           b"code.pkl"),
                        RuntimeError, "TorchScript"),
    })
    for name, (data, error, message) in cases.items():
        path = tmp_path / "damaged.pt"
        if data is None:
            np.savez(path.with_suffix(".npz"), a=np.ones(2))
            path = path.with_suffix(".npz")
        else:
            path.write_bytes(data)
        with pytest.raises(error, match=message):
            ts.load(path)
    with open(WORD_LM, "r") as text, pytest.raises(TypeError, match="text mode"):
        ts.load(text)
    with pytest.raises(FileNotFoundError):
        ts.load(tmp_path / "missing.pt")


def test_random_damage_gives_only_clear_errors():
    """Bytes changed at random, in the whole file (caught by the zip's checks) or inside
    data.pkl of an otherwise sound archive (caught by the unpickler): every failure is one of
    the two errors load raises for damaged files, never a stray exception from inside."""
    rng = np.random.default_rng(0)
    whole = [open(path, "rb").read() for path in (OBJECTS, WORD_LM, LEGACY)]
    source = zipfile.ZipFile(OBJECTS)
    records = [(n.split("/", 1)[1], source.read(n)) for n in source.namelist() if "/data/" in n]
    data_pkl = source.read("pt_objects/data.pkl")
    failures = 0
    for trial in range(600):
        damaged = bytearray(whole[trial % 3] if trial % 2 else data_pkl)
        for _ in range(rng.integers(1, 4)):
            damaged[rng.integers(len(damaged))] = rng.integers(256)
        if rng.random() < 0.2:
            damaged = damaged[:rng.integers(len(damaged))]
        blob = bytes(damaged) if trial % 2 else pytorch_zip(bytes(damaged), records)
        try:
            ts.load(io.BytesIO(blob))
        except (pickle.UnpicklingError, RuntimeError):
            failures += 1
    assert failures > 300          # most damage is detected (some bytes, e.g. padding, are inert)


# ------------------------------------------------------------------------- ours, both ways
def test_round_trip_of_nested_values(tmp_path):
    base = ts.tensor(np.arange(12.0).reshape(3, 4))
    shared = ts.tensor([1.0, 2.0])
    loop = [1]
    loop.append(loop)
    ordered = collections.OrderedDict(b=2, a=1)
    ordered._metadata = {"": {"version": 1}}
    obj = {
        "tensors": [ts.tensor([1.5, -2.0]), ts.tensor(np.arange(3)), ts.tensor([True]),
                    ts.tensor(np.int32(7)), ts.zeros(0, 2), ts.tensor(np.uint8(200))],
        "views": {"base": base, "t": base.T, "row": base[1], "step": base[:, ::2],
                  "flipped": ts.Tensor._make(base.numpy()[::-1], None, 0)},
        "same": (shared, shared),
        "parameter": nn.Parameter(np.ones(2)),
        "numpy": [np.arange(6.0).reshape(2, 3), np.asfortranarray(np.ones((2, 3), np.int16)),
                  np.arange(3, dtype=">f4"), np.float32(1.5), np.int64(-3), np.bool_(False)],
        "plain": [None, True, 0, 255, 65536, -1, 2 ** 31, -2 ** 64, 1.5e-300, "ünï", b"\x00\xff",
                  bytearray(b"ab"), 1 + 2j, {1, 2}, (), (1,), (1, 2, 3, 4),
                  collections.Counter("aab"), ts.float64, ts.int32, ts.device("cpu"),
                  ts.device("cuda", 1)],
        "ordered": ordered,
        "loop": loop,
    }
    ts.save(obj, tmp_path / "obj.pt")
    back = ts.load(tmp_path / "obj.pt")
    for a, b in zip(obj["tensors"], back["tensors"]):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for name, view in back["views"].items():
        np.testing.assert_array_equal(view.numpy(), obj["views"][name].numpy(), err_msg=name)
    for name in ("t", "row", "step"):
        assert np.shares_memory(back["views"][name].numpy(), back["views"]["base"].numpy())
    assert not np.shares_memory(back["views"]["flipped"].numpy(), back["views"]["base"].numpy())
    assert back["same"][0] is back["same"][1]
    assert type(back["parameter"]) is nn.Parameter and back["parameter"].requires_grad
    for a, b in zip(obj["numpy"], back["numpy"]):
        assert type(a) is type(b) and np.array_equal(a, b) and a.dtype.newbyteorder("=") == b.dtype
    assert back["numpy"][1].flags.f_contiguous
    assert back["plain"] == obj["plain"]
    assert type(back["plain"][11]) is bytearray and type(back["plain"][13]) is set
    assert back["ordered"] == ordered and list(back["ordered"]) == ["b", "a"]
    assert back["ordered"]._metadata == {"": {"version": 1}}
    assert back["loop"][1] is back["loop"]


PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 80, 2 ** 80) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.tuples(
        inner, inner, inner, inner) | st.dictionaries(st.text(max_size=4) | st.integers(), inner,
                                                      max_size=4),
    max_leaves=20)


@settings(max_examples=60, deadline=None)
@given(PLAIN)
def test_plain_values_round_trip_and_read_as_pickle_reads_them(value):
    """Our pickle of plain values, read by our loader and by CPython's own unpickler (our
    own bytes, so safe to unpickle here), gives the value back."""
    buffer = io.BytesIO()
    ts.save(value, buffer)
    assert ts.load(io.BytesIO(buffer.getvalue())) == value
    assert pickle.loads(zipfile.ZipFile(buffer).read("archive/data.pkl")) == value


def test_state_dict_round_trip_through_a_file_and_a_stream(tmp_path):
    ts.manual_seed(0)
    model = word_lm(ts)
    ts.save(model.state_dict(), tmp_path / "lm.pt")
    buffer = io.BytesIO()
    ts.save(model.state_dict(), buffer)

    class WriteOnly:                   # a pipe or socket: no seek, no tell
        def __init__(self):
            self.parts = []

        def write(self, data):
            self.parts.append(bytes(data))

    stream = WriteOnly()
    ts.save(model.state_dict(), stream)
    assert b"".join(stream.parts) == buffer.getvalue()
    for source in (tmp_path / "lm.pt", io.BytesIO(buffer.getvalue())):
        twin = word_lm(ts)
        twin.load_state_dict(ts.load(source))
        for (name, p), (_, q) in zip(model.state_dict().items(), twin.state_dict().items()):
            np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)
    assert zipfile.ZipFile(tmp_path / "lm.pt").namelist()[0] == "lm/data.pkl"
    assert zipfile.ZipFile(buffer).namelist()[0] == "archive/data.pkl"


def test_our_file_is_laid_out_as_pytorchs(tmp_path):
    """Same records in the same order, same storage bytes, each storage 64-byte aligned with
    a data descriptor after it, as PyTorch's writer does it (so torch.load's mmap offsets,
    computed from that layout, hold)."""
    ts.save(ts.load(WORD_LM), tmp_path / "word_lm.pt")
    theirs, ours = zipfile.ZipFile(WORD_LM), zipfile.ZipFile(tmp_path / "word_lm.pt")
    assert ours.namelist() == [n.replace("pt_word_lm/", "word_lm/") for n in theirs.namelist()]
    raw = (tmp_path / "word_lm.pt").read_bytes()
    for a, b in zip(theirs.infolist(), ours.infolist()):
        assert (a.flag_bits, a.compress_type, a.extract_version) == (
            b.flag_bits, b.compress_type, b.extract_version), a.filename
        if a.filename.split("/", 1)[1] not in ("data.pkl", ".data/serialization_id"):
            assert theirs.read(a) == ours.read(b), a.filename
        start = b.header_offset + 30 + len(b.filename) + struct.unpack(
            "<H", raw[b.header_offset + 28:b.header_offset + 30])[0]
        assert start % 64 == 0, b.filename
        assert raw[start + b.file_size:start + b.file_size + 4] == b"PK\x07\x08"
    end = raw[-98:]       # zip64 end record, its locator, the end record: as miniz writes them
    assert end[:4] == b"PK\x06\x06" and end[56:60] == b"PK\x06\x07" and end[76:80] == b"PK\x05\x06"


# What torch.load(weights_only=True) reads: the opcodes its unpickler implements and the
# globals it allows by default (torch/_weights_only_unpickler.py, PyTorch 2.13).
WEIGHTS_ONLY_OPCODES = {
    "APPEND", "APPENDS", "BINFLOAT", "BINGET", "BININT", "BININT1", "BININT2", "BINPERSID",
    "BINPUT", "BINUNICODE", "BUILD", "EMPTY_DICT", "EMPTY_LIST", "EMPTY_SET", "EMPTY_TUPLE",
    "GLOBAL", "LONG1", "LONG_BINGET", "LONG_BINPUT", "MARK", "NEWFALSE", "NEWOBJ", "NEWTRUE",
    "NONE", "PROTO", "REDUCE", "SETITEM", "SETITEMS", "SHORT_BINSTRING", "STOP", "TUPLE",
    "TUPLE1", "TUPLE2", "TUPLE3"}
WEIGHTS_ONLY_GLOBALS = {"collections OrderedDict", "collections Counter", "_codecs encode",
                        "builtins bytearray", "builtins set", "builtins complex",
                        "torch._utils _rebuild_tensor_v2", "torch._utils _rebuild_tensor_v3",
                        "torch._utils _rebuild_parameter", "torch.storage UntypedStorage"}


def test_our_pickles_use_only_what_weights_only_reads(tmp_path):
    import pickletools
    ts.save(ts.load(OBJECTS), tmp_path / "objects.pt")
    data_pkl = zipfile.ZipFile(tmp_path / "objects.pt").read("objects/data.pkl")
    opcodes = {op.name for op, arg, _ in pickletools.genops(data_pkl)}
    assert opcodes <= WEIGHTS_ONLY_OPCODES, opcodes - WEIGHTS_ONLY_OPCODES
    names = {arg for op, arg, _ in pickletools.genops(data_pkl) if op.name == "GLOBAL"}
    torch_names = {n for n in names if n.startswith("torch ") and (     # storages, dtypes
        n.endswith("Storage") or n.split()[1] in ts.serialization.storage.DTYPES)}
    assert names - torch_names <= WEIGHTS_ONLY_GLOBALS, names - torch_names


def test_refused_objects_leave_the_old_file(tmp_path):
    path = tmp_path / "keep.pt"
    ts.save({"w": ts.ones(2)}, path)
    before = path.read_bytes()
    cases = [({"model": nn.Linear(2, 2)}, TypeError, "a Linear module; a module is saved "
                                                      "through its state_dict"),
             ({"f": [1, lambda x: x]}, TypeError, r"cannot save obj\['f'\]\[1\], a function"),
             ({"o": np.array([object()])}, TypeError, "numpy dtype object"),
             ({"s": np.array(["a"])}, TypeError, "numpy dtype <U1"),
             ({"d": collections.defaultdict(int)}, TypeError, "a defaultdict")]
    inner = []
    through_a_tuple = (inner,)
    inner.append(through_a_tuple)
    cases += [({"k": frozenset()}, TypeError, r"cannot save obj\['k'\], a frozenset"),
              ({"loop": through_a_tuple}, ValueError, "contains itself through a tuple")]
    for obj, error, message in cases:
        with pytest.raises(error, match=message):
            ts.save(obj, path)
        assert path.read_bytes() == before
    with pytest.raises(ValueError, match="format must be 'torch'"):
        ts.save({}, path, format="npz")
    with pytest.raises(ValueError, match="only PyTorch's zip format"):
        ts.save({}, path, _use_new_zipfile_serialization=False)
    with open(tmp_path / "text.pt", "w") as text, pytest.raises(TypeError, match="text mode"):
        ts.save({}, text)
    ts.save({}, path, pickle_module=pickle, pickle_protocol=4, _disable_byteorder_record=True)
    assert "keep/byteorder" not in zipfile.ZipFile(path).namelist() and ts.load(path) == {}


# ------------------------------------------------------------------------- live, with PyTorch
@live
def test_our_word_lm_state_dict_loads_in_pytorch_weights_only(tmp_path):
    import torch
    ts.manual_seed(1)
    ours = word_lm(ts)
    ts.save(ours.state_dict(), tmp_path / "ours.pt")
    state = torch.load(tmp_path / "ours.pt", weights_only=True)
    assert state["decoder.weight"].data_ptr() == state["encoder.weight"].data_ptr()
    theirs = word_lm(torch)
    theirs.load_state_dict(state)                    # strict: every name, tied ones too
    log_probs, (h, c) = theirs.double().eval()(torch.tensor(TOKENS))
    for a, b in zip(run_word_lm(ours), (log_probs, h, c)):
        np.testing.assert_allclose(a, b.detach().numpy(), **TOL)


@live
def test_weights_go_to_pytorch_and_back_with_equal_outputs(tmp_path):
    import torch
    torch.manual_seed(2)
    theirs = word_lm(torch)
    torch.save(theirs.state_dict(), tmp_path / "theirs.pt")
    ours = word_lm(ts)
    ours.load_state_dict(ts.load(tmp_path / "theirs.pt"))
    ts.save(ours.state_dict(), tmp_path / "back.pt")
    again = word_lm(torch)
    again.load_state_dict(torch.load(tmp_path / "back.pt", weights_only=True))
    tokens = torch.tensor(TOKENS)
    for model in (theirs, again):
        model.double().eval()
    outputs = [run_word_lm(ours)] + [[t.detach().numpy() for t in (lp, h, c)] for lp, (h, c) in
                                     (theirs(tokens), again(tokens))]
    for a, b, c in zip(*outputs):
        np.testing.assert_allclose(a, b, **TOL)
        np.testing.assert_array_equal(b, c)


@live
def test_our_objects_load_in_pytorch(tmp_path, monkeypatch):
    import torch
    from golden_pt import objects
    source = objects(torch)
    ours = ts.load(OBJECTS)
    ts.save(ours, tmp_path / "objects.pt")
    monkeypatch.setenv("TORCH_SERIALIZATION_DEBUG", "1")     # torch checks its offsets
    for mmap in (False, True):
        back = torch.load(tmp_path / "objects.pt", weights_only=True, mmap=mmap)
        for name, t in source["dtypes"].items():
            want = t.float() if t.dtype in (torch.float16, torch.bfloat16) else t
            assert back["dtypes"][name].dtype == want.dtype and torch.equal(
                back["dtypes"][name], want), name
        views = back["views"]
        for name, t in source["views"].items():
            assert torch.equal(views[name], t) and views[name].stride() == t.stride(), name
            assert views[name].untyped_storage().data_ptr() == views["base"].untyped_storage(
            ).data_ptr(), name
        assert back["expanded"].stride() == (1, 0) and torch.equal(back["expanded"],
                                                                   source["expanded"])
        assert isinstance(back["parameter"], torch.nn.Parameter) and back["parameter"].requires_grad
        assert not back["frozen"].requires_grad
        assert back["plain"] == [1, 2.5, "text", None, True, (1, (2, "three")), b"\x00bytes",
                                 2 ** 70, (2, 3), torch.float64, torch.int64, {"nested": [[], {}]}]
    from torch.utils.serialization import config
    config.load.calculate_storage_offsets = True         # offsets from miniz's layout
    try:
        back = torch.load(tmp_path / "objects.pt", weights_only=True, mmap=True)
    finally:
        config.load.calculate_storage_offsets = False
    assert torch.equal(back["views"]["base"], source["views"]["base"])


@live
def test_a_whole_pickled_model_is_refused_and_a_checkpoint_loads(tmp_path):
    import torch
    torch.save(torch.nn.Linear(2, 2), tmp_path / "model.pt")     # the module itself: code
    with pytest.raises(pickle.UnpicklingError, match=r"refused the global 'torch.nn.modules."
                                                     r"linear.Linear'.*Save a state_dict"):
        ts.load(tmp_path / "model.pt")
    model = word_lm(torch)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.tensor(TOKENS))[0].sum().backward()
    optimizer.step()
    torch.save({"epoch": 3, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "loss": 1.25}, tmp_path / "checkpoint.pt")
    checkpoint = ts.load(tmp_path / "checkpoint.pt")
    assert checkpoint["epoch"] == 3 and checkpoint["loss"] == 1.25
    state = optimizer.state_dict()
    assert checkpoint["optimizer"]["param_groups"] == state["param_groups"]
    for i, moments in state["state"].items():
        for name, value in moments.items():
            np.testing.assert_array_equal(checkpoint["optimizer"]["state"][i][name].numpy(),
                                          value.numpy())
    word_lm(ts).load_state_dict(checkpoint["model"])


@live
def test_random_tensors_both_ways(tmp_path):
    import torch
    rng = np.random.default_rng(0)
    for trial in range(20):
        dtype = [torch.float32, torch.float64, torch.int64, torch.int32, torch.bool][trial % 5]
        shape = tuple(rng.integers(1, 5, rng.integers(1, 4)))
        base = torch.from_numpy(rng.standard_normal(shape) * 10).to(dtype)
        view = base.transpose(0, -1)[..., ::2] if base.ndim > 1 else base[1:]
        torch.save({"base": base, "view": view}, tmp_path / "t.pt")
        ours = ts.load(tmp_path / "t.pt")
        assert np.array_equal(ours["view"].numpy(), view.numpy())
        assert np.shares_memory(ours["view"].numpy(), ours["base"].numpy())
        ts.save(ours, tmp_path / "o.pt")
        back = torch.load(tmp_path / "o.pt", weights_only=True)
        assert torch.equal(back["view"], view) and back["view"].stride() == view.stride()
        assert back["view"].storage_offset() == view.storage_offset()
