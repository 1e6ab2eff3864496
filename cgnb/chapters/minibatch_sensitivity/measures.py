"""Chapter 6's measures: minibatch gradients at fixed parameters, their agreement, the gradient noise scale.

The blog freezes a network's parameters: for ``K`` minibatches ``a_k`` the gradients
``g_k = grad_theta J(a_k; theta)`` at the *same* ``theta`` differ only through which examples are in
``a_k``. :func:`minibatch_gradients` computes them in one call vmapped over the minibatches (the
parameters are broadcast, so every minibatch sees the same ones); :func:`agreement`
summarises them by :func:`cgnb.engine.stats.mean_pairwise_cosine` and
:func:`cgnb.engine.stats.coherence_of_rows` ``alpha = |mean_k g_k|^2 / mean_k |g_k|^2`` (1 when all
agree, about ``1/K`` when they are unrelated).

Beyond the blog, :func:`per_example_gradient_stats` and :func:`noise_scale` give the *simple gradient
noise scale* ``B_simple = tr(Sigma) / |G|^2`` of McCandlish et al. (2018): a minibatch mean of ``B``
examples has ``E|g_B - G|^2 = tr(Sigma) / B``, hence a coherence of about :func:`predicted_alpha`
``= B / (B + B_simple)``. :func:`seed_table` and :func:`per_seed` gather one measure per seed.

Reference: "Gradients are sensitive to minibatch composition" (blog post).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping, Sequence

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from ...engine import pergrad, runs, stats, xla
from ...engine.losses import Loss, Params
from . import models

WHENS = ("start", "mid")


def fingerprint(params: Params) -> str:
    """sha256 (hex) of the parameters' structure, shapes, dtypes and bytes: equal iff bitwise equal.

    Args:
      params: any pytree of arrays (hashed by :func:`cgnb.engine.runs.config_hash`).
    """
    return runs.config_hash({"params": params})


@functools.lru_cache(maxsize=64)
def _gradients_program(loss_fn: Loss, static: tuple[tuple[int, str], ...], noisy: bool):
    """Jitted ``(params, xs (K, B, D), ys (K, B), keys (K, 2) | None, units) -> (flat (K, P), projected (K, C))``:
    the K minibatch gradients at the one ``params`` (vmapped over the minibatches, never over the parameters)."""

    def one(params, x, y, key, units):
        g = jax.grad(lambda p: jnp.mean(loss_fn(p, x, y, key=key)))(params)
        projected = models.get_coords(g, models.join_coords(static, units)) if static else jnp.zeros((0,))
        return jax.flatten_util.ravel_pytree(g)[0], projected

    def program(params, xs, ys, keys, units):
        return jax.vmap(one, in_axes=(None, 0, 0, 0 if noisy else None, None))(params, xs, ys, keys, units)

    return xla.jit(program)


@dataclasses.dataclass(frozen=True)
class MinibatchGradients:
    """Gradients of K minibatches at one parameter snapshot.

    Attributes:
      flat: (K, P) float32, each minibatch's full gradient raveled (``jax.flatten_util`` order).
      projected: (K, len(coords)) the gradient's components at ``coords``.
      coords: the projected parameters.
      snapshot: fingerprint of the parameters handed in.
      after: fingerprint of the same parameters after the K evaluations (equal to ``snapshot``:
        nothing changed them).
    """

    flat: np.ndarray
    projected: np.ndarray
    coords: tuple[models.Coord, ...]
    snapshot: str
    after: str


def minibatch_gradients(loss_fn: Loss, params: Params, x: np.ndarray, y: np.ndarray, batches: np.ndarray,
                        coords: Sequence[models.Coord], keys: jax.Array | None = None) -> MinibatchGradients:
    """The gradient of every minibatch ``x[batches[k]]`` at the same ``params``, in one compiled call.

    The K gradients are one ``jax.vmap`` over the minibatches with the parameters broadcast, so
    every minibatch sees the same parameters (``tests/chapters/minibatch_sensitivity`` checks each
    against ``jax.grad`` at the snapshot); the snapshot is fingerprinted before and after.

    Args:
      loss_fn: ``loss(params, x, y, key=None) -> (B,)``; the minibatch gradient is that of the mean.
      params: the parameter snapshot.
      x, y: the data set, (N, D) and (N,).
      batches: (K, B) example indices.
      coords: scalars to project on (e.g. :func:`cgnb.chapters.minibatch_sensitivity.models.bias_coords`).
      keys: (K, 2) PRNG keys, one per minibatch (dropout noise), or None.

    Raises:
      ValueError: ``batches`` is not (K, B), or the number of keys is not K.
    """
    batches = np.asarray(batches)
    if batches.ndim != 2:
        raise ValueError(f"batches must be (K, B) indices, got shape {batches.shape}")
    if keys is not None and len(keys) != len(batches):
        raise ValueError(f"need one key per minibatch: {len(batches)} batches, {len(keys)} keys")
    static, units = models.split_coords(coords)
    program = _gradients_program(loss_fn, static, keys is not None)
    snapshot = fingerprint(params)
    flat, projected = program(params, jnp.asarray(np.asarray(x)[batches]), jnp.asarray(np.asarray(y)[batches]),
                              keys, units)
    return MinibatchGradients(np.asarray(flat), np.asarray(projected), tuple(coords), snapshot, fingerprint(params))


def _variance_from_gram(m: np.ndarray) -> float:
    k = len(m)
    if k < 2:
        raise ValueError(f"need K >= 2 gradients to estimate a variance, got {k}")
    return float(k / (k - 1) * (np.mean(np.diag(m)) - m.sum() / k ** 2))


def agreement(result: MinibatchGradients) -> dict:
    """Agreement statistics of :func:`minibatch_gradients`' output, small enough to keep.

    Returns a dict: ``cos_full``, ``alpha`` (coherence), ``sq_norm`` (mean ``|g_k|^2``), ``variance``
    (``tr`` of the sample covariance of the rows, ``K/(K-1) mean_k |g_k - mean g|^2``: for minibatch means
    of ``B`` examples it estimates ``E|g_B - G|^2 = tr(Sigma) / B``) of the full gradients; ``cos_2d`` and ``alpha_2d`` (one per pair of
    consecutive coords); ``projected`` (K, len(coords)); ``snapshot`` and ``changed`` (1 if the
    parameters' fingerprint changed during the evaluations, else 0).
    """
    k, n_coords = result.projected.shape
    if n_coords % 2:
        raise ValueError(f"agreement expects pairs of coords, got {n_coords} coords")
    m = stats.gram(result.flat)
    pairs = np.asarray(result.projected, np.float64).reshape(k, n_coords // 2, 2).transpose(1, 0, 2)
    return {
        "cos_full": stats.cosine_from_gram(m),
        "alpha": stats.coherence_from_gram(m),
        "sq_norm": float(np.mean(np.diag(m))),
        "variance": _variance_from_gram(m),
        "cos_2d": [stats.mean_pairwise_cosine(p) for p in pairs],
        "alpha_2d": [stats.coherence_of_rows(p) for p in pairs],
        "projected": np.asarray(result.projected),
        "snapshot": result.snapshot,
        "changed": int(result.after != result.snapshot),
    }


# ------------------------------------------------------------------------------------- gradient noise scale

@dataclasses.dataclass(frozen=True)
class NoiseScale:
    """Unbiased estimates from ``n`` per-example (or minibatch) gradients.

    Attributes:
      trace_sigma: ``tr(Sigma)``, the summed per-coordinate variance of one example's gradient.
      g_norm2: ``|G|^2`` of the true mean gradient (the naive ``|mean g_i|^2`` minus its bias ``tr(Sigma)/n``).
      b_simple: ``tr(Sigma) / |G|^2`` (McCandlish et al., 2018), in examples.
      n: number of examples used.
    """

    trace_sigma: float
    g_norm2: float
    b_simple: float
    n: int


def noise_scale(mean_grad_norm2: float, mean_sq_norm: float, n: int) -> NoiseScale:
    """:class:`NoiseScale` from ``|mean_i g_i|^2`` and ``mean_i |g_i|^2`` over ``n`` i.i.d. gradients.

    ``tr(Sigma) = n/(n-1) (mean|g_i|^2 - |mean g_i|^2)`` and ``|G|^2 = |mean g_i|^2 - tr(Sigma)/n``.

    Raises:
      ValueError: fewer than two gradients.
    """
    if n < 2:
        raise ValueError(f"need n >= 2 gradients to estimate a variance, got {n}")
    trace_sigma = n / (n - 1) * (mean_sq_norm - mean_grad_norm2)
    g_norm2 = mean_grad_norm2 - trace_sigma / n
    return NoiseScale(float(trace_sigma), float(g_norm2), float(trace_sigma / g_norm2), int(n))


def per_example_gradient_stats(loss_fn: Loss, params: Params, x: np.ndarray, y: np.ndarray, *,
                               chunk: int = 32, key: jax.Array | None = None) -> NoiseScale:
    """:class:`NoiseScale` from the per-example gradients of ``x`` (N, D), ``y`` (N,), ``chunk`` at a time.

    Each example's gradient is that of ``loss_fn`` on a batch of one (not meaningful for batch
    norm, whose statistics need a batch). Only the running sum of gradients and of their
    squared norms is kept, so memory is ``chunk`` gradients, not N.

    Args:
      loss_fn: ``loss(params, x, y, key=None) -> (B,)``; params: the parameters.
      x, y: (N, D), (N,); chunk: examples per compiled evaluation, dividing N.
      key: PRNG key split into one key per example (dropout), or None.

    Raises:
      ValueError: N is not a multiple of ``chunk``.
    """
    n = len(y)
    if n % chunk:
        raise ValueError(f"N = {n} examples must be a multiple of chunk = {chunk}")
    keys = jax.random.split(key, n) if key is not None else None
    chunk_stats = _per_example_program(loss_fn, keys is not None)

    total, total_sq = 0.0, 0.0
    for start in range(0, n, chunk):
        s = slice(start, start + chunk)
        g_sum, sq = chunk_stats(params, jnp.asarray(x[s]), jnp.asarray(y[s]), None if keys is None else keys[s])
        total, total_sq = total + np.asarray(g_sum, np.float64), total_sq + float(sq)
    mean = total / n
    return noise_scale(float(np.sum(mean * mean)), total_sq / n, n)


@functools.lru_cache(maxsize=64)
def _per_example_program(loss_fn: Loss, noisy: bool):
    """Jitted ``(params, x (C, D), y (C,), keys) -> (sum of the C per-example gradients (P,), sum of |g_i|^2)``."""

    def chunk_stats(p, xc, yc, kc):
        grads = pergrad.per_example_grads(loss_fn, p, xc, yc, keys=kc if noisy else None)
        flat = jax.vmap(pergrad.ravel)(grads)
        return flat.sum(0), jnp.sum(flat * flat)

    return xla.jit(chunk_stats)


def noise_scale_two_batches(b_small: int, sq_small: float, b_big: int, sq_big: float) -> NoiseScale:
    """McCandlish et al.'s estimator (appendix A) from mean squared norms of minibatch gradients at two sizes.

    ``E|g_B|^2 = |G|^2 + tr(Sigma)/B`` for both sizes gives
    ``|G|^2 = (B_big sq_big - B_small sq_small) / (B_big - B_small)`` and
    ``tr(Sigma) = (sq_small - sq_big) / (1/B_small - 1/B_big)``.
    """
    if not 0 < b_small < b_big:
        raise ValueError(f"need 0 < b_small < b_big, got {b_small} and {b_big}")
    g_norm2 = (b_big * sq_big - b_small * sq_small) / (b_big - b_small)
    trace_sigma = (sq_small - sq_big) / (1 / b_small - 1 / b_big)
    return NoiseScale(float(trace_sigma), float(g_norm2), float(trace_sigma / g_norm2), 0)


def predicted_alpha(batch_size: np.ndarray | int, b_simple: float) -> np.ndarray:
    """Coherence of minibatch means predicted by the 1/B law: ``|G|^2 / (|G|^2 + tr(Sigma)/B) = B / (B + B_simple)``."""
    b = np.asarray(batch_size, np.float64)
    return b / (b + b_simple)


# ------------------------------------------------------------------------------------- per-seed tables


def seed_table(table: Mapping[tuple, Mapping[str, Any]], key: str, names: Sequence[str],
               seeds: Sequence[int]) -> dict[tuple[str, str], np.ndarray]:
    """``{(name, when): (S,) mean of table[name, seed, when][key] per seed}`` for ``when`` in start, mid.

    Args:
      table: per ``(variant name, seed, when)`` a mapping such as :func:`agreement`'s.
      key: the entry to gather; names, seeds: the variants and seeds to gather it for.
    """
    return {(n, w): np.array([np.mean(table[n, s, w][key]) for s in seeds]) for n in names for w in WHENS}


def per_seed(values: Mapping[tuple, Any], name: str, when: str, seeds: Sequence[int]) -> np.ndarray:
    """``values[name, seed, when]`` for every seed: (S,)."""
    return np.array([values[name, s, when] for s in seeds])
