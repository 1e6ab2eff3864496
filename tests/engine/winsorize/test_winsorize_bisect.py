"""Tests of cgnb.engine.winsorize.bisect: the order statistics found bit by bit equal a sort's."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine.winsorize import bisect
from cgnb.engine.winsorize.keys import from_key, to_key

from winsorize_reference import outlier_data


@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_bounds_are_the_order_statistics(n):
    a = outlier_data(max(n, 2), seed=n)[:n]
    s = np.sort(a, axis=0)
    for c in range((n - 1) // 2 + 1):
        lo, hi = jax.jit(bisect.bounds)(to_key(jnp.asarray(a)), c)
        np.testing.assert_array_equal(from_key(lo, jnp.float32), s[c])
        np.testing.assert_array_equal(from_key(hi, jnp.float32), s[n - 1 - c])


def test_bounds_with_a_traced_level():
    a = outlier_data(9)
    s = np.sort(a, axis=0)
    lo, hi = jax.jit(jax.vmap(lambda c: bisect.bounds(to_key(jnp.asarray(a)), c)))(jnp.arange(5))
    for c in range(5):
        np.testing.assert_array_equal(from_key(lo[c], jnp.float32), s[c])
        np.testing.assert_array_equal(from_key(hi[c], jnp.float32), s[8 - c])
