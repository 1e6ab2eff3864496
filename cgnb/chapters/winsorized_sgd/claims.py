"""Chapter 5's claims, after Chatterjee, "Coherent Gradients", ICLR 2020, section 3, and the rules that decide them.

Each rule was written from the paper's statement before the runs it decides; the thresholds' reasons
are in ``why``. The values are per seed (the quick run has several seeds at the claim levels, a stored
run one); :mod:`.decisions` measures them and decides every check of a run.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 3.
"""
from __future__ import annotations

import dataclasses

from ...engine.book import Chapter
from ...engine.claims import Band, Claim, Rule

#: Float32 tolerance of an update computed as the same sum of 100 terms in another order.
FLOAT_TOLERANCE = 1e-5
_FLOAT_WHY = ("float32 summation order: 100 per-example terms summed in another order move the sum by up to "
              "about 100 x 2^-24 = 6e-6 of the sum of their magnitudes")
#: Fraction of the corrupt examples fitted beyond chance that still counts as "not memorized".
MEMORIZATION_TOLERANCE = 0.05
#: A drop from the peak smaller than this is a curve wobbling around its plateau.
DROP_THRESHOLD = 0.02
_DROP_WHY = ("a curve that only wobbles around its plateau ends below its (3-record) maximum by about its record "
             "noise; 0.02 is 1.5 binomial standard errors of an accuracy of 0.8 measured on 1,000 test images")

CLAIMS = (
    Claim("C5.1", "Winsorized SGD is what the paper defines: with c = 0 it makes exactly the plain SGD update, "
                  "and with c > 0 each parameter's per-example gradients are clipped to their (c+1)-th smallest "
                  "and largest values in the minibatch, then averaged.",
          short="c = 0 is plain SGD; c > 0 is sort-and-clip", kind="implementation",
          rules=(Rule("plain-at-c0", "largest |winsorized update at c = 0 - plain SGD update| over the largest "
                      "|update| (one step, same minibatch)", "<=", FLOAT_TOLERANCE, _FLOAT_WHY, Band("exact")),
                 Rule("sort-and-clip", "largest |engine's winsorized update - sort-and-clip reference in float64| "
                      "over the largest |update| (one step, same minibatch)", "<=", FLOAT_TOLERANCE, _FLOAT_WHY,
                      Band("exact")))),
    Claim("C5.2", "For c > 0 the training accuracy on noisy data does not exceed the proper accuracy by more than a "
                  "small tolerance: the corrupt labels are not memorized while the pristine examples are learned.",
          short="c > 0 memorizes no corrupt label",
          rules=(Rule("not-memorized", "largest excess over the records (3-record running mean) of the fraction of "
                      "corrupt training examples predicted as their wrong label over chance agreement "
                      "(1 - test accuracy) / 9", "<=", MEMORIZATION_TOLERANCE,
                      "a small tolerance: half the 1/10 agreement of a random guess with a random label (at 25 % "
                      "noise it is 1.25 points of training accuracy, about the width of the paper's curves); a run "
                      "whose pristine examples were never learned, or that collapsed, supports nothing, and a cell "
                      "within the tolerance where plain SGD at the same noise memorized no more than it either could "
                      "not have failed the check: not testable"),)),
    Claim("C5.3", "At each noise level, overfit falls as c grows.", short="overfit falls as c grows",
          rules=(Rule("falls", "mean overfit over the run at c = 0 minus at the largest c (same labels, "
                      "initialisation and minibatch order)", ">", 0.0,
                      "0 is no effect of winsorization on the overfit"),
                 Rule("monotone", "largest rise of the mean overfit over the run from one level of c to the next",
                      "<", 0.0, "'falls as c grows': every step up in c lowers the overfit"))),
    Claim("C5.4", "With a large amount of winsorization the training and test accuracies reach a maximum and then "
                  "go down.", short="strong winsorization peaks, then declines",
          rules=(Rule("peaks-declines", "smaller of the training and the test accuracy's drop from its peak to the "
                      "end of the run (3-record running mean), at the largest c", ">", DROP_THRESHOLD,
                      _DROP_WHY + "; a collapse is the decline itself, so collapsed runs count", degenerate_ok=True),)),
    Claim("C5.5", "Beyond the paper (after an independent PyTorch check): at learning rate 0.1 strong winsorization "
                  "lets the output layer's weights grow far beyond plain SGD's, which comes with the decline; "
                  "a smaller learning rate avoids the decline.",
          short="the decline comes with growing output weights; a smaller rate avoids it",
          rules=(Rule("outgrows-sgd", "output layer's weight norm at the end of the run at the largest c over plain "
                      "SGD's (same noise level and seed)", ">", 1.0,
                      "1 is the norm plain SGD reaches with the same learning rate and steps; collapsed runs count "
                      "(they are the phenomenon)", degenerate_ok=True),
                 Rule("smaller-rate", "smaller of the training and the test accuracy's drop from its peak to the end "
                      "(as C5.4), at the largest c with a smaller learning rate", "<", DROP_THRESHOLD,
                      "C5.4's threshold: no peak-and-decline; a collapse counts against the claim, a run that "
                      "never learned supports nothing"))),
)
"""Chapter 5's claims, each with its rules."""

#: Claims a run can only decide when it recorded the network itself (the sweep statistic ``"model"``).
NEEDS_MODEL = ("C5.5",)


def for_run(chapter: Chapter, has_model: bool) -> Chapter:
    """``chapter`` as a run can check it: a run that did not record the network (the sweep statistic
    ``"model"``) cannot measure the claims of :data:`NEEDS_MODEL`, which are then not testable on it."""
    if has_model:
        return chapter
    reason = "this run did not record the network (weight norms, logit spread, dead units)"
    return dataclasses.replace(chapter, claims=tuple(
        dataclasses.replace(claim, rules=(), not_testable=reason) if claim.id in NEEDS_MODEL else claim
        for claim in chapter.claims))
