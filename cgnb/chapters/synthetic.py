"""Synthetic binary tasks for the gradient-dosage and gradient-starvation chapters.

Every generator returns float32 inputs ``x`` of shape (N, D) and labels ``y`` of shape (N,)
in {-1, +1} (float32), the convention of the logistic loss ``log(1 + exp(-y * logit))``.

* :func:`agreeing_features` -- the gradient-dosage example: binary (+-1) features that each
  agree with the label on a fraction ``agreement`` of the examples, independently of each
  other given the label, plus irrelevant inputs.
* :func:`majority_vote_accuracy` / :func:`majority_vote` -- what a vote of those features
  reaches: for three features that agree with probability p, ``p**3 + 3 p**2 (1 - p)``.
* :func:`shared_and_identity_features` -- general versus memorizing recognizers: each
  example has a group feature (shared by all examples of its group, which share the label)
  and an identity feature (its own one-hot).
* :func:`two_moons` -- the classic two interleaving half circles (as ``sklearn.datasets
  .make_moons``, written here so that cgnb does not depend on scikit-learn).
* :func:`starvation_moons` -- the two moons moved apart so that the first coordinate
  separates the classes linearly with a margin (Pezeshki et al., 2021, Figure 1).
* :func:`neutralize_feature`, :func:`permute_feature` -- test sets on which one coordinate
  no longer tells the classes apart.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np


def _pm1(bits: jax.Array) -> jax.Array:
    """Booleans -> float32 +1 (True) / -1 (False)."""
    return jnp.where(bits, 1.0, -1.0).astype(jnp.float32)


def agreeing_features(
    key: jax.Array,
    n: int,
    *,
    n_features: int = 3,
    agreement: float = 0.9,
    n_irrelevant: int = 0,
) -> tuple[jax.Array, jax.Array]:
    """Binary features that each agree with the label on a fraction ``agreement`` of examples.

    The label is +-1 with probability 1/2. Feature ``f`` of example ``i`` equals ``y_i`` with
    probability ``agreement`` and ``-y_i`` otherwise, independently across features and
    examples (the features are conditionally independent given the label). The last
    ``n_irrelevant`` columns are standard normal noise, independent of everything.

    Args:
      key: PRNG key.
      n: number of examples.
      n_features: number of label-agreeing +-1 features (columns ``0 .. n_features-1``).
      agreement: probability that a feature equals the label, in (0.5, 1].
      n_irrelevant: number of irrelevant N(0, 1) columns appended after the features.

    Returns:
      ``x`` (n, n_features + n_irrelevant) float32 and ``y`` (n,) float32 in {-1, +1}.
    """
    if n < 1 or n_features < 1 or n_irrelevant < 0:
        raise ValueError(f"need n >= 1, n_features >= 1, n_irrelevant >= 0; got {n}, {n_features}, {n_irrelevant}")
    if not 0.5 < agreement <= 1.0:
        raise ValueError(f"agreement must be in (0.5, 1] (a feature better than a coin flip), got {agreement}")
    k_label, k_agree, k_noise = jax.random.split(key, 3)
    y = _pm1(jax.random.bernoulli(k_label, 0.5, (n,)))
    agree = _pm1(jax.random.bernoulli(k_agree, agreement, (n, n_features)))
    features = agree * y[:, None]
    noise = jax.random.normal(k_noise, (n, n_irrelevant), jnp.float32)
    return jnp.concatenate([features, noise], axis=1), y


def majority_vote_accuracy(agreement: float, n_features: int = 3) -> float:
    """Probability that the majority of ``n_features`` independent votes is right.

    Each vote is right with probability ``p = agreement``:
    ``sum_{k > n/2} C(n, k) p**k (1 - p)**(n - k)``; for n = 3 this is ``p**3 + 3 p**2 (1 - p)``
    (0.972 for p = 0.9). ``n_features`` must be odd so that there are no ties.
    """
    if n_features < 1 or n_features % 2 == 0:
        raise ValueError(f"n_features must be odd (no tied votes), got {n_features}")
    p = float(agreement)
    return float(sum(math.comb(n_features, k) * p**k * (1 - p) ** (n_features - k)
                     for k in range(n_features // 2 + 1, n_features + 1)))


def majority_vote(features: jax.Array) -> jax.Array:
    """The majority vote of +-1 features: ``features`` (N, F) with odd F -> (N,) in {-1, +1}."""
    if features.shape[-1] % 2 == 0:
        raise ValueError(f"need an odd number of voting features, got {features.shape[-1]}")
    return jnp.sign(jnp.sum(features, axis=-1))


def shared_and_identity_features(
    key: jax.Array,
    group_sizes: tuple[int, ...] = (1, 4, 16, 64),
    groups_per_size: int = 4,
) -> dict[str, np.ndarray]:
    """Examples that share a group feature with their group and own an identity feature.

    There are ``groups_per_size`` groups of each size in ``group_sizes``; every example of a
    group has the group's label (random +-1, one per group). The inputs are
    ``[group one-hot | identity one-hot]``: column ``g`` (``g < n_groups``) is the *general*
    feature shared by all examples of group ``g``; column ``n_groups + i`` is the
    *memorizing* feature that only example ``i`` has.

    Returns:
      dict with ``x`` (N, n_groups + N) float32 0/1, ``y`` (N,) float32 +-1, ``group`` (N,)
      int (each example's group), ``group_size`` (n_groups,) int (size of each group),
      ``n_groups`` (int).
    """
    sizes = tuple(int(s) for s in group_sizes)
    if not sizes or min(sizes) < 1 or groups_per_size < 1:
        raise ValueError(f"group_sizes must be positive and groups_per_size >= 1, got {sizes}, {groups_per_size}")
    group_size = np.tile(np.asarray(sizes), groups_per_size)
    n_groups = len(group_size)
    group = np.repeat(np.arange(n_groups), group_size)
    n = len(group)
    labels = np.asarray(_pm1(jax.random.bernoulli(key, 0.5, (n_groups,))))
    x = np.concatenate([np.eye(n_groups, dtype=np.float32)[group], np.eye(n, dtype=np.float32)], axis=1)
    return {"x": x, "y": labels[group].astype(np.float32), "group": group, "group_size": group_size,
            "n_groups": n_groups}


def two_moons(key: jax.Array, n: int = 300, noise: float = 0.1) -> tuple[jax.Array, jax.Array]:
    """Two interleaving half circles with Gaussian noise (the ``make_moons`` construction).

    Class -1 (``n // 2`` points): ``(cos t, sin t)``, class +1 (the rest):
    ``(1 - cos t, 1/2 - sin t)``, with ``t`` evenly spaced in [0, pi]; then
    ``noise * N(0, I)`` is added and the rows are shuffled.

    Returns:
      ``x`` (n, 2) float32 and ``y`` (n,) float32 in {-1, +1}.
    """
    if n < 2 or noise < 0:
        raise ValueError(f"need n >= 2 and noise >= 0, got n={n}, noise={noise}")
    n_out, n_in = n // 2, n - n // 2
    t_out = jnp.linspace(0.0, jnp.pi, n_out)
    t_in = jnp.linspace(0.0, jnp.pi, n_in)
    x = jnp.concatenate([
        jnp.stack([jnp.cos(t_out), jnp.sin(t_out)], axis=1),
        jnp.stack([1.0 - jnp.cos(t_in), 0.5 - jnp.sin(t_in)], axis=1),
    ]).astype(jnp.float32)
    y = jnp.concatenate([-jnp.ones(n_out), jnp.ones(n_in)]).astype(jnp.float32)
    k_noise, k_perm = jax.random.split(key)
    x = x + noise * jax.random.normal(k_noise, x.shape, jnp.float32)
    order = jax.random.permutation(k_perm, n)
    return x[order], y[order]


def starvation_moons(
    key: jax.Array, n: int = 300, noise: float = 0.1, margin: float = 0.1
) -> tuple[jax.Array, jax.Array]:
    """The two-moons task of Pezeshki et al. (2021, Fig. 1): linearly separable along x1.

    Starting from :func:`two_moons`, the construction of the paper's code: shift both moons
    by -0.5 along the first axis and each class by ``-0.3 y`` along the second; centre the
    second coordinate; reflect every point whose second coordinate has the wrong sign for its
    class (so class +1 lies below zero and class -1 above); push the classes apart by
    ``margin`` each (a gap of ``2 margin``; a negative margin makes them overlap); finally
    swap the two axes. In the result, the first coordinate ``x1`` separates the classes with a
    linear boundary at ``x1 = 0`` (class +1 at ``x1 < -margin``, class -1 at
    ``x1 > margin``); the second coordinate ``x2`` carries the rest of the moon shape.

    Returns:
      ``x`` (n, 2) float32 and ``y`` (n,) float32 in {-1, +1}.
    """
    x, y = two_moons(key, n, noise)
    vertical = x[:, 1] - 0.3 * y
    vertical = vertical - jnp.mean(vertical)
    vertical = jnp.abs(vertical) * -y          # class +1 below zero, class -1 above
    vertical = vertical - margin * y
    horizontal = x[:, 0] - 0.5
    return jnp.stack([vertical, horizontal], axis=1), y


def neutralize_feature(x: jax.Array, y: jax.Array, column: int = 0) -> jax.Array:
    """Shift each class along ``column`` so that both classes have mean 0 there.

    The class-conditional means of that coordinate then coincide, so a linear read-out of it
    (``sign(x[:, column])`` or any threshold near the middle) tells the classes apart about
    as well as a coin; the shape of each class (e.g. each moon) is kept.
    """
    col = x[:, column]
    means = {c: jnp.sum(jnp.where(y == c, col, 0.0)) / jnp.maximum(jnp.sum(y == c), 1) for c in (-1.0, 1.0)}
    shifted = col - jnp.where(y > 0, means[1.0], means[-1.0])
    return x.at[:, column].set(shifted)


def permute_feature(key: jax.Array, x: jax.Array, column: int = 0) -> jax.Array:
    """Shuffle one coordinate across the rows: it keeps its distribution but is independent of the label."""
    return x.at[:, column].set(jax.random.permutation(key, x[:, column]))
