"""Tests of cgnb.chapters.minibatch_sensitivity.figures: every figure draws from made-up numbers and meets the
book's figure standard."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cgnb.engine import plots  # noqa: E402
from cgnb.chapters.minibatch_sensitivity import claims  # noqa: E402
from cgnb.chapters.minibatch_sensitivity import figures as F  # noqa: E402

COLORS = F.COLORS
WHENS = ("start", "mid")
rng = np.random.default_rng(0)


def per_variant(shape, low=0.0, high=1.0):
    return {(n, w): rng.uniform(low, high, shape) for n in COLORS for w in WHENS}


DRAWINGS = {
    "loss": lambda: F.plot_loss_curves({n: np.exp(-np.linspace(0, 5, 300))[None] * rng.uniform(1, 2, (3, 1))
                                        for n in COLORS}, COLORS, 200),
    "arrows": lambda: F.plot_minibatch_gradients(per_variant((50, 4), -1, 1),
                                                 {n: [((1, "b", 0), (2, "b", 3))] for n in COLORS}, COLORS, 2560),
    "agreement": lambda: F.plot_agreement({row: {col: per_variant(5, -0.1, 1.0) for col in (claims.FULL,
                                                                                            claims.TWO_BIASES)}
                                           for row in (claims.AS_TRAINED, claims.CENTRED)}, COLORS, 2560),
    "fields": lambda: F.plot_fields(per_variant((9, 9, 2), -1, 1), np.linspace(-0.2, 0.2, 9),
                                    {k: 12.0 for k in per_variant(1)}, COLORS, 2560),
    "roughness": lambda: F.plot_roughness({(k, w): rng.uniform(0, 80, 5) for k in F.FIELD_COLORS for w in WHENS},
                                          F.FIELD_COLORS, 2560),
    "spacing": lambda: F.plot_roughness_by_spacing([0.01, 0.05, 0.2], {"plain": rng.uniform(0, 90, (5, 3)),
                                                                      "dropout": rng.uniform(0, 90, (5, 3))},
                                                   {"plain": (COLORS["plain"], "-"),
                                                    "dropout": (COLORS["dropout"], ":")}),
    "batch size": lambda: F.plot_batch_size_law(
        np.array([16, 64, 256]), {"alpha": np.array([[0.2, 0.5, 0.8]] * 5), "cos_full": np.array([[0.18, 0.48, 0.78]] * 5),
                                  "variance": np.array([[1e4, 2.5e3, 6e2]] * 5)},
        np.geomspace(8, 512, 20), np.tile(np.geomspace(8, 512, 20) / (np.geomspace(8, 512, 20) + 60), (5, 1)),
        np.tile(1.6e5 / np.geomspace(8, 512, 20), (5, 1))),
}


@pytest.mark.parametrize("name", DRAWINGS)
def test_every_figure_draws_to_the_book_standard(name):
    plots.use_style()
    fig = DRAWINGS[name]()
    assert fig.axes
    assert plots.problems(fig) == []
    plt.close("all")
