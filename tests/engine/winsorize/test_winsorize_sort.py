"""Tests of cgnb.engine.winsorize.sort: the order statistics by a sort, static and traced level."""
import jax
import jax.numpy as jnp
import numpy as np

from cgnb.engine.winsorize import sort
from cgnb.engine.winsorize.keys import from_key, to_key

from winsorize_reference import outlier_data


def test_bounds_are_the_order_statistics():
    a = outlier_data(10)
    s = np.sort(a, axis=0)
    for c in range(5):
        lo, hi = sort.bounds(to_key(jnp.asarray(a)), c)
        np.testing.assert_array_equal(from_key(lo, jnp.float32), s[c])
        np.testing.assert_array_equal(from_key(hi, jnp.float32), s[9 - c])
    lo, _ = jax.jit(lambda c: sort.bounds(to_key(jnp.asarray(a)), c))(jnp.int32(3))
    np.testing.assert_array_equal(from_key(lo, jnp.float32), s[3])
