"""The numbers and verdicts chapter 4's prose cites, glued from the run (:func:`cgnb.engine.display.glue`).

Each function computes one group of values and glues them under ``cg-*`` keys (a key ending in
``-table`` as Markdown); the notebook's Markdown cites them with ``{glue:text}`` or ``{glue:md}``, so
the text never types a measured number or a verdict. Each returns what it glued (for the tests).

Reference: myst-nb's ``glue`` (https://myst-nb.readthedocs.io/en/latest/render/glue.html).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ...engine import display, plots
from ...engine import findings as findings_lib
from . import decisions, measures, setting
from .claims import REACH_LEVELS

#: The claims whose rules one dropdown of the chapter shows, and its glue key.
RULE_GROUPS = ((("C4.1", "C4.2"), "cg-rules-41"), (("C4.3", "C4.4"), "cg-rules-43"), (("C4.5",), "cg-rules-45"),
               (("C4.6",), "cg-rules-46"))


def publish(values: dict[str, str]) -> dict[str, str]:
    """Glue every value under its key (Markdown for keys ending in ``-table``); returns ``values``."""
    for key, value in values.items():
        display.glue(key, value, markdown=key.endswith("-table"))
    return values


def setup(own: setting.Setting) -> dict[str, str]:
    """The scale of this run in words and beside the paper's, its seeds, null worlds and first steps."""
    return publish({
        "cg-scale": f"{own.n_train:,} {own.source} images, an MLP 784-{own.width}-10 and {own.steps:,} SGD steps",
        "cg-scale-table": setting.scale_table(own),
        "cg-n-seeds": f"{len(own.seeds)}",
        "cg-null-worlds": f"{own.null_worlds:,}",
        "cg-contribution-steps": f"{own.contribution_steps}",
    })


def speed(shown: Sequence, levels: Sequence[float]) -> dict[str, str]:
    """The steps-to-reach tables of this run and the stored run, and the stored run's loss spike at 75 % noise."""
    values = {}
    for key, run in zip(("own", "stored"), shown):
        values[f"cg-reach-{key}-table"] = plots.markdown_table(*measures.reach_table(run.result, levels, REACH_LEVELS))
    if len(shown) > 1 and measures.has_level(shown[1].result, 0.75):
        step, before, after = measures.largest_jump(shown[1].result, "train_loss", 0.75)
        values.update({"cg-spike-step": f"{step:,}", "cg-spike-from": f"{before:.2g}", "cg-spike-to": f"{after:.2g}"})
    return publish(values)


def coherence(shown: Sequence, levels: Sequence[float]) -> dict[str, str]:
    """This run's coherence at step 0 per noise level, and its m-coherence at 100 % noise: at the start, lowest
    in the first half of the run, largest and where (means over seeds)."""
    early = shown[0].early
    start = [float(np.mean(np.asarray(early["coherence"])[np.isclose(early["noise"], n), 0])) for n in levels]
    values = {"cg-coherence-start": ", ".join(f"{c:.3g} at {n:.0%}" for c, n in zip(start, levels))}
    result = shown[0].result
    if measures.has_level(result, 1.0):
        mc = measures.m_coherence(result, 1.0).mean(axis=0)
        low, peak = int(np.argmin(mc[:len(mc) // 2])), int(np.argmax(mc))
        values.update({"cg-mc-start": f"{mc[0]:.2g}", "cg-mc-low": f"{mc[low]:.2g}", "cg-mc-peak": f"{mc[peak]:.2g}",
                       "cg-mc-peak-step": f"{int(result.steps[peak]):,}"})
    return publish(values)


def verdicts(found: Sequence[findings_lib.Finding], shown: Sequence) -> dict[str, str]:
    """Each claim's verdict in this run (``cg-C4.1-own``) and in the stored run (``cg-C4.1-stored``)."""
    keys = {run.name: key for key, run in zip(("own", "stored"), shown)}
    values = {f"cg-{f.claim.id}-{keys[f.profile]}": f.verdict for f in found if f.profile in keys}
    if len(shown) < 2:
        values.update({f"cg-{f.claim.id}-stored": "not shown (no stored run here)" for f in found})
    return values


def findings(chapter, shown: Sequence) -> dict[str, str]:
    """The findings box (one verdict per claim and run), the verdicts the discussion cites and the rules the
    dropdowns show."""
    records = [r for run in shown for r in run.ledger.records.values()]
    found = findings_lib.findings(chapter, records, profiles=[run.name for run in shown])
    values = {"cg-findings-table": findings_lib.markdown_table(found), **verdicts(found, shown)}
    values.update({f"{key}-table": decisions.rules_markdown(ids) for ids, key in RULE_GROUPS})
    return publish(values)
