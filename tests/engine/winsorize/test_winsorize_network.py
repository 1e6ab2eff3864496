"""Tests of cgnb.engine.winsorize.network: the insertion networks against the sort-and-clip reference."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine.winsorize import network

from winsorize_reference import check_against_sort, outlier_data


@pytest.mark.parametrize("n, c", [(3, 1), (8, 3), (20, 6), (64, 1)])
def test_network_mean_equals_sort_and_clip(n, c):
    a = jnp.asarray(outlier_data(n, seed=n))
    got = jax.jit(lambda a: network.winsorized_mean(lambda i: a[i], n, c, a.dtype))(a)
    check_against_sort(np.asarray(a), got, c)


def test_network_clips_infinite_outliers_exactly():
    a = np.zeros((5, 1), np.float32)
    a[:, 0] = [np.inf, 1.0, 2.0, 3.0, -np.inf]
    got = network.winsorized_mean(lambda i: jnp.asarray(a)[i], 5, 1, jnp.float32)
    np.testing.assert_array_equal(got, [(1.0 + 1.0 + 2.0 + 3.0 + 3.0) / 5])
