"""Tests of cgnb.chapters.coherent_gradients.figures: the figures draw from a small made-up sweep."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cgnb.chapters.coherent_gradients import contributions as C  # noqa: E402
from cgnb.chapters.coherent_gradients import figures as F  # noqa: E402

from .sweeps import fake_sweep  # noqa: E402


def test_figures_draw():
    result, _, _ = fake_sweep()
    rng = np.random.default_rng(0)
    early = {"decrease": rng.normal(size=(4, 3, 12)), "pristine": result.pristine, "noise": result.noise,
             "seed": result.seed, "coherence": rng.uniform(0.01, 1, (4, 4))}
    for name in ("coherence", "norm_p", "norm_c"):
        result.records[name] = rng.uniform(0.01, 1, result.records["alpha_p"].shape)
    figs = [F.plot_alphas(result, [0.25, 0.75], n_null=2, stats_examples=12),
            F.plot_norm_ratio(result, [0.25, 0.75], fitted={0.25: np.array([2.0, np.inf])}),
            F.plot_m_coherence(result, [0.25, 0.75]),
            F.plot_gap_null(rng.normal(size=2), rng.normal(size=(2, 50)), 0.75),
            F.plot_contributions(C.condense(early, null_worlds=20, n_null=2), [0.25, 0.75]),
            F.plot_coherence(early, result, [0.25, 0.75])]
    for fig in figs:
        assert fig.axes
        plt.close(fig)
