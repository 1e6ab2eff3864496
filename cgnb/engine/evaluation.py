"""Recording a sweep's variant: one record (losses, accuracies, gradient statistics) and
``first_learned``, all traced inside the compiled sweep (:mod:`cgnb.engine.sweep`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
from jax import lax

from . import losses, nets, stats
from .sweep_config import SweepConfig, per_example_loss

if TYPE_CHECKING:  # the compiled programs' input types live with the sweep
    from .sweep import Arrays, VariantArrays


def predict_logits(params: losses.Params, x: jax.Array, block: int) -> jax.Array:
    """Logits (N, K) for x (N, d), computed ``block`` examples at a time to bound memory."""
    n = x.shape[0]
    if n <= block:
        return nets.forward(params, x)
    pad = (-n) % block
    xb = jnp.pad(x, ((0, pad), (0, 0))).reshape(-1, block, x.shape[1])
    logits = lax.map(lambda chunk: nets.forward(params, chunk), xb)
    return logits.reshape(-1, logits.shape[-1])[:n]


def _group_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of ``values`` over ``mask``; NaN for an empty group."""
    count = jnp.sum(mask)
    return jnp.where(count > 0, jnp.sum(jnp.where(mask, values, 0.0)) / jnp.maximum(count, 1), jnp.nan)


def eval_sizes(config: SweepConfig, arrays: Arrays) -> tuple[int, int, int]:
    """``(N_eval, N_test, S)``: sizes of the evaluation, test and statistics subsets."""
    n, n_test = arrays.x_train.shape[0], arrays.x_test.shape[0]
    return (config.eval_examples or n, config.test_examples or n_test, min(config.stats_examples, n))


def _gradient_stats(params: losses.Params, x: jax.Array, y: jax.Array, pristine: jax.Array,
                    null_masks: jax.Array, config: SweepConfig) -> dict[str, jax.Array]:
    """The requested statistics on the statistics subset x (S, d), y (S,), pristine (S,).

    ``null_masks`` (n_null, S) are the null worlds' pristine masks.
    """
    out = {}
    if "alphas" in config.stats:
        masks = jnp.concatenate([pristine[None], null_masks])  # (1 + n_null, S): real, then nulls
        alphas = stats.group_alphas_many(per_example_loss, params, x, y, masks)
        out.update({k: v[0] for k, v in alphas.items()})
        if config.n_null:
            out.update({f"null_{k}": v[1:] for k, v in alphas.items()})
    if "coherence" in config.stats:
        out["coherence"] = stats.coherence(per_example_loss, params, x, y)
    return out


def evaluate(params: losses.Params, step: jax.Array, first_learned: jax.Array, variant: VariantArrays,
             arrays: Arrays, config: SweepConfig) -> tuple[dict[str, jax.Array], jax.Array]:
    """One record of one variant (:func:`measure`), and ``first_learned`` updated with this record step."""
    record, correct = measure(params, variant, arrays, config)
    return record, jnp.where((first_learned < 0) & correct, step, first_learned)


def measure(params: losses.Params, variant: VariantArrays, arrays: Arrays, config: SweepConfig
            ) -> tuple[dict[str, jax.Array], jax.Array]:
    """One record of one variant, and which evaluation examples it classifies as their training label.

    Returns ``(record, correct (N_eval,) bool)``; the record maps names to scalars, or to (n_null,)
    for the null-world statistics ``null_*``:
      train_loss, train_acc: evaluation subset, noisy labels;
      pristine_acc, corrupt_acc: the same accuracy on its pristine / corrupt examples
        (NaN for an empty group); corrupt_true_acc: corrupt examples classified as their
        original (clean) label;
      test_loss, test_acc: test subset;
      with ``"alphas"`` in ``config.stats``: every scalar of :func:`cgnb.engine.stats.group_alphas`
        on the statistics subset (alpha_p, alpha_c, dot_p, dot_c, sq_norm, norm, norm_p, norm_c,
        cos_pc, n_p, n_c) for the real pristine mask, and the same with prefix ``null_`` and
        shape (n_null,) for the null-world masks;
      with ``"coherence"``: coherence, :func:`cgnb.engine.stats.coherence` on the statistics subset.
    """
    n_eval, n_test, n_stats = eval_sizes(config, arrays)
    logits = predict_logits(params, arrays.x_train[:n_eval], config.eval_batch)
    labels, pristine = variant.labels[:n_eval], variant.pristine[:n_eval]
    predicted = jnp.argmax(logits, axis=-1)
    correct = predicted == labels
    test_logits = predict_logits(params, arrays.x_test[:n_test], config.eval_batch)
    record = {
        "train_loss": jnp.mean(losses.cross_entropy(logits, labels)),
        "train_acc": jnp.mean(correct),
        "pristine_acc": _group_mean(correct, pristine),
        "corrupt_acc": _group_mean(correct, ~pristine),
        "corrupt_true_acc": _group_mean(predicted == arrays.y_true[:n_eval], ~pristine),
        "test_loss": jnp.mean(losses.cross_entropy(test_logits, arrays.y_test[:n_test])),
        "test_acc": losses.accuracy(test_logits, arrays.y_test[:n_test]),
    }
    if config.stats:
        record.update(_gradient_stats(params, arrays.x_train[:n_stats], variant.labels[:n_stats],
                                      variant.pristine[:n_stats], variant.null_masks, config))
    return record, correct


def update_first_learned(first_learned: jax.Array, correct: jax.Array, steps: jax.Array) -> jax.Array:
    """``first_learned`` (N,) after records at ``steps`` (R,) with ``correct`` (R, N): the first record
    step at which each example is correct, kept where it was already set (>= 0)."""
    def one(first, inputs):
        ok, step = inputs
        return jnp.where((first < 0) & ok, step, first), None

    return lax.scan(one, first_learned, (correct, steps))[0]
