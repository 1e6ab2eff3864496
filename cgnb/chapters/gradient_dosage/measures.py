"""Chapter 1's measures: the dose of each recognizer, the dose ratio, reliance, and the features' vote.

The *dose* of input ``f`` is the summed squared gradient reaching the weights that read it,
``sum_t ||dL_t / dW_in[f, :]||^2`` (:func:`first_layer_dose` per step, summed by
:func:`cgnb.engine.fullbatch.train_binary`); :func:`recognizer_dose` also measures the dose of each
recognizer's read-out. :func:`vote_accuracy` is the exact accuracy of a network's vote on the
label-agreeing features over the task's distribution.

Reference: "Gradient Dosage" (blog post, 11 September 2022).
"""
from __future__ import annotations

import itertools
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


def recognizer_dose(grads: Params) -> jax.Array:
    """Squared gradient norm of each recognizer's input weights and of its read-out: (2, D).

    Row 0 is ``||dL / da_f||^2`` (the weights that read input ``f``), row 1 ``||dL / dv_f||^2`` (the
    read-out through which the network listens to recognizer ``f``).

    Args:
      grads: gradients of :func:`cgnb.chapters.gradient_dosage.models.init_recognizers` parameters.
    """
    return jnp.stack([jnp.sum(grads["a"] ** 2, axis=1), jnp.sum(grads["v"] ** 2, axis=1)])


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


def settled(curve: np.ndarray, tail: float = 0.25, min_records: int = 4) -> bool:
    """Whether a recorded curve (R,) kept one value over its last ``tail`` share of records.

    A network's vote on the features (:func:`vote_accuracy`) takes a few discrete values; a run whose
    vote still changes near its end has not converged, so its final vote says nothing about where
    training ends. The tail must hold at least ``min_records`` records: a curve too short for that
    (a run of a few records) cannot show that it settled.
    """
    curve = np.asarray(curve)
    n = max(min_records, int(round(tail * len(curve))))
    if len(curve) < n:
        return False
    last = curve[-n:]
    return bool(np.all(np.abs(last - last[-1]) < 1e-6))


def vote_accuracy(apply_fn: ApplyFn, params: Params, *, agreement: float | jax.Array, n_inputs: int,
                  n_features: int = 3) -> jax.Array:
    """Exact accuracy of a network's vote on the agreeing features, over the task's distribution: ().

    The network sees each of the ``2 ** n_features`` patterns of +-1 features with its other inputs
    at their mean 0; for label ``y`` and pattern ``x`` the task gives
    ``P(y, x) = 1/2 prod_f (agreement if x_f = y else 1 - agreement)``
    (:func:`cgnb.chapters.gradient_dosage.tasks.agreeing_features`), and the accuracy is
    ``sum_x P(sign(logit(x)), x)``. It equals
    :func:`cgnb.chapters.gradient_dosage.tasks.majority_vote_accuracy` exactly when the network
    follows the majority of the features on every pattern (the best possible rule), and it has no
    sampling error (no test set) and no part of what the network fitted to the irrelevant inputs.

    Args:
      apply_fn, params: the network (``apply_fn(params, x, key) -> logits``).
      agreement: the probability that a feature equals the label.
      n_inputs: D, the network's number of inputs (features first).
      n_features: the number of agreeing features.
    """
    patterns = jnp.array(list(itertools.product((-1.0, 1.0), repeat=n_features)), jnp.float32)  # (P, F)
    x = jnp.concatenate([patterns, jnp.zeros((len(patterns), n_inputs - n_features), jnp.float32)], axis=1)
    says_positive = apply_fn(params, x, None) > 0
    def joint(label):
        return 0.5 * jnp.prod(jnp.where(patterns == label, agreement, 1.0 - agreement), axis=1)
    return jnp.sum(jnp.where(says_positive, joint(1.0), joint(-1.0)))


def sharing_measures(dose: np.ndarray, norms: np.ndarray, task: dict) -> dict[str, np.ndarray]:
    """Experiment B's statistics: dose by group size, and the erosion of recognizers under weight decay.

    Args:
      dose: (W, S, R, n_groups + N) per-record dose of each input, without (W = 0) and with (W = 1)
        weight decay; norms: (W, S, R, n_groups + N) recognizer norms over training.
      task: :func:`cgnb.chapters.gradient_dosage.tasks.shared_and_identity_features` output
        (``n_groups``, ``group_size`` (n_groups,), ``group`` (N,)).

    Returns:
      ``sizes`` (G,); ``general`` (W, S, G) mean total dose of the group features of each size;
      ``memorizers`` (W, S, G) mean total dose of the identity features of those groups' examples;
      ``slope`` (S,) log-log slope of ``general`` against size without weight decay;
      ``small`` (S,) log10(general dose of the largest groups / the largest identity dose), no decay;
      ``kept_memorizers``, ``kept_general`` (S,) mean norm end / start under weight decay of the
      identity recognizers and of the largest groups' recognizers.
    """
    n_groups, group_size = task["n_groups"], np.asarray(task["group_size"])
    sizes = np.unique(group_size)
    total = np.asarray(dose).sum(axis=2)                                               # (W, S, inputs)
    member_size = group_size[np.asarray(task["group"])]                                # (N,)
    general = np.stack([total[..., :n_groups][..., group_size == g].mean(-1) for g in sizes], -1)
    memorizers = np.stack([total[..., n_groups:][..., member_size == g].mean(-1) for g in sizes], -1)
    slope = np.array([np.polyfit(np.log(sizes), np.log(row), 1)[0] for row in general[0]])
    small = np.log10(general[0, :, -1] / total[0, :, n_groups:].max(axis=-1))
    decayed = np.asarray(norms)[1]                                                     # (S, R, inputs)
    kept = lambda cols: decayed[..., cols].mean(-1)[:, -1] / decayed[..., cols].mean(-1)[:, 0]
    biggest = np.flatnonzero(group_size == sizes[-1])
    return {"sizes": sizes, "general": general, "memorizers": memorizers, "slope": slope, "small": small,
            "kept_memorizers": kept(np.arange(n_groups, decayed.shape[-1])), "kept_general": kept(biggest)}
