"""The package's random generator: parameter initialisation, rand/randn, dropout, shuffling.

`manual_seed(n)` makes all of them repeatable, as torch.manual_seed does.
"""
import numpy as np

_rng = np.random.default_rng()


def manual_seed(seed):
    """Seed the generator behind rand, randn, dropout and parameter initialisation."""
    global _rng
    _rng = np.random.default_rng(seed)


def rng():
    """The package's random generator (numpy.random.Generator)."""
    return _rng
