"""Seeded minibatch samplers: which training examples each step (or measurement) uses.

Every sampler is a pure function of an integer RNG seed, drawn on the host with numpy
(``np.random.default_rng``), so compiled training programs hold no random-number code and
chunking or resuming a run does not change its batches. Three orders:

* ``epochs``: shuffled epochs, a fresh permutation of the data set every ``n // batch_size``
  steps (the ``n % batch_size`` left-over examples of each permutation are skipped);
* ``uniform``: every step draws its ``batch_size`` indices independently, with replacement;
* :func:`disjoint_batches`: ``K`` non-overlapping minibatches from one permutation (for
  measuring gradients on independent batches rather than for training).

Full-batch training needs no sampler: the loop (:func:`cgnb.engine.loop.train`) uses every
example in order when it is given no indices (``batch_size = N``).

Reference: ``numpy.random.default_rng`` seeded with a sequence (``SeedSequence``).
"""
from __future__ import annotations

import numpy as np

SAMPLINGS = ("epochs", "uniform")


def batch_indices(seed: int, start: int, count: int, n: int, batch_size: int,
                  sampling: str = "epochs") -> np.ndarray:
    """Minibatch indices for steps ``start, ..., start + count - 1``: (count, batch_size) int32.

    A pure function of ``(seed, step)``:

    * ``epochs``: with ``E = n // batch_size`` steps per epoch, step t takes positions
      ``(t % E) * B, ..., (t % E) * B + B - 1`` of the permutation
      ``np.random.default_rng([seed, 0, t // E]).permutation(n)``; the last ``n % B``
      examples of each permutation are not used in that epoch.
    * ``uniform``: step t takes ``np.random.default_rng([seed, 1, t]).integers(0, n, B)``:
      independent uniform draws with replacement.

    Raises:
      ValueError: an unknown ``sampling`` or a ``batch_size`` outside ``[1, n]``.
    """
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}; use one of {SAMPLINGS}")
    if not 0 < batch_size <= n:
        raise ValueError(f"batch_size must be in [1, n={n}], got {batch_size}")
    steps = range(int(start), int(start) + int(count))
    if sampling == "uniform":
        rows = [np.random.default_rng([seed, 1, t]).integers(0, n, batch_size) for t in steps]
        return np.asarray(rows, np.int32).reshape(count, batch_size)
    per_epoch = n // batch_size
    perms: dict[int, np.ndarray] = {}
    out = np.empty((count, batch_size), np.int32)
    for i, t in enumerate(steps):
        epoch, pos = divmod(t, per_epoch)
        if epoch not in perms:
            perms[epoch] = np.random.default_rng([seed, 0, epoch]).permutation(n)
        out[i] = perms[epoch][pos * batch_size:(pos + 1) * batch_size]
    return out


def disjoint_batches(seed: int, n: int, batch_size: int, num_batches: int) -> np.ndarray:
    """``num_batches`` disjoint minibatches from ``default_rng([seed, 2]).permutation(n)``: (K, B) int32.

    Raises:
      ValueError: a size below 1, or ``num_batches * batch_size > n`` (too few examples).
    """
    if batch_size < 1 or num_batches < 1:
        raise ValueError(f"batch_size and num_batches must be >= 1, got {batch_size} and {num_batches}")
    if num_batches * batch_size > n:
        raise ValueError(f"{num_batches} disjoint minibatches of {batch_size} need {num_batches * batch_size} "
                         f"examples, the data set has {n}; use fewer or smaller batches or more data")
    order = np.random.default_rng([int(seed), 2]).permutation(n)
    return order[: num_batches * batch_size].reshape(num_batches, batch_size).astype(np.int32)
