"""Tests of cgnb.chapters.what_scales_a_gradient.figures (every figure draws)."""
from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cgnb.chapters.what_scales_a_gradient import figures as F  # noqa: E402


def test_every_figure_draws():
    rng = np.random.default_rng(0)
    scales = [0.5, 1.0, 2.0]
    exponents = {"input": 1, "error": 1, "other": 1, "own": 0}
    n_layers = 2
    responses = {}
    for factor in exponents:
        for layer in range(n_layers):
            other = (layer + 1) % n_layers if factor == "other" else None
            r = SimpleNamespace(scales=np.array(scales), norm_ratio=np.array(scales) ** exponents[factor])
            responses[factor, layer, other, "fixed"] = responses[factor, layer, other, "true"] = r
    toys = {f: {"rho": rng.uniform(0.4, 2, (5, 4)), "mean_ratio": rng.uniform(0.45, 1, (5, 4))} for f in ("positive", "zero_mean")}
    sweep = {"log_example_rms": rng.normal(size=(2, 3, 4)), "log_norm": rng.normal(size=(2, 3, 4))}
    z = np.linspace(-2, 2, 5)
    figs = [F.plot_scaling_responses(responses, scales, n_layers, exponents),
            F.plot_toy_gradients([np.ones((3, 3))] * 2, [np.zeros((3, 3))] * 2, [0.5, 0.4]),
            F.plot_random_toys(toys, [0, 3], np.geomspace(1 / 3, 10, 5), np.linspace(0.4, 3, 5), 5),
            F.plot_depth_sweep([2, 4, 6, 8], sweep, [0.5, 1.0], np.array([-0.1, 0.1]), "depth"),
            F.plot_output_errors({"softmax_ce": 1e-7, "sigmoid_bce": 0.0, "squared": 2e-8}, z, z, z)]
    for fig in figs:
        assert fig.axes
        plt.close(fig)
