"""Chapter 4's claims and the rules that decide them, after Chatterjee, "Coherent Gradients", ICLR 2020, section 2.

Every rule is written here before any run: the statistic (measured once per seed, or per block of
a single seed's window where the rule says so), its direction and threshold with the reason, and the
band it is compared with. :mod:`cgnb.chapters.coherent_gradients.decisions` measures the statistics
and hands them to the ledger; the engine (:func:`cgnb.engine.verdicts.decide`) gives the verdicts.

Units: steps-to-reach and first-learned times are counted in *records* (the sweep's recording grid:
every 10 steps at the start of the quick profile, every 50 after), because a time read off a grid is
known only to one record. A gap of one record is a tie.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 2 (Figures 1-3).
"""
from __future__ import annotations

from ...engine.claims import Band, Claim, Rule

#: "Fitted": a training accuracy of at least this (the paper's "100 % training accuracy", allowing 1 %).
FITTED = 0.99
#: The training accuracies C4.3 compares the steps to reach (half, most, and fitted).
REACH_LEVELS = (0.5, 0.9, FITTED)
#: The noise levels C4.5 decides (the paper's crossover at 25 % and 50 %); C4.6's is 75 %.
CROSSING_LEVELS = (0.25, 0.5)
CONTRIBUTION_LEVEL = 0.75
#: Chance for ten classes, and the margin within which test accuracy counts as "at chance".
CHANCE, CHANCE_MARGIN = 0.1, 0.03
#: The level of the permutation tests against null worlds.
NULL_LEVEL = 0.05
#: A single seed's window is split into this many consecutive blocks (batch means) for its band.
BLOCKS = 5

_SEEDS = Band("seeds")
_NULL_BAND = "the null worlds of all seeds pooled: the seeds' spread and at least the binomial interval of their count"

CLAIMS = (
    Claim("C4.1", "Every noise level fits its training set: \"for all 5 variants, at the end of training, we "
                  "achieve 100% training accuracy\".",
          short="every noise level fits its training set",
          rules=(Rule("fits", "final training accuracy on the noisy labels, per seed", ">=", FITTED,
                      "the paper's 100 % training accuracy, allowing 1 % of the examples; the whole training set "
                      "is measured, so the band is the seeds' spread (no binomial error)", _SEEDS),),
          rollup="all"),
    Claim("C4.2", "Test accuracy falls as label noise rises, and at 100% noise it is at chance.",
          short="test accuracy falls with noise, to chance",
          rules=(Rule("falls", "final test accuracy at the lower noise level minus at the next higher one, per seed "
                               "(same seed: same initialisation and minibatches)", ">", 0.0,
                      "the paper's Figure 1(b): each step up in noise costs test accuracy; any drop counts", _SEEDS),
                 Rule("chance", "final test accuracy at 100 % noise, per seed", "<=", CHANCE + CHANCE_MARGIN,
                      "chance is 0.1 for ten classes; a margin of 0.03, fixed before the runs, is the least this "
                      "book would call learning something from random labels",
                      Band("seeds", binomial=1000))),
          rollup="all"),
    Claim("C4.3", "The steps needed to reach a given training accuracy grow with noise, and the early training "
                  "loss falls less steeply.",
          short="more noise, slower learning",
          rules=(Rule("slope", "early loss slope (mean decrease of the training loss per step over the first steps) "
                               "at the lower noise level minus at the next higher one, per seed", ">", 0.0,
                      "the paper's equation (1): the early slope measures |g|^2, which falls as examples agree "
                      "less; any decrease counts", _SEEDS),
                 Rule("reach", "records needed to reach the training accuracy at the higher noise level minus at "
                               "the next lower one, per seed (never reached: one record past the end, a lower bound)",
                      ">", 1.0, "a time read off the recording grid is known to one record, so a gap of one record "
                                "is a tie; the gap must exceed it", _SEEDS)),
          rollup="all"),
    Claim("C4.4", "Pristine examples are learned sooner than corrupt ones.",
          short="pristine examples are learned first",
          rules=(Rule("sooner", "median record at which a corrupt example is first classified as its label minus the "
                                "same for the pristine examples, per seed (never learned: after the last record)",
                      ">", 1.0, "a first-learned time is known to one record, so a gap of one record is a tie",
                      _SEEDS),),
          rollup="all"),
    Claim("C4.5", "alpha_p starts above its share and crosses below alpha_c once the pristine examples are fitted "
                  "(25% and 50% noise), while in null worlds, where the pristine/corrupt designation is permuted, "
                  "no such crossover appears.",
          short="pristine gradients lead, then fall below the corrupt ones; null worlds do not",
          rules=(Rule("starts-above", "alpha_p at step 0 minus the pristine share of the statistics sample, per seed",
                      ">", 0.0, "the paper: alpha_p \"starts off higher\"; the share is where it would sit if "
                                "pristine examples pushed like any others", _SEEDS),
                 Rule("crossing", "mean of alpha_p - alpha_c over the window from the first record with the pristine "
                                  "examples fitted to the first with the corrupt ones fitted (or the end), per seed; "
                                  f"a single seed: per fifth of its window ({BLOCKS} consecutive blocks)",
                      "<", 0.0, "below zero, alpha_p lies under alpha_c on average over the window where the paper "
                                "places the crossover; the blocks give one seed a band of its record-to-record noise",
                      _SEEDS),
                 Rule("null-quiet", "fraction of null worlds whose mean of alpha_p - alpha_c over the same window "
                                    "falls below zero, per seed", "<", NULL_LEVEL,
                      "the paper: the null worlds \"do not cross over\"; read as fewer than 5 % of them, the level "
                      "at which the real crossing would be significant as a permutation test",
                      Band("seeds", binomial=1000))),
          rollup="all"),
    Claim("C4.6", "Over the first steps an average pristine example contributes more to the loss decrease than an "
                  "average corrupt one, beyond the spread of the null worlds (75% noise).",
          short="an average pristine example does more of the early work, beyond the null worlds",
          rules=(Rule("beyond-null", "fraction of the seed's null worlds whose pristine-minus-corrupt gap after the "
                                     "first steps is at least the real gap (a permutation p-value), per seed",
                      "<", NULL_LEVEL, "the real gap lies beyond 95 % of the null worlds: a permutation test at the "
                                       "5 % level", Band("seeds", binomial=1000)),),
          rollup="all"),
)
