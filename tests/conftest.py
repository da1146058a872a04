import numpy as np
import pytest

import tinygrad_seq as ts


def leaf(array, requires_grad=True):
    """A float64 leaf tensor for gradient checks."""
    return ts.Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
