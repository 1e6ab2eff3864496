"""Order statistics by a sort over the batch axis: the accelerators' algorithm (``jnp.sort`` is fast there).

Reference: ``jax.numpy.sort``; XLA's sort on GPU and TPU.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def bounds(keys: jax.Array, c: int | jax.Array) -> tuple[jax.Array, jax.Array]:
    """Keys of the (c+1)-th smallest and the (c+1)-th largest over axis 0 of ``keys`` (n, ...).

    Args:
      keys: integer keys, n >= 1 along axis 0.
      c: 0 <= c < n / 2, a Python int or a traced integer.
    Returns:
      ``(lo, hi)``, each of shape ``keys.shape[1:]``.
    """
    s = jnp.sort(keys, axis=0)
    n = keys.shape[0]
    return (lax.dynamic_index_in_dim(s, c, 0, keepdims=False),
            lax.dynamic_index_in_dim(s, n - 1 - jnp.asarray(c), 0, keepdims=False))


__all__ = ["bounds"]
