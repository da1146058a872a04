"""utils.data: datasets, random_split, default_collate and DataLoader, as torch.utils.data
(against PyTorch's own default_collate and split lengths when it is importable)."""
import collections
import importlib.util

import numpy as np
import pytest

import tinygrad_seq as ts
from tinygrad_seq.utils.data import (ConcatDataset, DataLoader, Dataset, Subset, TensorDataset,
                                     default_collate, default_convert, random_split)

live = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                          reason="PyTorch not installed")
Point = collections.namedtuple("Point", "x y")


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": np.full(3, i, dtype=np.float32), "y": i * i, "name": f"s{i}"}


def tensor_dataset(n=10):
    x = ts.tensor(np.arange(n * 3, dtype=np.float64).reshape(n, 3))
    return TensorDataset(x, ts.tensor(np.arange(n)))


# ------------------------------------------------------------------------------ datasets
def test_tensor_dataset():
    ds = tensor_dataset()
    x, y = ds[4]
    assert len(ds) == 10 and x.tolist() == [12.0, 13.0, 14.0] and y.item() == 4
    with pytest.raises(ValueError, match="same size in dim 0, got shapes \\[\\(3, 2\\), \\(4,\\)"):
        TensorDataset(ts.zeros(3, 2), ts.zeros(4))
    with pytest.raises(TypeError, match="got ndarray at position 1"):
        TensorDataset(ts.zeros(3), np.zeros(3))


def test_subset_concat_and_add():
    a, b = Squares(3), Squares(2)
    both = a + b
    assert isinstance(both, ConcatDataset) and len(both) == 5
    assert [both[i]["y"] for i in range(5)] == [0, 1, 4, 0, 1] and both[-1]["y"] == 1
    with pytest.raises(IndexError, match="index -6 is out of range for 5 samples"):
        both[-6]
    with pytest.raises(ValueError, match="should not be an empty iterable"):
        ConcatDataset([])
    sub = Subset(a, [2, 0])
    assert len(sub) == 2 and sub[0]["y"] == 4 and [s["y"] for s in sub[[1, 0]]] == [0, 4]


# ------------------------------------------------------------------------------ random_split
def test_random_split_lengths_fractions_and_generator():
    parts = random_split(range(10), [3, 7], generator=ts.Generator().manual_seed(42))
    again = random_split(range(10), [3, 7], generator=ts.Generator().manual_seed(42))
    assert [len(p) for p in parts] == [3, 7]
    assert [list(p) for p in parts] == [list(p) for p in again]
    assert sorted(list(parts[0]) + list(parts[1])) == list(range(10))
    # fractions: floor(n * f) each, the remainder handed out from the first split on
    assert [len(p) for p in random_split(range(11), [0.3, 0.3, 0.4])] == [4, 3, 4]
    with pytest.warns(UserWarning, match="length of split at index 1 is 0"):
        random_split(range(3), [0.9, 0.1])


def test_random_split_refusals():
    with pytest.raises(ValueError, match="the lengths \\[3, 6\\] sum to 9, but the dataset has "
                                         "10 samples"):
        random_split(range(10), [3, 6])
    with pytest.raises(ValueError, match="fraction at index 0 is not between 0 and 1 \\(got 1.5\\)"):
        random_split(range(10), [1.5, -0.5])
    with pytest.raises(ValueError, match="lengths must be counts >= 0"):
        random_split(range(10), [12, -2])
    with pytest.raises(TypeError, match="generator must be a ts.Generator"):
        random_split(range(10), [5, 5], generator=42)


@live
def test_random_split_lengths_as_pytorch():
    import torch.utils.data as tud
    for n, lengths in ((10, [0.5, 0.5]), (11, [0.3, 0.3, 0.4]), (7, [0.1, 0.2, 0.7]),
                       (100, [0.33, 0.33, 0.34])):
        assert [len(p) for p in random_split(range(n), lengths)] == \
            [len(p) for p in tud.random_split(range(n), lengths)]


# ------------------------------------------------------------------------------ collate
def test_default_collate_of_nested_samples():
    batch = default_collate([
        {"x": np.ones(3, np.float32) * i, "pair": (i, float(i)), "tag": f"t{i}",
         "point": Point(ts.tensor([i, i]), np.int32(i)), "list": [i, [True, False]]}
        for i in range(4)])
    assert batch["x"].shape == (4, 3) and batch["x"].dtype == np.float32
    assert isinstance(batch["pair"], list)                        # a tuple gives a list
    assert batch["pair"][0].dtype == np.int64 and batch["pair"][1].dtype == np.float64
    assert batch["tag"] == ["t0", "t1", "t2", "t3"]
    assert isinstance(batch["point"], Point) and batch["point"].x.shape == (4, 2)
    assert batch["point"].y.dtype == np.int32
    assert batch["list"][0].tolist() == [0, 1, 2, 3] and batch["list"][1][0].dtype == np.bool_


def test_default_collate_refusals():
    with pytest.raises(RuntimeError, match="one shape to be stacked into a batch, got "
                                           "\\[\\(2,\\), \\(3,\\)\\]; for samples of "):
        default_collate([ts.zeros(2), ts.zeros(3)])
    with pytest.raises(RuntimeError, match="equal size, got sizes \\[2, 1\\]"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="found <class 'object'>"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="found <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_default_convert():
    out = default_convert({"a": np.arange(3), "b": (np.float32(2), 3), "c": "text"})
    assert isinstance(out["a"], ts.Tensor) and out["a"].dtype == np.int64
    assert isinstance(out["b"], list) and out["b"][0].dtype == np.float32 and out["b"][1] == 3
    assert out["c"] == "text"


def _as_numpy(value):
    """Collated structures as nested lists/dicts of (type name, dtype, values)."""
    if isinstance(value, dict):
        return {k: _as_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_as_numpy(v) for v in value])
    if hasattr(value, "numpy"):
        array = value.numpy()
        return ("tensor", str(array.dtype), array.tolist())
    return value


@live
def test_default_collate_as_pytorch():
    import torch
    from torch.utils.data import default_collate as torch_collate
    from torch.utils.data.dataloader import default_convert as torch_convert

    def samples(lib):
        return [{"x": np.ones((2, 2)) * i, "n": i, "f": i / 3, "b": i % 2 == 0,
                 "s": np.float32(i), "i": np.int16(i), "t": lib.tensor([i, 2 * i]),
                 "pair": (i, [i, i + 1]), "point": Point(i, "w"), "word": f"w{i}"}
                for i in range(3)]

    assert _as_numpy(default_collate(samples(ts))) == _as_numpy(torch_collate(samples(torch)))
    sample = {"a": np.arange(3), "b": (np.float32(2), 3), "c": [np.int8(1)], "d": "x"}
    assert _as_numpy(default_convert(sample)) == _as_numpy(torch_convert(sample))


# ------------------------------------------------------------------------------ DataLoader
def test_loader_batches_shapes_and_dtypes():
    loader = DataLoader(tensor_dataset(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [b[0].shape for b in batches] == [(4, 3), (4, 3), (2, 3)]
    assert batches[0][0].dtype == np.float64 and batches[0][1].dtype == np.int64
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dropped = DataLoader(tensor_dataset(10), batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [b[1].shape for b in dropped] == [(4,), (4,)]


def test_loader_of_dict_samples():
    batch = next(iter(DataLoader(Squares(5), batch_size=2)))
    assert batch["x"].shape == (2, 3) and batch["x"].dtype == np.float32
    assert batch["y"].tolist() == [0, 1] and batch["name"] == ["s0", "s1"]


def test_shuffling_is_reproducible_with_a_seeded_generator():
    def epochs(generator, n=2):
        loader = DataLoader(tensor_dataset(12), batch_size=5, shuffle=True, generator=generator)
        return [[b[1].tolist() for b in loader] for _ in range(n)]

    first = epochs(ts.Generator().manual_seed(7))
    assert first == epochs(ts.Generator().manual_seed(7))
    assert first != epochs(ts.Generator().manual_seed(8))
    assert first[0] != first[1]                                    # a new order each epoch
    assert sorted(sum(first[0], [])) == list(range(12))
    ts.manual_seed(3)                                               # no generator: the package's
    unseeded = epochs(None)
    ts.manual_seed(3)
    assert epochs(None) == unseeded


def test_collate_fn_batch_size_none_and_workers():
    pad = DataLoader([[1], [2, 3], [4, 5, 6]], batch_size=2,
                     collate_fn=lambda samples: [len(s) for s in samples])
    assert list(pad) == [[1, 2], [3]]
    singles = list(DataLoader(Squares(2), batch_size=None))
    assert singles[1]["x"].shape == (3,) and singles[1]["y"] == 1
    in_process = DataLoader(tensor_dataset(6), batch_size=3, num_workers=2, pin_memory=True)
    assert [b[1].tolist() for b in in_process] == [[0, 1, 2], [3, 4, 5]]


def test_loader_refusals():
    ds = tensor_dataset(4)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value \\(or "
                                         "None\\), but got batch_size=0"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="shuffle should be a boolean value, but got "
                                         "shuffle='yes'"):
        DataLoader(ds, shuffle="yes")
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(TypeError, match="the dataset must have __len__ and __getitem__"):
        DataLoader(iter(range(3)))
    with pytest.raises(TypeError, match="collate_fn must be a function"):
        DataLoader(ds, collate_fn="stack")
    with pytest.raises(TypeError, match="generator must be a ts.Generator"):
        DataLoader(ds, shuffle=True, generator=0)
    with pytest.raises(ValueError, match="shuffle=True needs a dataset with at least one"):
        list(DataLoader([], shuffle=True))
    assert list(DataLoader([], batch_size=2)) == []


def test_generator():
    g = ts.Generator()
    assert g.manual_seed(5) is g and g.initial_seed() == 5
    assert ts.Generator().manual_seed(-1).initial_seed() == 2 ** 64 - 1
    assert isinstance(g.seed(), int)
    with pytest.raises(TypeError, match="expected an int seed, got float"):
        g.manual_seed(1.5)
    with pytest.raises(ValueError, match="must be in \\[-2\\*\\*63, 2\\*\\*64\\)"):
        g.manual_seed(2 ** 64)
    with pytest.raises(ValueError, match="only the 'cpu' device"):
        ts.Generator(device="cuda")
