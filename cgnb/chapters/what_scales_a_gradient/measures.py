"""Chapter 2's measures: the hand-written gradient against ``jax.grad``, scaling responses, depth.

* :func:`formula_errors` -- the backward recursion and the per-example product formula against
  ``jax.grad`` (C2.1); :func:`output_error_gap` -- ``dl/dz`` against ``Yhat - Y`` (C2.5);
* :func:`scaling_response` -- how a layer's weight gradient responds to scaling one of its factors
  (the input, the output error, another layer's weights, its own weights; C2.2);
* :func:`depth_stats`, :func:`depth_sweep`, :func:`predicted_log_gain` -- a fresh MLP's first-layer
  gradient against depth and the per-layer factor ``1/2 log(p n var)`` that predicts it (C2.4).

The forward and backward pass are :mod:`cgnb.chapters.what_scales_a_gradient.backprop`.

Reference: "Grokking gradients in deep neural networks" (article summary).
"""
from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ...engine import nets, xla
from ...engine.losses import Params
from .backprop import autodiff_gradients, backward, deltas, forward, loss_per_example, output_error, product_formula

FACTORS = ("input", "error", "other", "own")
EXPONENTS = {"input": 1, "error": 1, "other": 1, "own": 0}


# ----------------------------------------------------------------------------- the formula (C2.1, C2.5)


def formula_errors(params: Params, x: jax.Array, targets: jax.Array, loss: str = "softmax_ce") -> jax.Array:
    """Relative errors (L, 3) of the hand-written gradients against ``jax.grad``, per layer.

    Columns: backward recursion ``dW``, backward recursion ``db``, explicit per-example
    :func:`product_formula` ``dW``; each ``max |g - g_jax| / max |g_jax|`` for the batch-mean loss.
    Runs eagerly: its operations are compiled once and reused by every depth and loss, which
    is cheaper than compiling one whole function per network.
    """
    reference = autodiff_gradients(params, x, targets, loss)
    fwd = forward(params, x)
    error = output_error(fwd.outputs, targets, loss) / x.shape[0]
    mine = backward(params, fwd, error)

    def rel(a, b):
        return jnp.max(jnp.abs(a - b)) / jnp.maximum(jnp.max(jnp.abs(b)), jnp.finfo(b.dtype).tiny)

    rows = [jnp.stack([rel(mine[l]["w"], reference[l]["w"]), rel(mine[l]["b"], reference[l]["b"]),
                       rel(product_formula(params, x, fwd.masks, error, l), reference[l]["w"])])
            for l in range(len(params))]
    return jnp.stack(rows)


@functools.partial(xla.jit, static_argnames="loss")
def output_error_gap(outputs: jax.Array, targets: jax.Array, loss: str) -> jax.Array:
    """``max |jax.grad(sum of losses)(z) - (Yhat - Y)|`` over a batch of outputs (B, K): a scalar."""
    autodiff = jax.grad(lambda z: jnp.sum(loss_per_example(z, targets, loss)))(outputs)
    return jnp.max(jnp.abs(autodiff - output_error(outputs, targets, loss)))


# ----------------------------------------------------------------------------- scaling (C2.2)


@functools.partial(xla.jit, static_argnames="loss")
def _scaled_weight_grads(params: Params, x: jax.Array, error: jax.Array | None, targets: jax.Array | None,
                         x_factor: jax.Array, error_factor: jax.Array, w_factors: jax.Array,
                         loss: str) -> tuple[list, tuple]:
    """Every layer's ``dW`` and the ReLU patterns after scaling x, the error and each layer's W.

    ``w_factors`` (L,) multiplies each layer's weights. With ``targets`` the error is
    recomputed from the scaled network (``error`` and ``error_factor`` unused).
    Compiled once per network shape, whatever is scaled.
    """
    params = [dict(p, w=p["w"] * w_factors[i]) for i, p in enumerate(params)]
    fwd = forward(params, x * x_factor)
    if targets is None:
        error = error * error_factor
    else:
        error = output_error(fwd.outputs, targets, loss) / x.shape[0]
    return [g["w"] for g in backward(params, fwd, error)], fwd.masks


@xla.jit
def _compare(grads: list, base: list, expect: jax.Array, masks: tuple, base_masks: tuple):
    """Per layer ``||g|| / ||base||`` and ``||g - expect base|| / ||expect base||``; fraction of flipped patterns."""
    norm = lambda a: jnp.sqrt(jnp.sum(a ** 2))  # noqa: E731
    ratio = jnp.stack([norm(g) / norm(b) for g, b in zip(grads, base)])
    deviation = jnp.stack([norm(g - expect * b) / norm(expect * b) for g, b in zip(grads, base)])
    total = sum(m.size for m in masks)
    flipped = sum(jnp.sum(m != m0) for m, m0 in zip(masks, base_masks)) / max(total, 1)
    return ratio, deviation, flipped


class ScalingResponse(NamedTuple):
    """How a layer's weight gradient responds to scaling one factor by ``s``.

    Attributes (all (S,) over ``scales``):
      norm_ratio: ``||dW(s)|| / ||dW(1)||``.
      deviation: ``||dW(s) - s^k dW(1)|| / ||s^k dW(1)||`` with ``k`` the predicted exponent
        (1 for input, error, other weights; 0 for the layer's own weights).
      flipped: fraction of ReLU pattern entries (all hidden layers) that differ from ``s = 1``.
    """

    scales: np.ndarray
    norm_ratio: np.ndarray
    deviation: np.ndarray
    flipped: np.ndarray
    exponent: int


def scaling_response(params: Params, x: jax.Array, error: jax.Array, layer: int, factor: str,
                     scales: Sequence[float], other: int | None = None,
                     targets: jax.Array | None = None, loss: str = "softmax_ce") -> ScalingResponse:
    """Scale one factor of ``layer``'s weight gradient and measure the response.

    With ``targets=None`` the output error is the given ``error`` (B, d_L), held fixed (the
    article's intuitive equation). With ``targets`` given, ``error`` is ignored and recomputed
    from the scaled network as ``(Yhat - Y) / B`` (true training; ``factor="error"`` is then
    meaningless and refused).

    The patterns ``S`` are recomputed from the scaled network; positive ``s`` keeps them
    when the biases are zero (every pre-activation downstream of the scaled factor is
    multiplied by ``s``), which ``flipped`` reports.

    Raises:
      ValueError: ``factor='error'`` with targets, a scale <= 0, an unknown factor, or ``other`` not another layer.
    """
    if targets is not None and factor == "error":
        raise ValueError("with targets the error is recomputed from the network; scale 'input', 'other' or 'own'")
    if any(s <= 0 for s in scales):
        raise ValueError("scales must be positive (a negative factor flips ReLU patterns)")
    if factor not in FACTORS:
        raise ValueError(f"factor must be one of {FACTORS}, got {factor!r}")
    if factor == "other" and (other is None or other == layer or not 0 <= other < len(params)):
        raise ValueError(f"factor 'other' needs other != layer in 0..{len(params) - 1}, got {other}")
    target = {"own": layer, "other": other}.get(factor)

    def grads_and_masks(s):
        w_factors = np.ones(len(params), np.float32)
        if target is not None:
            w_factors[target] = s
        return _scaled_weight_grads(params, x, error if targets is None else None, targets,
                                    jnp.float32(s if factor == "input" else 1.0),
                                    jnp.float32(s if factor == "error" else 1.0), jnp.asarray(w_factors), loss)

    base, base_masks = grads_and_masks(1.0)
    k = EXPONENTS[factor]
    ratios, devs, flips = [], [], []
    for s in scales:
        grads, masks = grads_and_masks(float(s))
        ratio, deviation, flipped = _compare(grads, base, jnp.float32(s ** k), masks, base_masks)
        ratios.append(float(ratio[layer]))
        devs.append(float(deviation[layer]))
        flips.append(float(flipped))
    return ScalingResponse(np.asarray(scales, float), np.array(ratios), np.array(devs), np.array(flips), k)


# ----------------------------------------------------------------------------- depth (C2.4)


class DepthStats(NamedTuple):
    """First-layer gradient of a freshly initialised MLP and what predicts its size.

    Per-layer entries are tuples of scalars (not stacked arrays), so that eager calls for
    networks of different depths reuse the same compiled operations.

    Attributes:
      grad_norm: ``||dW_1||`` (Frobenius) of the batch-mean loss, a scalar.
      example_grad_rms: root-mean-square over the batch of the per-example gradient norms
        ``||x_i|| ||delta_1i||`` of each example's own loss (``delta`` times B).
      activation_rate: H scalars: fraction of active units of each hidden layer on the batch.
      weight_var: H - 1 scalars: empirical variance of the weights of each hidden-to-hidden
        layer ``params[1] .. params[L-2]`` (empty for one hidden layer).
      delta_norms: L scalars: ``||delta_l||`` (Frobenius over the batch) of every layer.
    """

    grad_norm: jax.Array
    example_grad_rms: jax.Array
    activation_rate: tuple
    weight_var: tuple
    delta_norms: tuple


def depth_stats(params: Params, x: jax.Array, targets: jax.Array, loss: str = "softmax_ce") -> DepthStats:
    """:class:`DepthStats` of ``params`` on the batch ``x`` (B, d_0), targets (B,) or (B, K)."""
    fwd = forward(params, x)
    batch = x.shape[0]
    delta_out = output_error(fwd.outputs, targets, loss) / batch
    ds = deltas(params, fwd, delta_out)
    grad = fwd.inputs[0].T @ ds[0]
    per_example = jnp.linalg.norm(x, axis=1) * jnp.linalg.norm(ds[0], axis=1) * batch
    return DepthStats(
        grad_norm=jnp.linalg.norm(grad),
        example_grad_rms=jnp.sqrt(jnp.mean(per_example ** 2)),
        activation_rate=tuple(jnp.mean(m) for m in fwd.masks),
        weight_var=tuple(jnp.var(params[l]["w"]) for l in range(1, len(params) - 1)),
        delta_norms=tuple(jnp.linalg.norm(d) for d in ds),
    )


def nested_networks(params: Params, depths: Sequence[int]) -> list[Params]:
    """Networks of the given depths cut from one deep MLP: its first ``depth - 1`` layers + its output layer.

    Every cut network has the layer shapes and the weight distribution of a fresh
    :func:`cgnb.engine.nets.init` of that depth; the networks share their first layers, like a
    network grown by inserting hidden layers before its output layer.

    Raises:
      ValueError: a depth outside 2..len(params).
    """
    if not params or max(depths) > len(params) or min(depths) < 2:
        raise ValueError(f"depths must be in 2..{len(params)} (the deep network's depth), got {list(depths)}")
    return [list(params[: d - 1]) + [params[-1]] for d in depths]


def depth_sweep(key: jax.Array, x: jax.Array, labels: jax.Array, depths: Sequence[int], width: int,
                w_scales: Sequence[float], seeds: Sequence[int], num_classes: int = 10) -> dict[str, np.ndarray]:
    """First-layer gradients of fresh MLPs ``d_0 -> width x (depth - 1) -> num_classes``.

    For each seed ``s`` one MLP of the largest depth is drawn with :func:`cgnb.engine.nets.init`
    from ``fold_in(key, s)`` (Glorot uniform, zero biases) and the shallower ones are cut from it
    (:func:`nested_networks`). Every weight is multiplied by each ``w_scale``, which is
    exactly ``nets.init(..., w_scale=s)`` with the same key: the scales differ only by
    the factor on the weights. Runs eagerly, vmapped over scales and seeds (compiling
    per depth would dominate the run time of this small computation).

    Returns a dict of arrays (scales, seeds, depths): ``log_norm`` = log ``||dW_1||`` of
    the batch-mean loss; ``log_example_rms`` = log of the RMS per-example first-layer
    gradient norm; ``activation_rate`` = mean over the hidden layers; ``hidden_var`` = mean
    variance of the hidden-to-hidden weights (NaN at depth 2, which has none); and
    ``depths`` (D,), ``w_scales`` (S,).

    Raises:
      ValueError: a depth below 2 (a network needs one hidden layer).
    """
    depths = [int(d) for d in depths]
    if min(depths) < 2:
        raise ValueError(f"depths count weight layers and must be >= 2 (one hidden layer); got {depths}")
    sizes = (x.shape[1],) + (width,) * (max(depths) - 1) + (num_classes,)
    drawn = [nets.init(jax.random.fold_in(key, s), sizes) for s in seeds]
    deep = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *drawn)  # leaves (seeds, ...)
    scales = jnp.asarray(w_scales, jnp.float32)
    deep = [{"w": scales[:, None, None, None] * layer["w"][None],
             "b": jnp.broadcast_to(layer["b"], (len(w_scales),) + layer["b"].shape)} for layer in deep]
    stats_of = jax.vmap(jax.vmap(lambda p: depth_stats(p, x, labels)))  # over scales, then seeds
    names = ("log_norm", "log_example_rms", "activation_rate", "hidden_var")
    columns: dict[str, list] = {name: [] for name in names}
    nan = np.full((len(w_scales), len(seeds)), np.nan)
    for net in nested_networks(deep, depths):
        stats = stats_of(net)
        columns["log_norm"].append(np.log(np.asarray(stats.grad_norm, float)))
        columns["log_example_rms"].append(np.log(np.asarray(stats.example_grad_rms, float)))
        columns["activation_rate"].append(np.mean([np.asarray(r, float) for r in stats.activation_rate], axis=0))
        columns["hidden_var"].append(np.mean([np.asarray(v, float) for v in stats.weight_var], axis=0)
                                     if stats.weight_var else nan)
    out = {name: np.stack(values, axis=-1) for name, values in columns.items()}  # (scales, seeds, depths)
    out["depths"] = np.asarray(depths)
    out["w_scales"] = np.asarray(w_scales, float)
    return out


def predicted_log_gain(activation_rate: float | np.ndarray, fan: int, weight_var: float | np.ndarray
                       ) -> float | np.ndarray:
    """Per-layer growth of the backpropagated error's norm: ``1/2 log(p * fan * var(w))``.

    ``delta W^T`` has ``fan`` entries, each a sum of ``fan_out`` terms of variance
    ``var(w) delta_q^2``: ``E||delta W^T||^2 = fan * var(w) * ||delta||^2``; the ReLU
    pattern then keeps a fraction ``p`` of it. Here ``fan`` is the width of the layer the
    error arrives at (square hidden layers: fan_in = fan_out = width). Takes scalars or arrays.
    """
    return 0.5 * np.log(np.asarray(activation_rate, float) * fan * np.asarray(weight_var, float))
