"""Gradient clipping, detaching recurrent state, truncated BPTT, and .npz checkpoints;
utils.rnn holds packed sequences (pad_sequence, pack_padded_sequence, ...)."""
import contextlib
import json
import math
import os
import re
import tempfile
import zipfile

import numpy as np

from ...autograd import no_grad
from ...kernels import backend
from ...tensor import Tensor
from ..module import check_state
from . import rnn   # nn.utils.rnn is there after `import tinygrad_seq`, as in PyTorch


# ------------------------------------------------------------------------------ clipping
@no_grad()
def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients together so their joint norm is at most max_norm; returns the norm
    before clipping (a 0-d tensor), as torch.nn.utils.clip_grad_norm_: a norm of nan scales
    every gradient by nan, one of inf by 0 (unless error_if_nonfinite: then RuntimeError, the
    gradients untouched). foreach is accepted and has no effect (one pass a gradient here)."""
    grads = [p.grad.array for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return Tensor(0.0)
    if norm_type == float("inf"):
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    elif norm_type == 2:   # one numba pass a gradient (numpy's astype, abs, power and sum
        # were four: 0.8 ms a step for the demo's gradients, 42 us now)
        total = math.sqrt(sum(backend.squared_norm(g) for g in grads))
    else:
        total = float(sum(np.sum(np.abs(g.astype(np.float64)) ** norm_type) for g in grads)
                      ) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the gradients' norm of order {norm_type} is "
                           f"{total}, which cannot be clipped (error_if_nonfinite=True; with "
                           f"False they are scaled by it)")
    scale = max_norm / (total + 1e-6)
    if not scale >= 1:   # below 1, or nan: PyTorch multiplies by min(scale, 1), nan included
        with np.errstate(invalid="ignore"):   # inf * 0 = nan, as PyTorch's, without a warning
            for g in grads:
                g *= g.dtype.type(scale)
    return Tensor(total, dtype=grads[0].dtype)


@no_grad()
def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element to [-clip_value, clip_value], in place."""
    for p in _as_list(parameters):
        if p.grad is not None:
            np.clip(p.grad.array, -clip_value, clip_value, out=p.grad.array)


def _as_list(parameters):
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


# ------------------------------------------------------------------------------ truncated BPTT
def detach_state(state):
    """A recurrent state (a tensor, or a tuple like LSTM's (h, c)) cut from its graph."""
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    return state.detach()


def truncated_bptt(rnn, input, k, loss_fn, hx=None, after_backward=None):
    """Run `rnn` over a long sequence in windows of k steps (truncated BPTT).

    For each window: `output, hx = rnn(window, hx)`, `loss = loss_fn(output, start)` (start is
    the window's first time step, so loss_fn can pick its targets), `loss.backward()`, then
    `after_backward()` if given (an optimizer step, say), and the state is carried into the next
    window detached: gradients flow through at most k steps, memory stays bounded by one window.
    Time is dim 0, or dim 1 if the rnn is batch_first. Returns (window losses, final state).
    """
    if k < 1:
        raise ValueError(f"truncated_bptt: k must be a positive number of steps, got {k}")
    time_dim = 1 if getattr(rnn, "batch_first", False) and input.ndim == 3 else 0
    losses = []
    for start in range(0, input.shape[time_dim], k):
        window = input[(slice(None),) * time_dim + (slice(start, start + k),)]
        output, hx = rnn(window, hx)
        loss = loss_fn(output, start)
        loss.backward()
        if after_backward is not None:
            after_backward()
        losses.append(loss.item())
        hx = detach_state(hx)
    return losses, hx


# ------------------------------------------------------------------------------ checkpoints
# A checkpoint is an uncompressed .npz file (a zip of .npy files, as numpy.savez writes it):
# "model/<name>" for each parameter, "optim/<index>/<name>" for each array of the optimizer's
# state, and "meta", a JSON string with the optimizer's other state, its hyper-parameters and
# the caller's extras. Every zip entry carries the same fixed timestamp, so the same state always
# gives the same bytes (np.savez stamps the current time).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
TEMP_PREFIX = ".tmp-"       # a save in progress: .tmp-<pid of the writer>-<random>.npz


def save(path, model, optimizer=None, **extra):
    """Write model parameters (and optimizer state, and JSON-able extras) to an .npz file.

    The write is atomic: a temporary file in the same folder is renamed over `path` only once
    it is complete and on disk, so a failed or killed save leaves any old file intact. The
    temporary files of saves that were killed (their writer is no longer running) are removed
    by the next save to that folder.
    """
    arrays = {f"model/{name}": a for name, a in model.state_dict().items()}
    meta = {"extra": extra}
    if optimizer is not None:
        sd = optimizer.state_dict()
        for i, s in sd["state"].items():
            for name, value in s.items():
                if isinstance(value, np.ndarray):
                    arrays[f"optim/{i}/{name}"] = value
        meta["optim"] = {
            "param_groups": sd["param_groups"],
            "scalars": {str(i): {n: v for n, v in s.items() if not isinstance(v, np.ndarray)}
                        for i, s in sd["state"].items()}}
    arrays["meta"] = np.array(json.dumps(meta))
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)
    remove_stale_temp_files(folder)


def _write_npz(f, arrays):
    """What np.savez(f, **arrays) writes, with a fixed timestamp on every entry."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in arrays.items():
            with zf.open(zipfile.ZipInfo(name + ".npy", date_time=_ZIP_TIME), "w",
                         force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.asanyarray(value), allow_pickle=False)


def _fsync_folder(folder):
    """Put the rename itself on disk (a crash right after a save keeps the new file)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return      # a folder that cannot be opened (Windows): the rename is as durable as it gets
    try:
        os.fsync(fd)
    except OSError:
        pass        # filesystems that cannot sync a folder
    finally:
        os.close(fd)


def remove_stale_temp_files(folder):
    """Delete the temporary files that killed saves left in `folder`: those whose writer (the
    process id in the name) is no longer running, and those of older versions, which carried no
    process id. A save in progress in another running process is left alone."""
    if os.name != "posix":
        return      # os.kill(pid, 0) is the liveness test; elsewhere it would end the process
    for entry in os.scandir(folder):
        if not (entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(".npz")):
            continue
        pid = entry.name[len(TEMP_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and _running(int(pid)):
            continue
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            pass    # another save removed it first


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True     # a process of another user
    return True


def read_extras(path):
    """The extras saved with a checkpoint, read without loading any array (a ValueError if the
    file is not a readable checkpoint)."""
    with _open_checkpoint(path) as (_, meta):
        return meta["extra"]


def load(path, model, optimizer=None):
    """Load a checkpoint written by `save` into model (and optimizer); returns the extras.

    Everything is checked (the file's layout, the sizes its headers claim, names, shapes,
    dtypes, the optimizer's state and hyper-parameters) before anything changes: a refused
    checkpoint leaves the model and optimizer as they were.
    """
    with _open_checkpoint(path) as (read, meta):
        weights = {name[len("model/"):]: read(name) for name in read.names
                   if name.startswith("model/")}
        check_state(model, weights)
        optim_state = None
        if optimizer is not None:
            if "optim" not in meta:
                raise ValueError(f"load: {path} holds no optimizer state")
            state = {int(i): dict(s) for i, s in meta["optim"]["scalars"].items()}
            for name in read.names:
                if name.startswith("optim/"):
                    _, i, key = name.split("/")
                    state.setdefault(int(i), {})[key] = read(name)
            optim_state = optimizer.check_state_dict(
                {"state": state, "param_groups": meta["optim"]["param_groups"]})
    model.load_state_dict(weights)
    if optim_state is not None:
        optimizer._apply_state(*optim_state)
    return meta["extra"]


_ENTRY = re.compile(r"model/[A-Za-z0-9_.]+|optim/[0-9]+/[a-z_]+|meta")


@contextlib.contextmanager
def _open_checkpoint(path):
    """(read, meta) for a checkpoint: read(name) loads one array and read.names lists them; meta
    is its JSON entry with the layout checked. Raises a ValueError for anything else."""
    def refuse(why):
        return ValueError(f"load: {path} is not a readable tinygrad_seq checkpoint ({why})")

    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as e:
        raise refuse(e) from None
    with zf:
        try:
            infos, meta = _check_layout(zf, os.path.getsize(path))
        except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile, RecursionError) as e:
            raise refuse(e) from None

        def read(name):
            try:
                return _read(zf, infos[name])
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
                raise refuse(f"{name}: {e}") from None

        read.names = [name for name in infos if name != "meta"]
        yield read, meta


def _check_layout(zf, file_size):
    """({entry name: zip info}, meta) of a checkpoint's zip. Every .npy header is read first:
    the sizes they claim must fit in the file, so a forged header cannot make a load allocate
    memory; then the meta entry must be {"extra": {...}, "optim": {"param_groups": [...],
    "scalars": {index: {...}}}} ("optim" optional; its values are the optimizer's to check)."""
    infos, claimed = {}, 0
    for info in zf.infolist():
        name = info.filename[:-len(".npy")]
        if not info.filename.endswith(".npy") or not _ENTRY.fullmatch(name) or name in infos:
            raise ValueError(f"unexpected entry {info.filename!r}")
        shape, dtype = _header(zf, info)
        if dtype.hasobject:
            raise ValueError(f"{name} holds Python objects")
        claimed += math.prod(shape) * dtype.itemsize
        infos[name] = info
    if claimed > file_size:
        raise ValueError(f"its headers claim {claimed:,} bytes of arrays, the file has "
                         f"{file_size:,}")
    if "meta" not in infos:
        raise ValueError("no meta entry")
    meta = json.loads(str(_read(zf, infos["meta"])))
    if not isinstance(meta, dict) or not isinstance(meta.get("extra"), dict):
        raise ValueError("its meta entry holds no extras")
    optim = meta.get("optim", {"param_groups": [], "scalars": {}})
    if not (isinstance(optim, dict) and isinstance(optim.get("param_groups"), list)
            and isinstance(optim.get("scalars"), dict)
            and all(isinstance(g, dict) for g in optim["param_groups"])
            and all(i.isdigit() and isinstance(s, dict) for i, s in optim["scalars"].items())):
        raise ValueError("its optimizer entry is not {param_groups: [...], scalars: {...}}")
    return infos, meta


def _header(zf, info):
    """(shape, dtype) from the header of one .npy entry, reading nothing else."""
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"{info.filename}: .npy format version {version}")
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(f)
    return shape, dtype


def _read(zf, info):
    with zf.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)
