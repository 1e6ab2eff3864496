"""Chapter 2's model: backpropagation through an MLP written out by hand.

For a cgnb MLP (:func:`cgnb.engine.nets.init` / :func:`cgnb.engine.nets.forward`: ReLU hidden layers,
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

Unrolled per example ``i`` (``S_{l,i}`` as a diagonal matrix) it is the Grokking-gradients article's product of
the input, the error, the *other* layers' weights and the ``S`` matrices::

    dW_l = sum_i [x_i W_1 S_1i ... W_{l-1} S_{l-1,i}]^T [e_i W_L^T S_{L-1,i} ... W_{l+1}^T S_{l,i}] / B

(biases, when non-zero, enter the left bracket: ``(... W_m + b_m) S_mi``). ``W_l`` itself
does not appear; each ``S`` matrix appears exactly once.

In code layers are 0-based like ``params``: ``layer=l`` is the book's layer ``l + 1``,
``Forward.inputs[l]`` is its input ``a_l`` and ``Forward.masks[l]`` the ReLU pattern of
its output (hidden layers only).

Reference: "Grokking gradients in deep neural networks" (article summary).
"""
from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp

from ...engine import losses, nets, pergrad, xla
from ...engine.losses import Params

Grads = list[dict[str, jax.Array]]

LOSSES = ("softmax_ce", "sigmoid_bce", "squared")


# ----------------------------------------------------------------------------- forward


Forward = nets.Trace
"""What the forward pass keeps for the backward pass (:class:`cgnb.engine.nets.Trace`): ``inputs[l]``
the input of layer ``l`` (0-based, ``inputs[0] = x``), ``masks[l]`` the ReLU pattern ``S`` of hidden
layer ``l`` as 0./1. floats (B, d_out of layer l), ``outputs`` the logits (B, d_L)."""


def _check_params(params: Params) -> None:
    if not params:
        raise ValueError("params is empty; build an MLP with cgnb.engine.nets.init(key, sizes)")
    if any("gamma" in layer for layer in params):
        raise ValueError("this chapter covers plain MLPs; these params have batch norm "
                         "(init with batchnorm=False)")


def forward(params: Params, x: jax.Array, masks: Sequence[jax.Array] | None = None) -> Forward:
    """Forward pass of a cgnb MLP keeping layer inputs and ReLU patterns.

    Args:
      params: from :func:`cgnb.engine.nets.init` (no batch norm).
      x: (B, d_0) inputs.
      masks: optional ReLU patterns to hold fixed, ``masks[l]`` (B, d_out of hidden
        layer l) of 0/1; hidden layer ``l`` then outputs ``z_l * masks[l]`` instead of
        ``relu(z_l)``. This is the article's view of ``S`` as given diagonal matrices: with
        the patterns held, the network is linear in each weight matrix and in ``x``.

    Returns:
      :class:`Forward`; its outputs equal ``nets.forward(params, x)`` when ``masks`` is None.

    Raises:
      ValueError: empty params, batch-norm params, or masks that do not match the hidden layers.
    """
    _check_params(params)
    return nets.forward(params, x, masks=masks, intermediates=True)


# ----------------------------------------------------------------------------- output losses


def _targets(targets: jax.Array, outputs: jax.Array) -> jax.Array:
    """Integer labels (B,) become one-hot (B, K); float targets must match outputs (B, K)."""
    targets = jnp.asarray(targets)
    if _labels(targets):
        return jax.nn.one_hot(targets, outputs.shape[-1], dtype=outputs.dtype)
    if targets.shape != outputs.shape:
        raise ValueError(f"targets must be int labels (B,) or an array shaped like the outputs "
                         f"{outputs.shape}; got {targets.shape}")
    return targets.astype(outputs.dtype)


def _check_loss(loss: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}")


def link(outputs: jax.Array, loss: str) -> jax.Array:
    """The prediction ``Yhat`` (B, K) that goes with a loss: softmax, sigmoid or identity.

    Raises:
      ValueError: an unknown loss (the message lists the losses).
    """
    _check_loss(loss)
    return {"softmax_ce": jax.nn.softmax, "sigmoid_bce": jax.nn.sigmoid, "squared": lambda z: z}[loss](outputs)


def _labels(targets: jax.Array) -> bool:
    return jnp.ndim(targets) == 1 and jnp.issubdtype(jnp.asarray(targets).dtype, jnp.integer)


def loss_per_example(outputs: jax.Array, targets: jax.Array, loss: str) -> jax.Array:
    """Per-example loss (B,) from outputs ``z`` (B, K) and targets ``Y``.

    ``softmax_ce``: ``-sum_k Y_k log softmax(z)_k`` (for int labels (B,) the engine's
    :func:`cgnb.engine.losses.cross_entropy`); ``sigmoid_bce``:
    ``-sum_k [Y_k log sigmoid(z_k) + (1 - Y_k) log(1 - sigmoid(z_k))]`` with 0/1 targets (the
    engine's :func:`~cgnb.engine.losses.logistic` takes +-1 labels); ``squared``: ``1/2 ||z - Y||^2``
    (the engine's :func:`~cgnb.engine.losses.squared_error` has no 1/2 and one output).
    ``targets`` may be int labels (B,) (one-hot).

    Raises:
      ValueError: an unknown loss, or targets neither int labels (B,) nor shaped like ``outputs``.
    """
    _check_loss(loss)
    if loss == "softmax_ce" and _labels(targets):
        return losses.cross_entropy(outputs, jnp.asarray(targets))
    y = _targets(targets, outputs)
    if loss == "softmax_ce":
        return -jnp.sum(y * jax.nn.log_softmax(outputs), axis=-1)
    if loss == "sigmoid_bce":  # softplus(z) - y z, the stable form
        return jnp.sum(jax.nn.softplus(outputs) - y * outputs, axis=-1)
    return 0.5 * jnp.sum((outputs - y) ** 2, axis=-1)


def output_error(outputs: jax.Array, targets: jax.Array, loss: str) -> jax.Array:
    """``E = Yhat - Y`` (B, K): the derivative of each example's loss w.r.t. its outputs.

    Raises:
      ValueError: an unknown loss, or targets neither int labels (B,) nor shaped like ``outputs``.
    """
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


def autodiff_gradients(params: Params, x: jax.Array, targets: jax.Array, loss: str = "softmax_ce") -> Grads:
    """Reference: ``jax.grad`` of the batch-mean loss of ``nets.forward(params, x)``."""
    _check_params(params)

    def mean_loss(p):
        return jnp.mean(loss_per_example(nets.forward(p, x), targets, loss))

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

    Raises:
      ValueError: ``layer`` outside 0..L-1, or params that are no plain MLP.
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


@functools.partial(xla.jit, static_argnames="loss")
def per_example_gradients(params: Params, x: jax.Array, targets: jax.Array, loss: str) -> Grads:
    """Each example's own ``jax.grad`` gradient (:func:`cgnb.engine.pergrad.per_example_grads`): leaves (B, *shape)."""
    def per_example_loss(p: Params, xb: jax.Array, yb: jax.Array) -> jax.Array:
        return loss_per_example(nets.forward(p, xb), yb, loss)

    return pergrad.per_example_grads(per_example_loss, params, x, targets)
