"""Chapter 5's checks on one run: each claim's statistic measured per seed and decided in the run's ledger.

A run is a :class:`cgnb.chapters.winsorized_sgd.setting.Shown` (the quick run or a stored run). Every
winsorized run is first tested for collapse and failure to learn (:func:`health`); a check resting on
such a run is decided with those lines as ``degenerate`` (``"not testable"`` unless the claim is about
such runs). :func:`decide_c51` ... :func:`decide_c55` decide one claim each, in the claims' order.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 3.
"""
from __future__ import annotations

import jax
import numpy as np

from ...engine import data as data_lib
from ...engine import nets
from . import claims, measures, updates
from .setting import Setting, Shown


def cell_label(c: int, noise: float) -> str:
    """A check's cell, e.g. ``"c = 4, 25 %"``."""
    return f"c = {c}, {percent(noise)}"


def percent(noise: float) -> str:
    """A noise level as the checks name it, e.g. ``"25 %"``."""
    return f"{100 * noise:g} %"


def _by_seed(cell: list[measures.VariantCurves]) -> dict[int, measures.VariantCurves]:
    return {curve.seed: curve for curve in cell}


def health(run: Shown) -> dict[tuple[int, float], list[str]]:
    """``{(c, noise): lines}``: every run of the grid that collapsed or never learned, one line each.

    A winsorized run is compared with plain SGD at the same noise level and seed
    (:func:`cgnb.chapters.winsorized_sgd.measures.health_lines`); a plain SGD run is only tested for
    collapse (it is its own reference).
    """
    examples = run.setting.n_train
    found = {}
    for (c, noise), cell in run.grid.items():
        plain = _by_seed(run.grid[(0, noise)])
        found[(c, noise)] = [line for curve in cell
                             for line in measures.health_lines(curve, plain[curve.seed], examples)]
    return found


def health_rows(run: Shown) -> list[list[str]]:
    """Table rows ``[cell, what happened]`` of every degenerate run of the grid (none: one row saying so)."""
    rows = [[cell_label(c, n), line.split(": ", 1)[1]] for (c, n), lines in health(run).items() for line in lines]
    return rows or [["every cell", "no run collapsed or failed to learn"]]


def decide_c51(ledger, setting: Setting, data: data_lib.Dataset) -> None:
    """C5.1 on a setting's network: one update on its first minibatch (clean labels) from a fresh
    initialisation, at c = 0 against plain SGD and at each c > 0 against sort-and-clip in float64."""
    params = nets.init(jax.random.PRNGKey(1), setting.sizes)
    x, y = data.x_train[:setting.batch_size], data.y_train[:setting.batch_size]
    difference = updates.update_difference(params, x, y, lr=setting.lr, c_max=2)
    ledger.decide("C5.1", difference["relative"], rule="plain-at-c0",
                  note=f"Bit-for-bit equal: {'yes' if difference['bitwise'] else 'no'}.")
    for c in setting.cs[1:]:
        ledger.decide("C5.1", updates.sort_and_clip_gap(params, x, y, lr=setting.lr, c=c), rule="sort-and-clip",
                      cell=f"c = {c}")


def decide_c52(run: Shown) -> None:
    """C5.2 per cell (c > 0, each claim level): the corrupt labels fitted beyond chance, per seed.

    Plain SGD at the same noise level is the control: where it memorized no more than the tolerance
    either (mean over its seeds), the run is too short or too small to memorize at all, so a cell that
    did not memorize either could not have failed the check and is not testable (a cell that memorized
    more than the tolerance is still "not reproduced").
    """
    lines = health(run)
    for noise in run.setting.claim_levels:
        plain = float(np.mean([measures.memorization(curve) for curve in run.grid[(0, noise)]]))
        control = "" if plain > claims.MEMORIZATION_TOLERANCE else (
            f"plain SGD at {percent(noise)} memorized no more than the tolerance either (mean excess {plain:.3f} <= "
            f"{claims.MEMORIZATION_TOLERANCE}): this run cannot show that winsorization prevents memorization")
        for c in run.setting.cs[1:]:
            values = [measures.memorization(curve) for curve in run.grid[(c, noise)]]
            vacuous = control if np.mean(values) <= claims.MEMORIZATION_TOLERANCE else ""
            run.ledger.decide("C5.2", values, rule="not-memorized", cell=cell_label(c, noise),
                              degenerate=lines[(c, noise)], not_testable=vacuous)


def _per_seed(run: Shown, noise: float, statistic) -> np.ndarray:
    """(len(cs), seeds): ``statistic(curve)`` per level c (rows) and seed (columns, the same seeds in each row)."""
    rows = [_by_seed(run.grid[(c, noise)]) for c in run.setting.cs]
    seeds = sorted(rows[0])
    if any(sorted(row) != seeds for row in rows):
        raise ValueError(f"noise {noise:.0%}: the levels of c were run with different seeds")
    return np.array([[statistic(row[seed]) for seed in seeds] for row in rows])


def decide_c53(run: Shown) -> None:
    """C5.3 per claim level: the mean overfit falls from c = 0 to the largest c, and at every step of c."""
    lines, cs = health(run), run.setting.cs
    for noise in run.setting.claim_levels:
        overfit = _per_seed(run, noise, measures.mean_overfit)
        run.ledger.decide("C5.3", overfit[0] - overfit[-1], rule="falls", cell=percent(noise),
                          degenerate=lines[(cs[0], noise)] + lines[(cs[-1], noise)])
        run.ledger.decide("C5.3", np.max(np.diff(overfit, axis=0), axis=0), rule="monotone", cell=percent(noise),
                          degenerate=[line for c in cs for line in lines[(c, noise)]])


def decide_c54(run: Shown) -> None:
    """C5.4 per claim level at the largest c: both accuracies' drop from their peak, per seed; collapsed
    runs count (the claim is about them) and are named in the note."""
    lines, c = health(run), max(run.setting.cs)
    for noise in run.setting.claim_levels:
        values = [measures.decline(curve) for curve in run.grid[(c, noise)]]
        run.ledger.decide("C5.4", values, rule="peaks-declines", cell=cell_label(c, noise),
                          degenerate=lines[(c, noise)], note="; ".join(lines[(c, noise)]))


def decide_c55(run: Shown) -> None:
    """C5.5: the output layer's weight norm at the largest c over plain SGD's, per claim level and seed;
    with a control, the decline at each smaller learning rate (runs that never learned support nothing).
    A run that did not record the network decides nothing (its ledger marks C5.5 not testable:
    :func:`cgnb.chapters.winsorized_sgd.claims.for_run`)."""
    if not run.has_model:
        return
    lines, c = health(run), max(run.setting.cs)
    for noise in run.setting.claim_levels:
        plain = _by_seed(run.grid[(0, noise)])
        values = [measures.output_norm_ratio(curve, plain[curve.seed]) for curve in run.grid[(c, noise)]]
        run.ledger.decide("C5.5", values, rule="outgrows-sgd", cell=cell_label(c, noise),
                          degenerate=lines[(c, noise)], note="; ".join(lines[(c, noise)]))
    for lr, cell in run.control.items():
        plain = _by_seed(run.grid[(0, cell[0].noise)])
        never = [line for curve in cell for line in
                 measures.health_lines(curve, plain[curve.seed], run.setting.n_train, collapse=False)]
        run.ledger.decide("C5.5", [measures.decline(curve) for curve in cell], rule="smaller-rate",
                          cell=f"{cell_label(c, cell[0].noise)}, lr {lr:g}", degenerate=never)
