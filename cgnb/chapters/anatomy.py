"""The anatomy of a layer's gradient (chapter 2): backpropagation written out by hand.

For a cgnb MLP (:func:`cgnb.engine.nets.init` / :func:`cgnb.engine.nets.apply`: ReLU hidden layers,
linear output, no batch norm) with ``L = len(params)`` weight layers, the book numbers the
layers ``1..L`` and writes, for a batch ``X`` of ``B`` row vectors::

    a_0 = X                                  (B, d_0)        input of layer 1
    z_l = a_{l-1} W_l + b_l                  (B, d_l)        pre-activations of layer l
    S_l = 1[z_l > 0]                         (B, d_l)        ReLU derivative, hidden l < L
    a_l = z_l * S_l  (= relu(z_l))           (B, d_l)
    z_L = a_{L-1} W_L + b_L                  (B, d_L)        outputs (logits)
    E   = Yhat - Y,  Yhat = link(z_L)        (B, d_L)        the output error

For a loss averaged over the batch, backpropagation is::

    delta_L = E / B
    delta_l = (delta_{l+1} W_{l+1}^T) * S_l
    dW_l = a_{l-1}^T delta_l,     db_l = sum over the batch of delta_l

Unrolled per example ``i`` (``S_{l,i}`` as a diagonal matrix) it is the seed's product of
the input, the error, the *other* layers' weights and the ``S`` matrices::

    dW_l = sum_i [x_i W_1 S_1i ... W_{l-1} S_{l-1,i}]^T [e_i W_L^T S_{L-1,i} ... W_{l+1}^T S_{l,i}] / B

(biases, when non-zero, enter the left bracket: ``(... W_m + b_m) S_mi``). ``W_l`` itself
does not appear; each ``S`` matrix appears exactly once.

In code layers are 0-based like ``params``: ``layer=l`` is the book's layer ``l + 1``,
``Forward.inputs[l]`` is its input ``a_l`` and ``Forward.masks[l]`` the ReLU pattern of
its output (hidden layers only).
"""
from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..engine import nets

Params = list[dict[str, jax.Array]]
Grads = list[dict[str, jax.Array]]

LOSSES = ("softmax_ce", "sigmoid_bce", "squared")
FACTORS = ("input", "error", "other", "own")
EXPONENTS = {"input": 1, "error": 1, "other": 1, "own": 0}


# ----------------------------------------------------------------------------- forward


class Forward(NamedTuple):
    """What the forward pass keeps for the backward pass.

    Attributes:
      inputs: ``inputs[l]`` = input of layer ``l`` (0-based), (B, d_in of layer l);
        ``inputs[0]`` is ``x``.
      masks: ``masks[l]`` = ReLU pattern ``S`` of hidden layer ``l`` as 0./1. floats,
        (B, d_out of layer l), for ``l = 0 .. L-2``.
      outputs: the last layer's outputs (logits), (B, d_L).
    """

    inputs: tuple
    masks: tuple
    outputs: jax.Array


def _check_params(params: Params) -> None:
    if not params:
        raise ValueError("params is empty; build an MLP with cgnb.engine.nets.init(key, sizes)")
    if any("gamma" in layer for layer in params):
        raise ValueError("cgnb.anatomy covers plain MLPs; these params have batch norm "
                         "(init with batchnorm=False)")


def forward(params: Params, x: jax.Array, masks: Sequence[jax.Array] | None = None) -> Forward:
    """Forward pass of a cgnb MLP keeping layer inputs and ReLU patterns.

    Args:
      params: from :func:`cgnb.engine.nets.init` (no batch norm).
      x: (B, d_0) inputs.
      masks: optional ReLU patterns to hold fixed, ``masks[l]`` (B, d_out of hidden
        layer l) of 0/1; hidden layer ``l`` then outputs ``z_l * masks[l]`` instead of
        ``relu(z_l)``. This is the seed's view of ``S`` as given diagonal matrices: with
        the patterns held, the network is linear in each weight matrix and in ``x``.

    Returns:
      :class:`Forward`; its outputs equal ``nets.apply(params, x)`` when ``masks`` is None.
    """
    _check_params(params)
    hidden = len(params) - 1
    if masks is not None and len(masks) != hidden:
        raise ValueError(f"masks must hold one pattern per hidden layer ({hidden}), got {len(masks)}")
    inputs, kept = [x], []
    h = x
    for l, layer in enumerate(params[:-1]):
        z = h @ layer["w"] + layer["b"]
        s = (z > 0).astype(z.dtype) if masks is None else jnp.asarray(masks[l], z.dtype)
        h = z * s
        inputs.append(h)
        kept.append(s)
    outputs = h @ params[-1]["w"] + params[-1]["b"]
    return Forward(tuple(inputs), tuple(kept), outputs)


# ----------------------------------------------------------------------------- losses


def _targets(targets: jax.Array, outputs: jax.Array) -> jax.Array:
    """Integer labels (B,) become one-hot (B, K); float targets must match outputs (B, K)."""
    targets = jnp.asarray(targets)
    if targets.ndim == 1 and jnp.issubdtype(targets.dtype, jnp.integer):
        return jax.nn.one_hot(targets, outputs.shape[-1], dtype=outputs.dtype)
    if targets.shape != outputs.shape:
        raise ValueError(f"targets must be int labels (B,) or an array shaped like the outputs "
                         f"{outputs.shape}; got {targets.shape}")
    return targets.astype(outputs.dtype)


def _check_loss(loss: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}")


def link(outputs: jax.Array, loss: str) -> jax.Array:
    """The prediction ``Yhat`` (B, K) that goes with a loss: softmax, sigmoid or identity."""
    _check_loss(loss)
    return {"softmax_ce": jax.nn.softmax, "sigmoid_bce": jax.nn.sigmoid, "squared": lambda z: z}[loss](outputs)


def loss_per_example(outputs: jax.Array, targets: jax.Array, loss: str) -> jax.Array:
    """Per-example loss (B,) from outputs ``z`` (B, K) and targets ``Y``.

    ``softmax_ce``: ``-sum_k Y_k log softmax(z)_k``; ``sigmoid_bce``:
    ``-sum_k [Y_k log sigmoid(z_k) + (1 - Y_k) log(1 - sigmoid(z_k))]``;
    ``squared``: ``1/2 ||z - Y||^2``. ``targets`` may be int labels (B,) (one-hot).
    """
    _check_loss(loss)
    y = _targets(targets, outputs)
    if loss == "softmax_ce":
        return -jnp.sum(y * jax.nn.log_softmax(outputs), axis=-1)
    if loss == "sigmoid_bce":  # softplus(z) - y z, the stable form
        return jnp.sum(jax.nn.softplus(outputs) - y * outputs, axis=-1)
    return 0.5 * jnp.sum((outputs - y) ** 2, axis=-1)


def output_error(outputs: jax.Array, targets: jax.Array, loss: str) -> jax.Array:
    """``E = Yhat - Y`` (B, K): the derivative of each example's loss w.r.t. its outputs."""
    return link(outputs, loss) - _targets(targets, outputs)


# ----------------------------------------------------------------------------- backward


def deltas(params: Params, fwd: Forward, delta_out: jax.Array) -> list[jax.Array]:
    """The backpropagated errors ``delta_l = dLoss/dz_l`` (B, d_out of layer l) of every layer l.

    ``delta_{L-1} = delta_out``; ``delta_{l-1} = (delta_l W_l^T) * S_{l-1}``.
    """
    _check_params(params)
    delta, out = delta_out, [None] * len(params)
    for l in reversed(range(len(params))):
        out[l] = delta
        if l > 0:
            delta = (delta @ params[l]["w"].T) * fwd.masks[l - 1]
    return out


def backward(params: Params, fwd: Forward, delta_out: jax.Array) -> Grads:
    """Backpropagate ``delta_out = dLoss/dz_L`` (B, d_L) through the kept forward pass.

    Returns ``grads[l] = {"w": a_l^T delta_l (d_in, d_out), "b": sum_b delta_l (d_out,)}``
    with the errors of :func:`deltas`.
    """
    return [{"w": a.T @ d, "b": jnp.sum(d, axis=0)} for a, d in zip(fwd.inputs, deltas(params, fwd, delta_out))]


def gradients(params: Params, x: jax.Array, targets: jax.Array, loss: str = "softmax_ce") -> Grads:
    """Gradients of the batch-mean loss by the explicit backward pass: ``delta_L = (Yhat - Y) / B``."""
    fwd = forward(params, x)
    return backward(params, fwd, output_error(fwd.outputs, targets, loss) / x.shape[0])


def autodiff_gradients(params: Params, x: jax.Array, targets: jax.Array, loss: str = "softmax_ce") -> Grads:
    """Reference: ``jax.grad`` of the batch-mean loss of ``nets.apply(params, x)``."""
    _check_params(params)

    def mean_loss(p):
        return jnp.mean(loss_per_example(nets.apply(p, x), targets, loss))

    return jax.grad(mean_loss)(params)


def product_formula(params: Params, x: jax.Array, masks: Sequence[jax.Array], error: jax.Array,
                    layer: int) -> jax.Array:
    """``dW`` of ``layer`` (0-based) as the explicit per-example product (d_in, d_out).

    For each example ``i`` build, with ``diag(S)`` as matrices,
    ``left_i = (...((x_i W_0 + b_0) S_0i) W_1 + b_1) S_1i ...`` up to the layer's input and
    ``right_i = e_i W_{L-1}^T S_{L-2,i} ... W_{layer+1}^T S_{layer,i}``, and return
    ``sum_i left_i^T right_i``. The layer's own ``W`` is never used.

    Args:
      x: (B, d_0) inputs; masks: the ReLU patterns (``forward(params, x).masks``);
      error: (B, d_L) ``dLoss/dz_L`` (``(Yhat - Y) / B`` for a batch-mean loss).
    """
    _check_params(params)
    depth = len(params)
    if not 0 <= layer < depth:
        raise ValueError(f"layer must be in 0..{depth - 1}, got {layer}")

    def one(x_i, masks_i, e_i):
        left = x_i
        for m in range(layer):
            left = (left @ params[m]["w"] + params[m]["b"]) @ jnp.diag(masks_i[m])
        right = e_i
        for m in range(depth - 1, layer, -1):
            right = right @ params[m]["w"].T @ jnp.diag(masks_i[m - 1])
        return left, right

    left, right = jax.vmap(one)(x, tuple(masks), error)
    return left.T @ right


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


def relative_error(value: jax.Array, reference: jax.Array) -> float:
    """``max |value - reference| / max |reference|`` (0 when both are zero)."""
    value, reference = np.asarray(value, np.float64), np.asarray(reference, np.float64)
    scale = np.max(np.abs(reference))
    diff = np.max(np.abs(value - reference))
    return float(diff / scale) if scale > 0 else float(diff)


# ----------------------------------------------------------------------------- scaling (C2.2)


@functools.partial(jax.jit, static_argnames="loss")
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


@jax.jit
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
    seed's intuitive equation). With ``targets`` given, ``error`` is ignored and recomputed
    from the scaled network as ``(Yhat - Y) / B`` (true training; ``factor="error"`` is then
    meaningless and refused).

    The patterns ``S`` are recomputed from the scaled network; positive ``s`` keeps them
    when the biases are zero (every pre-activation downstream of the scaled factor is
    multiplied by ``s``), which ``flipped`` reports.
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


# ----------------------------------------------------------------------------- inactive units (C2.3)


def unit_off(masks: Sequence[jax.Array], hidden: int, unit: int) -> tuple:
    """Copy of ``masks`` with ``unit`` of hidden layer ``hidden`` switched off for every example."""
    if not 0 <= hidden < len(masks):
        raise ValueError(f"hidden must be in 0..{len(masks) - 1}, got {hidden}")
    if not 0 <= unit < masks[hidden].shape[-1]:
        raise ValueError(f"unit must be in 0..{masks[hidden].shape[-1] - 1}, got {unit}")
    return tuple(m.at[:, unit].set(0.0) if i == hidden else m for i, m in enumerate(masks))


def weight_gradients(params: Params, x: jax.Array, error: jax.Array,
                     masks: Sequence[jax.Array] | None = None) -> list[jax.Array]:
    """All layers' ``dW`` for a given output error and (optionally) given ReLU patterns."""
    fwd = forward(params, x, masks)
    return [g["w"] for g in backward(params, fwd, error)]


def unit_contributions(params: Params, x: jax.Array, error: jax.Array, masks: Sequence[jax.Array],
                       hidden: int) -> tuple[list[jax.Array], list[list[jax.Array]]]:
    """Each layer's ``dW`` with all patterns ``masks`` and with each unit of ``hidden`` off.

    Returns ``(full, off)``: ``full[l]`` is layer l's ``dW``; ``off[j][l]`` the same with
    unit ``j`` of hidden layer ``hidden`` switched off (every other pattern held fixed).
    Because every ``S`` enters a layer's gradient once and linearly, the part that flows
    through unit ``j``, ``c_j = full - off[j]``, adds up over ``j`` to ``full`` when the
    biases are zero.
    """
    full = weight_gradients(params, x, error, masks)
    width = masks[hidden].shape[-1]
    off = [weight_gradients(params, x, error, unit_off(masks, hidden, j)) for j in range(width)]
    return full, off


def energy_ratio(off: jax.Array, full: jax.Array) -> float:
    """``||off||^2 / ||full||^2``: the fraction of a gradient's squared norm (its dose) left."""
    off, full = np.asarray(off, np.float64), np.asarray(full, np.float64)
    return float(np.sum(off ** 2) / np.sum(full ** 2))


def contribution_spread(full: jax.Array, off: Sequence[jax.Array]) -> float:
    """``rho = sum_j ||c_j||^2 / ||sum_j c_j||^2`` with ``c_j = full - off[j]``.

    ``1/n`` when the ``n`` units contribute identical gradients (coherent), 1 when their
    contributions are orthogonal (e.g. disjoint columns), larger when they cancel.
    """
    contribs = [np.asarray(full - o, np.float64) for o in off]
    total = np.sum(contribs, axis=0)
    return float(sum(np.sum(c ** 2) for c in contribs) / np.sum(total ** 2))


def predicted_energy_ratio(rho: float, width: int) -> float:
    """Mean over which unit is off of ``||g - c_j||^2 / ||g||^2`` when ``g = sum_j c_j``.

    ``sum_j ||g - c_j||^2 = (n - 2) ||g||^2 + sum_j ||c_j||^2``, so the mean is
    ``(n - 2)/n + rho/n``: ``((n-1)/n)^2`` for coherent units (4/9 at n = 3),
    ``(n-1)/n`` for orthogonal ones (2/3 at n = 3).
    """
    return (width - 2) / width + rho / width


def attenuation(off: jax.Array, full: jax.Array) -> dict[str, float]:
    """How much of one layer's gradient ``full`` (d_in, d_out) is left in ``off`` (same shape).

    Returns ``energy`` ``||off||^2 / ||full||^2`` (the squared norm: the dose of chapter 1),
    ``norm`` its square root, ``total`` ``sum(off) / sum(full)``, ``zeroed`` the fraction of
    entries that became exactly zero, and ``survivor_min`` / ``survivor_max``: the range
    of ``off / full`` over the entries that did not (NaN when none survive).
    """
    off, full = np.asarray(off, np.float64), np.asarray(full, np.float64)
    energy = float(np.sum(off ** 2) / np.sum(full ** 2))
    zero = (off == 0) & (full != 0)
    keep = (off != 0) & (full != 0)
    factor = off[keep] / full[keep]
    return {"energy": energy, "norm": float(np.sqrt(energy)), "total": float(off.sum() / full.sum()),
            "zeroed": float(zero.mean()),
            "survivor_min": float(factor.min()) if factor.size else float("nan"),
            "survivor_max": float(factor.max()) if factor.size else float("nan")}


@functools.partial(jax.jit, static_argnames="loss")
def _per_example_gradients(params: Params, x: jax.Array, targets: jax.Array, loss: str) -> Grads:
    """``jax.grad`` of each example's own loss: leaves (B, *shape)."""
    return jax.vmap(lambda xi, yi: autodiff_gradients(params, xi[None], yi[None], loss))(x, targets)


def inactive_unit_gradients(params: Params, x: jax.Array, targets: jax.Array,
                            loss: str = "softmax_ce") -> dict[str, object]:
    """Per-example ``jax.grad`` gradients checked against the ReLU patterns.

    For each example ``i`` and hidden unit ``j`` of hidden layer ``h`` that is inactive on
    that example (``S_h[i, j] = 0``), the column ``j`` of the example's gradient of layer
    ``h`` and the row ``j`` of layer ``h + 1`` should be exactly zero.

    Returns a dict: ``max_abs`` (largest absolute gradient entry in any such column or
    row, over all examples and hidden layers), ``inactive`` (H,) fraction of (example,
    unit) pairs that are inactive per hidden layer, ``zero_columns`` (H,) fraction of
    (example, unit) pairs whose gradient column is all zero.
    """
    masks = forward(params, x).masks
    per_example = _per_example_gradients(params, x, targets, loss)
    worst, inactive, zero_columns = 0.0, [], []
    for h, mask in enumerate(masks):
        column = jnp.max(jnp.abs(per_example[h]["w"]), axis=1)   # (B, d_h): max over inputs
        row = jnp.max(jnp.abs(per_example[h + 1]["w"]), axis=2)  # (B, d_h): max over outputs
        off = mask == 0
        worst = max(worst, float(jnp.max(jnp.where(off, jnp.maximum(column, row), 0.0))))
        inactive.append(float(jnp.mean(off)))
        zero_columns.append(float(jnp.mean(column == 0)))
    return {"max_abs": worst, "inactive": np.array(inactive), "zero_columns": np.array(zero_columns)}


TOY_FAMILIES = ("positive", "zero_mean")


def random_toys(seed: int, seeds: int, family: str, depth: int = 4, hidden: int = 1,
                width: int = 3) -> dict[str, np.ndarray]:
    """Switch off each unit of one hidden layer in random width-``width`` toys; energy left per layer.

    Each toy is ``depth`` square ``width x width`` layers with zero biases, one input
    example, output error held at all ones and every ReLU pattern held at "all active"
    (``S = I``) except the unit switched off, as in the seed's comparison.
    ``family="positive"``: weights and input uniform in [0, 1) (all paths push the same
    way); ``"zero_mean"``: Glorot-uniform weights, the distribution of
    :func:`cgnb.engine.nets.init` (uniform in +-sqrt(6 / (2 width))), and a standard normal input.
    The toys are drawn with numpy's generator seeded by ``seed`` (cheap to compile).

    Returns a dict: ``ratio`` (seeds, width, depth) ``||dW_l(unit j off)||^2 / ||dW_l||^2``;
    ``mean_ratio`` (seeds, depth) its mean over the unit ``j``; ``rho`` (seeds, depth) the
    :func:`contribution_spread` of the units' contributions; ``predicted`` (seeds, depth)
    :func:`predicted_energy_ratio` of ``rho``; ``zeroed`` (seeds,) largest absolute entry of
    the zeroed column (layer ``hidden``) and row (layer ``hidden + 1``).
    """
    if family not in TOY_FAMILIES:
        raise ValueError(f"family must be one of {TOY_FAMILIES}, got {family!r}")
    if not 0 <= hidden < depth - 1:
        raise ValueError(f"hidden must be a hidden layer, 0..{depth - 2}; got {hidden}")
    rng = np.random.default_rng(seed)
    if family == "positive":
        ws = rng.uniform(0.0, 1.0, (seeds, depth, width, width))
        xs = rng.uniform(0.0, 1.0, (seeds, 1, width))
    else:
        limit = np.sqrt(6.0 / (2 * width))
        ws = rng.uniform(-limit, limit, (seeds, depth, width, width))
        xs = rng.normal(size=(seeds, 1, width))
    ratio, rho, zeroed = _toy_study(jnp.asarray(ws, jnp.float32), jnp.asarray(xs, jnp.float32), hidden)
    ratio, rho = np.asarray(ratio, np.float64), np.asarray(rho, np.float64)
    return {"ratio": ratio, "mean_ratio": ratio.mean(axis=1), "rho": rho,
            "predicted": predicted_energy_ratio(rho, width), "zeroed": np.asarray(zeroed)}


@functools.partial(jax.jit, static_argnames="hidden")
def _toy_study(ws: jax.Array, xs: jax.Array, hidden: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Vmapped core of :func:`random_toys`: ws (T, L, n, n), xs (T, 1, n)."""
    depth, width = ws.shape[1], ws.shape[2]

    def one(w, x):
        params = [{"w": w[l], "b": jnp.zeros(width)} for l in range(depth)]
        error = jnp.ones((1, width))
        masks = tuple(jnp.ones((1, width)) for _ in range(depth - 1))
        full = weight_gradients(params, x, error, masks)
        silenced = jnp.ones((width, 1, width)) - jnp.eye(width)[:, None, :]   # (unit, B=1, width)
        off = jax.vmap(lambda m: weight_gradients(
            params, x, error, masks[:hidden] + (m,) + masks[hidden + 1:]))(silenced)  # leaves (unit, in, out)
        energy = [jnp.sum(g ** 2) for g in full]
        ratio = jnp.stack([jnp.sum(o ** 2, axis=(1, 2)) / e for o, e in zip(off, energy)], axis=1)  # (unit, L)
        contrib = [g[None] - o for g, o in zip(full, off)]                     # (unit, in, out) per layer
        rho = jnp.stack([jnp.sum(c ** 2) / jnp.sum(jnp.sum(c, axis=0) ** 2) for c in contrib])
        units = jnp.arange(width)
        zeroed = jnp.maximum(jnp.max(jnp.abs(off[hidden][units, :, units])),
                             jnp.max(jnp.abs(off[hidden + 1][units, units, :])))
        return ratio, rho, zeroed

    return jax.vmap(one)(ws, xs)


@functools.partial(jax.jit, static_argnames="loss")
def output_error_gap(outputs: jax.Array, targets: jax.Array, loss: str) -> jax.Array:
    """``max |jax.grad(sum of losses)(z) - (Yhat - Y)|`` over a batch of outputs (B, K): a scalar."""
    autodiff = jax.grad(lambda z: jnp.sum(loss_per_example(z, targets, loss)))(outputs)
    return jnp.max(jnp.abs(autodiff - output_error(outputs, targets, loss)))


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


def fit_slope(depths: Sequence[float], values: np.ndarray) -> float:
    """Least-squares slope of ``values`` (..., D) against ``depths`` (D,), pooled over leading axes."""
    values = np.asarray(values, float)
    d = np.broadcast_to(np.asarray(depths, float), values.shape).ravel()
    return float(np.polyfit(d, values.ravel(), 1)[0])
