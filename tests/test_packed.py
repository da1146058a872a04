"""Packed sequences (nn.utils.rnn): gradchecks, the layout PyTorch code inspects, recurrent
layers on packed input against each sequence run alone, and clear errors for bad input.
Values against PyTorch are in test_golden_packed.py."""
import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_seq as ts
from tinygrad_seq import nn
from tinygrad_seq.nn.utils.rnn import (PackedSequence, invert_permutation, pack_padded_sequence,
                                       pack_sequence, pad_packed_sequence, pad_sequence)

from conftest import leaf

HAS_TORCH = importlib.util.find_spec("torch") is not None


def sequences(rng, lengths, trailing=(2,)):
    return [leaf(rng.standard_normal((n,) + trailing)) for n in lengths]


# ------------------------------------------------------------------------------ layout and values
def test_layout_is_pytorchs():
    """PyTorch's documented example: data "axbc" for "abc" and "x", time-major, sorted."""
    packed = pack_sequence([ts.tensor([1, 2, 3]), ts.tensor([4, 5]), ts.tensor([6])])
    data, batch_sizes, sorted_indices, unsorted_indices = packed   # a named tuple
    assert data.tolist() == [1, 4, 6, 2, 5, 3] and data.dtype == ts.int64
    assert batch_sizes.tolist() == [3, 2, 1] and batch_sizes.dtype == ts.int64
    assert sorted_indices is None and unsorted_indices is None
    seq = ts.tensor([[1, 2, 0], [3, 0, 0], [4, 5, 6]])   # torch's pad_packed_sequence example
    packed = pack_padded_sequence(seq, [2, 1, 3], batch_first=True, enforce_sorted=False)
    assert packed.data.tolist() == [4, 1, 3, 5, 2, 6]
    assert packed.batch_sizes.tolist() == [3, 2, 1]
    assert packed.sorted_indices.tolist() == [2, 0, 1]
    assert packed.unsorted_indices.tolist() == [1, 2, 0]
    padded, lengths = pad_packed_sequence(packed, batch_first=True)
    assert padded.tolist() == seq.tolist() and lengths.tolist() == [2, 1, 3]
    assert repr(packed).startswith("PackedSequence(data=tensor(")


def test_packed_sequence_named_tuple():
    data = ts.zeros(3, 2, dtype="float64")
    p = PackedSequence(data, ts.tensor([2, 1]), ts.tensor([1, 0]))
    assert p.unsorted_indices.tolist() == [1, 0]       # computed when not given, as in PyTorch
    assert p.double() is p and p.to(ts.float64) is p
    assert p.data is data and p._fields == ("data", "batch_sizes", "sorted_indices",
                                            "unsorted_indices")
    f = p.float()
    assert f.data.dtype == ts.float32 and f.batch_sizes is p.batch_sizes
    assert invert_permutation(ts.tensor([2, 0, 1])).tolist() == [1, 2, 0]
    assert invert_permutation(None) is None


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_round_trip(batch_first, enforce_sorted, rng):
    lengths = [4, 4, 2, 1] if enforce_sorted else [2, 4, 1, 4]
    seqs = sequences(rng, lengths, (2, 3))
    padded = pad_sequence(seqs, batch_first=batch_first)
    packed = pack_padded_sequence(padded, lengths, batch_first, enforce_sorted)
    back, back_lengths = pad_packed_sequence(packed, batch_first=batch_first)
    np.testing.assert_array_equal(back.numpy(), padded.numpy())
    assert back_lengths.tolist() == lengths
    for b, s in enumerate(seqs):
        rows = back[b] if batch_first else back[:, b]
        np.testing.assert_array_equal(rows[:lengths[b]].numpy(), s.numpy())


def test_ties_keep_their_order():
    packed = pack_sequence([ts.zeros(2, 1), ts.zeros(3, 1), ts.zeros(2, 1), ts.zeros(3, 1)],
                           enforce_sorted=False)
    assert packed.sorted_indices.tolist() == [1, 3, 0, 2]


def test_integer_sequences_keep_their_dtype():
    """Token ids padded and packed (the usual start of a classifier) stay int64."""
    padded = pad_sequence([ts.tensor([3, 1]), ts.tensor([2])], batch_first=True)
    assert padded.dtype == ts.int64 and padded.tolist() == [[3, 1], [2, 0]]
    assert pad_packed_sequence(pack_padded_sequence(padded, [2, 1], True), True,
                               padding_value=-1)[0].tolist() == [[3, 1], [2, -1]]


def test_a_tensor_is_a_list_of_sequences(rng):
    """As in PyTorch, a (B, L, *) tensor passed as `sequences` is B sequences of length L."""
    x = leaf(rng.standard_normal((3, 2, 4)))
    np.testing.assert_array_equal(pad_sequence(x).numpy(), x.numpy().transpose(1, 0, 2))


# ------------------------------------------------------------------------------ gradients
@pytest.mark.parametrize("kw", [{}, {"batch_first": True, "padding_side": "left",
                                     "padding_value": 3.0}])
def test_pad_sequence_gradcheck(kw, rng):
    seqs = sequences(rng, [2, 3, 1])
    assert ts.gradcheck(lambda *s: pad_sequence(list(s), **kw), *seqs)


@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_and_pad_gradcheck(batch_first, rng):
    x = leaf(rng.standard_normal((3, 4, 2) if batch_first else (4, 3, 2)))
    lengths = [2, 4, 1]
    assert ts.gradcheck(lambda x: pack_padded_sequence(
        x, lengths, batch_first, enforce_sorted=False).data, x)
    assert ts.gradcheck(lambda x: pad_packed_sequence(pack_padded_sequence(
        x, lengths, batch_first, enforce_sorted=False), batch_first, 0.5, 6)[0], x)


@pytest.mark.parametrize("fused", [False, True], ids=["composed", "fused"])
@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_packed_layer_gradcheck(mode, fused, rng):
    layer = getattr(nn, mode)(2, 3, bidirectional=True, dtype="float64", fused=fused)
    seqs = sequences(rng, [2, 3, 1])
    n_states = 2 if mode == "LSTM" else 1
    states = [leaf(rng.standard_normal((2, 3, 3))) for _ in range(n_states)]

    def fn(*args):
        seqs, states = args[:3], args[3:3 + n_states]
        out, h = layer(pack_sequence(list(seqs), enforce_sorted=False),
                       tuple(states) if mode == "LSTM" else states[0])
        finals = h if mode == "LSTM" else (h,)
        return ts.cat([out.data.reshape(-1)] + [s.reshape(-1) for s in finals])

    assert ts.gradcheck(fn, *seqs, *states, *layer.parameters())


# ------------------------------------------------------------------------------ layers
@settings(max_examples=15, deadline=None)
@given(lengths=st.lists(st.integers(1, 5), min_size=1, max_size=24),
       mode=st.sampled_from(["LSTM", "GRU", "RNN"]), fused=st.booleans(), seed=st.integers(0, 99))
def test_packed_layer_is_each_sequence_alone(lengths, mode, fused, seed):
    """Independent of PyTorch, for any batch (past 16, where PyTorch's order of ties is
    unspecified, too): a packed batch gives each sequence what it gives run on its own."""
    rng = np.random.default_rng(seed)
    layer = getattr(nn, mode)(2, 3, num_layers=2, bidirectional=True, dtype="float64",
                              fused=fused)
    seqs = sequences(rng, lengths)
    h0 = leaf(rng.standard_normal((4, len(lengths), 3)))
    hx = (h0, h0 * 0.5) if mode == "LSTM" else h0
    out, h = layer(pack_sequence(seqs, enforce_sorted=False), hx)
    padded, out_lengths = pad_packed_sequence(out)
    assert out_lengths.tolist() == lengths
    for b, s in enumerate(seqs):
        alone_hx = (h0[:, b], h0[:, b] * 0.5) if mode == "LSTM" else h0[:, b]
        alone, alone_h = layer(s, alone_hx)         # unbatched: (L, D*H), (L*D, H)
        np.testing.assert_allclose(padded[:lengths[b], b].numpy(), alone.numpy(), rtol=1e-12,
                                   atol=1e-12)
        for final, alone_final in zip(h if mode == "LSTM" else (h,),
                                      alone_h if mode == "LSTM" else (alone_h,)):
            np.testing.assert_allclose(final[:, b].numpy(), alone_final.numpy(), rtol=1e-12,
                                       atol=1e-12)


def test_packed_output_keeps_the_input_indices(rng):
    layer = nn.GRU(2, 3, batch_first=True, dtype="float64")   # batch_first: packed data is (N, I)
    packed = pack_sequence(sequences(rng, [1, 3, 2]), enforce_sorted=False)
    out, h = layer(packed)
    assert isinstance(out, PackedSequence) and out.data.shape == (6, 3) and h.shape == (1, 3, 3)
    assert out.batch_sizes is packed.batch_sizes and out.sorted_indices is packed.sorted_indices
    assert out.unsorted_indices is packed.unsorted_indices


# ------------------------------------------------------------------------------ errors
BAD_PACKING = [
    # (lengths for a (T=4, B=3) input, enforce_sorted, PyTorch raises too, message)
    ([4, 2], True, True, r"expected `len\(lengths\)` to be equal to batch_size, but got 2 "
                         r"\(batch_size=3\)"),
    ([4, 2, 0], False, True, r"length of all samples has to be greater than 0, but got "
                             r"lengths \[4, 2, 0\]"),
    ([4, -1, 2], False, True, "length of all samples has to be greater than 0"),
    ([5, 2, 1], True, False, r"lengths \[5, 2, 1\] go past the padded input's 4 time steps"),
    ([2, 4, 1], True, True, r"`lengths` array must be sorted in decreasing order when "
                            r"`enforce_sorted` is True, got \[2, 4, 1\]"),
    ([[4, 2, 1]], True, True, "expected lengths as one integer per sequence"),
    ([4.0, 2.5, 1.0], True, False, "expected lengths as one integer per sequence"),
]


@pytest.mark.parametrize("lengths,enforce_sorted,torch_raises,message", BAD_PACKING)
def test_bad_lengths(lengths, enforce_sorted, torch_raises, message):
    with pytest.raises(RuntimeError, match="pack_padded_sequence: " + message):
        pack_padded_sequence(ts.zeros(4, 3, 2), lengths, enforce_sorted=enforce_sorted)
    with pytest.raises(RuntimeError, match="pack_padded_sequence: " + message):
        pack_padded_sequence(ts.zeros(3, 4, 2), ts.tensor(lengths), batch_first=True,
                             enforce_sorted=enforce_sorted)
    if torch_raises and HAS_TORCH:   # the same kind of error as PyTorch's
        import torch
        with pytest.raises(RuntimeError):
            torch.nn.utils.rnn.pack_padded_sequence(torch.zeros(4, 3, 2), lengths,
                                                    enforce_sorted=enforce_sorted)


def test_unsorted_pack_sequence_is_refused():
    with pytest.raises(RuntimeError, match=r"pack_sequence: `lengths` array must be sorted .* "
                                           r"got \[1, 2\]. You can pass `enforce_sorted=False`"):
        pack_sequence([ts.zeros(1), ts.zeros(2)])
    with pytest.raises(RuntimeError, match="pack_sequence: length of all samples has to be "
                                           "greater than 0"):
        pack_sequence([ts.zeros(2), ts.zeros(0)])


def test_bad_padded_input():
    with pytest.raises(TypeError, match="pack_padded_sequence: expected the padded input as a "
                                        "Tensor, got ndarray"):
        pack_padded_sequence(np.zeros((3, 2)), [3, 3])
    with pytest.raises(ValueError, match=r"pack_padded_sequence: expected a padded input of at "
                                         r"least two dims, \(T, B, \*\), got shape \(3,\)"):
        pack_padded_sequence(ts.zeros(3), [3])
    with pytest.raises(RuntimeError, match=r"cannot pack empty tensors \(input shape \(0, 2\)\)"):
        pack_padded_sequence(ts.zeros(0, 2), [1, 1])


def test_bad_sequences():
    with pytest.raises(TypeError, match=r"pad_sequence: all tensors need one dtype, got "
                                        r"\['float32', 'float64'\]"):
        pad_sequence([ts.zeros(2, dtype="float64"), ts.zeros(1, dtype="float32")])
    with pytest.raises(TypeError, match="pack_sequence: all tensors need one dtype"):
        pack_sequence([ts.zeros(2, dtype="float64"), ts.zeros(1, dtype="float32")])
    with pytest.raises(ValueError, match=r"pad_sequence: all sequences need the same trailing "
                                         r"dims \(L, \*\), got shapes \[\(2, 3\), \(1, 2\)\]"):
        pad_sequence([ts.zeros(2, 3), ts.zeros(1, 2)])
    with pytest.raises(RuntimeError, match="pad_sequence: received an empty list of sequences"):
        pad_sequence([])
    with pytest.raises(ValueError, match="pad_sequence: each sequence needs a time dim"):
        pad_sequence([ts.zeros(2), ts.tensor(1.0)])
    with pytest.raises(TypeError, match=r"pad_sequence: expected a sequence of Tensors, got "
                                        r"ndarray at position 1 \(wrap arrays with"):
        pad_sequence([ts.zeros(2), np.zeros(2)])
    with pytest.raises(TypeError, match="pad_sequence: expected a list of Tensors, got int"):
        pad_sequence(3)
    with pytest.raises(RuntimeError, match="pad_sequence: expected padding_side to be one of "
                                           "left or right, but got 'top'"):
        pad_sequence([ts.zeros(2)], padding_side="top")


def test_bad_packed_sequence():
    packed = pack_sequence([ts.zeros(3, 2), ts.zeros(1, 2)])
    with pytest.raises(ValueError, match="pad_packed_sequence: expected total_length to be at "
                                         "least the length of the longest sequence in input, "
                                         "but got total_length=2 and max sequence length being 3"):
        pad_packed_sequence(packed, total_length=2)
    with pytest.raises(TypeError, match="pad_packed_sequence: total_length must be an integer"):
        pad_packed_sequence(packed, total_length=3.0)
    with pytest.raises(TypeError, match="pad_packed_sequence: expected a PackedSequence .* got "
                                        "tuple"):
        pad_packed_sequence(tuple(packed))
    with pytest.raises(ValueError, match=r"batch_sizes must be positive, non-increasing "
                                         r"integers adding up to the 4 rows of data, got \[1, 2\]"):
        pad_packed_sequence(PackedSequence(packed.data, ts.tensor([1, 2])))
    with pytest.raises(ValueError, match=r"sorted_indices must be a permutation of the 2 "
                                         r"sequences, got \[0, 0\]"):
        pad_packed_sequence(PackedSequence(packed.data, packed.batch_sizes, ts.tensor([0, 0]),
                                           ts.tensor([0, 1])))


def test_layers_refuse_bad_packed_input(rng):
    lstm = nn.LSTM(2, 3, dtype="float64")
    packed = pack_sequence(sequences(rng, [3, 1]))
    with pytest.raises(TypeError, match="LSTM: input is float32 but the parameters are float64"):
        lstm(packed.float())
    with pytest.raises(ValueError, match=r"LSTM: input has 2 features, expected input_size=4"):
        nn.LSTM(4, 3, dtype="float64")(packed)
    with pytest.raises(ValueError, match=r"LSTM: h_0 must have shape \(1, 2, 3\)"):
        lstm(packed, (ts.zeros(1, 3, 3, dtype="float64"), ts.zeros(1, 3, 3, dtype="float64")))
    with pytest.raises(TypeError, match="LSTM: c_0 is float32 but the parameters are float64"):
        lstm(packed, (ts.zeros(1, 2, 3, dtype="float64"), ts.zeros(1, 2, 3)))
    with pytest.raises(ValueError, match="GRU: lengths= goes with a padded input; a "
                                         "PackedSequence carries its own lengths"):
        nn.GRU(2, 3, dtype="float64")(packed, lengths=[3, 1])
    with pytest.raises(ValueError, match=r"RNN: expected a PackedSequence's data as \(N, "
                                         r"input_size\), got shape \(4, 1, 2\)"):
        nn.RNN(2, 3, dtype="float64")(PackedSequence(packed.data.reshape(4, 1, 2),
                                                     packed.batch_sizes))
    with pytest.raises(ValueError, match="RNN: batch_sizes must be positive"):
        nn.RNN(2, 3, dtype="float64")(PackedSequence(packed.data, ts.tensor([3, 2])))
