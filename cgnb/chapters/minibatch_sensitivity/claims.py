"""Chapter 6's claims and the rules that decide them, written before the run.

Each claim is decided on the statistic that can fail. C6.1 on the centred cosine: the error that all
examples share at initialisation (a one-signed target against an output near 0) is removed at both
snapshots, since it forces the raw start-to-mid drop by construction; the raw drop is shown as
context. C6.2 on the field with one frozen dropout mask: a fresh mask at every grid point makes
neighbouring arrows differ by construction (context). "Batch norm milder than dropout" is decided
only where batch norm is rougher than plain at all; otherwise it compares nothing and is not
testable. The blog's third statement, that the parameters are identical across the minibatches,
holds by construction in JAX (arrays are immutable) and is a test of the chapter's code
(``tests/chapters/minibatch_sensitivity``), not a claim.

:func:`decide_agreement` and :func:`decide_roughness` decide the checks from per-seed values.

Reference: "Gradients are sensitive to minibatch composition" (blog post).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ...engine.claims import Claim, Rule

#: The direction is the claim: any drop (or rise) beyond the seed spread counts, its opposite refutes.
DIRECTION = "the claim is a direction; the seed spread decides, the opposite direction refutes"
MID = "mid-training"

CLAIMS = (
    Claim("C6.1", "Mid-training, the gradients of 50 minibatches at the same parameters disagree more than at the "
                  "start: their mean pairwise cosine (full vector and projected on two biases) is lower "
                  "mid-training.",
          short="minibatches disagree more mid-training", rollup="all", rules=(
              Rule("centred", "mean pairwise cosine of the 50 minibatch gradients (full vector), start minus "
                              "mid-training, with the error shared by all examples removed at both", ">", 0.0,
                   DIRECTION, refute_at=0.0),
              Rule("centred-2d", "the same on the gradients projected on two biases of hidden layers 1 and 2 "
                                 "(mean over bias pairs), shared error removed", ">", 0.0, DIRECTION, refute_at=0.0),
              Rule("raw", "mean pairwise cosine of the 50 minibatch gradients (full vector), start minus "
                          "mid-training, as trained (context: forced at the start by the one-signed target)",
                   ">", 0.0, "the blog's own statistic, shown as context", decides=False),
              Rule("raw-2d", "the same projected on two biases, as trained (context)", ">", 0.0,
                   "the blog's own statistic, shown as context", decides=False))),
    Claim("C6.2", "Dropout makes the field of nearby minibatch gradients rough (neighbouring arrows differ more than "
                  "without it); batch normalisation likewise, but milder.",
          short="dropout roughens the field, batch norm milder", rollup="all", rules=(
              Rule("dropout", "roughness of the field mid-training (mean angle between neighbouring arrows, "
                              "degrees), dropout with one frozen mask minus plain", ">", 0.0, DIRECTION,
                   refute_at=0.0),
              Rule("dropout-fresh", "the same with a fresh mask at every grid point minus plain (context: random by "
                                    "construction)", ">", 0.0, "the blog's picture, shown as context",
                   decides=False),
              Rule("batch-norm", "roughness mid-training on the shift beta of a batch-normalised layer minus plain "
                                 "(degrees)", ">", 0.0, DIRECTION, refute_at=0.0),
              Rule("milder", "roughness mid-training, batch norm (beta) minus dropout with a frozen mask (degrees); "
                             "decided only where batch norm is rougher than plain", "<", 0.0, DIRECTION,
                   refute_at=0.0))),
)


#: The rows and columns of the cosine table (:func:`cgnb.chapters.minibatch_sensitivity.study.cosine_table`).
AS_TRAINED, CENTRED = "as trained", "shared error removed"
FULL, TWO_BIASES = "full gradient", "two biases"


def decide_agreement(ledger, table: Mapping[str, Mapping[str, Mapping[tuple[str, str], np.ndarray]]],
                     variants: Sequence[str], degenerate: Mapping[str, Sequence[str]] | None = None) -> list:
    """Decide C6.1 per variant: the centred drops (deciding) and the raw drops (context).

    Args:
      ledger: the chapter's :class:`cgnb.engine.ledger.Ledger`.
      table: ``table[row][column][variant, when]`` (seeds,) mean pairwise cosines, rows
        :data:`AS_TRAINED` and :data:`CENTRED`, columns :data:`FULL` and :data:`TWO_BIASES`,
        ``when`` in ``"start"``, ``"mid"``.
      variants: the variant names, one cell each.
      degenerate: per variant one line per run that never learned (its checks are then not testable).

    Returns:
      The decided results (each shown inline by the ledger).
    """
    checks = (("centred", CENTRED, FULL), ("centred-2d", CENTRED, TWO_BIASES), ("raw", AS_TRAINED, FULL),
              ("raw-2d", AS_TRAINED, TWO_BIASES))
    results = []
    for name in variants:
        for rule, row, column in checks:
            values = table[row][column]
            drop = np.asarray(values[name, "start"]) - np.asarray(values[name, "mid"])
            results.append(ledger.decide("C6.1", drop, rule=rule, cell=name,
                                         degenerate=(degenerate or {}).get(name, ())))
    return results


def decide_roughness(ledger, rough: Mapping[str, np.ndarray], degenerate: Sequence[str] = ()) -> list:
    """Decide C6.2 from the mid-training roughness per seed (degrees).

    Args:
      ledger: the chapter's ledger.
      rough: (seeds,) per field: ``"plain"``, ``"dropout"`` (fresh mask), ``"dropout, frozen mask"``,
        ``"batch norm"`` (on the shift beta).
      degenerate: one line per run that never learned (the checks are then not testable).

    Returns:
      The decided results. "milder" is not testable unless the "batch-norm" check holds.
    """
    plain = np.asarray(rough["plain"])
    frozen, bn = np.asarray(rough["dropout, frozen mask"]), np.asarray(rough["batch norm"])
    results = [ledger.decide("C6.2", frozen - plain, rule="dropout", cell=MID, degenerate=degenerate),
               ledger.decide("C6.2", np.asarray(rough["dropout"]) - plain, rule="dropout-fresh", cell=MID,
                             degenerate=degenerate),
               ledger.decide("C6.2", bn - plain, rule="batch-norm", cell=MID, degenerate=degenerate)]
    premise = "" if results[-1].verdict == "holds" else (
        "batch norm is not rougher than plain here (its own check is " + results[-1].verdict
        + "), so 'milder than dropout' compares nothing")
    results.append(ledger.decide("C6.2", bn - frozen, rule="milder", cell=MID, degenerate=degenerate,
                                 not_testable=premise))
    return results
