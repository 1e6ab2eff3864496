"""Chapter 1's measures: the first-layer dose of each input, the dose ratio, and reliance on a feature.

The *dose* of input ``f`` is the summed squared gradient reaching the weights that read it,
``sum_t ||dL_t / dW_in[f, :]||^2`` (:func:`first_layer_dose` per step, summed by
:func:`cgnb.engine.fullbatch.train_binary`).

Reference: "Gradient Dosage" (blog post, 11 September 2022).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ...engine import fullbatch
from ...engine.losses import Params

ApplyFn = Callable[..., jax.Array]


def first_layer_dose(grads: Params) -> jax.Array:
    """Squared gradient norm of each input's first-layer weights: (D,).

    Args:
      grads: gradients of :func:`cgnb.chapters.gradient_dosage.models.init_linear` parameters
        (``w_f ** 2``), of :func:`~cgnb.chapters.gradient_dosage.models.init_recognizers` ones
        (row ``a[f]``) or of a :mod:`cgnb.engine.nets` MLP (row ``f`` of ``grads[0]["w"]``).

    Raises:
      TypeError: the gradients have none of these formats.
    """
    if isinstance(grads, (list, tuple)):
        return fullbatch.input_dose(grads)
    if "a" in grads:
        return jnp.sum(grads["a"] ** 2, axis=1)
    if "w" in grads:
        return grads["w"] ** 2
    raise TypeError("first_layer_dose needs linear {'w','b'}, recognizer {'a','b','v','c'} or cgnb.engine.nets parameters")


def dose_ratio(dose: np.ndarray) -> np.ndarray:
    """Total dose of feature 1 over the mean total dose of features 2 and 3, per seed.

    Args:
      dose: (S, R, D) per seed, record and input; inputs 0, 1, 2 are the three agreeing features.

    Returns:
      (S,).
    """
    total = np.asarray(dose).sum(axis=1)
    return total[:, 0] / total[:, 1:3].mean(axis=1)


def flip_reliance(apply_fn: ApplyFn, params: Params, x: jax.Array, columns) -> jax.Array:
    """Effective logit weight of each +-1 input: half the mean logit change when it is flipped.

    ``r_f = mean_i (logit(x_i) - logit(x_i with x_if -> -x_if)) * x_if / 2``. For a linear model
    this is exactly ``w_f``; for a network it is the weight of the best additive reading of the
    feature. The Bayes-optimal logit for three 90% features is ``log 9 * sum_f x_f``, so
    ``r_f = log 9`` for each; the network follows the majority vote when no ``r_f`` exceeds the sum
    of the others.

    Args:
      apply_fn: ``apply_fn(params, x, key) -> logits (B,)``; params: its parameters.
      x: (B, D) +-1 inputs; columns: the inputs to flip, one at a time.

    Returns:
      (len(columns),) float32.
    """
    base = apply_fn(params, x, None)
    out = []
    for c in columns:
        flipped = apply_fn(params, x.at[:, c].multiply(-1.0), None)
        out.append(jnp.mean((base - flipped) * x[:, c]) / 2.0)
    return jnp.stack(out)
