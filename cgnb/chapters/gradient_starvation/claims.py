"""Chapter 3's claims and the rules that decide them, written before the run.

Every statistic is an accuracy on the test set whose linear feature is neutralized (each class
centred on ``x1 = 0``, :func:`cgnb.chapters.gradient_starvation.tasks.neutralize_feature`), or a
per-seed difference of two such accuracies on the same seed's data. The ceiling "what the moon
feature alone allows" is measured by the same network trained with ``x1`` neutralized
(:func:`cgnb.chapters.gradient_starvation.setting.moons_run` ``moon_only=True``).

Reference: Pezeshki et al., "Gradient Starvation: A Learning Proclivity in Neural Networks", NeurIPS 2021.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ...engine.claims import Band, Claim, Rule

#: "Near chance": within 0.15 of a coin, less than a third of the way from chance to a boundary
#: that follows the moons.
NEAR_CHANCE = 0.65
#: "Far above": fifteen points of accuracy, several times the seed spread and sampling error of a
#: paired difference of 2,000-point accuracies (about 0.016 for one seed).
FAR_ABOVE = 0.15
#: "Every seed clearly": each single seed's gain at least ten points, six sampling errors.
EVERY_SEED = 0.10
#: "Learns the moon-shaped boundary": within five points of what the moon feature alone allows.
MOON_BOUNDARY = 0.05
BASELINES = ("weight decay", "longer", "dropout")
#: "Learned the task": x1 alone separates the training set with a margin, so a network that fits less than
#: 95 % of it has not learned the task, and its neutralized accuracy says nothing about what it relies on
#: (a network that learned nothing is near chance there too). The moon-only network is exempt: it cannot fit
#: overlapping moons.
LEARNED = 0.95


def seeds(n_test: int = 0) -> Band:
    """The seed band, with the binomial error of an ``n_test``-point accuracy when given."""
    return Band("seeds", binomial=n_test)


def claims(n_test: int) -> tuple[Claim, ...]:
    """The chapter's claims; accuracies carry the binomial error of an ``n_test``-point test set."""
    gain = lambda name, baseline: Rule(
        name, f"SD's neutralized-test accuracy - {baseline}'s, same seed, per seed", ">=", FAR_ABOVE,
        "'far above': 15 points, several times the paired seed spread and sampling error", seeds())
    return (
        Claim("C3.1", "Trained with plain cross-entropy, the network's decision boundary relies on the linear "
                      "feature alone: on a test set where that feature is made uninformative its accuracy is near "
                      "chance.", short="plain training ignores the moons", rules=(
                          Rule("near-chance", "plain network's neutralized-test accuracy, per seed", "<=",
                               NEAR_CHANCE, "'near chance': within 0.15 of a coin (0.5); a network that fits "
                               "less than 95 % of its training set is also near chance there, so such a run "
                               "supports nothing", seeds(n_test)),)),
        Claim("C3.2", "Spectral Decoupling recovers the starved moon feature: on that test set it is far above "
                      "plain training, and weight decay, longer training and dropout are not.",
              short="SD beats plain and the baselines", rules=(
                  gain("plain", "plain training"),
                  *(gain(name.replace(" ", "-"), name) for name in BASELINES))),
        Claim("C3.3", "The reliance on the linear feature and its recovery by Spectral Decoupling hold across "
                      "seeds.", short="on every seed", rules=(
                          Rule("every-seed", "SD's neutralized-test accuracy - plain's, same seed (every seed)",
                               ">=", EVERY_SEED, "each seed clearly: 10 points, about six sampling errors of one "
                                                 "seed's paired difference", Band("range")),)),
        Claim("C3.4", "With Spectral Decoupling the network learns the moon-shaped decision boundary (the paper's "
                      "figures): it uses the starved feature as a network trained on that feature alone does.",
              short="SD learns the moon boundary fully", rules=(
                  Rule("full", "accuracy of the network trained on the moon feature alone - SD's, on the "
                               "neutralized test set, same seed, per seed", "<=", MOON_BOUNDARY,
                       "'learns the moon boundary': within 5 points of what the moon feature alone allows", seeds()),
                  Rule("share", "share of the gap from plain to the moon-only network that SD recovers, per seed",
                       ">=", 1.0 - MOON_BOUNDARY / 0.5, "context: the same reading as a share of the gap",
                       seeds(), decides=False))),
    )


CLAIMS = claims(n_test=2000)


def unlearned(train: Mapping[str, np.ndarray], *names: str) -> list[str]:
    """One line per seed of the variants ``names`` whose training accuracy is below :data:`LEARNED`."""
    return [f"{name}, seed {i}: training accuracy {float(acc):.3f} < {LEARNED} (never learned the task)"
            for name in names for i, acc in enumerate(np.asarray(train[name])) if acc < LEARNED]


def decide_all(ledger, neutral: Mapping[str, np.ndarray], *, longer: int, train: Mapping[str, np.ndarray]) -> list:
    """Decide C3.1-C3.4 from the neutralized-test accuracies (S,) of every variant.

    A check that compares a variant whose network did not fit its training set (:data:`LEARNED`) on some
    seed is not testable: that run supports nothing.

    Args:
      ledger: the chapter's ledger.
      neutral: ``plain``, ``SD``, ``weight decay``, ``<longer>x longer``, ``dropout`` and
        ``moon only`` -> (S,) accuracies on each seed's neutralized test set.
      longer: the factor of the "train longer" baseline.
      train: the same variants -> (S,) training accuracies.
    """
    sd, plain, moon = (np.asarray(neutral[k]) for k in ("SD", "plain", "moon only"))
    out = [ledger.decide("C3.1", plain, degenerate=unlearned(train, "plain")),
           ledger.decide("C3.2", sd - plain, rule="plain", degenerate=unlearned(train, "SD", "plain"))]
    for name in BASELINES:
        key = f"{longer}x longer" if name == "longer" else name
        out.append(ledger.decide("C3.2", sd - np.asarray(neutral[key]), rule=name.replace(" ", "-"),
                                 degenerate=unlearned(train, "SD", key)))
    out.append(ledger.decide("C3.3", sd - plain, degenerate=unlearned(train, "SD", "plain")))
    out.append(ledger.decide("C3.4", moon - sd, rule="full", degenerate=unlearned(train, "SD")))
    out.append(ledger.decide("C3.4", (sd - plain) / np.maximum(moon - plain, 1e-6), rule="share",
                             degenerate=unlearned(train, "SD", "plain")))
    return out
