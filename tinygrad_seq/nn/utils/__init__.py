"""Gradient clipping, detaching recurrent state, truncated BPTT, and .npz checkpoints;
utils.rnn holds packed sequences (pad_sequence, pack_padded_sequence, ...)."""
import json
import os
import tempfile
import zipfile

import numpy as np

from ...autograd import no_grad
from ...tensor import Tensor
from ..module import check_state
from . import rnn   # nn.utils.rnn is there after `import tinygrad_seq`, as in PyTorch


# ------------------------------------------------------------------------------ clipping
@no_grad()
def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    """Scale all gradients together so their joint norm is at most max_norm; returns the norm
    before clipping (a 0-d tensor), as torch.nn.utils.clip_grad_norm_."""
    grads = [p.grad.array for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return Tensor(0.0)
    if norm_type == float("inf"):
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    else:
        total = float(sum(np.sum(np.abs(g.astype(np.float64)) ** norm_type) for g in grads)
                      ) ** (1.0 / norm_type)
    scale = max_norm / (total + 1e-6)
    if scale < 1:
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
def save(path, model, optimizer=None, **extra):
    """Write model parameters (and optimizer state, and JSON-able extras) to an .npz file.

    The write is atomic: a temporary file in the same folder is renamed over `path` only once
    it is complete, so a failed save leaves any old file intact.
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
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load(path, model, optimizer=None):
    """Load a checkpoint written by `save` into model (and optimizer); returns the extras.

    Everything is checked (names, shapes, dtypes, the optimizer's layout) before anything
    changes: a refused checkpoint leaves the model and optimizer as they were.
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"load: {path} is not a readable tinygrad_seq checkpoint ({e})") from None
    weights = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    check_state(model, weights)
    optim_state = None
    if optimizer is not None:
        if "optim" not in meta:
            raise ValueError(f"load: {path} holds no optimizer state")
        state = {int(i): dict(s) for i, s in meta["optim"]["scalars"].items()}
        for key, value in arrays.items():
            if key.startswith("optim/"):
                _, i, name = key.split("/", 2)
                state.setdefault(int(i), {})[name] = value
        optim_state = {"state": state, "param_groups": meta["optim"]["param_groups"]}
        optim_state = optimizer.check_state_dict(optim_state)
    model.load_state_dict(weights)
    if optim_state is not None:
        optimizer._apply_state(*optim_state)
    return meta["extra"]
