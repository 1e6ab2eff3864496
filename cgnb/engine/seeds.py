"""Seeds: how the engine and the chapters turn an integer seed into JAX PRNG keys.

Each function is one convention in use; calling it instead of writing the expression again keeps
every run's randomness exactly what it was.

  variant_keys  a sweep variant's ``(init_key, null_key)``: ``split(PRNGKey(seed), 2)``
  offset_key    ``PRNGKey(offset + seed)``: one stream of keys per purpose (e.g. initialisation
                at offset 1000, dropout at 10_000), so two purposes never share a key
  noise_key     the key of label noise at level n for seed s:
                ``fold_in(fold_in(key, round(n * 1e6)), s)``

Reference: JAX's PRNG design, https://jax.readthedocs.io/en/latest/jep/263-prng.html
"""
from __future__ import annotations

import jax


def variant_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """``(init_key, null_key)`` of a sweep variant: ``jax.random.split(jax.random.PRNGKey(seed), 2)``.

    Args:
      seed: the variant's integer seed, in [0, 2**31).
    Returns:
      Two PRNG keys: the first initialises the parameters, the second draws the null-world masks.
    """
    k_init, k_null = jax.random.split(jax.random.PRNGKey(seed), 2)
    return k_init, k_null


def offset_key(seed: int, offset: int) -> jax.Array:
    """``jax.random.PRNGKey(offset + seed)``: the key of ``seed`` in the stream that starts at ``offset``.

    Args:
      seed: an integer seed >= 0.
      offset: the first seed of the stream (e.g. 1000 for initialisation, 10_000 for dropout); keep the
        streams of one computation further apart than its number of seeds.
    """
    return jax.random.PRNGKey(offset + seed)


def noise_key(key: jax.Array, noise: float, seed: int) -> jax.Array:
    """The label-noise key of noise level ``noise`` and ``seed``: ``fold_in(fold_in(key, round(noise * 1e6)), seed)``.

    A noise level gets the same key whatever other levels are drawn with it, and every seed its own.

    Args:
      key: the base PRNG key of the whole grid.
      noise: the fraction of corrupted labels, in [0, 1] (resolved to 1e-6).
      seed: the integer seed.
    """
    return jax.random.fold_in(jax.random.fold_in(key, int(round(float(noise) * 1e6))), int(seed))


__all__ = ["variant_keys", "offset_key", "noise_key"]
