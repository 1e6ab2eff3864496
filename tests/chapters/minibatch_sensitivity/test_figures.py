"""Tests of cgnb.chapters.minibatch_sensitivity.figures: every figure draws from small made-up numbers."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cgnb.chapters.minibatch_sensitivity import figures as F  # noqa: E402

COLORS = {"plain": "tab:blue", "dropout": "tab:orange"}
WHENS = ("start", "mid")


def test_every_figure_draws():
    rng = np.random.default_rng(0)
    pairs = {n: [((1, "b", 0), (2, "b", 3))] for n in COLORS}
    offsets = np.linspace(-0.1, 0.1, 3)
    figs = [
        F.plot_loss_curves({n: rng.uniform(1, 2, (2, 20)) for n in COLORS}, COLORS, 10, 5),
        F.plot_minibatch_gradients({(n, w): rng.normal(size=(5, 4)) for n in COLORS for w in WHENS}, pairs, COLORS, 10),
        F.plot_agreement({"full gradient": {(n, w): rng.uniform(size=2) for n in COLORS for w in WHENS},
                          "coherence alpha": {(n, w): rng.uniform(size=2) for n in COLORS for w in WHENS}}, COLORS, 10),
        F.plot_fields({(n, w): rng.normal(size=(3, 3, 2)) for n in COLORS for w in WHENS}, offsets, pairs,
                      {(n, w): 12.0 for n in COLORS for w in WHENS}, COLORS, 10),
        F.plot_roughness_by_spacing([0.01, 0.1], {"plain": rng.uniform(size=(2, 2))}, {"plain": ("tab:blue", "-")}, 10),
        F.plot_batch_size_law(np.array([16, 64]), {k: rng.uniform(0.1, 1, (2, 2)) for k in ("alpha", "cos_full", "variance")},
                              np.geomspace(8, 128, 5), rng.uniform(size=(2, 5)), rng.uniform(0.1, 1, (2, 5))),
    ]
    for fig in figs:
        assert fig.axes
        plt.close(fig)
