"""The counting algorithm: the (c+1)-th smallest and largest integer key, built bit by bit.

Bit b of the k-th smallest key is 0 when at least k keys are <= (the bits found so far, bit b = 0,
all lower bits 1). One pass over the n keys per bit (32 for float32) finds both order statistics;
the program's size depends on neither c nor n, and c may be traced. That is why the CPU keeps it
(:func:`cgnb.engine.winsorize.kernel.pick_method`) where the sorting network of :mod:`.sorting`,
whose program grows as ``n log^2 n``, is too large to compile into one vectorised loop
(:func:`cgnb.engine.winsorize.sorting.network_fits` false: e.g. B = 256, or a traced c up to 63 at
B = 128); everywhere else the networks are the better choice.

Reference: the radix selection of order statistics, e.g. Alabi et al., "Fast k-selection algorithms
for graphics processing units", ACM JEA 17 (2012).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .keys import from_unsigned, unsigned


def bounds(keys: jax.Array, c: int | jax.Array) -> tuple[jax.Array, jax.Array]:
    """Keys of the (c+1)-th smallest and the (c+1)-th largest over axis 0 of ``keys`` (n, ...).

    Args:
      keys: integer keys (:func:`cgnb.engine.winsorize.keys.to_key`), n >= 1 along axis 0.
      c: 0 <= c < n / 2, a Python int or a traced integer.
    Returns:
      ``(lo, hi)``, each of shape ``keys.shape[1:]``.
    """
    n, bits = keys.shape[0], 8 * keys.dtype.itemsize
    u = unsigned(keys)
    utype = u.dtype
    need = jnp.stack([jnp.asarray(c) + 1, n - jnp.asarray(c)]).astype(jnp.int32)  # ranks of lo, hi
    need = need.reshape((2,) + (1,) * (u.ndim - 1))

    def body(j, ans):  # ans (2, ...): the bits of both order statistics found so far
        bit = lax.shift_left(np.array(1, utype), (bits - 1 - j).astype(utype))
        probe = lax.bitwise_or(ans, bit - np.array(1, utype))
        count = jnp.sum((u[None] <= probe[:, None]).astype(jnp.int32), axis=1)
        return jnp.where(count >= need, ans, lax.bitwise_or(ans, bit))

    ans = lax.fori_loop(0, bits, body, jnp.zeros((2,) + u.shape[1:], utype))
    keys_out = from_unsigned(ans, keys.dtype)
    return keys_out[0], keys_out[1]


__all__ = ["bounds"]
