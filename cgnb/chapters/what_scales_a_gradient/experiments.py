"""Chapter 2's experiments, one function per section, each returning the statistics its claims are decided on.

* :func:`formula_check` -- the backward recursion and the explicit product against ``jax.grad``
  for several depths and the three output losses (C2.1);
* :func:`scaling_study` -- every layer's weight gradient as one factor is scaled, error held fixed
  and following the network (C2.2);
* :func:`ones_toys` -- the article's width-3 toy with one unit off, read per entry and as a squared
  norm (C2.3, C2.3a); :func:`random_toy_summary` -- the random toys' floor and line (C2.3);
* :func:`depth_slopes` -- per network, the fitted and predicted per-layer slopes of the first
  layer's gradient against depth (C2.4, C2.4a);
* :func:`output_error_cases` -- ``dL/dz`` against ``Yhat - Y`` for each matched pair (C2.5).

Reference: "Grokking gradients in deep neural networks" (article summary).
"""
from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ...engine import curves, nets
from ...engine.losses import Params
from . import backprop, measures, units


def with_random_biases(params: Params, seed: int, scale: float = 0.1) -> Params:
    """``params`` with biases drawn from N(0, scale^2) (numpy generator ``seed``), weights unchanged."""
    rng = np.random.default_rng(seed)
    return [dict(p, b=jnp.asarray(scale * rng.normal(size=p["b"].shape), jnp.float32)) for p in params]


def formula_check(key: jax.Array, x: jax.Array, labels: jax.Array, depths: Sequence[int], width: int,
                  seed: int) -> dict[str, np.ndarray]:
    """Relative errors of the hand-written gradients against ``jax.grad`` (C2.1), per loss.

    For each depth an MLP ``d_0 -> width x (depth - 1) -> 10`` (``nets.init(fold_in(key, depth))``)
    with random biases of scale 0.1, so that the biases' place in the formula is tested too.

    Args:
      key: PRNG key of the networks; x: (B, d_0) inputs; labels: (B,) int labels in 0..9.
      depths: weight layers of each network; width: hidden units; seed: of the biases.

    Returns:
      ``{loss: (sum(depths), 3)}``: per layer of every network the errors of
      :func:`measures.formula_errors` (backward ``dW``, backward ``db``, product ``dW``).
    """
    out: dict[str, list] = {loss: [] for loss in backprop.LOSSES}
    for depth in depths:
        params = nets.init(jax.random.fold_in(key, depth), (x.shape[1],) + (width,) * (depth - 1) + (10,))
        params = with_random_biases(params, seed + 100 + depth)
        for loss in backprop.LOSSES:
            targets = labels if loss == "softmax_ce" else jax.nn.one_hot(labels, 10)
            out[loss].append(np.asarray(measures.formula_errors(params, x, targets, loss)))
    return {loss: np.concatenate(rows) for loss, rows in out.items()}


class ScalingStudy(NamedTuple):
    """What :func:`scaling_study` found.

    Attributes:
      responses: ``{(factor, layer, other, "fixed" | "true"): measures.ScalingResponse}``.
      linear: worst relative deviation from ``s dW(1)`` scaling X, the error or another W (error fixed).
      own: worst relative change scaling the layer's own W (error fixed).
      following: ``{factor: worst deviation}`` when the error follows the network (input, other, own).
    """

    responses: dict
    linear: float
    own: float
    following: dict


def scaling_study(params: Params, x: jax.Array, labels: jax.Array, scales: Sequence[float]) -> ScalingStudy:
    """Scale each factor of each layer's weight gradient (C2.2), error held fixed and following the network.

    The fixed error is the true ``(Yhat - Y) / B`` of the unscaled network (softmax cross-entropy).

    Raises:
      RuntimeError: a positive scaling flipped an activation pattern of the fixed-error study,
        which cannot happen with zero biases (a defect: give ``params`` zero biases).
    """
    error = backprop.output_error(backprop.forward(params, x).outputs, labels, "softmax_ce") / x.shape[0]
    responses = {}
    for layer in range(len(params)):
        for factor in measures.FACTORS:
            others = [k for k in range(len(params)) if k != layer] if factor == "other" else [None]
            for other in others:
                responses[factor, layer, other, "fixed"] = measures.scaling_response(
                    params, x, error, layer, factor, scales, other=other)
                if factor != "error":
                    responses[factor, layer, other, "true"] = measures.scaling_response(
                        params, x, None, layer, factor, scales, other=other, targets=labels)
    fixed = {k: r for k, r in responses.items() if k[3] == "fixed"}
    if max(r.flipped.max() for r in fixed.values()) > 0:
        raise RuntimeError("a positive scaling flipped an activation pattern: the network must have zero biases")

    def worst(kind, factors):
        return max(float(r.deviation.max()) for k, r in responses.items() if k[3] == kind and k[0] in factors)

    return ScalingStudy(responses, worst("fixed", ("input", "error", "other")), worst("fixed", ("own",)),
                        {f: worst("true", (f,)) for f in ("input", "other", "own")})


def biased_scaling(params: Params, x: jax.Array, labels: jax.Array, scales: Sequence[float]) -> dict[str, float]:
    """Scale the input of a network with non-zero biases (error fixed): how far the last layer's gradient
    departs from ``s`` times itself, and how many activation patterns flip.

    Returns ``departure`` (largest ``| ||dW(s)|| / (s ||dW(1)||) - 1 |``) and ``flipped`` (largest
    fraction of flipped pattern entries over the scales).
    """
    error = backprop.output_error(backprop.forward(params, x).outputs, labels, "softmax_ce") / x.shape[0]
    r = measures.scaling_response(params, x, error, len(params) - 1, "input", scales)
    return {"departure": float(np.max(np.abs(r.norm_ratio / r.scales - 1))), "flipped": float(r.flipped.max())}


def ones_toy(depth: int) -> list[dict[str, jax.Array]]:
    """``depth`` width-3 layers with every weight 1 and zero biases: each path from input to output carries 1."""
    return [{"w": jnp.ones((3, 3)), "b": jnp.zeros(3)} for _ in range(depth)]


def silence(params: Params, hidden: int, unit: int) -> Params:
    """``params`` with ``unit`` of hidden layer ``hidden`` switched off by a bias of -100 (how a ReLU goes quiet)."""
    return [dict(p, b=p["b"].at[unit].set(-100.0)) if i == hidden else p for i, p in enumerate(params)]


def expected_energy(depth: int, hidden: int) -> np.ndarray:
    """The squared-norm ratio of each layer of the all-ones toy with one unit of ``hidden`` off: 2/3 for the
    unit's layer and the next (a third of their entries zeroed), (2/3)^2 = 4/9 elsewhere (every entry at 2/3)."""
    return np.array([2 / 3 if l in (hidden, hidden + 1) else 4 / 9 for l in range(depth)])


def ones_toys(hidden: int = 1, unit: int = 1) -> dict:
    """The article's width-3 toy (C2.3, C2.3a): four all-ones layers, input and error ones, one unit off.

    Also a 7-layer toy with a unit off in hidden layer 3, which shows that the loss does not compound
    with distance.

    Returns a dict: ``full``, ``off`` (4 layer gradients (3, 3) each), ``attenuation`` (4 dicts of
    :func:`units.attenuation`), ``deep_energy`` (7,) squared-norm ratios of the 7-layer toy;
    ``squared_norm`` the worst ``|ratio - expected_energy|`` of both toys; ``unit_layers`` the
    worst ``|per-entry factor - 2/3|`` over the surviving entries of the unit's layer and the next;
    ``other_layers`` the worst ``|per-entry factor - 4/9|`` over the other layers' entries.
    """
    x, error = jnp.ones((1, 3)), jnp.ones((1, 3))
    full = units.weight_gradients(ones_toy(4), x, error)
    off = units.weight_gradients(silence(ones_toy(4), hidden, unit), x, error)
    att = [units.attenuation(o, f) for o, f in zip(off, full)]
    deep_hidden = 2
    deep_full, deep_offs = units.unit_contributions(ones_toy(7), x, error, backprop.forward(ones_toy(7), x).masks,
                                                    deep_hidden)
    deep_energy = np.array([units.attenuation(o, f)["energy"] for o, f in zip(deep_offs[unit], deep_full)])
    energy = np.array([a["energy"] for a in att])
    touching = (hidden, hidden + 1)

    def entry_distance(layers, target):
        return max(max(abs(att[l]["survivor_min"] - target), abs(att[l]["survivor_max"] - target)) for l in layers)

    return {"full": full, "off": off, "attenuation": att, "deep_energy": deep_energy,
            "squared_norm": float(max(np.abs(energy - expected_energy(4, hidden)).max(),
                                      np.abs(deep_energy - expected_energy(7, deep_hidden)).max())),
            "unit_layers": entry_distance(touching, 2 / 3),
            "other_layers": entry_distance([l for l in range(4) if l not in touching], 4 / 9)}


def random_toy_summary(toys: Mapping[str, Mapping[str, np.ndarray]], far: Sequence[int]) -> dict[str, float]:
    """What the random width-3 toys (:func:`units.random_toys`, one per family) show (C2.3).

    Returns ``floor`` (smallest mean norm² kept by any layer of any toy), ``positive_ceiling``
    (largest one among the layers ``far`` from the unit, positive family), ``on_line`` (largest
    relative distance from ``1/3 + rho/3``) and per family ``<family>_mean`` / ``<family>_median``
    of the far layers' ratios.
    """
    out = {"floor": float(min(r["mean_ratio"].min() for r in toys.values())),
           "positive_ceiling": float(toys["positive"]["mean_ratio"][:, far].max()),
           "on_line": float(max(np.max(np.abs(r["mean_ratio"] / r["predicted"] - 1)) for r in toys.values()))}
    for family, r in toys.items():
        out[f"{family}_mean"] = float(np.mean(r["mean_ratio"][:, far]))
        out[f"{family}_median"] = float(np.median(r["mean_ratio"][:, far]))
    return out


def depth_slopes(sweep: Mapping[str, np.ndarray], width: int) -> dict[str, np.ndarray]:
    """Per network (scale, seed) the slopes of the first layer's log gradient against depth (C2.4, C2.4a).

    Args:
      sweep: :func:`measures.depth_sweep`'s output (arrays (scales, seeds, depths) and ``depths``).
      width: the hidden width ``n``.

    Returns a dict of (scales, seeds) arrays in nats per layer: ``fitted`` (log RMS per-example
    gradient), ``fitted_batch`` (log norm of the batch gradient), ``predicted`` ``1/2 log(p n var)``
    and ``literal`` ``log(sqrt(n var) p)`` from the activation rate ``p`` (hidden layers of the
    networks of depth >= 3) and the hidden weights' variance measured in the same networks.
    """
    depths = sweep["depths"]
    rate = sweep["activation_rate"][:, :, 1:].mean(axis=2)
    var = np.nanmean(sweep["hidden_var"], axis=2)
    fit = np.vectorize(lambda i, j, key: curves.fit_slope(depths, sweep[key][i, j]), excluded={"key"})
    i, j = np.indices(rate.shape)
    return {"fitted": fit(i, j, key="log_example_rms"), "fitted_batch": fit(i, j, key="log_norm"),
            "predicted": measures.predicted_log_gain(rate, width, var), "literal": np.log(np.sqrt(width * var) * rate),
            "activation_rate": rate, "n_var": width * var}


def output_error_cases(seed: int, examples: int = 512, std: float = 3.0) -> dict[str, float]:
    """``max |jax.grad - (Yhat - Y)|`` for each matched pair (C2.5) on logits of std ``std`` (many saturated).

    Targets of each loss's kind: class labels (softmax), multi-label 0/1 (sigmoid), real numbers (squared).
    """
    rng = np.random.default_rng(seed)
    logits = jnp.asarray(std * rng.normal(size=(examples, 10)), jnp.float32)
    cases = {"softmax_ce": jnp.asarray(rng.integers(0, 10, examples), jnp.int32),
             "sigmoid_bce": jnp.asarray(rng.random((examples, 10)) < 0.3, jnp.float32),
             "squared": jnp.asarray(rng.normal(size=(examples, 10)), jnp.float32)}
    return {loss: float(measures.output_error_gap(logits, targets, loss)) for loss, targets in cases.items()}


def sigmoid_pairs(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``|dl/dz|`` for target 1 at logits ``z`` (Z,): sigmoid + binary CE (matched) and sigmoid + squared error."""
    z = jnp.asarray(z, jnp.float32)
    matched = backprop.output_error(z[:, None], jnp.ones((len(z), 1)), "sigmoid_bce")[:, 0]
    mismatched = jax.vmap(jax.grad(lambda v: 0.5 * (jax.nn.sigmoid(v) - 1.0) ** 2))(z)
    return np.abs(np.asarray(matched)), np.abs(np.asarray(mismatched))
