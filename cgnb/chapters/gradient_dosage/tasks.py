"""Chapter 1's tasks: binary features that agree with the label, and shared versus identity features.

Inputs ``x`` (N, D) float32, labels ``y`` (N,) float32 in {-1, +1}:

* :func:`agreeing_features` -- +-1 features that each agree with the label on a fraction
  ``agreement`` of the examples, independently given the label, plus irrelevant inputs;
  :func:`seeded_task` -- one seed's training and test sets of them;
* :func:`majority_vote_accuracy` / :func:`majority_vote` -- what a vote of those features reaches;
* :func:`shared_and_identity_features` -- a group feature shared by the examples of a group and an
  identity feature of each example (general versus memorizing recognizers).

Reference: "Gradient Dosage" (blog post, 11 September 2022).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ...engine import seeds as seed_keys

#: The training and test sets of seed ``s`` are drawn from ``PRNGKey(DATA_SEED_OFFSET + s)``.
DATA_SEED_OFFSET = 20_000


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


def seeded_task(seed: int | jax.Array, *, n_train: int, n_test: int, agreement: float, n_irrelevant: int
                ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Seed ``seed``'s training and test sets of :func:`agreeing_features` (three features).

    Each seed draws its own data (from :func:`cgnb.engine.seeds.offset_key` ``(seed, DATA_SEED_OFFSET)``),
    so a claim decided over seeds holds over draws of the data as well as of the initialisation.
    ``seed`` may be traced (vmap over seeds).

    Returns:
      ``x_train`` (n_train, 3 + n_irrelevant), ``y_train`` (n_train,), ``x_test``, ``y_test``.
    """
    k_train, k_test = jax.random.split(seed_keys.offset_key(seed, DATA_SEED_OFFSET))
    x_train, y_train = agreeing_features(k_train, n_train, agreement=agreement, n_irrelevant=n_irrelevant)
    x_test, y_test = agreeing_features(k_test, n_test, agreement=agreement, n_irrelevant=n_irrelevant)
    return x_train, y_train, x_test, y_test


def majority_vote_accuracy(agreement: float, n_features: int = 3) -> float:
    """Probability that the majority of ``n_features`` independent votes is right.

    Each vote is right with probability ``p = agreement``:
    ``sum_{k > n/2} C(n, k) p**k (1 - p)**(n - k)``; for n = 3 this is ``p**3 + 3 p**2 (1 - p)``.

    Raises:
      ValueError: ``n_features`` is not odd (a tie would have no majority).
    """
    if n_features < 1 or n_features % 2 == 0:
        raise ValueError(f"n_features must be odd (no tied votes), got {n_features}")
    p = float(agreement)
    return float(sum(math.comb(n_features, k) * p**k * (1 - p) ** (n_features - k)
                     for k in range(n_features // 2 + 1, n_features + 1)))


def majority_vote(features: jax.Array) -> jax.Array:
    """The majority vote of +-1 features: ``features`` (N, F) with odd F -> (N,) in {-1, +1}.

    Raises:
      ValueError: F is even.
    """
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

    Args:
      key: PRNG key of the group labels.
      group_sizes: the sizes of the groups; groups_per_size: how many groups of each size.

    Returns:
      dict with ``x`` (N, n_groups + N) float32 0/1, ``y`` (N,) float32 +-1, ``group`` (N,)
      int (each example's group), ``group_size`` (n_groups,) int (size of each group),
      ``n_groups`` (int).

    Raises:
      ValueError: a group size below 1 or no groups.
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
