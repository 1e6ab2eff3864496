"""Chapter 4's claims decided on a run: the statistics of :mod:`.claims`' rules, measured and handed to the ledger.

One function per claim takes a shown run (:class:`cgnb.chapters.coherent_gradients.setting.Shown`)
and returns the ledger's results; :func:`decide` runs them for every shown run and shows one table
of verdicts, the runs side by side. Nothing here chooses a verdict: the engine decides each check by
its rule (:func:`cgnb.engine.verdicts.decide`). A check resting on a run that collapsed or never
learned, or on a gap the records cannot resolve, is passed as degenerate and is not testable.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 2.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np

from ...engine import display, ledger as ledger_lib
from . import claims, measures
from .claims import BLOCKS, CONTRIBUTION_LEVEL, CROSSING_LEVELS, FITTED, REACH_LEVELS


def percent(noise: float) -> str:
    """A noise level as a cell name, e.g. ``"25 %"``."""
    return f"{noise:.0%}".replace("%", " %")


def pairs(levels: Sequence[float]) -> list[tuple[float, float]]:
    """Neighbouring noise levels, lower first."""
    return list(zip(levels[:-1], levels[1:]))


def pair_cell(a: float, b: float) -> str:
    return f"{percent(a)} → {percent(b)}"


def at_end(result, name: str, noise: float) -> np.ndarray:
    """Record ``name`` at the last record, per seed: (S,)."""
    return measures.by_noise(result, name, noise)[:, -1]


def check_seeds(result, a: float, b: float) -> None:
    """Raise ValueError unless noise levels ``a`` and ``b`` ran the same seeds in the same order (paired values)."""
    seeds = [np.asarray(result.seed)[result.index(noise=n)].tolist() for n in (a, b)]
    if seeds[0] != seeds[1]:
        raise ValueError(f"noise levels {a} and {b} ran different seeds {seeds}; their values cannot be paired")


# ----------------------------------------------------------------------------- C4.1 - C4.4: Figures 1 and 2


def fits(run) -> list:
    """C4.1 per noise level: the final training accuracy of each seed."""
    result = run.result
    out = []
    for n in measures.noise_levels(result):
        note = ""
        if run.setting.steps > 100_000:
            at = int(np.searchsorted(result.steps, 100_000))
            note = (f"At step 100,000 (the paper's length) the training accuracy was "
                    f"{measures.by_noise(result, 'train_acc', n)[:, at].mean():.3f}.")
        out.append(run.ledger.decide("C4.1", at_end(result, "train_acc", n), cell=percent(n),
                                     degenerate=measures.degenerate(result, n), note=note))
    return out


def per_pair(run, claim: str, rule: str, difference: Callable[[float, float], np.ndarray]) -> list:
    """Decide ``rule`` of ``claim`` on ``difference(a, b)`` (S,) for each pair of neighbouring noise levels."""
    result, out = run.result, []
    for a, b in pairs(measures.noise_levels(result)):
        check_seeds(result, a, b)
        out.append(run.ledger.decide(claim, difference(a, b), rule=rule, cell=pair_cell(a, b),
                                     degenerate=measures.degenerate(result, a) + measures.degenerate(result, b)))
    return out


def test_accuracy(run) -> list:
    """C4.2: the drop in final test accuracy between neighbouring noise levels, and 100 % noise at chance."""
    result = run.result
    out = per_pair(run, "C4.2", "falls", lambda a, b: at_end(result, "test_acc", a) - at_end(result, "test_acc", b))
    if measures.has_level(result, 1.0):
        out.append(run.ledger.decide("C4.2", at_end(result, "test_acc", 1.0), rule="chance", cell=percent(1.0),
                                     degenerate=measures.degenerate(result, 1.0), examples=run.n_test))
    else:
        out.append(untested(run, "C4.2", "chance", percent(1.0), "100 % noise was not run"))
    return out


def unresolved(reach: np.ndarray, seeds: np.ndarray, a: float, b: float, accuracy: float, records: int) -> list[str]:
    """Lines for the seeds whose gap in reaching ``accuracy`` the records cannot measure: neither level reaches
    it in the run, or both by the first record after step 0."""
    lines = []
    for seed, first, second in zip(seeds, *reach):
        if first == second == records:
            lines.append(f"seed {int(seed)}: neither {percent(a)} nor {percent(b)} noise reaches training accuracy "
                         f"{accuracy} within the run, so there is no gap to measure")
        elif first <= 1 and second <= 1:
            lines.append(f"seed {int(seed)}: {percent(a)} and {percent(b)} noise both reach training accuracy "
                         f"{accuracy} by the first record, which cannot resolve the gap")
    return lines


def learning_speed(run) -> list:
    """C4.3: the early loss slope and the records to reach each accuracy, between neighbouring noise levels."""
    result, levels = run.result, measures.noise_levels(run.result)

    def slope(n: float) -> np.ndarray:
        return measures.early_loss_slope(measures.by_noise(result, "train_loss", n), result.steps, run.slope_steps)

    out = per_pair(run, "C4.3", "slope", lambda a, b: slope(a) - slope(b))
    seeds = np.asarray(result.seed)[result.index(noise=levels[0])]
    for accuracy in REACH_LEVELS:
        reach = measures.reach_records(result, levels, accuracy)
        for i, (a, b) in enumerate(pairs(levels)):
            lines = unresolved(reach[i:i + 2], seeds, a, b, accuracy, len(result.steps))
            out.append(run.ledger.decide("C4.3", reach[i + 1] - reach[i], rule="reach",
                                         cell=f"{accuracy}, {pair_cell(a, b)}",
                                         degenerate=lines + measures.degenerate(result, a) + measures.degenerate(result, b)))
    return out


def first_learned_records(result, noise: float, pristine: bool) -> np.ndarray:
    """Per seed, the median record at which the group's examples were first classified as their label (S,);
    never learned: one record past the end."""
    index = result.index(noise=noise)
    first = np.asarray(result.first_learned)[index].astype(float)
    records = measures.record_index(result.steps, np.where(first < 0, np.inf, first))
    masks = np.asarray(result.pristine)[index] == pristine
    return np.array([np.median(r[m]) for r, m in zip(records, masks)])


def pristine_first(run) -> list:
    """C4.4 at each noise level strictly between 0 and 100 %: corrupt minus pristine median first-learned record."""
    result = run.result
    out = []
    for n in [n for n in measures.noise_levels(result) if 0 < n < 1]:
        gap = first_learned_records(result, n, False) - first_learned_records(result, n, True)
        out.append(run.ledger.decide("C4.4", gap, cell=percent(n), degenerate=measures.degenerate(result, n)))
    return out or [untested(run, "C4.4", "sooner", "", "no noise level strictly between 0 and 100 % was run")]


# ----------------------------------------------------------------------------- C4.5 and C4.6: Figures 3-6


def alpha_gap(result, noise: float) -> np.ndarray:
    """``alpha_p - alpha_c`` per seed and record: (S, R)."""
    return measures.by_noise(result, "alpha_p", noise) - measures.by_noise(result, "alpha_c", noise)


def crossing_values(result, noise: float, worlds: int) -> dict:
    """C4.5's statistics at one noise level: ``starts`` (S,), ``crossing`` (per seed, or per block of one seed's
    window), ``null`` (S,) the fraction of each seed's null worlds that cross, ``worlds`` (K), ``windows``
    (S, 2) in records, and ``missing``, one line per seed whose window never opens."""
    index = result.index(noise=noise)
    share = measures.pristine_share(np.asarray(result.pristine)[index], result.config.stats_examples)
    gap, nulls = alpha_gap(result, noise), measures.null_alpha_gaps(result, noise, worlds)
    start, end = measures.fitted_window(result, noise, FITTED)
    last = len(result.steps) - 1
    missing = [f"seed {int(s)}: the pristine examples never reach training accuracy {FITTED}, so the window "
               f"never opens" for s, a in zip(np.asarray(result.seed)[index], start) if np.isnan(a)]
    windows = np.stack([np.nan_to_num(start, nan=last), np.nan_to_num(end, nan=last)], axis=1).astype(int)
    blocks = BLOCKS if len(gap) == 1 else 1
    crossing = np.concatenate([measures.window_means(g, a, b, blocks) for g, (a, b) in zip(gap, windows)])
    null = np.array([np.mean(measures.window_means(k.T, a, b)[:, 0] < 0) for k, (a, b) in zip(nulls, windows)])
    starts = measures.by_noise(result, "alpha_p", noise)[:, 0] - share
    return {"starts": starts, "crossing": crossing, "null": null, "worlds": nulls.shape[-1],
            "windows": windows, "missing": missing}


def crossing(run) -> list:
    """C4.5 at 25 % and 50 % noise: alpha_p starts above its share, crosses below alpha_c in the window from the
    pristine examples fitted to the corrupt ones fitted, and the null worlds do not cross there."""
    result, out = run.result, []
    for n in CROSSING_LEVELS:
        if not measures.has_level(result, n):
            out += [untested(run, "C4.5", rule, percent(n), f"{percent(n)} noise was not run")
                    for rule in ("starts-above", "crossing", "null-quiet")]
            continue
        v, bad = crossing_values(result, n, run.setting.null_worlds), measures.degenerate(result, n)
        steps = result.steps[v["windows"]]
        note = "Windows (steps): " + ", ".join(f"{a:,}–{b:,}" for a, b in steps) + "."
        out.append(run.ledger.decide("C4.5", v["starts"], rule="starts-above", cell=percent(n), degenerate=bad))
        out.append(run.ledger.decide("C4.5", v["crossing"], rule="crossing", cell=percent(n),
                                     degenerate=bad + v["missing"], note=note))
        out.append(run.ledger.decide("C4.5", v["null"], rule="null-quiet", cell=percent(n),
                                     degenerate=bad + v["missing"], examples=len(v["null"]) * v["worlds"],
                                     note=f"{v['worlds']:,} null worlds per seed. " + note))
    return out


def contribution_p_values(early: dict, noise: float) -> np.ndarray:
    """Per seed, the fraction of its null worlds whose pristine-minus-corrupt gap is at least the real one (S,)."""
    index = np.flatnonzero(np.isclose(np.asarray(early["noise"], float), noise))
    gap, null_gap = np.asarray(early["gap"])[index], np.asarray(early["null_gap"])[index]
    return np.mean(null_gap >= gap[:, None], axis=1)


def contributions_beyond_null(run) -> list:
    """C4.6 at 75 % noise: the permutation p-value of the real contribution gap after the first steps."""
    if not measures.has_level(run.result, CONTRIBUTION_LEVEL):
        return [untested(run, "C4.6", "beyond-null", percent(CONTRIBUTION_LEVEL), "75 % noise was not run")]
    p = contribution_p_values(run.early, CONTRIBUTION_LEVEL)
    worlds = np.asarray(run.early["null_gap"]).shape[1]
    examples = run.setting.early_examples or run.setting.n_train
    return [run.ledger.decide("C4.6", p, cell=percent(CONTRIBUTION_LEVEL), examples=len(p) * worlds,
                              degenerate=measures.degenerate(run.result, CONTRIBUTION_LEVEL),
                              note=f"{worlds:,} null worlds per seed; contributions of {examples:,} examples, "
                                   f"all weights.")]


# ----------------------------------------------------------------------------- deciding and showing


def untested(run, claim: str, rule: str, cell: str, why: str):
    """A check this run cannot make (a noise level it did not run): recorded as not testable, with the reason."""
    return run.ledger.decide(claim, [0.0], rule=rule, cell=cell, degenerate=[why],
                             note="No value: the check could not be made.")


DECIDERS: dict[str, Callable] = {"C4.1": fits, "C4.2": test_accuracy, "C4.3": learning_speed, "C4.4": pristine_first,
                                 "C4.5": crossing, "C4.6": contributions_beyond_null}


def measured(record: dict) -> str:
    """A record's estimate and band, e.g. ``0.998 [0.996, 1]``."""
    value = f"{record['estimate']:.3g}"
    return value + (f" [{record['low']:.3g}, {record['high']:.3g}]" if record["high"] > record["low"] else "")


def verdict_cell(record: dict) -> str:
    """The verdict with its icon, carrying the check's anchor (the claims page links to it)."""
    anchor = ledger_lib.anchor(record["claim"], record["rule"], record["cell"], record["profile"])
    return f'<span id="{anchor}"></span>{ledger_lib.ICONS[record["verdict"]]} {record["verdict"]}'


def table(results: Iterable, labels: dict[str, str] | None = None) -> str:
    """The results of several runs as one Markdown table: a row per check, a measured and a verdict column per run."""
    rows: dict[tuple, dict[str, dict]] = {}
    profiles: list[str] = []
    for result in results:
        r = result.record
        rows.setdefault((r["claim"], r["rule"], r["cell"]), {})[r["profile"]] = r
        profiles += [r["profile"]] if r["profile"] not in profiles else []
    labels = labels or {}
    header = ["check", "needs"] + [h for p in profiles for h in (labels.get(p, p), "verdict")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (claim, rule, cell), by_profile in rows.items():
        first = next(iter(by_profile.values()))
        cells = [f"{claim} {rule}" + (f", {cell}" if cell else ""), f"{first['op']} {first['threshold']:.3g}"]
        for p in profiles:
            r = by_profile.get(p)
            cells += [measured(r), verdict_cell(r)] if r else ["–", "–"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def decide(shown: Sequence, *claim_ids: str) -> str:
    """Decide ``claim_ids`` on every shown run and show their verdicts side by side; returns the table.

    Raises:
      KeyError: an id that is not one of chapter 4's claims.
    """
    unknown = [c for c in claim_ids if c not in DECIDERS]
    if unknown:
        raise KeyError(f"no decision for {unknown}; chapter 4's claims are {list(DECIDERS)}")
    results = [result for claim in claim_ids for run in shown for result in DECIDERS[claim](run)]
    text = table(results, {run.name: run.short for run in shown})
    display.show_markdown(text)
    return text


def rules_markdown(claim_ids: Sequence[str]) -> str:
    """How the claims ``claim_ids`` are decided, from the registry: per rule its statistic, direction and
    threshold with the reason, band, and the claim's roll-up (for a dropdown in the chapter)."""
    from ...engine import verdicts

    lines = []
    for claim in [c for c in claims.CLAIMS if c.id in claim_ids]:
        lines.append(f"**{claim.id}** {claim.statement} *Roll-up:* {verdicts.rollup_rule(claim)}.\n")
        for rule in claim.rules:
            lines.append(f"- `{rule.name}`: {rule.statistic} {rule.expected()} ({rule.why}). "
                         f"*Band:* {rule.band.describe()}.")
        lines.append("")
    return "\n".join(lines)


__all__ = ["decide", "table", "rules_markdown", "DECIDERS"]
