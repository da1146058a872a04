"""Packed sequences, as torch.nn.utils.rnn: a batch of sequences of different lengths.

A padded batch (T, B, *) holds sequence b's steps in rows [0, lengths[b]) of column b and
padding after them. A PackedSequence holds only the valid steps, time-major: with the batch
sorted by decreasing length, `data` is step 0 of every sequence, then step 1 of every sequence
still running, and so on; `batch_sizes[t]` (int64) says how many sequences step t has. So for
sequences "abc" and "x", data is "axbc" and batch_sizes is [2, 1, 1].

    sorted_indices[s]    the caller's batch index of the sequence at sorted position s
                         (None: the batch was sorted already, enforce_sorted=True)
    unsorted_indices[b]  its inverse: the sorted position of the caller's sequence b

RNN, LSTM and GRU accept a PackedSequence and return one (with the same batch_sizes and
indices), the initial and final states in the caller's order. Every function here is
differentiable in its tensor inputs: each moves rows with an index op (a gather into the packed
rows, or a scatter into a padded block), so gradients reach the padded input and each sequence.

Bad input is refused with PyTorch's exception types (RuntimeError for lengths, as its C++
checks raise) and a message naming the function, the values and what was expected. Two
deliberate differences: lengths longer than the padded input are refused (PyTorch reads past
the input's end), and sequences of different dtypes are refused (PyTorch casts them to the
first one's). Ties in lengths keep their order when sorting (enforce_sorted=False), which is
what PyTorch's sort does for batches of up to 16; for larger batches PyTorch leaves the order
of equal lengths unspecified, so `data` and `sorted_indices` may list tied sequences in another
order there, while everything in the caller's order (padded outputs, final states) is the same.
"""
from collections import namedtuple

import numpy as np

from ...creation import full
from ...functions import cat
from ...tensor import Tensor, _same_dtype, float32, float64


class PackedSequence(namedtuple("PackedSequence",
                                ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """(data, batch_sizes, sorted_indices, unsorted_indices), as torch's PackedSequence.

    data (sum(batch_sizes), *) the valid steps, time-major; batch_sizes (T,) int64;
    sorted_indices / unsorted_indices (B,) int64 or None. Made by pack_padded_sequence and
    pack_sequence; unsorted_indices is computed from sorted_indices when not given.
    """
    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """data converted by Tensor.to (the indices stay int64); self if nothing changes."""
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else self._replace(data=data)

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)


def invert_permutation(permutation):
    """The inverse permutation (int64 Tensor): out[permutation[i]] = i; None stays None."""
    if permutation is None:
        return None
    p = _int_array(permutation)
    out = np.empty_like(p)
    out[p] = np.arange(p.size)
    return Tensor(out)


# ------------------------------------------------------------------------------ pad and pack
def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Sequences (L_i, *) stacked into (T, B, *) [(B, T, *) if batch_first], T = max L_i,
    the rest filled with padding_value: after each sequence ("right") or before it ("left").
    d sequence_i = its rows of the padded gradient."""
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"pad_sequence: expected padding_side to be one of left or right, "
                           f"but got {padding_side!r}")
    sequences = _check_sequences("pad_sequence", sequences)
    L = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    T, B = int(L.max()), len(sequences)
    b = np.repeat(np.arange(B), L)                            # row r of cat(sequences) is
    t = np.arange(L.sum()) - np.repeat(np.cumsum(L) - L, L)   # step t of sequence b
    if padding_side == "left":
        t += np.repeat(T - L, L)
    trailing = sequences[0].shape[1:]
    padded = full((B, T, *trailing) if batch_first else (T, B, *trailing), padding_value,
                  dtype=sequences[0].dtype)
    padded[(b, t) if batch_first else (t, b)] = cat(sequences)
    return padded


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """A padded batch (T, B, *) [(B, T, *) if batch_first] with lengths (B,) as a
    PackedSequence. enforce_sorted=True expects lengths in decreasing order; False sorts
    the batch by length and keeps the permutation in sorted_indices.
    d input = the packed gradient's rows put back in place, zero on the padding."""
    return _pack("pack_padded_sequence", input, lengths, batch_first, enforce_sorted)


def pack_sequence(sequences, enforce_sorted=True):
    """Sequences (L_i, *) packed: pack_padded_sequence(pad_sequence(sequences), lengths)."""
    sequences = _check_sequences("pack_sequence", sequences)
    return _pack("pack_sequence", pad_sequence(sequences), [s.shape[0] for s in sequences],
                 False, enforce_sorted)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """A PackedSequence back as (padded (T, B, *) [(B, T, *) if batch_first], lengths (B,)
    int64), in the order the batch had before packing; T = total_length if given, else the
    longest length. d data = the padded gradient at the valid steps."""
    data, batch_sizes, sorted_indices = _check_packed("pad_packed_sequence", sequence)
    T = len(batch_sizes)
    if total_length is not None:
        if not _is_integer(total_length):
            raise TypeError(f"pad_packed_sequence: total_length must be an integer, got "
                            f"{total_length!r}")
        if total_length < T:
            raise ValueError(f"pad_packed_sequence: expected total_length to be at least the "
                             f"length of the longest sequence in input, but got total_length="
                             f"{total_length} and max sequence length being {T}")
        T = int(total_length)
    B, trailing = int(batch_sizes[0]), data.shape[1:]
    padded = full((B, T, *trailing) if batch_first else (T, B, *trailing), padding_value,
                  dtype=data.dtype)
    t, b = _packed_positions(batch_sizes, sorted_indices)
    padded[(b, t) if batch_first else (t, b)] = data
    lengths = (batch_sizes[None, :] > np.arange(B)[:, None]).sum(1)   # in sorted order
    if sorted_indices is not None:
        lengths[sorted_indices] = lengths.copy()
    return padded, Tensor(lengths.astype(np.int64))


def _packed_positions(batch_sizes, sorted_indices):
    """(t, b): packed row r is step t[r] of the caller's batch entry b[r] (numpy arrays).
    Rows run time-major; within a step, sorted position s is entry sorted_indices[s]."""
    t = np.repeat(np.arange(len(batch_sizes)), batch_sizes)
    s = np.arange(t.size) - np.repeat(np.cumsum(batch_sizes) - batch_sizes, batch_sizes)
    return t, (s if sorted_indices is None else sorted_indices[s])


def _pack(op, input, lengths, batch_first, enforce_sorted):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected the padded input as a Tensor, got "
                        f"{type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(f"{op}: expected a padded input of at least two dims, "
                         f"{'(B, T, *)' if batch_first else '(T, B, *)'}, got shape {input.shape}")
    if input.numel() == 0:
        raise RuntimeError(f"{op}: cannot pack empty tensors (input shape {input.shape})")
    T, B = input.shape[1::-1] if batch_first else input.shape[:2]
    lengths = _check_lengths(op, lengths, B, T)
    if enforce_sorted:
        if np.any(lengths[1:] > lengths[:-1]):
            raise RuntimeError(
                f"{op}: `lengths` array must be sorted in decreasing order when "
                f"`enforce_sorted` is True, got {lengths.tolist()}. You can pass "
                f"`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
                f"sidestep this requirement if you do not need ONNX exportability.")
        sorted_indices = None
    else:
        sorted_indices = np.argsort(-lengths, kind="stable")
    batch_sizes = (lengths[:, None] > np.arange(lengths.max())[None, :]).sum(0)
    t, b = _packed_positions(batch_sizes, sorted_indices)
    data = input[(b, t) if batch_first else (t, b)]
    return PackedSequence(data, Tensor(batch_sizes.astype(np.int64)),
                          None if sorted_indices is None else Tensor(sorted_indices))


# ------------------------------------------------------------------------------ checks
def _is_integer(n):
    return isinstance(n, (int, np.integer)) and not isinstance(n, bool)


def _int_array(values):
    return np.asarray(values.array if isinstance(values, Tensor) else values)


def _check_lengths(op, lengths, B, T):
    """lengths as an int64 array of B values in [1, T]."""
    values = _int_array(lengths)
    if values.ndim != 1 or values.dtype.kind not in "iuf" or (
            values.dtype.kind == "f" and not np.all(values == np.round(values))):
        raise RuntimeError(f"{op}: expected lengths as one integer per sequence, got "
                           f"{values.tolist()} ({values.dtype})")
    if values.shape[0] != B:
        raise RuntimeError(f"{op}: expected `len(lengths)` to be equal to batch_size, but got "
                           f"{values.shape[0]} (batch_size={B})")
    values = values.astype(np.int64)
    if values.min() <= 0:
        raise RuntimeError(f"{op}: length of all samples has to be greater than 0, but got "
                           f"lengths {values.tolist()}")
    if values.max() > T:
        raise RuntimeError(f"{op}: lengths {values.tolist()} go past the padded input's "
                           f"{T} time steps")
    return values


def _check_sequences(op, sequences):
    """A non-empty list of Tensors (L_i, *) with one trailing shape and one dtype."""
    if isinstance(sequences, Tensor):
        sequences = list(sequences)   # a (B, L, *) tensor is B sequences, as in PyTorch
    try:
        sequences = list(sequences)
    except TypeError:
        raise TypeError(f"{op}: expected a list of Tensors, got "
                        f"{type(sequences).__name__}") from None
    if not sequences:
        raise RuntimeError(f"{op}: received an empty list of sequences")
    sequences = _same_dtype(op, sequences)
    for i, s in enumerate(sequences):
        if s.ndim == 0:
            raise ValueError(f"{op}: each sequence needs a time dim (L, *), got a 0-d tensor "
                             f"at position {i}")
    if len({s.shape[1:] for s in sequences}) > 1:
        raise ValueError(f"{op}: all sequences need the same trailing dims (L, *), got shapes "
                         f"{[s.shape for s in sequences]}")
    return sequences


def _check_packed(op, sequence):
    """(data, batch_sizes, sorted_indices) of a PackedSequence, the last two as numpy arrays,
    checked to describe data: positive, non-increasing batch sizes adding up to its rows and a
    permutation of the batch."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{op}: expected a PackedSequence (from pack_padded_sequence or "
                        f"pack_sequence), got {type(sequence).__name__}")
    data = sequence.data
    if not isinstance(data, Tensor) or data.ndim == 0:
        raise TypeError(f"{op}: the PackedSequence's data must be a Tensor (N, *), got "
                        f"{getattr(data, 'shape', type(data).__name__)}")
    batch_sizes = _int_array(sequence.batch_sizes)
    if (batch_sizes.ndim != 1 or batch_sizes.size == 0 or batch_sizes.dtype.kind not in "iu"
            or batch_sizes.min() < 1 or np.any(batch_sizes[1:] > batch_sizes[:-1])
            or batch_sizes.sum() != data.shape[0]):
        raise ValueError(f"{op}: batch_sizes must be positive, non-increasing integers adding "
                         f"up to the {data.shape[0]} rows of data, got {batch_sizes.tolist()}")
    sorted_indices = sequence.sorted_indices
    if sorted_indices is not None:
        sorted_indices = _int_array(sorted_indices)
        if sorted(sorted_indices.tolist()) != list(range(batch_sizes[0])):
            raise ValueError(f"{op}: sorted_indices must be a permutation of the "
                             f"{batch_sizes[0]} sequences, got {sorted_indices.tolist()}")
    return data, batch_sizes, sorted_indices
