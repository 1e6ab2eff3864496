"""Minibatch gradients at fixed parameters: how much they disagree, and how rough their field is.

The blog "Gradients are sensitive to minibatch composition" freezes a network's parameters and asks two things:

* **Spread over minibatches.** For ``K`` minibatches ``a_k`` the gradients
  ``g_k = grad_theta J(a_k; theta)`` at the *same* ``theta`` differ only through which
  examples are in ``a_k``. :func:`minibatch_gradients` computes them and fingerprints the
  parameters before and after every evaluation (so "the parameters did not change" is
  checked, not assumed). Their agreement is summarised (:func:`summarise`) by
  :func:`cgnb.engine.stats.mean_pairwise_cosine` (mean of ``cos(g_j, g_k)`` over pairs ``j != k``) and
  :func:`cgnb.engine.stats.coherence_of_rows`
  ``alpha = |mean_k g_k|^2 / mean_k |g_k|^2`` (1 when all agree, about ``1/K`` when they
  are unrelated).
* **The nearby field.** Two scalar parameters ``x = (x1, x2)`` (biases, see
  :func:`bias_coords`) are moved over a grid ``x + (e_i, e_j)`` with everything else
  fixed: :mod:`cgnb.chapters.minibatch_field`.

Beyond the blog, :func:`per_example_gradient_stats` and :func:`noise_scale` give the
*simple gradient noise scale* ``B_simple = tr(Sigma) / |G|^2`` of McCandlish et al. (2018):
a minibatch mean of ``B`` examples has ``E|g_B - G|^2 = tr(Sigma) / B``, hence
``E|g_B|^2 = |G|^2 (1 + B_simple / B)`` and a coherence of about :func:`predicted_alpha`
``= B / (B + B_simple)``.

Losses are per-example :data:`cgnb.engine.losses.Loss` functions ``loss_fn(params, x, y, key=None) -> (B,)``
(``key``: the dropout noise, ``None`` for none); a minibatch's objective is their mean.
:func:`make_loss` builds the squared-error loss of a :mod:`cgnb.engine.nets` MLP regressor.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import Sequence

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax

from ..engine import loop, nets, pergrad, sampler, stats, xla
from ..engine.losses import Loss, Params, squared_error
Coord = tuple[int, str, int]
"""A scalar parameter: ``(layer index in the params list, leaf name, unit index)``, e.g. ``(1, "b", 0)``."""


# ---------------------------------------------------------------------------------------------- losses

def centre_output(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
    """The same network with its output shifted so that its mean prediction on ``x`` is the mean of ``y``.

    Only the last layer's bias changes (by ``mean(y) - mean(forward(params, x))``, no dropout;
    batch norm uses the statistics of ``x``), so every example's error ``f(x_i) - y_i`` loses
    the part that all examples share at a start of one-signed targets, and nothing else.

    Args:
      params: a :mod:`cgnb.engine.nets` MLP with one output.
      x, y: (N, D) and (N,).
    """
    if len(x) == 0 or np.ndim(y) != 1 or len(x) != len(y):
        raise ValueError(f"need x (N, D) and y (N,) with N >= 1, got {np.shape(x)} and {np.shape(y)}")
    if np.shape(params[-1]["b"]) != (1,):
        raise ValueError(f"centre_output needs a network with one output, got a last bias of shape "
                         f"{np.shape(params[-1]['b'])}")
    shift = jnp.mean(jnp.asarray(y)) - jnp.mean(nets.forward(params, jnp.asarray(x))[:, 0])
    centred = list(params)
    centred[-1] = {**params[-1], "b": params[-1]["b"] + shift}
    return centred


def make_loss(dropout_rate: float = 0.0) -> Loss:
    """``loss(params, x (B, D), y (B,), key=None) -> (B,)``: per-example squared error of ``nets.forward``;
    dropout is active when a key is given."""
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate}")

    def loss(params: Params, x: jax.Array, y: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        return squared_error(nets.forward(params, x, dropout_rate=dropout_rate, key=key), y)

    return loss


# ------------------------------------------------------------------------------------ the two parameters

def bias_coords(params: Params, layers: Sequence[int] = (1, 2), unit: int = 0,
                leaf: str | None = None) -> tuple[Coord, ...]:
    """The bias of unit ``unit`` in each hidden layer of ``layers`` (0-indexed, as the blog counts).

    With batch normalisation the bias ``b`` in front of the normalisation is cancelled by the
    mean subtraction (its gradient is zero), so by default the bias that acts, the shift ``beta``,
    is used; ``leaf="b"`` forces the pre-normalisation bias.
    """
    coords = []
    for layer in layers:
        if not 0 <= layer < len(params) - 1:
            raise ValueError(f"layer {layer} is not a hidden layer; this model has hidden layers 0..{len(params) - 2}")
        name = leaf if leaf is not None else ("beta" if "beta" in params[layer] else "b")
        if name not in params[layer]:
            raise ValueError(f"layer {layer} has no parameter {name!r}; it has {sorted(params[layer])}")
        if not 0 <= unit < params[layer][name].shape[0]:
            raise ValueError(f"unit {unit} out of range for layer {layer} of width {params[layer][name].shape[0]}")
        coords.append((layer, name, unit))
    return tuple(coords)


def live_units(snapshots: Sequence[Params], x: jax.Array, layer: int, count: int = 1,
               min_active: float = 0.2) -> list[int]:
    """The ``count`` lowest-index units of hidden ``layer`` active (ReLU > 0) on at least ``min_active`` of ``x``
    in every snapshot.

    A unit that is never active has a bias gradient of exactly zero, an arrow without a direction. Raises if
    fewer than ``count`` units qualify.
    """
    ok = None
    for params in snapshots:
        if not 0 <= layer < len(params) - 1:
            raise ValueError(f"layer {layer} is not a hidden layer; this model has hidden layers 0..{len(params) - 2}")
        hidden = nets.forward(params, jnp.asarray(x), intermediates=True).inputs[layer + 1]  # relu output
        active = np.asarray(jnp.mean(hidden > 0, axis=0))
        ok = active >= min_active if ok is None else ok & (active >= min_active)
    units = [int(u) for u in np.flatnonzero(ok)[:count]]
    if len(units) < count:
        raise ValueError(f"only {len(units)} units of hidden layer {layer} are active on at least {min_active:.0%} of "
                         f"the examples in every snapshot, {count} were asked for")
    return units


def bias_pairs(snapshots: Sequence[Params], x: jax.Array, layers: tuple[int, int] = (1, 2), count: int = 1,
               min_active: float = 0.2, leaf: str | None = None) -> list[tuple[Coord, Coord]]:
    """``count`` pairs of biases (one per layer of ``layers``) of units that are alive in all ``snapshots``.

    Pair ``i`` takes the ``i``-th live unit of each layer (see :func:`live_units`, :func:`bias_coords`).
    """
    units = [live_units(snapshots, x, layer, count, min_active) for layer in layers]
    return [tuple(bias_coords(snapshots[0], layers=(layer,), unit=u[i], leaf=leaf)[0]
                  for layer, u in zip(layers, units))
            for i in range(count)]


def get_coords(tree: Params, coords: Sequence[Coord]) -> jax.Array:
    """The scalars at ``coords`` of a params/gradient pytree, stacked on the last axis: (..., len(coords)).

    Leading axes of the leaves (e.g. a stack of K gradients) are kept.
    """
    return jnp.stack([tree[layer][name][..., unit] for layer, name, unit in coords], axis=-1)


def _split_coords(coords: Sequence[Coord]) -> tuple[tuple[tuple[int, str], ...], jax.Array]:
    """``coords`` as a static part ``((layer, name), ...)`` and the unit indices (C,) int32, so that jitted
    functions compile once per layer/leaf layout, not once per unit."""
    coords = tuple(tuple(c) for c in coords)
    return tuple((int(c[0]), str(c[1])) for c in coords), jnp.asarray([int(c[2]) for c in coords], jnp.int32)


def _join_coords(static: tuple[tuple[int, str], ...], units: jax.Array) -> tuple:
    return tuple((layer, name, units[i]) for i, (layer, name) in enumerate(static))


def set_coords(params: Params, coords: Sequence[Coord], values: jax.Array) -> Params:
    """A copy of ``params`` with the scalars at ``coords`` set to ``values`` (len(coords),)."""
    new = [dict(layer) for layer in params]
    for i, (layer, name, unit) in enumerate(coords):
        new[layer][name] = new[layer][name].at[unit].set(values[i])
    return new


# ----------------------------------------------------------------------------- minibatches at fixed params

def fingerprint(params: Params) -> str:
    """sha256 of the structure, shapes, dtypes and bytes of every leaf: equal iff bitwise equal (hex)."""
    digest = hashlib.sha256()
    leaves, treedef = jax.tree_util.tree_flatten(params)
    digest.update(str(treedef).encode())
    for leaf in leaves:
        array = np.ascontiguousarray(np.asarray(leaf))
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def _gradient_program(loss_fn: Loss, static: tuple[tuple[int, str], ...]):
    """Jitted ``(params, x, y, key, units) -> (raveled gradient (P,), gradient at the coords (C,))``."""

    def program(params, x, y, key, units):
        g = jax.grad(lambda p: jnp.mean(loss_fn(p, x, y, key=key)))(params)
        projected = get_coords(g, _join_coords(static, units)) if static else jnp.zeros((0,))
        return jax.flatten_util.ravel_pytree(g)[0], projected

    return xla.jit(program)


@dataclasses.dataclass(frozen=True)
class MinibatchGradients:
    """Gradients of K minibatches at one parameter snapshot.

    Attributes:
      flat: (K, P) float32, each minibatch's full gradient raveled (``jax.flatten_util`` order).
      projected: (K, len(coords)) the gradient's components at ``coords``.
      coords: the projected parameters.
      snapshot: fingerprint of the parameters handed in.
      before, after: fingerprints of the parameters just before / after each of the K evaluations.
    """

    flat: np.ndarray
    projected: np.ndarray
    coords: tuple[Coord, ...]
    snapshot: str
    before: tuple[str, ...]
    after: tuple[str, ...]

    @property
    def params_fixed(self) -> bool:
        """Whether every evaluation saw bitwise the same parameters as the snapshot."""
        return all(f == self.snapshot for f in (*self.before, *self.after))


def minibatch_gradients(loss_fn: Loss, params: Params, x: np.ndarray, y: np.ndarray, batches: np.ndarray,
                        coords: Sequence[Coord], keys: jax.Array | None = None) -> MinibatchGradients:
    """The gradient of every minibatch ``x[batches[k]]`` at the same ``params``, one evaluation at a time.

    Args:
      loss_fn: ``loss(params, x, y, key=None) -> (B,)``; the minibatch gradient is that of the mean.
      params: the parameter snapshot (never changed; fingerprinted around each evaluation).
      x, y: the data set, (N, D) and (N,).
      batches: (K, B) example indices.
      coords: scalars to project on (e.g. :func:`bias_coords`).
      keys: (K, 2) PRNG keys, one per minibatch (dropout noise), or None.
    """
    batches = np.asarray(batches)
    if batches.ndim != 2:
        raise ValueError(f"batches must be (K, B) indices, got shape {batches.shape}")
    if keys is not None and len(keys) != len(batches):
        raise ValueError(f"need one key per minibatch: {len(batches)} batches, {len(keys)} keys")
    static, units = _split_coords(coords)
    program = _gradient_program(loss_fn, static)
    snapshot = fingerprint(params)
    flat, projected, before, after = [], [], [], []
    for k, index in enumerate(batches):
        before.append(fingerprint(params))
        g, g_coords = program(params, jnp.asarray(x[index]), jnp.asarray(y[index]),
                              None if keys is None else keys[k], units)
        after.append(fingerprint(params))
        flat.append(np.asarray(g))
        projected.append(np.asarray(g_coords))
    return MinibatchGradients(np.stack(flat), np.stack(projected), tuple(coords), snapshot, tuple(before),
                              tuple(after))


def _variance_from_gram(m: np.ndarray) -> float:
    k = len(m)
    if k < 2:
        raise ValueError(f"need K >= 2 gradients to estimate a variance, got {k}")
    return float(k / (k - 1) * (np.mean(np.diag(m)) - m.sum() / k ** 2))


def minibatch_variance(g: np.ndarray) -> float:
    """``tr`` of the sample covariance of the rows of ``g`` (K, D): ``K/(K-1) mean_k |g_k - mean g|^2``.

    For minibatch means of ``B`` examples this estimates ``E|g_B - G|^2 = tr(Sigma) / B``.
    """
    g = np.asarray(g)
    if g.ndim != 2 or len(g) < 2:
        raise ValueError(f"need a (K, D) array with K >= 2 gradients, got shape {g.shape}")
    return _variance_from_gram(stats.gram(g))


def summarise(result: MinibatchGradients) -> dict:
    """Agreement statistics of :func:`minibatch_gradients`' output, small enough to keep.

    Returns a dict: ``cos_full``, ``alpha`` (coherence), ``sq_norm`` (mean ``|g_k|^2``), ``variance``
    (:func:`minibatch_variance`) of the full gradients; ``cos_2d`` and ``alpha_2d`` (one per pair of
    consecutive coords); ``projected`` (K, len(coords)); ``snapshot`` and ``changed`` (number of
    evaluations whose parameter fingerprint differs from the snapshot's).
    """
    k, n_coords = result.projected.shape
    if n_coords % 2:
        raise ValueError(f"summarise expects pairs of coords, got {n_coords} coords")
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
        "changed": sum(f != result.snapshot for f in (*result.before, *result.after)),
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


# ------------------------------------------------------------------------------------ training, snapshots

def train_with_snapshots(loss_fn: Loss, params: Params, x: np.ndarray, y: np.ndarray, *,
                         optimizer: optax.GradientTransformation, batch_size: int, steps: int,
                         snapshot_steps: Sequence[int], seed: int, noisy: bool = False
                         ) -> tuple[np.ndarray, dict[int, Params]]:
    """Minibatch training (:func:`cgnb.engine.loop.train_with_snapshots`) that keeps the parameters at chosen steps.

    Args:
      loss_fn: ``loss(params, x, y, key=None) -> (B,)``; each step descends its mean.
      params: initial parameters.
      x, y: training set (N, D), (N,).
      optimizer: an optax transformation (e.g. ``optax.adam(1e-3)``); pass the same object to
        reuse the compilation.
      batch_size, steps: minibatch size and number of updates.
      snapshot_steps: steps ``s`` in [0, steps] at which to keep the parameters *before* update ``s``
        (0 = initial parameters).
      seed: RNG seed of the batch order (shuffled epochs, :func:`cgnb.engine.sampler.batch_indices`)
        and, when ``noisy``, of the dropout keys (``jax.random.split(PRNGKey(seed), steps)``).
      noisy: pass a fresh key to ``loss_fn`` at every step (dropout); otherwise None.

    Returns:
      ``(losses (steps,), {s: params at step s})``, losses being each step's minibatch loss.
    """
    if any(not 0 <= s <= steps for s in snapshot_steps):
        raise ValueError(f"snapshot steps must lie in [0, {steps}], got {list(snapshot_steps)}")
    order = jnp.asarray(sampler.batch_indices(seed, 0, steps, len(y), batch_size, "epochs"))
    keys = jax.random.split(jax.random.PRNGKey(seed), steps) if noisy else None
    trace, snapshots = loop.train_keeping_snapshots(
        _mean_loss_gradient(loss_fn), optimizer, params, jnp.asarray(x), jnp.asarray(y), steps=steps,
        snapshot_steps=snapshot_steps, indices=order, keys=keys, step_probe=_loss_probe,
        block_reduce=loop.block_all)
    return np.asarray(trace.step_values).reshape(steps), snapshots


def _loss_probe(params: Params, grads: Params, loss: jax.Array) -> jax.Array:
    """The step's minibatch loss (a step probe of :func:`cgnb.engine.loop.train`)."""
    return loss


@functools.lru_cache(maxsize=16)
def _mean_loss_gradient(loss_fn: Loss) -> loop.Gradient:
    """``(params, x, y, key) -> (mean loss, its gradient)``; cached per loss so compilations are reused."""
    def gradient(params, x, y, key):
        return jax.value_and_grad(lambda q: jnp.mean(loss_fn(q, x, y, key=key)))(params)

    return gradient
