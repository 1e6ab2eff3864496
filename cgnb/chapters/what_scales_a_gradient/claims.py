"""Chapter 2's claims and the rules that decide them, written before the run.

The article's theorems (the product formula, its scaling, the zeroed columns, the output error) are
checks of the book's implementation: their thresholds are float32 tolerances and their band is
exact. Its two literal numbers (the per-entry 2/3 and 4/9; the per-layer factor "mean weight x
activation rate") are claims of their own, refuted when the measurement contradicts them, beside
the corrected forms the chapter derives (the squared gradient norm of the width-3 toy; the factor
``sqrt(p n var)``). :func:`decide_depth` decides the one statistical claim, the depth law, per
weight scale.

Reference: "Grokking gradients in deep neural networks" (article summary).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ...engine.claims import Band, Claim, Rule

EXACT = Band("exact")
#: float32 resolution is 1.2e-7; sums over hundreds of terms round to a few times that.
FLOAT_TOLERANCE = 1e-5
#: The width-3 toys sum a handful of exact small numbers: their ratios round only in the last place.
TOY_TOLERANCE = 1e-6
#: Nats per layer: the finite-width bias of a log-norm fit (about 1/(p n) = 0.016 at width 128) plus
#: the drift of the softmax error with depth (about 0.02), and seven times below log sqrt(2) = 0.35,
#: the gap between neighbouring weight scales and between the literal and the corrected factor.
SLOPE_TOLERANCE = 0.05

CLAIMS = (
    Claim("C2.1", "For an MLP, jax.grad of each layer's weights equals the explicit product of the input activations, "
                  "the output error, the other layers' weights and the diagonal activation matrices S.",
          short="gradient = product formula", kind="implementation", rules=(
              Rule("formula", "worst relative error of the backward recursion and the explicit product against "
                              "jax.grad, over depths and layers", "<=", FLOAT_TOLERANCE,
                   "a float32 tolerance: 100 x float32 resolution, room for sums over hundreds of terms", EXACT),)),
    Claim("C2.2", "With the error held fixed, a layer's weight gradient scales linearly with the input, with the "
                  "error and with each other layer's weights, and does not depend on its own weights.",
          short="linear in X, error, other W", kind="implementation", rules=(
              Rule("linear", "worst relative deviation of dW(s) from s dW(1), scaling X, the error or another "
                             "layer's W (error and patterns fixed)", "<=", FLOAT_TOLERANCE,
                   "a float32 tolerance (the product is exactly linear in each factor)", EXACT),
              Rule("own", "worst relative change of dW(s) from dW(1), scaling the layer's own W (error and "
                          "patterns fixed)", "<=", FLOAT_TOLERANCE,
                   "a float32 tolerance (W_l does not appear in its own gradient)", EXACT))),
    Claim("C2.3", "An inactive unit zeroes the whole column of its layer's weight gradient and the row of the next "
                  "layer's; on the width-3 toy the squared gradient norm keeps 2/3 in those two layers and 4/9 in "
                  "all others, and with random weights 4/9 is a floor (Cauchy-Schwarz).",
          short="inactive units zero a column; 2/3, 4/9 as norm²", kind="implementation", rules=(
              Rule("zero-column", "largest |entry| of per-example jax.grad in an inactive unit's column (its "
                                  "layer) or row (the next layer), MNIST batch", "<=", 0.0,
                   "exactly zero: the ReLU derivative multiplies those entries by 0", EXACT),
              Rule("squared-norm", "worst |norm² kept - (2/3 or 4/9)| on the all-ones width-3 toys of 4 and 7 "
                                   "layers (2/3 for the unit's layer and the next, 4/9 elsewhere)",
                   "<=", TOY_TOLERANCE, "float32 rounding of ratios of exact small numbers", EXACT),
              Rule("on-line", "largest relative distance of a random toy layer's mean norm² kept from "
                              "1/3 + rho/3", "<=", 1e-4,
                   "float32 rounding of sums of squares of random numbers (an identity)", EXACT),
              Rule("floor", "smallest mean norm² kept by any layer of any random width-3 toy", ">=",
                   4 / 9 - FLOAT_TOLERANCE, "4/9 is the Cauchy-Schwarz floor (rho >= 1/3), less a float32 "
                                            "tolerance", EXACT),
              Rule("positive-ceiling", "largest mean norm² kept by the layers away from the unit, random toys with "
                                       "positive weights", "<=", 2 / 3 + FLOAT_TOLERANCE,
                   "positive contributions cannot cancel (rho <= 1), plus a float32 tolerance", EXACT))),
    Claim("C2.3a", "\"The remaining gradients in that layer are attenuated to 2/3 of what they would have been if all "
                   "units were active ... all other layers are attenuated to 4/9 = 0.4444\" (the article, per "
                   "gradient entry).",
          short="literal: entries attenuated to 2/3 and 4/9", kind="literal", rules=(
              Rule("unit-layers", "largest |per-entry factor - 2/3| over the surviving entries of the unit's layer "
                                  "and the next, width-3 all-ones toy", "<=", TOY_TOLERANCE,
                   "the article's number, up to float32 rounding of exact small numbers", EXACT, miss="refuted"),
              Rule("other-layers", "largest |per-entry factor - 4/9| over the entries of the other layers, width-3 "
                                   "all-ones toy", "<=", TOY_TOLERANCE,
                   "the article's number, up to float32 rounding of exact small numbers", EXACT, miss="refuted"))),
    Claim("C2.4", "The first layer's gradient falls or grows geometrically with depth, by the factor "
                  "sqrt(p n var(w)) per layer (the book's reading of the article's weight x activation rate).",
          short="depth law: factor sqrt(p n var) per layer", rollup="all", rules=(
              Rule("rate", "|fitted - predicted slope| of log RMS per-example first-layer gradient against depth, "
                           "predicted 1/2 log(p n var), per network (nats/layer)", "<=", SLOPE_TOLERANCE,
                   "finite-width and softmax-drift bias, 7 x below the gap between weight scales"),
              Rule("direction", "fitted slope of the log batch-gradient norm against depth, times the sign of the "
                                "predicted slope, per network (nats/layer)", ">", 0.0,
                   "vanishing below gain 1 and exploding above: the sign is the claim"))),
    Claim("C2.4a", "\"The mean weight * activation rate should be close to 1.0\": the gradient changes by the factor "
                   "(mean weight x activation rate) per layer, read with the root-mean-square gain sigma_w sqrt(n) as "
                   "the mean weight (the article, literally).",
          short="literal: factor (weight x activation rate) per layer", kind="literal", rules=(
              Rule("rate", "|fitted - literal slope| of log RMS per-example first-layer gradient against depth, "
                           "literal slope log(sigma_w sqrt(n) p), per network (nats/layer)", "<=", SLOPE_TOLERANCE,
                   "the same tolerance as the corrected prediction (C2.4)", miss="refuted"),)),
    Claim("C2.5", "Softmax with cross-entropy, sigmoid with binary cross-entropy and identity with squared error all "
                  "give dL/dz = Yhat - Y at the output.",
          short="dL/dz = Ŷ − Y for matched pairs", kind="implementation", rules=(
              Rule("output-error", "max |jax.grad of the summed loss w.r.t. the logits - (Yhat - Y)| over 512 x 10 "
                                   "logits of std 3", "<=", FLOAT_TOLERANCE,
                   "a float32 tolerance; a wrong formula misses by order 0.1", EXACT),)),
)


def decide_depth(ledger, depth: dict[str, np.ndarray], w_scales: Sequence[float]) -> list:
    """Decide C2.4 (rate, direction) and C2.4a per weight scale from :func:`measures.depth_slopes` output.

    Args:
      ledger: the chapter's :class:`cgnb.engine.ledger.Ledger`.
      depth: ``fitted``, ``fitted_batch``, ``predicted``, ``literal``: (scales, seeds) slopes in nats/layer.
      w_scales: (scales,) the weight scales, one cell each.

    Returns:
      The decided results (shown inline by the ledger). The direction is decided only where the
      predicted slope is clearly non-zero (``|mean predicted| > SLOPE_TOLERANCE``).
    """
    results = []
    for i, scale in enumerate(w_scales):
        cell = f"w_scale {scale:g}"
        results.append(ledger.decide("C2.4", np.abs(depth["fitted"][i] - depth["predicted"][i]), rule="rate",
                                     cell=cell))
        results.append(ledger.decide("C2.4a", np.abs(depth["fitted"][i] - depth["literal"][i]), cell=cell))
        sign = np.sign(depth["predicted"][i].mean())
        if abs(depth["predicted"][i].mean()) > SLOPE_TOLERANCE:
            results.append(ledger.decide("C2.4", sign * depth["fitted_batch"][i], rule="direction", cell=cell))
    return results
