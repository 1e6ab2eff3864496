"""Minibatch gradients at fixed parameters: how much they disagree, and how rough their field is.

The minibatch-sensitivity blog (seed 003) freezes a network's parameters and asks two things:

* **Spread over minibatches.** For ``K`` minibatches ``a_k`` the gradients
  ``g_k = grad_theta J(a_k; theta)`` at the *same* ``theta`` differ only through which
  examples are in ``a_k``. :func:`minibatch_gradients` computes them and fingerprints the
  parameters before and after every evaluation (so "the parameters did not change" is
  checked, not assumed). Their agreement is summarised by :func:`mean_pairwise_cosine`
  (mean of ``cos(g_j, g_k)`` over pairs ``j != k``) and :func:`coherence`
  ``alpha = |mean_k g_k|^2 / mean_k |g_k|^2`` (1 when all agree, about ``1/K`` when they
  are unrelated).
* **The nearby field.** Two scalar parameters ``x = (x1, x2)`` (biases, see
  :func:`bias_coords`) are moved over a grid ``x + (e_i, e_j)`` with everything else
  fixed; :func:`gradient_field` returns the 2-D gradient ``grad_x J`` at every grid point
  for one minibatch, and :func:`roughness` the mean angle between neighbouring arrows.

Beyond the blog, :func:`per_example_gradient_stats` and :func:`noise_scale` give the
*simple gradient noise scale* ``B_simple = tr(Sigma) / |G|^2`` of McCandlish et al. (2018):
a minibatch mean of ``B`` examples has ``E|g_B - G|^2 = tr(Sigma) / B``, hence
``E|g_B|^2 = |G|^2 (1 + B_simple / B)`` and a coherence of about :func:`predicted_alpha`
``= B / (B + B_simple)``.

Losses are functions ``loss_fn(params, x, y, key) -> scalar`` (``key`` may be ``None``);
:func:`make_loss` builds the squared-error loss of a :mod:`cgnb.engine.nets` MLP regressor.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import Callable, Sequence

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax

from ..engine import nets

Params = nets.Params
LossFn = Callable[[Params, jax.Array, jax.Array, "jax.Array | None"], jax.Array]
Coord = tuple[int, str, int]
"""A scalar parameter: ``(layer index in the params list, leaf name, unit index)``, e.g. ``(1, "b", 0)``."""


# ---------------------------------------------------------------------------------------------- losses

def squared_error(pred: jax.Array, y: jax.Array) -> jax.Array:
    """Mean squared error of a regressor: pred (B, 1) or (B,), y (B,) -> scalar ``mean((pred - y)^2)``."""
    pred = pred.reshape(pred.shape[0], -1)
    if pred.shape[1] != 1 or y.shape != pred.shape[:1]:
        raise ValueError(f"squared_error expects pred (B, 1) and y (B,), got {pred.shape} and {y.shape}")
    return jnp.mean((pred[:, 0] - y) ** 2)


def make_loss(dropout_rate: float = 0.0) -> LossFn:
    """``loss(params, x, y, key)``: squared error of ``nets.apply``; dropout is active when a key is given."""
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate}")

    def loss(params: Params, x: jax.Array, y: jax.Array, key: jax.Array | None = None) -> jax.Array:
        return squared_error(nets.apply(params, x, dropout_rate=dropout_rate, key=key), y)

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


def hidden_activations(params: Params, x: jax.Array) -> list[jax.Array]:
    """The hidden ReLU outputs of ``nets.apply`` without dropout: one (B, d_l) array per hidden layer."""
    h, out = x, []
    for layer in params[:-1]:
        z = h @ layer["w"] + layer["b"]
        if "gamma" in layer:
            z = nets.batch_norm(z, layer["gamma"], layer["beta"])
        h = jax.nn.relu(z)
        out.append(h)
    return out


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
        active = np.asarray(jnp.mean(hidden_activations(params, jnp.asarray(x))[layer] > 0, axis=0))
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


def disjoint_batches(key: jax.Array, n: int, batch_size: int, num_batches: int) -> np.ndarray:
    """``num_batches`` disjoint minibatches of example indices from one random permutation of ``n``: (K, B) int.

    Raises:
      ValueError: ``num_batches * batch_size > n`` (not enough examples for disjoint batches).
    """
    if batch_size < 1 or num_batches < 1:
        raise ValueError(f"batch_size and num_batches must be >= 1, got {batch_size} and {num_batches}")
    if num_batches * batch_size > n:
        raise ValueError(f"{num_batches} disjoint minibatches of {batch_size} need {num_batches * batch_size} "
                         f"examples, the data set has {n}; use fewer or smaller batches or more data")
    order = np.asarray(jax.random.permutation(key, n))
    return order[: num_batches * batch_size].reshape(num_batches, batch_size)


@functools.lru_cache(maxsize=64)
def _gradient_program(loss_fn: LossFn, static: tuple[tuple[int, str], ...]):
    """Jitted ``(params, x, y, key, units) -> (raveled gradient (P,), gradient at the coords (C,))``."""

    def program(params, x, y, key, units):
        g = jax.grad(loss_fn)(params, x, y, key)
        projected = get_coords(g, _join_coords(static, units)) if static else jnp.zeros((0,))
        return jax.flatten_util.ravel_pytree(g)[0], projected

    return jax.jit(program)


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


def minibatch_gradients(loss_fn: LossFn, params: Params, x: np.ndarray, y: np.ndarray, batches: np.ndarray,
                        coords: Sequence[Coord], keys: jax.Array | None = None) -> MinibatchGradients:
    """The gradient of every minibatch ``x[batches[k]]`` at the same ``params``, one evaluation at a time.

    Args:
      loss_fn: ``loss(params, x, y, key) -> scalar``.
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


def gram(g: np.ndarray) -> np.ndarray:
    """Inner products of the rows of ``g`` (K, D): (K, K) float64 (``g`` is multiplied in float32 BLAS when
    it is float32 -- the statistics below need only the K x K matrix, not D-sized temporaries)."""
    g = np.asarray(g)
    if g.ndim != 2:
        raise ValueError(f"need a (K, D) array of gradients, got shape {g.shape}")
    if g.dtype != np.float32:
        g = g.astype(np.float64)
    return (g @ g.T).astype(np.float64)


def _cosine_from_gram(m: np.ndarray) -> float:
    k = len(m)
    if k < 2:
        raise ValueError(f"need K >= 2 gradients for a pairwise cosine, got {k}")
    norms = np.sqrt(np.clip(np.diag(m), 0, None))
    if np.any(norms == 0):
        raise ValueError(f"{int(np.sum(norms == 0))} of the {k} gradients are zero; their cosine is undefined")
    cos = m / np.outer(norms, norms)
    return float((cos.sum() - np.trace(cos)) / (k * (k - 1)))


def _coherence_from_gram(m: np.ndarray) -> float:
    denominator = np.mean(np.diag(m))
    if denominator == 0:
        raise ValueError("all gradients are zero; coherence is undefined")
    return float(m.sum() / len(m) ** 2 / denominator)


def _variance_from_gram(m: np.ndarray) -> float:
    k = len(m)
    if k < 2:
        raise ValueError(f"need K >= 2 gradients to estimate a variance, got {k}")
    return float(k / (k - 1) * (np.mean(np.diag(m)) - m.sum() / k ** 2))


def mean_pairwise_cosine(g: np.ndarray) -> float:
    """Mean cosine similarity over all pairs ``j != k`` of the rows of ``g`` (K, D), K >= 2.

    Rows of zero norm are rejected (their direction is undefined).
    """
    g = np.asarray(g)
    if g.ndim != 2 or len(g) < 2:
        raise ValueError(f"need a (K, D) array with K >= 2 gradients, got shape {g.shape}")
    return _cosine_from_gram(gram(g))


def coherence(g: np.ndarray) -> float:
    """``alpha = |mean_k g_k|^2 / mean_k |g_k|^2`` for rows of ``g`` (K, D): in [0, 1], 1 iff all rows are equal."""
    g = np.asarray(g)
    if g.ndim != 2 or len(g) < 1:
        raise ValueError(f"need a (K, D) array of gradients, got shape {g.shape}")
    return _coherence_from_gram(gram(g))


def minibatch_variance(g: np.ndarray) -> float:
    """``tr`` of the sample covariance of the rows of ``g`` (K, D): ``K/(K-1) mean_k |g_k - mean g|^2``.

    For minibatch means of ``B`` examples this estimates ``E|g_B - G|^2 = tr(Sigma) / B``.
    """
    g = np.asarray(g)
    if g.ndim != 2 or len(g) < 2:
        raise ValueError(f"need a (K, D) array with K >= 2 gradients, got shape {g.shape}")
    return _variance_from_gram(gram(g))


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
    m = gram(result.flat)
    pairs = np.asarray(result.projected, np.float64).reshape(k, n_coords // 2, 2).transpose(1, 0, 2)
    return {
        "cos_full": _cosine_from_gram(m),
        "alpha": _coherence_from_gram(m),
        "sq_norm": float(np.mean(np.diag(m))),
        "variance": _variance_from_gram(m),
        "cos_2d": [mean_pairwise_cosine(p) for p in pairs],
        "alpha_2d": [coherence(p) for p in pairs],
        "projected": np.asarray(result.projected),
        "snapshot": result.snapshot,
        "changed": sum(f != result.snapshot for f in (*result.before, *result.after)),
    }


# --------------------------------------------------------------------------------------- the nearby field

def grid_offsets(spacing: float, n: int) -> np.ndarray:
    """``n`` (odd) offsets ``spacing * (-(n-1)/2, ..., 0, ..., (n-1)/2)``; the middle one is the true value."""
    if n < 3 or n % 2 == 0:
        raise ValueError(f"the grid needs an odd number n >= 3 of points per axis (a centre), got {n}")
    if not spacing > 0:
        raise ValueError(f"spacing must be > 0, got {spacing}")
    return spacing * (np.arange(n) - (n - 1) // 2)


def gradient_field(loss_fn: LossFn, params: Params, coords: Sequence[Coord], x: jax.Array, y: jax.Array,
                   offsets: np.ndarray, *, key: jax.Array | None = None, fresh_noise: bool = True) -> np.ndarray:
    """The 2-D gradient ``grad_(x1, x2) J`` on the grid ``(x1 + offsets[i], x2 + offsets[j])``, one minibatch.

    Args:
      loss_fn, params: as in :func:`minibatch_gradients`; all other parameters stay at ``params``.
      coords: the two scalars ``(x1, x2)``.
      x, y: one minibatch (B, D), (B,).
      offsets: (n,) grid offsets (:func:`grid_offsets`).
      key: PRNG key for the loss's noise (dropout), or None for a deterministic loss.
      fresh_noise: with a key, draw new noise at every grid point (as every training step does),
        otherwise use the same key everywhere (a frozen dropout mask).

    Returns:
      (n, n, 2) float64: ``field[i, j] = grad at (x1 + offsets[i], x2 + offsets[j])``.
    """
    if len(coords) != 2:
        raise ValueError(f"a gradient field needs exactly two coordinates, got {len(coords)}")
    offsets = np.asarray(offsets, np.float32)
    n = len(offsets)
    centre = get_coords(params, coords)
    d1, d2 = np.meshgrid(offsets, offsets, indexing="ij")
    points = centre + jnp.asarray(np.stack([d1.ravel(), d2.ravel()], axis=1))
    if key is None:
        keys, mode = None, "none"
    elif fresh_noise:
        keys, mode = jax.random.split(key, n * n), "fresh"
    else:
        keys, mode = key, "fixed"
    static, units = _split_coords(coords)
    field = _field_fn(loss_fn, static, mode)(params, points, jnp.asarray(x), jnp.asarray(y), keys, units)
    return np.asarray(field, np.float64).reshape(n, n, 2)


@functools.lru_cache(maxsize=64)
def _field_fn(loss_fn: LossFn, static: tuple[tuple[int, str], ...], mode: str):
    """Jitted ``(params, points (G, 2), x, y, keys, units) -> (G, 2)`` gradients at the grid points."""

    def partial_grad(params, values, x, y, k, units):
        coords = _join_coords(static, units)
        return jax.grad(lambda v: loss_fn(set_coords(params, coords, v), x, y, k))(values)

    def fn(p, pts, x, y, keys, units):
        if mode == "none":
            return jax.vmap(lambda v: partial_grad(p, v, x, y, None, units))(pts)
        if mode == "fresh":
            return jax.vmap(lambda v, k: partial_grad(p, v, x, y, k, units))(pts, keys)
        return jax.vmap(lambda v: partial_grad(p, v, x, y, keys, units))(pts)

    return jax.jit(fn)


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees, in [0, 180], between 2-D vectors ``a`` and ``b`` (..., 2) (a zero vector counts as angle 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = np.arctan2(a[..., 1], a[..., 0]) - np.arctan2(b[..., 1], b[..., 0])
    return np.degrees(np.abs((diff + np.pi) % (2 * np.pi) - np.pi))


def roughness(field: np.ndarray) -> float:
    """Mean angle (degrees) between the arrows of horizontally and vertically adjacent grid points.

    ``field`` (n, m, 2); 0 for a uniform field, about 90 for arrows of random directions.
    """
    field = np.asarray(field)
    if field.ndim != 3 or field.shape[-1] != 2 or min(field.shape[:2]) < 2:
        raise ValueError(f"field must be (n, m, 2) with n, m >= 2, got shape {field.shape}")
    along_i = angle_between(field[1:, :], field[:-1, :])
    along_j = angle_between(field[:, 1:], field[:, :-1])
    return float(np.mean(np.concatenate([along_i.ravel(), along_j.ravel()])))


def field_roughness(loss_fn: LossFn, params: Params, pairs: Sequence[tuple[Coord, Coord]], x: np.ndarray,
                    y: np.ndarray, batches: np.ndarray, offsets: np.ndarray, *, key: jax.Array | None = None,
                    fresh_noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """:func:`roughness` of the field of every pair in ``pairs`` for every minibatch in ``batches`` (M, B).

    With a ``key``, minibatch ``m`` gets noise key ``fold_in(key, m)`` (fresh per grid point unless
    ``fresh_noise=False``). Returns ``(roughness (len(pairs), M) degrees, field of pair 0 and minibatch 0
    (n, n, 2))``.
    """
    out, first = np.zeros((len(pairs), len(batches))), None
    for p, pair in enumerate(pairs):
        for m, index in enumerate(np.asarray(batches)):
            k = None if key is None else jax.random.fold_in(key, m)
            field = gradient_field(loss_fn, params, pair, x[index], y[index], offsets, key=k, fresh_noise=fresh_noise)
            out[p, m] = roughness(field)
            if first is None:
                first = field
    return out, first


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


def per_example_gradient_stats(loss_fn: LossFn, params: Params, x: np.ndarray, y: np.ndarray, *,
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
def _per_example_program(loss_fn: LossFn, noisy: bool):
    """Jitted ``(params, x (C, D), y (C,), keys) -> (sum of the C per-example gradients (P,), sum of |g_i|^2)``."""

    def one(p, xi, yi, ki):
        return jax.flatten_util.ravel_pytree(jax.grad(loss_fn)(p, xi[None], yi[None], ki))[0]

    def chunk_stats(p, xc, yc, kc):
        flat = jax.vmap(one, in_axes=(None, 0, 0, 0 if noisy else None))(p, xc, yc, kc)
        return flat.sum(0), jnp.sum(flat * flat)

    return jax.jit(chunk_stats)


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

def epoch_batches(key: jax.Array, n: int, batch_size: int, steps: int) -> np.ndarray:
    """Minibatch indices for ``steps`` steps of shuffled epochs (dropping each epoch's remainder): (steps, B)."""
    per_epoch = n // batch_size
    if per_epoch < 1:
        raise ValueError(f"batch_size {batch_size} is larger than the data set ({n})")
    epochs = -(-steps // per_epoch)
    keys = jax.random.split(key, epochs)
    rows = [np.asarray(jax.random.permutation(k, n))[: per_epoch * batch_size].reshape(per_epoch, batch_size)
            for k in keys]
    return np.concatenate(rows)[:steps]


def train_with_snapshots(loss_fn: LossFn, params: Params, x: np.ndarray, y: np.ndarray, *,
                         optimizer: optax.GradientTransformation, batch_size: int, steps: int,
                         snapshot_steps: Sequence[int], key: jax.Array, noisy: bool = False
                         ) -> tuple[np.ndarray, dict[int, Params]]:
    """Minibatch training (``lax.scan``) that keeps the parameters at chosen steps.

    Args:
      loss_fn: ``loss(params, x, y, key)``.
      params: initial parameters.
      x, y: training set (N, D), (N,).
      optimizer: an optax transformation (e.g. ``optax.adam(1e-3)``).
      batch_size, steps: minibatch size and number of updates.
      snapshot_steps: steps ``s`` in [0, steps] at which to keep the parameters *before* update ``s``
        (0 = initial parameters).
      key: PRNG key for the batch order and, when ``noisy``, a fresh dropout key per step.
      noisy: pass a fresh key to ``loss_fn`` at every step (dropout); otherwise None.

    Returns:
      ``(losses (steps,), {s: params at step s})``, losses being each step's minibatch loss.
    """
    if any(not 0 <= s <= steps for s in snapshot_steps):
        raise ValueError(f"snapshot steps must lie in [0, {steps}], got {list(snapshot_steps)}")
    key_order, key_noise = jax.random.split(key)
    order = jnp.asarray(epoch_batches(key_order, len(y), batch_size, steps))
    noise_keys = jax.random.split(key_noise, steps)
    x, y = jnp.asarray(x), jnp.asarray(y)

    run = _train_program(loss_fn, optimizer, noisy)

    opt_state = optimizer.init(params)
    snapshots, losses, done = {}, [], 0
    for stop in sorted(set(snapshot_steps) | {steps}):
        if stop > done:
            params, opt_state, chunk = run(params, opt_state, order[done:stop], noise_keys[done:stop], x, y)
            losses.append(np.asarray(chunk))
            done = stop
        if stop in snapshot_steps:
            snapshots[stop] = params
    return np.concatenate(losses) if losses else np.zeros(0), snapshots


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` steps (shorter at the start): same length as ``values``."""
    values = np.asarray(values, np.float64)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(1, len(values) + 1)
    start = np.maximum(index - window, 0)
    return (cumulative[index] - cumulative[start]) / (index - start)


@functools.lru_cache(maxsize=16)
def _train_program(loss_fn: LossFn, optimizer: optax.GradientTransformation, noisy: bool):
    """Jitted ``(params, opt_state, index (S, B), keys (S, 2), x, y) -> (params, opt_state, losses (S,))``.

    Cached per (loss, optimizer object, noisy): pass the same optimizer object to reuse the compilation.
    """

    def run(params, opt_state, index, keys, x, y):
        def step(carry, inputs):
            p, s = carry
            idx, k = inputs
            loss, g = jax.value_and_grad(loss_fn)(p, x[idx], y[idx], k if noisy else None)
            updates, s = optimizer.update(g, s, p)
            return (optax.apply_updates(p, updates), s), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), (index, keys))
        return params, opt_state, losses

    return jax.jit(run)


def falling_ratio(losses: np.ndarray, step: int, window: int) -> float:
    """Mean loss over ``[step, step + window)`` divided by that over ``[step - window, step)``: < 1 while falling."""
    losses = np.asarray(losses)
    if window < 1 or step - window < 0 or step + window > len(losses):
        raise ValueError(f"windows of {window} steps around step {step} do not fit a curve of {len(losses)} steps")
    return float(np.mean(losses[step:step + window]) / np.mean(losses[step - window:step]))
