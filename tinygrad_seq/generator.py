"""Random numbers: the package generator, and Generator objects of their own.

The package generator is behind parameter initialisation, rand/randn, dropout and in-place
fills; `manual_seed(n)` makes all of them repeatable, as torch.manual_seed does. A Generator
(as torch.Generator) serves the `generator=` arguments (DataLoader's shuffling, random_split)
that make a run's shuffles repeatable apart from the package generator:

    g = ts.Generator().manual_seed(0)
    loader = DataLoader(dataset, batch_size=32, shuffle=True, generator=g)

Its draws come from a numpy Generator (`g.rng`), so the orders differ from PyTorch's own for the
same seed; what holds is that the same seed gives the same orders here, run after run.
"""
import operator

import numpy as np

_rng = np.random.default_rng()


def manual_seed(seed):
    """Seed the generator behind rand, randn, dropout and parameter initialisation."""
    global _rng
    _rng = np.random.default_rng(seed)


def rng():
    """The package's random generator (numpy.random.Generator)."""
    return _rng


class Generator:
    """Random-number generator state (CPU only): manual_seed(seed) returns the generator, so
    `ts.Generator().manual_seed(42)` reads as in PyTorch."""

    def __init__(self, device="cpu"):
        if str(device) != "cpu":
            raise ValueError(f"Generator: only the 'cpu' device is supported, got {device!r}")
        self.seed()

    def manual_seed(self, seed):
        """Restart from `seed`, an int in [-2**63, 2**64) as in PyTorch; returns self."""
        try:
            seed = operator.index(seed)
        except TypeError:
            raise TypeError(f"Generator.manual_seed: expected an int seed, got "
                            f"{type(seed).__name__}") from None
        if not -2 ** 63 <= seed < 2 ** 64:
            raise ValueError(f"Generator.manual_seed: the seed must be in [-2**63, 2**64), got "
                             f"{seed}")
        self._initial_seed = seed % 2 ** 64       # a negative seed counts from 2**64 down
        self.rng = np.random.default_rng(self._initial_seed)
        return self

    def seed(self):
        """Restart from a fresh seed drawn from the operating system's entropy; returns it."""
        seed = int(np.random.SeedSequence().entropy) % 2 ** 64
        self.manual_seed(seed)
        return seed

    def initial_seed(self):
        """The seed this generator last started from."""
        return self._initial_seed


def numpy_rng(generator, what):
    """The numpy Generator behind `generator=`: the package generator (ts.manual_seed) for
    None, a Generator's own, or a numpy.random.Generator itself."""
    if generator is None:
        return rng()
    if isinstance(generator, Generator):
        return generator.rng
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"{what}: generator must be a ts.Generator (or a numpy.random.Generator), "
                    f"got {type(generator).__name__}")
