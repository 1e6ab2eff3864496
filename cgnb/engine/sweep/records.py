"""What a sweep records: the part of the configuration that says so, the registry of gradient
statistics, and one record of one variant, all traced inside the compiled sweep.

Records are taken at steps ``0, record_every, ..., steps``. Training loss/accuracy (on the
variant's noisy labels), pristine/corrupt accuracy and ``first_learned`` use the *evaluation subset*,
the first ``eval_examples`` training examples (all by default); test metrics use the first
``test_examples`` test examples (all by default); the gradient statistics use the first
``stats_examples`` training examples. ``first_learned`` (N_eval,) is the first record step at which an
example is classified as its (noisy) training label, ``-1`` if never: its resolution is
``record_every`` steps, and an example counts as learned at the first record where it is correct,
even if it is forgotten later.

Adding a statistic is one entry in :data:`STATISTICS`.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, sections 2.2 and 2.4 (coherence, alpha_p / alpha_c).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

from .. import checks, losses, nets, stats
from .model import per_example_loss
from .types import Arrays, ConfigError, VariantArrays


@dataclasses.dataclass(frozen=True)
class Statistic:
    """A gradient statistic a sweep can record.

    Attributes:
      name: its key in :data:`STATISTICS` (and the name a config's ``stats`` lists).
      compute: ``compute(params, x (S, d), y (S,), pristine (S,), null_masks (n_null, S)) -> {name: value}``,
        the record's entries on the statistics subset.
      uses_null_masks: whether ``compute`` reads the null-world masks (they are drawn only then).
    """

    name: str
    compute: Callable[..., dict[str, jax.Array]]
    uses_null_masks: bool = False


def _alphas(params, x, y, pristine, null_masks) -> dict[str, jax.Array]:
    """Every scalar of :func:`cgnb.engine.stats.group_alphas` for the real pristine mask, and the same with
    prefix ``null_`` and shape (n_null,) for the null-world masks."""
    masks = jnp.concatenate([pristine[None], null_masks])  # (1 + n_null, S): real, then nulls
    alphas = stats.group_alphas_many(per_example_loss, params, x, y, masks)
    out = {k: v[0] for k, v in alphas.items()}
    if null_masks.shape[0]:
        out.update({f"null_{k}": v[1:] for k, v in alphas.items()})
    return out


def _coherence(params, x, y, pristine, null_masks) -> dict[str, jax.Array]:
    """``coherence``: :func:`cgnb.engine.stats.coherence` of the per-example gradients."""
    return {"coherence": stats.coherence(per_example_loss, params, x, y)}


def _contributions(params, x, y, pristine, null_masks) -> dict[str, jax.Array]:
    """``contribution`` (S,): :func:`cgnb.engine.stats.contributions`, each example's ``<g, g_i>``; the
    alphas of any number of null worlds are sums over it, taken after the run."""
    return {"contribution": stats.contributions(per_example_loss, params, x, y)}


def _model(params, x, y, pristine, null_masks) -> dict[str, jax.Array]:
    """The network itself on the statistics subset: ``weight_norm`` (L,) the Frobenius norm of each layer's
    weights, ``logit_spread`` the mean over examples of the largest minus the smallest logit, and
    ``dead_units`` (L - 1,) the fraction of each hidden layer's units that no example activates."""
    trace = nets.forward(params, x, intermediates=True)
    logits = trace.outputs
    return {"weight_norm": jnp.stack([jnp.linalg.norm(layer["w"]) for layer in params]),
            "logit_spread": jnp.mean(jnp.max(logits, axis=-1) - jnp.min(logits, axis=-1)),
            "dead_units": jnp.stack([jnp.mean(jnp.all(s == 0, axis=0)) for s in trace.masks])}


STATISTICS: dict[str, Statistic] = {
    "alphas": Statistic("alphas", _alphas, uses_null_masks=True),
    "coherence": Statistic("coherence", _coherence),
    "model": Statistic("model", _model),
    "contributions": Statistic("contributions", _contributions),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class RecordsConfig:
    """What every record of a sweep measures.

    Attributes:
      stats: statistics recorded, keys of :data:`STATISTICS`: ``"alphas"`` (alpha_p / alpha_c
        of :func:`cgnb.engine.stats.group_alphas` for the real pristine mask and for ``n_null``
        null-world masks), ``"coherence"`` (:func:`cgnb.engine.stats.coherence`), ``"model"`` (each
        layer's weight norm, the logit spread and each hidden layer's share of dead units) and
        ``"contributions"`` (each example's ``<g, g_i>``, (S,) per record).
      n_null: number of null-world masks (random permutations of the pristine mask over the
        statistics subset, fixed per variant).
      stats_examples: size of the statistics subset (first training examples).
      eval_examples: size of the training evaluation subset (first training examples); None = all.
      test_examples: size of the test subset; None = the whole test set.
      eval_batch: examples per forward pass when evaluating (bounds memory).
    """

    stats: tuple[str, ...] = ()
    n_null: int = 3
    stats_examples: int = 400
    eval_examples: int | None = None
    test_examples: int | None = None
    eval_batch: int = 1000

    def __post_init__(self):
        object.__setattr__(self, "stats", (self.stats,) if isinstance(self.stats, str) else tuple(self.stats))
        self.check_records()

    def check_records(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field of the records and how to fix it."""
        try:
            checks.integer("eval_batch", self.eval_batch, minimum=1)
            for name in ("n_null", "stats_examples"):
                checks.integer(name, getattr(self, name), minimum=0)
            for name in ("eval_examples", "test_examples"):
                checks.optional_integer(name, getattr(self, name), minimum=1)
        except ValueError as error:
            raise ConfigError(f"SweepConfig: {error}") from None
        unknown = [s for s in self.stats if s not in STATISTICS]
        if unknown:
            raise ConfigError(f"unknown stats {unknown}; use a tuple of {tuple(STATISTICS)}, e.g. stats=('alphas',)")
        if len(set(self.stats)) != len(self.stats):
            raise ConfigError(f"stats lists a statistic twice: {self.stats}")
        if self.stats and self.stats_examples < 2:
            raise ConfigError(f"stats_examples must be >= 2 to compute gradient statistics, got "
                              f"{self.stats_examples}")

    @property
    def draws_null_masks(self) -> bool:
        """Whether a recorded statistic reads null-world masks (and there are any)."""
        return bool(self.n_null) and any(STATISTICS[s].uses_null_masks for s in self.stats)

    def subset_sizes(self, arrays: Arrays) -> tuple[int, int, int]:
        """``(N_eval, N_test, S)``: sizes of the evaluation, test and statistics subsets of ``arrays``."""
        n, n_test = arrays.x_train.shape[0], arrays.x_test.shape[0]
        return (self.eval_examples or n, self.test_examples or n_test, min(self.stats_examples, n))


def _group_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of ``values`` over ``mask``; NaN for an empty group."""
    count = jnp.sum(mask)
    return jnp.where(count > 0, jnp.sum(jnp.where(mask, values, 0.0)) / jnp.maximum(count, 1), jnp.nan)


def measure(params: nets.Params, variant: VariantArrays, arrays: Arrays, records: RecordsConfig
            ) -> tuple[dict[str, jax.Array], jax.Array]:
    """One record of one variant, and which evaluation examples it classifies as their training label.

    Returns:
      ``(record, correct (N_eval,) bool)``; the record maps names to scalars, or to (n_null,) for the
      null-world statistics ``null_*``:
        train_loss, train_acc: evaluation subset, noisy labels;
        pristine_acc, corrupt_acc: the same accuracy on its pristine / corrupt examples (NaN for an
          empty group); corrupt_true_acc: corrupt examples classified as their original (clean) label;
        test_loss, test_acc: test subset;
        with ``"alphas"`` in ``records.stats``: alpha_p, alpha_c, dot_p, dot_c, sq_norm, norm, norm_p,
          norm_c, cos_pc, n_p, n_c, and the same with prefix ``null_``;
        with ``"coherence"``: coherence; with ``"contributions"``: contribution (S,).
    """
    n_eval, n_test, n_stats = records.subset_sizes(arrays)
    logits = nets.forward_in_blocks(params, arrays.x_train[:n_eval], records.eval_batch)
    labels, pristine = variant.labels[:n_eval], variant.pristine[:n_eval]
    predicted = jnp.argmax(logits, axis=-1)
    correct = predicted == labels
    test_logits = nets.forward_in_blocks(params, arrays.x_test[:n_test], records.eval_batch)
    record = {
        "train_loss": jnp.mean(losses.cross_entropy(logits, labels)),
        "train_acc": jnp.mean(correct),
        "pristine_acc": _group_mean(correct, pristine),
        "corrupt_acc": _group_mean(correct, ~pristine),
        "corrupt_true_acc": _group_mean(predicted == arrays.y_true[:n_eval], ~pristine),
        "test_loss": jnp.mean(losses.cross_entropy(test_logits, arrays.y_test[:n_test])),
        "test_acc": losses.accuracy(test_logits, arrays.y_test[:n_test]),
    }
    for name, statistic in STATISTICS.items():
        if name in records.stats:
            record.update(statistic.compute(params, arrays.x_train[:n_stats], variant.labels[:n_stats],
                                            variant.pristine[:n_stats], variant.null_masks))
    return record, correct


def learned(first_learned: jax.Array, correct: jax.Array, step: jax.Array) -> jax.Array:
    """``first_learned`` (N,) after a record at ``step`` with ``correct`` (N,): ``step`` where an example is
    correct and was not learned before (< 0), unchanged elsewhere."""
    return jnp.where((first_learned < 0) & correct, step, first_learned)


def update_first_learned(first_learned: jax.Array, correct: jax.Array, steps: jax.Array) -> jax.Array:
    """``first_learned`` (N,) after records at ``steps`` (R,) with ``correct`` (R, N): :func:`learned` record by record."""
    def one(first, inputs):
        ok, step = inputs
        return learned(first, ok, step), None

    return lax.scan(one, first_learned, (correct, steps))[0]


__all__ = ["Statistic", "STATISTICS", "RecordsConfig", "measure", "learned", "update_first_learned"]
