"""Chapter 6's experiments over variants and seeds: what the notebook measures at its two snapshots.

* :func:`learning_health` -- whether each run's loss fell before and still falls at the mid-training
  snapshot (a run that never learned supports no claim);
* :func:`agreement_tables` -- the 50 minibatch gradients at each snapshot, as trained and with the
  shared error removed (:func:`cgnb.chapters.minibatch_sensitivity.models.centre_output`);
  :func:`cosine_table` -- their mean pairwise cosines per seed (C6.1);
* :func:`roughness_tables` -- the nearby field's roughness per variant, seed and snapshot, with the
  frozen-mask control of dropout (C6.2); :func:`spacing_sweep` -- the same against the grid spacing,
  with batch norm's pre-normalisation bias ``b``;
* :func:`batch_size_study` -- agreement against the minibatch size and the gradient noise scale.

A run is ``trained["<variant>/<seed>"]`` of :func:`cgnb.chapters.minibatch_sensitivity.setting.train_variants`;
``variants[name]`` holds its ``batchnorm`` and ``dropout``, ``losses[name]`` its loss.

Reference: "Gradients are sensitive to minibatch composition" (blog post).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax
import numpy as np

from ...engine import curves, sampler
from . import claims, field, measures, models

WHENS = measures.WHENS
#: Seeds of the measurement minibatches, the dropout keys of the measurements and of the fields.
BATCH_SEED, KEY_SEED, FIELD_KEY_SEED, SIZE_SEED = 3000, 4000, 5000, 6000


def learning_health(trained: Mapping[str, Any], names: Sequence[str], seeds: Sequence[int], mid_step: int,
                    after: int) -> tuple[dict, dict]:
    """How each run's training loss moves around the mid-training snapshot.

    Returns ``(ratios, degenerate)``: ``ratios[name, seed]`` the mean loss over the ``after`` steps
    from the snapshot over that of as many steps before it (:func:`cgnb.engine.curves.falling_ratio`;
    below 1: still falling); ``degenerate[name]`` one line per run of that variant that never
    learned (its loss before the snapshot is not below its loss over the first steps, or not finite).
    The window is at most ``after`` steps and half the steps before the snapshot, so that the first
    steps and the last ones before the snapshot are different steps.
    """
    ratios, degenerate = {}, {name: [] for name in names}
    for name in names:
        for s in seeds:
            losses = np.asarray(trained[f"{name}/{s}"]["losses"], np.float64)
            window = max(1, min(after, mid_step // 2))   # the first and the last window before do not overlap
            ratios[name, s] = curves.falling_ratio(losses, mid_step, window)
            first, before = np.mean(losses[:window]), np.mean(losses[mid_step - window:mid_step])
            if not np.all(np.isfinite(losses)) or not before < first:
                degenerate[name].append(f"{name}, seed {s}: the loss never fell ({first:.3g} -> {before:.3g})")
    return ratios, degenerate


def measurement_batches(seeds: Sequence[int], n_train: int, batch_size: int, count: int) -> dict[int, np.ndarray]:
    """Per seed ``count`` disjoint minibatches (count, batch_size) of the training set, the same at both snapshots."""
    return {s: sampler.disjoint_batches(BATCH_SEED + s, n_train, batch_size, count) for s in seeds}


def agreement_tables(losses: Mapping[str, Any], variants: Mapping[str, Mapping], trained: Mapping[str, Any],
                     x: np.ndarray, y: np.ndarray, seeds: Sequence[int], batches: Mapping[int, np.ndarray],
                     pairs: Mapping[tuple, Sequence]) -> tuple[dict, dict]:
    """:func:`measures.agreement` of the minibatch gradients at each snapshot, as trained and centred.

    Args:
      losses, variants, trained: the variants' losses, settings and runs; x, y: the training set.
      seeds: the runs' seeds; batches: per seed (K, B) minibatch indices.
      pairs: per ``(name, seed)`` the bias pairs the gradients are projected on.

    Returns:
      ``(raw, centred)``, each ``{(name, seed, when): agreement dict}``; a dropout variant draws one
      key per minibatch (the same keys for both), as training does.
    """
    raw, centred = {}, {}
    for name, v in variants.items():
        for s in seeds:
            coords = [c for pair in pairs[name, s] for c in pair]
            keys = jax.random.split(jax.random.PRNGKey(KEY_SEED + s), len(batches[s])) if v["dropout"] else None
            for when in WHENS:
                params = trained[f"{name}/{s}"][when]
                for table, p in ((raw, params), (centred, models.centre_output(params, x, y))):
                    table[name, s, when] = measures.agreement(
                        measures.minibatch_gradients(losses[name], p, x, y, batches[s], coords, keys))
    return raw, centred


def cosine_table(raw: Mapping[tuple, Mapping], centred: Mapping[tuple, Mapping], names: Sequence[str],
                 seeds: Sequence[int]) -> dict:
    """The mean pairwise cosines of :func:`agreement_tables` per seed, as
    ``table[row][column][name, when]`` (seeds,) with rows "as trained" and "shared error removed" and
    columns "full gradient" and "two biases" (the mean over the bias pairs)."""
    columns = {claims.FULL: "cos_full", claims.TWO_BIASES: "cos_2d"}
    return {row: {column: measures.seed_table(t, key, list(names), seeds) for column, key in columns.items()}
            for row, t in ((claims.AS_TRAINED, raw), (claims.CENTRED, centred))}


def roughness_tables(losses: Mapping[str, Any], variants: Mapping[str, Mapping], trained: Mapping[str, Any],
                     x: np.ndarray, y: np.ndarray, seeds: Sequence[int], batches: Mapping[int, np.ndarray],
                     pairs: Mapping[tuple, Sequence], offsets: np.ndarray, field_batches: int
                     ) -> tuple[dict, dict]:
    """Roughness of the nearby field per variant, seed and snapshot, averaged over pairs and minibatches.

    Every variant is measured as in training (a dropout variant with a fresh mask at every grid
    point), and each dropout variant also with one frozen mask, labelled ``"<name>, frozen mask"``.

    Returns:
      ``(rough, shown)``: ``rough[label, seed, when]`` in degrees; ``shown[label, when]`` the field
      (n, n, 2) of the first seed's first pair and minibatch.
    """
    rough, shown = {}, {}
    for name, v in variants.items():
        modes = [(name, True)] + ([(f"{name}, frozen mask", False)] if v["dropout"] else [])
        for s in seeds:
            key = jax.random.PRNGKey(FIELD_KEY_SEED + s) if v["dropout"] else None
            for when in WHENS:
                for label, fresh in modes:
                    r, first = field.field_roughness(losses[name], trained[f"{name}/{s}"][when], pairs[name, s], x, y,
                                                     batches[s][:field_batches], offsets, key=key, fresh_noise=fresh)
                    rough[label, s, when] = float(r.mean())
                    if s == seeds[0]:
                        shown[label, when] = first
    return rough, shown


#: The spacing sweep's fields: label -> (variant, bias leaf or None for the pair's own, fresh noise).
SWEEP_FIELDS = {"plain": ("plain", None, True), "dropout": ("dropout", None, True),
                "batch norm": ("batch norm", None, True), "dropout, frozen mask": ("dropout", None, False),
                "batch norm, bias b": ("batch norm", "b", True)}


def spacing_sweep(losses: Mapping[str, Any], variants: Mapping[str, Mapping], trained: Mapping[str, Any],
                  x: np.ndarray, y: np.ndarray, seeds: Sequence[int], batches: Mapping[int, np.ndarray],
                  pairs: Mapping[tuple, Sequence], spacings: Sequence[float], grid_points: int) -> dict:
    """Mid-training roughness against the grid spacing, one bias pair and two minibatches per seed.

    Fields of :data:`SWEEP_FIELDS` (a variant missing from ``variants`` is skipped); ``"batch norm,
    bias b"`` moves the bias ``b`` in front of the normalisation (its gradient is zero up to rounding).

    Returns:
      ``{label: (seeds, spacings) roughness in degrees}``.
    """
    out = {}
    for label, (name, leaf, fresh) in SWEEP_FIELDS.items():
        if name not in variants:
            continue
        rows = []
        for s in seeds:
            params = trained[f"{name}/{s}"]["mid"]
            pair = tuple(models.bias_coords(params, (c[0],), c[2], leaf=leaf)[0] for c in pairs[name, s][0])
            key = jax.random.PRNGKey(FIELD_KEY_SEED + s) if variants[name]["dropout"] else None
            rows.append([float(field.field_roughness(losses[name], params, [pair], x, y, batches[s][:2],
                                                     field.grid_offsets(spacing, grid_points), key=key,
                                                     fresh_noise=fresh)[0].mean()) for spacing in spacings])
        out[label] = np.array(rows)
    return out


def pre_normalisation_ratio(loss: Any, trained: Mapping[str, Any], x: np.ndarray, y: np.ndarray,
                            seeds: Sequence[int], batches: Mapping[int, np.ndarray],
                            pairs: Mapping[tuple, Sequence], name: str = "batch norm") -> np.ndarray:
    """Per seed ``max |dJ/db| / mean |dJ/dbeta|`` mid-training on five minibatches: the size of the gradient
    of a batch-normalised layer's bias ``b`` (cancelled by the mean subtraction) against its shift ``beta``."""
    ratios = []
    for s in seeds:
        params = trained[f"{name}/{s}"]["mid"]
        beta = [c for pair in pairs[name, s] for c in pair]
        b = [models.bias_coords(params, (c[0],), c[2], leaf="b")[0] for c in beta]
        g_b, g_beta = (measures.minibatch_gradients(loss, params, x, y, batches[s][:5], coords).projected
                       for coords in (b, beta))
        ratios.append(float(np.abs(g_b).max() / np.abs(g_beta).mean()))
    return np.array(ratios)


def batch_size_study(loss: Any, trained: Mapping[str, Any], x: np.ndarray, y: np.ndarray, seeds: Sequence[int],
                     pairs: Mapping[tuple, Sequence], batch_sizes: Sequence[int], count: int, per_example_n: int,
                     name: str = "plain") -> dict:
    """Agreement of ``count`` minibatch gradients against the minibatch size, and the noise scale, mid-training.

    Returns a dict: ``by_size[key]`` (seeds, sizes) for ``alpha``, ``cos_full``, ``variance``;
    ``noise`` per seed the per-example :class:`measures.NoiseScale` of ``per_example_n`` examples;
    ``two_batch`` per seed McCandlish et al.'s estimate from the smallest and largest size.
    """
    by_size, noise, two_batch = {}, {}, {}
    for s in seeds:
        params = trained[f"{name}/{s}"]["mid"]
        for b in batch_sizes:
            index = sampler.disjoint_batches(SIZE_SEED + s, len(y), b, count)
            by_size[s, b] = measures.agreement(measures.minibatch_gradients(loss, params, x, y, index,
                                                                            pairs[name, s][0]))
        noise[s] = measures.per_example_gradient_stats(loss, params, x[:per_example_n], y[:per_example_n])
        lo, hi = min(batch_sizes), max(batch_sizes)
        two_batch[s] = measures.noise_scale_two_batches(lo, by_size[s, lo]["sq_norm"], hi, by_size[s, hi]["sq_norm"])
    table = {key: np.array([[by_size[s, b][key] for b in batch_sizes] for s in seeds])
             for key in ("alpha", "cos_full", "variance")}
    return {"by_size": table, "noise": noise, "two_batch": two_batch}
