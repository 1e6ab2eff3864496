"""Chapter 1's claims and the rules that decide them, written before the run.

The dose claims (C1.1, C1.1a) are decided on per-seed log dose ratios, each layer measured where
the head start does not enlarge its gradient by construction: the input-weight dose under a head
start on the input weights, the read-out dose under a head start on the read-out
(:func:`cgnb.chapters.gradient_dosage.setting.placements`). The accuracy claims (C1.2a, C1.2) are
decided on the exact accuracy of the network's vote on the features
(:func:`cgnb.chapters.gradient_dosage.measures.vote_accuracy`), which has no sampling error; its
smallest non-zero shortfall from the majority vote is 0.036 at 90 % agreement.

Reference: "Gradient Dosage" (blog post, 11 September 2022).
"""
from __future__ import annotations

import math

import numpy as np

from ...engine.claims import Band, Claim, Rule
from . import measures

SEEDS = Band("seeds")
#: "Several times": clearly more than the 1x of equal features; 3x is the least that reads as several.
SEVERAL = math.log(3.0)
#: "Roughly 9 times", read generously as within a factor 2 of 9 (4.5x to 18x).
ROUGHLY = math.log(2.0)
#: A shortfall of the vote from the majority vote: below the smallest one a non-majority vote can
#: have (0.036 at 90 % agreement), above float rounding.
SHORTFALL = 0.01

CLAIMS = (
    Claim("C1.1", "\"If the network starts out by mainly listening to the first feature recognizer, then the first "
                  "will get a very high gradient dose\": several times the dose of equally good features.",
          short="head start gets several times the dose", rules=(
              Rule("input-weights", "log(dose of recognizer 1's input weights / mean of recognizers 2 and 3's), "
                                    "head start on the input weights, per seed", ">", SEVERAL,
                   "'several times': at least 3x; the opposite (less dose, log ratio < 0) refutes", SEEDS,
                   refute_at=0.0),
              Rule("read-out", "log(dose of recognizer 1's read-out / mean of recognizers 2 and 3's), head start "
                               "on the read-out, per seed", ">", SEVERAL,
                   "'several times': at least 3x; the opposite (less dose, log ratio < 0) refutes", SEEDS,
                   refute_at=0.0),
              Rule("whole", "log(input-weight dose ratio), head start on the whole recognizer (sqrt k on each "
                            "layer), not divided by the k its read-out puts on that gradient, per seed", ">",
                   SEVERAL, "context: the construction enlarges this gradient, so it decides nothing", SEEDS,
                   decides=False))),
    Claim("C1.1a", "\"The other two feature recognizers could be used to get a better accuracy on the remaining "
                   "10% of images, but that's going to be a gradient dose of (roughly) 9 times less!\" (the post).",
          short="literal: roughly 9x the dose", kind="literal", rules=(
              Rule("input-weights", "|log(input-weight dose ratio / 9)|, head start on the input weights, per seed",
                   "<=", ROUGHLY, "'roughly 9': within a factor 2 of 9", SEEDS, miss="refuted"),
              Rule("read-out", "|log(read-out dose ratio / 9)|, head start on the read-out, per seed",
                   "<=", ROUGHLY, "'roughly 9': within a factor 2 of 9", SEEDS, miss="refuted"))),
    Claim("C1.2a", "A head start costs accuracy for a while: when a network without head start has reached the "
                   "majority vote of the features, the network with one is still below it.",
          short="head start below majority for a while", rules=(
              Rule("delay", "majority vote - the head-start network's vote accuracy at the record where the same "
                            "seed's network without head start first reached the majority vote, per seed", ">",
                   SHORTFALL, "any shortfall: 0.01 is below the smallest possible one (0.036) and above rounding",
                   SEEDS),)),
    Claim("C1.2", "The network with a head start stays below the majority-vote accuracy of the three features "
                  "(0.972 for independent 90% features) to the end of training: starvation costs accuracy.",
          short="head start stays below majority", rules=(
              Rule("end", "majority vote - the head-start network's final vote accuracy, per seed (runs whose vote "
                          "still changes over the last quarter of training are not converged: not testable)", ">",
                   SHORTFALL, "any shortfall (0.01 < 0.036, the smallest possible); reaching the majority vote at "
                              "convergence is the opposite of staying below it", SEEDS, refute_at=SHORTFALL),)),
    Claim("C1.3", "A general recognizer's dose grows with the number of examples that share it, each memorizing "
                  "recognizer's dose stays small, and weight decay erodes the memorizers first.",
          short="sharing feeds a recognizer; decay erodes memorizers", rules=(
              Rule("grows", "log-log slope of a general recognizer's dose against its group size, no weight "
                            "decay, per seed", ">", 0.0, "grows: a positive slope; a negative one refutes", SEEDS,
                   refute_at=0.0),
              Rule("memorizers-small", "log10(dose of the most shared general recognizer / the largest identity "
                                       "recognizer's dose), no weight decay, per seed", ">=", 1.0,
                   "'stays small': at least 10x below; a memorizer with more dose refutes", SEEDS, refute_at=0.0),
              Rule("erodes-memorizers", "mean identity-recognizer norm at the end / at the start, under weight "
                                        "decay, per seed", "<=", 0.5,
                   "eroded: at least half the norm gone; growing (> 1) refutes", SEEDS, refute_at=1.0),
              Rule("keeps-general", "mean norm of the most shared general recognizers at the end / at the start, "
                                    "under weight decay, per seed", ">=", 1.0,
                   "memorizers first: the shared recognizers end at least as large as they started", SEEDS))),
)


def log_ratio(dose: np.ndarray, layer: int) -> np.ndarray:
    """Per-seed log dose ratio of recognizer 1 over recognizers 2 and 3 in one layer.

    Args:
      dose: (S, R, 2, D) per-record dose of one setting (:attr:`HeadStartRuns.dose` row).
      layer: 0 input weights, 1 read-out.
    """
    return np.log(measures.dose_ratio(dose[:, :, layer]))


def decide_dose(ledger, runs) -> list:
    """Decide C1.1 and C1.1a from :class:`cgnb.chapters.gradient_dosage.setting.HeadStartRuns` (no weight decay)."""
    wd = runs.weight_decays[0]
    out = []
    for rule, placement, layer in (("input-weights", "input weights", 0), ("read-out", "read-out", 1)):
        values = log_ratio(runs.dose[runs.index(placement, wd)], layer)
        out.append(ledger.decide("C1.1", values, rule=rule, cell=placement))
        out.append(ledger.decide("C1.1a", np.abs(values - math.log(9.0)), rule=rule, cell=placement))
    whole = log_ratio(runs.dose[runs.index("whole recognizer", wd)], 0)
    out.append(ledger.decide("C1.1", whole, rule="whole", cell="whole recognizer"))
    return out


def decide_accuracy(ledger, runs, majority: float) -> list:
    """Decide C1.2a and C1.2 per head-start placement and weight decay (cells), on the vote accuracy.

    A seed whose network without head start never reached the majority vote gives C1.2a nothing to
    compare with, and a run whose vote had not settled (:func:`measures.settled`) says nothing about
    convergence: both are passed as ``degenerate`` lines (not testable).
    """
    out = []
    for wd in runs.weight_decays:
        control = runs.vote[runs.index("no head start", wd)]                       # (S, R)
        for placement in runs.placements[1:]:
            vote = runs.vote[runs.index(placement, wd)]
            cell = f"{placement}, weight decay {wd:g}"
            reached = control >= majority - 1e-6
            first = np.where(reached.any(axis=1), reached.argmax(axis=1), -1)
            lines = [f"seed index {s}: the network without head start never reached the majority vote"
                     for s, r in enumerate(first) if r < 0]
            delay = majority - vote[np.arange(len(vote)), np.maximum(first, 0)]
            out.append(ledger.decide("C1.2a", delay, cell=cell, degenerate=lines))
            unsettled = [f"seed index {s}: its vote still changes over the last quarter of training"
                         for s, curve in enumerate(vote) if not measures.settled(curve)]
            out.append(ledger.decide("C1.2", majority - vote[:, -1], cell=cell, degenerate=unsettled))
    return out


def decide_sharing(ledger, shared: dict[str, np.ndarray]) -> list:
    """Decide C1.3 from :func:`cgnb.chapters.gradient_dosage.measures.sharing_measures`."""
    return [ledger.decide("C1.3", shared["slope"], rule="grows"),
            ledger.decide("C1.3", shared["small"], rule="memorizers-small"),
            ledger.decide("C1.3", shared["kept_memorizers"], rule="erodes-memorizers"),
            ledger.decide("C1.3", shared["kept_general"], rule="keeps-general")]
