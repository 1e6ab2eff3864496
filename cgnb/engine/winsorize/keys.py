"""Floats as integer keys of the same order: what the order-statistics algorithms compare.

For IEEE floats, flipping the magnitude bits of negative numbers makes signed-integer order equal
float order (-0.0 sorts just below +0.0, which changes no clipped value); the map is its own
inverse. NaN keys order above +inf (or below -inf for a negative sign bit), so a NaN is clipped
away like an infinite value.

Reference: the IEEE 754 binary formats (total order of the bit patterns), Knuth TAOCP vol. 2, 4.2.1.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

KEY_DTYPES = {2: jnp.int16, 4: jnp.int32, 8: jnp.int64}
UNSIGNED_DTYPES = {2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint64}


def to_key(x: jax.Array) -> jax.Array:
    """Floats (...) -> signed integer keys (...) of the same width whose integer order is the float order."""
    itype = KEY_DTYPES[x.dtype.itemsize]
    return _flip(lax.bitcast_convert_type(x, itype))


def from_key(k: jax.Array, dtype) -> jax.Array:
    """The floats of ``dtype`` whose keys (:func:`to_key`) are ``k``."""
    return lax.bitcast_convert_type(_flip(k), dtype)


def _flip(i: jax.Array) -> jax.Array:
    bits = 8 * i.dtype.itemsize
    sign = lax.shift_right_arithmetic(i, np.array(bits - 1, i.dtype))
    return lax.bitwise_xor(i, lax.bitwise_and(sign, np.array(2 ** (bits - 1) - 1, i.dtype)))


def unsigned(keys: jax.Array) -> jax.Array:
    """Signed keys -> unsigned integers of the same order (sign bit flipped)."""
    utype = UNSIGNED_DTYPES[keys.dtype.itemsize]
    bits = 8 * keys.dtype.itemsize
    return lax.bitwise_xor(lax.bitcast_convert_type(keys, utype), np.array(1 << (bits - 1), utype))


def from_unsigned(u: jax.Array, dtype) -> jax.Array:
    """The signed keys of ``dtype`` whose :func:`unsigned` form is ``u``."""
    bits = 8 * u.dtype.itemsize
    return lax.bitcast_convert_type(lax.bitwise_xor(u, np.array(1 << (bits - 1), u.dtype)), dtype)


__all__ = ["KEY_DTYPES", "UNSIGNED_DTYPES", "to_key", "from_key", "unsigned", "from_unsigned"]
