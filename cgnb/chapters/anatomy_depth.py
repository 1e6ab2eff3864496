"""Chapter 2, depth: how a freshly initialised MLP's first-layer gradient grows or shrinks with depth.

:func:`depth_stats` measures one network (batch gradient, per-example gradient RMS, activation
rates, weight variances); :func:`depth_sweep` runs nested networks of every depth and weight
scale; :func:`predicted_log_gain` is the per-layer factor ``1/2 log(p n var)`` that predicts it.
The forward and backward pass are :mod:`cgnb.chapters.anatomy`.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..engine import nets
from ..engine.losses import Params

from .anatomy import deltas, forward, output_error


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
    """
    if not params or max(depths) > len(params) or min(depths) < 2:
        raise ValueError(f"depths must be in 2..{len(params)} (the deep network's depth), got {list(depths)}")
    return [list(params[: d - 1]) + [params[-1]] for d in depths]


def depth_sweep(key: jax.Array, x: jax.Array, labels: jax.Array, depths: Sequence[int], width: int,
                w_scales: Sequence[float], seeds: int, num_classes: int = 10) -> dict[str, np.ndarray]:
    """First-layer gradients of fresh MLPs ``d_0 -> width x (depth - 1) -> num_classes``.

    For each seed one MLP of the largest depth is drawn with :func:`cgnb.engine.nets.init`
    (Glorot uniform, zero biases) and the shallower ones are cut from it
    (:func:`nested_networks`). Every weight is multiplied by each ``w_scale``, which is
    exactly ``nets.init(..., w_scale=s)`` with the same key: the scales differ only by
    the factor on the weights. Runs eagerly, vmapped over scales and seeds (compiling
    per depth would dominate the run time of this small computation).

    Returns a dict of arrays (scales, seeds, depths): ``log_norm`` = log ``||dW_1||`` of
    the batch-mean loss; ``log_example_rms`` = log of the RMS per-example first-layer
    gradient norm; ``activation_rate`` = mean over the hidden layers; ``hidden_var`` = mean
    variance of the hidden-to-hidden weights (NaN at depth 2, which has none); and
    ``depths`` (D,), ``w_scales`` (S,).
    """
    depths = [int(d) for d in depths]
    if min(depths) < 2:
        raise ValueError(f"depths count weight layers and must be >= 2 (one hidden layer); got {depths}")
    sizes = (x.shape[1],) + (width,) * (max(depths) - 1) + (num_classes,)
    drawn = [nets.init(k, sizes) for k in jax.random.split(key, seeds)]
    deep = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *drawn)  # leaves (seeds, ...)
    scales = jnp.asarray(w_scales, jnp.float32)
    deep = [{"w": scales[:, None, None, None] * layer["w"][None],
             "b": jnp.broadcast_to(layer["b"], (len(w_scales),) + layer["b"].shape)} for layer in deep]
    stats_of = jax.vmap(jax.vmap(lambda p: depth_stats(p, x, labels)))  # over scales, then seeds
    names = ("log_norm", "log_example_rms", "activation_rate", "hidden_var")
    columns: dict[str, list] = {name: [] for name in names}
    nan = np.full((len(w_scales), seeds), np.nan)
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


def predicted_log_gain(activation_rate: float, fan: int, weight_var: float) -> float:
    """Per-layer growth of the backpropagated error's norm: ``1/2 log(p * fan * var(w))``.

    ``delta W^T`` has ``fan`` entries, each a sum of ``fan_out`` terms of variance
    ``var(w) delta_q^2``: ``E||delta W^T||^2 = fan * var(w) * ||delta||^2``; the ReLU
    pattern then keeps a fraction ``p`` of it. Here ``fan`` is the width of the layer the
    error arrives at (square hidden layers: fan_in = fan_out = width).
    """
    return 0.5 * float(np.log(activation_rate * fan * weight_var))
