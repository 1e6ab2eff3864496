"""The sweep's types: the error its checks raise and the arrays its compiled programs take and carry.

The configuration (:mod:`.config`), the variants (:mod:`.variants`) and the result (:mod:`.results`)
are the sweep's public records; these are the containers every other module of the package shares.

Reference: JAX pytrees (``NamedTuple`` s are pytrees), https://jax.readthedocs.io/en/latest/pytrees.html
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax

from ..nets import Params


class ConfigError(ValueError):
    """A sweep configuration, its data or its variants are inconsistent."""


class Arrays(NamedTuple):
    """Data shared by all variants: ``x_train`` (N, d), ``y_true`` (N,) clean labels, ``x_test`` (N_test, d), ``y_test`` (N_test,)."""

    x_train: jax.Array
    y_true: jax.Array
    x_test: jax.Array
    y_test: jax.Array


class VariantArrays(NamedTuple):
    """One variant's inputs to the compiled programs (stacked with a leading V axis in a sweep)."""

    labels: jax.Array  # (N,) int32 training labels
    pristine: jax.Array  # (N,) bool
    c: jax.Array  # () int32 winsorization level
    null_masks: jax.Array  # (n_null, S) bool null-world pristine masks of the statistics subset


class TrainState(NamedTuple):
    """Per-variant training state: ``params``, ``opt_state``, ``first_learned`` (N_eval,) int32."""

    params: Params
    opt_state: Any
    first_learned: jax.Array


__all__ = ["ConfigError", "Arrays", "VariantArrays", "TrainState"]
