"""Chapter 5's numbers as the prose cites them, formatted from a run (the notebook glues them by name).

Every function returns ``{name: text}``; names start with the run's glue prefix (e.g. ``quick_``), so
the prose of the quick run and of a stored run cite their own numbers.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 3.
"""
from __future__ import annotations

import numpy as np

from ...engine import verdicts
from . import claims, decisions
from .setting import Setting, Shown

PAPER_SIZES = (784, 256, 256, 256, 10)
PAPER_EXAMPLES = 60_000


def parameter_count(sizes) -> int:
    """Weights and biases of an MLP of widths ``sizes``."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def scale(setting: Setting, prefix: str) -> dict[str, str]:
    """The network, its parameters per training example and their ratio to the paper's."""
    own = parameter_count(setting.sizes) / setting.n_train
    paper = parameter_count(PAPER_SIZES) / PAPER_EXAMPLES
    return {f"{prefix}_network": "-".join(map(str, setting.sizes)),
            f"{prefix}_parameters": f"{parameter_count(setting.sizes):,}",
            f"{prefix}_per_example": f"{own:.2f}", "paper_per_example": f"{paper:.2f}",
            f"{prefix}_per_example_ratio": f"{own / paper:.2f}"}


def _mean_end(cell, name: str, index=None) -> float:
    values = [np.asarray(getattr(curve, name))[-1] for curve in cell]
    return float(np.mean([v if index is None else v[index] for v in values]))


def mechanism(run: Shown, noise: float, prefix: str) -> dict[str, str]:
    """At one noise level: the output layer's weight norm at the start and at the end for plain SGD and the
    largest c, the largest logit spread at that c, and its dead units at the end (last two hidden layers)."""
    if not run.has_model:
        return {}
    c = max(run.setting.cs)
    plain, strong = run.grid[(0, noise)], run.grid[(c, noise)]
    tag = f"{prefix}_{round(100 * noise)}"
    spread = max(float(np.mean([curve.logit_spread[k] for curve in strong])) for k in range(len(strong[0].steps)))
    out = {f"{tag}_norm_start": f"{float(np.mean([cv.weight_norm[0, -1] for cv in plain])):.1f}",
           f"{tag}_norm_sgd": f"{_mean_end(plain, 'weight_norm', -1):.1f}",
           f"{tag}_norm_strong": f"{_mean_end(strong, 'weight_norm', -1):.1f}",
           f"{tag}_spread_strong": f"{spread:.0f}", f"{tag}_spread_sgd": f"{_mean_end(plain, 'logit_spread'):.0f}",
           f"{tag}_dead_last": f"{_mean_end(strong, 'dead_units', -1):.0%}"}
    if strong[0].dead_units.shape[1] > 1:
        out[f"{tag}_dead_before"] = f"{_mean_end(strong, 'dead_units', -2):.0%}"
    return out


def splits(run: Shown, prefix: str) -> dict[str, str]:
    """Per claim, how its deciding checks split in this run, e.g. ``holds in 3 of 9 checks, not
    reproduced in 6``; and how many runs of the grid's cells were degenerate."""
    out = {}
    for claim in run.ledger.chapter.claims:
        found = [r["verdict"] for r in run.ledger.records.values() if r["claim"] == claim.id and r["decides"]]
        out[f"{prefix}_{claim.id.replace('.', '')}_split"] = verdicts.counts(found) if found else "not testable"
    return out


def degenerate(run: Shown, lines: dict, prefix: str) -> dict[str, str]:
    """How many of the grid's winsorized runs collapsed or never learned, of how many."""
    total = sum(len(cell) for (c, _), cell in run.grid.items() if c > 0)
    bad = len({line.split(": ", 1)[0] for (c, _), found in lines.items() if c > 0 for line in found})
    return {f"{prefix}_degenerate": f"{bad} of {total}"}


def numbers(shown: list[Shown], noise: float) -> dict[str, str]:
    """Every number the chapter's prose cites, by glue name: the rules' thresholds, and per run (prefix
    ``own`` for the first, the stored run's name for the others) its splits, its degenerate runs and its
    mechanism at ``noise``."""
    out = {"tolerance": f"{claims.MEMORIZATION_TOLERANCE:.0%}", "drop": f"{claims.DROP_THRESHOLD:g}"}
    for k, run in enumerate(shown):
        prefix = "own" if k == 0 else run.name
        out.update({**splits(run, prefix), **degenerate(run, decisions.health(run), prefix),
                    **mechanism(run, noise, prefix)})
    return out
