"""Chapter 3's task: the two-moons data of Pezeshki et al. (2021) and test sets without its linear feature.

* :func:`two_moons` -- the classic two interleaving half circles (``sklearn.datasets.make_moons``'s
  construction, written here so that cgnb does not depend on scikit-learn);
* :func:`starvation_moons` -- the two moons moved apart so that the first coordinate separates the
  classes linearly with a margin (the paper's Figure 1);
* :func:`neutralize_feature`, :func:`permute_feature` -- test sets on which one coordinate no longer
  tells the classes apart; :func:`moons_task` -- one seed's training and test sets.

Inputs ``x`` are (N, 2) float32, labels ``y`` (N,) float32 in {-1, +1}.

Reference: Pezeshki et al., "Gradient Starvation: A Learning Proclivity in Neural Networks", NeurIPS 2021.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def two_moons(key: jax.Array, n: int = 300, noise: float = 0.1) -> tuple[jax.Array, jax.Array]:
    """Two interleaving half circles with Gaussian noise (the ``make_moons`` construction).

    Class -1 (``n // 2`` points): ``(cos t, sin t)``, class +1 (the rest):
    ``(1 - cos t, 1/2 - sin t)``, with ``t`` evenly spaced in [0, pi]; then
    ``noise * N(0, I)`` is added and the rows are shuffled.

    Returns:
      ``x`` (n, 2) float32 and ``y`` (n,) float32 in {-1, +1}.

    Raises:
      ValueError: ``n < 2`` or a negative ``noise``.
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


def moons_task(seed: int | jax.Array, n_train: int, n_test: int, noise: float, margin: float) -> dict[str, jax.Array]:
    """One seed's data: training set, i.i.d. test set, and the two test sets without the linear feature.

    Keys ``x`` (n_train, 2), ``y`` (n_train,), ``x_test`` (n_test, 2), ``y_test`` (n_test,),
    ``x_neutral`` (:func:`neutralize_feature` of the test set) and ``x_permuted``
    (:func:`permute_feature`), both (n_test, 2). ``seed`` may be traced (vmap over seeds).
    """
    k_train, k_test, k_perm = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 1), 3)
    x, y = starvation_moons(k_train, n_train, noise, margin)
    x_test, y_test = starvation_moons(k_test, n_test, noise, margin)
    return {"x": x, "y": y, "x_test": x_test, "y_test": y_test,
            "x_neutral": neutralize_feature(x_test, y_test, 0),
            "x_permuted": permute_feature(k_perm, x_test, 0)}
