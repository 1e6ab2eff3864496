"""Tests of cgnb.chapters.what_scales_a_gradient.figures: every figure draws and meets the book's figure standard."""
from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cgnb.engine import plots  # noqa: E402
from cgnb.chapters.what_scales_a_gradient import figures as F  # noqa: E402


def scaling_figure():
    scales = np.array([0.1, 0.3, 1.0, 3.0, 10.0])
    exponents = {"input": 1, "error": 1, "other": 1, "own": 0}
    responses = {}
    for factor, k in exponents.items():
        for layer in range(4):
            other = (layer + 1) % 4 if factor == "other" else None
            r = SimpleNamespace(scales=scales, norm_ratio=scales ** k)
            responses[factor, layer, other, "fixed"] = r
            if factor != "error":
                responses[factor, layer, other, "true"] = SimpleNamespace(scales=scales, norm_ratio=scales ** (k + 0.3))
    return F.plot_scaling_responses(responses, 4, exponents)


def toys_figure():
    rng = np.random.default_rng(0)
    rho = rng.uniform(1 / 3, 5, (50, 4))
    rho[:, 1:3] = 1.0
    toys = {f: {"rho": rho, "mean_ratio": 1 / 3 + rho / 3} for f in ("positive", "zero_mean")}
    line = np.geomspace(1 / 3, 10, 20)
    return F.plot_random_toys(toys, [0, 3], line, 1 / 3 + line / 3)


def depth_figures():
    rng = np.random.default_rng(1)
    depths = np.arange(2, 17, 2)
    slope = np.array([-1.0, -0.35, 0.0, 0.35])
    log_rms = slope[:, None, None] * depths + rng.normal(0, 0.05, (4, 5, len(depths)))
    sweep = {"log_example_rms": log_rms, "log_norm": log_rms - 0.1 * depths}
    slopes = {"fitted": slope[:, None] + rng.normal(0, 0.01, (4, 5)), "predicted": slope[:, None] + np.zeros((4, 5)),
              "literal": slope[:, None] - 0.35 + np.zeros((4, 5))}
    scales = [0.5, 1.0, 1.4142, 2.0]
    return [F.plot_depth_sweep(depths, sweep, scales, slope), F.plot_depth_slopes(slopes, scales, 0.05)]


def toy_gradient_figure():
    full = [np.full((3, 3), 27.0)] * 4
    off = [np.full((3, 3), 18.0), np.array([[27, 0, 27]] * 3), np.array([[27] * 3, [0] * 3, [27] * 3]),
           np.full((3, 3), 18.0)]
    return F.plot_toy_gradients(full, off, [4 / 9, 2 / 3, 2 / 3, 4 / 9])


def output_figure():
    z = np.linspace(-8, 8, 101)
    s = 1 / (1 + np.exp(-z))
    return F.plot_output_errors({"softmax_ce": 0.0, "sigmoid_bce": 5e-7, "squared": 0.0}, 1e-5, z, 1 - s,
                                (1 - s) * s * (1 - s))


@pytest.mark.parametrize("draw", [scaling_figure, toys_figure, toy_gradient_figure, output_figure,
                                  lambda: depth_figures()[0], lambda: depth_figures()[1]])
def test_every_figure_draws_to_the_book_standard(draw):
    plots.use_style()
    fig = draw()
    assert fig.axes
    assert plots.problems(fig) == []
    plt.close("all")
