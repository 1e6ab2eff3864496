"""The small learnable problem every sweep test trains on."""
import numpy as np
import pytest

from cgnb.engine import data as cdata

from sweep_reference import D, K, N, N_TEST


@pytest.fixture(scope="package")
def tiny():
    """A small learnable 3-class problem: labels from a random linear teacher."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N + N_TEST, D)).astype(np.float32)
    y = np.argmax(x @ rng.normal(size=(D, K)), axis=1).astype(np.int32)
    return cdata.Dataset(x[:N], y[:N], x[N:], y[N:], "tiny", "random linear teacher")
