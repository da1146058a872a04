"""Datasets and batching, as torch.utils.data: Dataset, TensorDataset, Subset, ConcatDataset,
random_split, and a DataLoader that draws (optionally shuffled) batches of indices, fetches
the samples and collates them into batched tensors.

    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True,
                        generator=ts.Generator().manual_seed(0))
    for xb, yb in loader: ...

Samples are loaded in the calling process: `num_workers` is accepted so that PyTorch code that
sets it runs, and gives the same batches; `pin_memory` does nothing on the CPU. Samplers,
batch samplers and iterable-style datasets are not supported.
"""
import bisect
import collections.abc
import copy
import itertools
import math
import re
import warnings

import numpy as np

from ..generator import numpy_rng
from ..functions import stack
from ..tensor import Tensor, float64

__all__ = ["ConcatDataset", "DataLoader", "Dataset", "Subset", "TensorDataset", "default_collate",
           "default_convert", "random_split"]


# ------------------------------------------------------------------------------ datasets
class Dataset:
    """A map-style dataset: a subclass defines __getitem__(index) -> sample and __len__().
    `a + b` concatenates two datasets."""

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Sample i is (t[i] for each tensor t): tensors of the same length along dim 0."""

    def __init__(self, *tensors):
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: expected Tensors, got {type(t).__name__} at "
                                f"position {i} (wrap arrays with ts.tensor(...))")
        if not tensors or any(t.ndim == 0 for t in tensors) or \
                len({t.shape[0] for t in tensors}) != 1:
            raise ValueError(f"TensorDataset: expected one or more tensors of the same size in "
                             f"dim 0, got shapes {[t.shape for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.__getitems__(index)
        return self.dataset[self.indices[index]]

    def __getitems__(self, indices):
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """The samples of several datasets, one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        if index < 0:
            if -index > len(self):
                raise IndexError(f"ConcatDataset: index {index} is out of range for "
                                 f"{len(self)} samples")
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def random_split(dataset, lengths, generator=None):
    """Split `dataset` into non-overlapping Subsets of the given lengths, or of fractions that
    sum to 1 (each floor(fraction * len(dataset)), the remainder handed out one at a time from
    the first), from a random permutation drawn from `generator` (None: the package generator,
    seeded by ts.manual_seed)."""
    lengths = list(lengths)
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = []
        for i, fraction in enumerate(lengths):
            if not 0 <= fraction <= 1:
                raise ValueError(f"random_split: fraction at index {i} is not between 0 and 1 "
                                 f"(got {fraction})")
            counts.append(math.floor(n * fraction))
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, count in enumerate(counts):
            if count == 0:
                warnings.warn(f"random_split: length of split at index {i} is 0; this might "
                              f"result in an empty dataset", stacklevel=2)
        lengths = counts
    if not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 0
               for k in lengths):
        raise ValueError(f"random_split: lengths must be counts >= 0 or fractions summing to 1, "
                         f"got {lengths}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: the lengths {lengths} sum to {sum(lengths)}, but the "
                         f"dataset has {n} samples")
    indices = numpy_rng(generator, "random_split").permutation(n).tolist()
    ends = list(itertools.accumulate(lengths))
    return [Subset(dataset, indices[end - length:end]) for end, length in zip(ends, lengths)]


# ------------------------------------------------------------------------------ collation
_STRING_OR_OBJECT = re.compile("[SaUO]")     # numpy dtype kinds that cannot become tensors
_COLLATE_ERROR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
                  "lists; found {}")


def default_collate(batch):
    """Merge a list of samples into a batch, as PyTorch's default_collate: tensors and numpy
    arrays are stacked along a new dim 0; Python floats become a float64 tensor, ints an int64
    one (bools a bool one), numpy scalars a tensor of their dtype; strings stay a list; dicts,
    named tuples, tuples and lists are collated entry by entry (a tuple gives a list)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        shapes = [t.shape for t in batch]
        if len(set(shapes)) != 1:
            raise RuntimeError(f"default_collate: the samples' tensors must have one shape to be "
                               f"stacked into a batch, got {shapes}; for samples of different "
                               f"lengths pass a collate_fn (one that pads, say)")
        return stack(batch, 0)
    if isinstance(elem, np.ndarray):
        if _STRING_OR_OBJECT.search(elem.dtype.str):
            raise TypeError(_COLLATE_ERROR.format(elem.dtype))
        return default_collate([Tensor(a) for a in batch])
    if isinstance(elem, (np.bool_, np.number, np.object_)):
        return Tensor(np.array(batch))
    if isinstance(elem, float):
        return Tensor(batch, dtype=float64)
    if isinstance(elem, int):
        return Tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _same_type(elem, {key: default_collate([d[key] for d in batch]) for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):          # a named tuple
        return type(elem)(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise RuntimeError(f"default_collate: each element in list of batch should be of "
                               f"equal size, got sizes {[len(sample) for sample in batch]}")
        columns = [default_collate(samples) for samples in zip(*batch)]
        return columns if isinstance(elem, tuple) else _same_type(elem, columns)
    raise TypeError(_COLLATE_ERROR.format(type(elem)))


def default_convert(data):
    """Turn numpy arrays and scalars in `data` (at any depth of dicts, tuples and lists) into
    tensors, leaving everything else as it is: DataLoader's collate_fn when batch_size=None."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, (np.ndarray, np.bool_, np.number)):
        if isinstance(data, np.ndarray) and _STRING_OR_OBJECT.search(data.dtype.str):
            return data
        return Tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return _same_type(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _same_type(data, [default_convert(d) for d in data])
    return data


def _same_type(like, values):
    """`values` (a dict or a list) in the container type of `like` where it can be built."""
    try:
        if isinstance(like, (collections.abc.MutableMapping, collections.abc.MutableSequence)):
            clone = copy.copy(like)
            if isinstance(like, collections.abc.MutableMapping):
                clone.update(values)
            else:
                clone[:] = values
            return clone
        return type(like)(values)
    except TypeError:
        return values


# ------------------------------------------------------------------------------ loading
class DataLoader:
    """Iterate over `dataset` in batches of batch_size samples (the last one smaller unless
    drop_last), in order or, with shuffle=True, in a new random order each epoch drawn from
    `generator` (None: the package generator, seeded by ts.manual_seed). Each batch is
    collate_fn(list of samples) (default_collate). batch_size=None yields single samples,
    converted by default_convert."""

    def __init__(self, dataset, batch_size=1, shuffle=False, *, num_workers=0, collate_fn=None,
                 pin_memory=False, drop_last=False, generator=None):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: the dataset must have __len__ and __getitem__ (a "
                            f"map-style Dataset), got {type(dataset).__name__}; iterable-style "
                            f"datasets are not supported")
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer))
                                       or isinstance(batch_size, bool) or batch_size <= 0):
            raise ValueError(f"DataLoader: batch_size should be a positive integer value (or "
                             f"None), but got batch_size={batch_size!r}")
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last),
                           ("pin_memory", pin_memory)):
            if not isinstance(flag, (bool, type(None))):
                raise ValueError(f"DataLoader: {name} should be a boolean value, but got "
                                 f"{name}={flag!r}")
        if batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is "
                             "mutually exclusive with drop_last")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers option should be non-negative, got "
                             f"{num_workers!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be a function of a list of samples, "
                            f"got {type(collate_fn).__name__}")
        numpy_rng(generator, "DataLoader")          # refuse a wrong generator now, not later
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, bool(shuffle)
        self.drop_last, self.num_workers, self.pin_memory = bool(drop_last), num_workers, \
            bool(pin_memory)
        self.generator = generator
        self.collate_fn = collate_fn or (default_convert if batch_size is None
                                         else default_collate)

    def _indices(self):
        n = len(self.dataset)
        if not self.shuffle:
            return list(range(n))
        if n == 0:
            raise ValueError("DataLoader: shuffle=True needs a dataset with at least one sample")
        return numpy_rng(self.generator, "DataLoader").permutation(n).tolist()

    def __iter__(self):
        indices = self._indices()
        if self.batch_size is None:
            for i in indices:
                yield self.collate_fn(self.dataset[i])
            return
        fetch_many = getattr(self.dataset, "__getitems__", None)
        for start in range(0, len(indices), self.batch_size):
            batch = indices[start:start + self.batch_size]
            if self.drop_last and len(batch) < self.batch_size:
                return
            samples = fetch_many(batch) if callable(fetch_many) else \
                [self.dataset[i] for i in batch]
            yield self.collate_fn(samples)

    def __len__(self):
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
