"""Tests of cgnb.engine.winsorize.keys: integer keys order like the floats and map back exactly."""
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine.winsorize import keys


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_key_order_is_float_order_and_the_map_is_exact(dtype):
    values = np.array([-np.inf, -3e3, -1.5, -1e-3, -0.0, 0.0, 1e-3, 2.0, 6e4 if dtype == np.float16 else 3e30,
                       np.inf], dtype)
    k = np.asarray(keys.to_key(jnp.asarray(values)))
    assert np.all(np.diff(k.astype(np.int64)) > 0)  # strictly increasing, -0.0 just below +0.0
    back = np.asarray(keys.from_key(jnp.asarray(k), dtype))
    np.testing.assert_array_equal(back.view(np.int16 if dtype == np.float16 else np.int32),
                                  values.view(np.int16 if dtype == np.float16 else np.int32))


def test_nan_orders_above_infinity_and_unsigned_keys_keep_the_order():
    k = keys.to_key(jnp.asarray([np.inf, np.nan], np.float32))
    assert int(k[1]) > int(k[0])
    signed = keys.to_key(jnp.asarray([-2.0, -1.0, 0.0, 1.0], np.float32))
    u = np.asarray(keys.unsigned(signed)).astype(np.int64)
    assert np.all(np.diff(u) > 0)
    np.testing.assert_array_equal(keys.from_unsigned(keys.unsigned(signed), signed.dtype), signed)
