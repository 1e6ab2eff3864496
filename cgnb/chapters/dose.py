"""Gradient dose: train small binary classifiers and measure how much gradient reaches each input.

The *dose* of input feature ``f`` over a training run is the summed squared gradient that
reaches the weights reading that input::

    D_f = sum_t || dL_t / dW_in[f, :] ||^2

where ``L_t`` is the training objective at step ``t`` (data loss plus any penalty in the loss,
such as Spectral Decoupling; weight decay is applied by the optimizer and is not part of the
dose) and ``W_in[f, :]`` is row ``f`` of the first-layer weights (for a linear model, the
single weight ``w_f``). :func:`train_binary` records it per step while it trains.

Models (all return one logit per example, ``(B,)``):

* :func:`init_linear` / :func:`apply_linear` -- logistic regression, ``x @ w + b``.
* :func:`init_recognizers` / :func:`apply_recognizers` -- a *recognizer network*: every input
  ``x_f`` has its own group of ``units`` ReLU units (its feature recognizer), and the logit is
  the sum of their read-outs, ``sum_f sum_j v[f, j] relu(a[f, j] x_f + b[f, j])``. It is an
  MLP whose first layer is block-diagonal; the network "listens" to recognizer ``f`` through
  its read-out weights ``v[f]``.
* :func:`init_torch_mlp` -- an MLP in the :mod:`cgnb.engine.nets` format with PyTorch's default
  initialisation (weights and biases uniform in +-1/sqrt(fan_in)), the set-up of Pezeshki et
  al. (2021); apply it with :func:`apply_mlp` (dropout on the hidden units when asked).

Losses: :func:`logistic_loss` (per example ``log(1 + exp(-y * logit))``) and
:func:`spectral_decoupling` (``coef * mean(logit ** 2)``, Pezeshki et al., 2021).
Reliance: :func:`flip_reliance` (effective logit weight of a +-1 feature); plotting grid:
:func:`grid_points`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..engine import nets

Params = Any
ApplyFn = Callable[..., jax.Array]


# ----------------------------------------------------------------------------- losses

def logistic_loss(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Per-example logistic loss ``log(1 + exp(-y * logit))``: logits, y (B,) with y in {-1, +1} -> (B,)."""
    return jax.nn.softplus(-y * logits)


def spectral_decoupling(logits: jax.Array, coef: float) -> jax.Array:
    """Spectral Decoupling penalty ``coef * mean(logits ** 2)`` (scalar), Pezeshki et al. (2021)."""
    return coef * jnp.mean(logits**2)


def binary_accuracy(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Fraction of examples with ``sign(logit) == y`` (a logit of exactly 0 counts as wrong): scalar."""
    return jnp.mean(jnp.sign(logits) == y)


# ----------------------------------------------------------------------------- models

def init_linear(key: jax.Array, n_inputs: int, *, scale: float = 0.01, head_start: float | jax.Array = 0.0) -> Params:
    """Logistic regression ``{"w": (D,), "b": ()}``; ``w ~ scale * N(0, 1)``, then ``w[0] += head_start``.

    ``head_start`` is an initial logit weight on input 0: the model starts out already reading
    that feature (``log 9`` is the best weight for a lone 90%-agreeing feature).
    """
    w = scale * jax.random.normal(key, (n_inputs,), jnp.float32)
    return {"w": w.at[0].add(head_start), "b": jnp.zeros((), jnp.float32)}


def apply_linear(params: Params, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
    """Logit ``x @ w + b``: x (B, D) -> (B,)."""
    del key
    return x @ params["w"] + params["b"]


def init_recognizers(
    key: jax.Array,
    n_inputs: int,
    units: int = 8,
    *,
    scale: float = 1.0,
    head_start: float | jax.Array = 1.0,
    readout_head_start: float | jax.Array | None = None,
    clones: int = 0,
) -> Params:
    """A recognizer network: ``units`` ReLU units per input, read out into one logit.

    Parameters ``{"a": (D, U), "b": (D, U), "v": (D, U), "c": ()}``: ``a ~ scale * N(0, 1)``,
    ``v ~ scale * N(0, 1) / sqrt(U * D)`` (so the initial logit is O(scale**2)), zero biases.

    Args:
      key: PRNG key.
      n_inputs: D, the number of inputs (one recognizer each).
      units: U, ReLU units per recognizer.
      scale: multiplies all initial weights.
      head_start: recognizer 0's input weights ``a[0]`` are multiplied by it (its units respond
        more strongly to input 0 from the start).
      readout_head_start: recognizer 0's read-out ``v[0]`` is multiplied by it (the network
        *listens* to recognizer 0 more from the start); ``None``: the same as ``head_start``
        (the whole recognizer starts larger); 1.0: a head start of the input weights only.
      clones: recognizers ``1 .. clones-1`` start as exact copies of recognizer 0 (before the
        head start), so that the first ``clones`` inputs start on equal footing except for the
        head start. 0 or 1: all recognizers independent.
    """
    if n_inputs < 1 or units < 1:
        raise ValueError(f"need n_inputs >= 1 and units >= 1, got {n_inputs}, {units}")
    if clones < 0 or clones > n_inputs:
        raise ValueError(f"clones must be in [0, n_inputs={n_inputs}], got {clones}")
    k_a, k_v = jax.random.split(key)
    a = scale * jax.random.normal(k_a, (n_inputs, units), jnp.float32)
    v = scale * jax.random.normal(k_v, (n_inputs, units), jnp.float32) / np.sqrt(units * n_inputs)
    if clones > 1:
        a = a.at[1:clones].set(a[0])
        v = v.at[1:clones].set(v[0])
    a = a.at[0].multiply(head_start)
    v = v.at[0].multiply(head_start if readout_head_start is None else readout_head_start)
    return {"a": a, "b": jnp.zeros((n_inputs, units), jnp.float32), "v": v, "c": jnp.zeros((), jnp.float32)}


def recognizer_outputs(params: Params, x: jax.Array) -> jax.Array:
    """Each recognizer's contribution to the logit: x (B, D) -> (B, D)."""
    hidden = jax.nn.relu(x[:, :, None] * params["a"] + params["b"])   # (B, D, U)
    return jnp.einsum("bdu,du->bd", hidden, params["v"])


def apply_recognizers(params: Params, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
    """Logit of the recognizer network: the sum of all recognizer outputs plus ``c``; (B, D) -> (B,)."""
    del key
    return jnp.sum(recognizer_outputs(params, x), axis=1) + params["c"]


def recognizer_norms(params: Params) -> jax.Array:
    """Parameter norm of each recognizer, ``sqrt(|a_f|^2 + |b_f|^2 + |v_f|^2)``: (D,)."""
    return jnp.sqrt(jnp.sum(params["a"] ** 2 + params["b"] ** 2 + params["v"] ** 2, axis=1))


def init_torch_mlp(key: jax.Array, sizes: tuple[int, ...]) -> nets.Params:
    """MLP parameters in :mod:`cgnb.engine.nets` format with PyTorch's ``nn.Linear`` default init.

    Every weight and bias of a layer with ``fan_in`` inputs is uniform in
    ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]`` (the non-zero biases matter in 2-D: they let the
    ReLU kinks sit anywhere in the plane, not only through the origin).
    """
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list at least an input and an output width, all >= 1; got {sizes}")
    params = []
    for k, d_in, d_out in zip(jax.random.split(key, len(sizes) - 1), sizes[:-1], sizes[1:]):
        k_w, k_b = jax.random.split(k)
        bound = 1.0 / np.sqrt(d_in)
        params.append({"w": jax.random.uniform(k_w, (d_in, d_out), jnp.float32, -bound, bound),
                       "b": jax.random.uniform(k_b, (d_out,), jnp.float32, -bound, bound)})
    return params


def apply_mlp(params: nets.Params, x: jax.Array, key: jax.Array | None = None, *,
              dropout_rate: float = 0.0) -> jax.Array:
    """One logit per example from a :mod:`cgnb.engine.nets` MLP with one output: (B, D) -> (B,).

    Dropout (inverted, on the hidden units) is on when ``dropout_rate > 0`` and a ``key`` is
    given. Dropping a unit after its ReLU is the same as dropping its pre-activation before
    it (the paper's placement), since ``relu(m z / q) = m relu(z) / q`` for a 0/1 mask ``m``.
    """
    return nets.apply(params, x, dropout_rate=dropout_rate, key=key)[:, 0]


# ----------------------------------------------------------------------------- dose

def first_layer_dose(grads: Params) -> jax.Array:
    """Squared gradient norm of each input's first-layer weights: (D,).

    Works for :func:`init_linear` (``w_f ** 2``), :func:`init_recognizers` (row ``a[f]``) and
    :mod:`cgnb.engine.nets` MLPs (row ``f`` of ``params[0]["w"]``).
    """
    if isinstance(grads, (list, tuple)):
        return jnp.sum(grads[0]["w"] ** 2, axis=1)
    if "a" in grads:
        return jnp.sum(grads["a"] ** 2, axis=1)
    if "w" in grads:
        return grads["w"] ** 2
    raise TypeError("first_layer_dose needs linear {'w','b'}, recognizer {'a','b','v','c'} or cgnb.models parameters")


@dataclasses.dataclass(frozen=True)
class History:
    """What :func:`train_binary` recorded, one row per chunk of ``record_every`` steps.

    Attributes:
      dose: (C, D) summed squared first-layer gradient of each input over each chunk.
      loss: (C,) training objective at the last step of each chunk (before that step's update).
      tracked: ``track(params)`` after each chunk, stacked along a leading axis C.
      steps: (C,) number of steps done at the end of each chunk.
    """

    dose: jax.Array
    loss: jax.Array
    tracked: Any
    steps: jax.Array


jax.tree_util.register_pytree_node(
    History,
    lambda h: ((h.dose, h.loss, h.tracked, h.steps), None),
    lambda _, c: History(*c),
)


def train_binary(
    params: Params,
    apply_fn: ApplyFn,
    x: jax.Array,
    y: jax.Array,
    *,
    optimizer: optax.GradientTransformation,
    steps: int,
    record_every: int = 1,
    sd_coef: float | jax.Array = 0.0,
    key: jax.Array | None = None,
    dose_fn: Callable[[Params], jax.Array] = first_layer_dose,
    track: Callable[[Params], Any] | None = None,
) -> tuple[Params, History]:
    """Full-batch training on the logistic loss (+ Spectral Decoupling), recording the dose.

    Each step computes ``L = mean(logistic_loss(apply_fn(params, x, key_t), y)) +
    spectral_decoupling(logits, sd_coef)``, its gradient ``g`` (the dose adds
    ``dose_fn(g)``), and applies ``optimizer`` (put weight decay there, e.g.
    ``optax.chain(optax.add_decayed_weights(wd), optax.sgd(lr, momentum))``, the same update as
    PyTorch's ``SGD(weight_decay=wd)``). Pure and ``lax.scan``-based: jit it and ``vmap`` it over
    seeds or settings (``sd_coef`` may be a traced scalar).

    Args:
      params: initial parameters.
      apply_fn: ``apply_fn(params, x, key) -> logits (B,)``; ``key`` is a fresh PRNG key per
        step (``None`` when no ``key`` is given), for dropout.
      x, y: training inputs (N, D) and labels (N,) in {-1, +1}.
      optimizer: an optax transformation.
      steps: number of full-batch steps; must be a multiple of ``record_every``.
      record_every: chunk length; dose is summed and ``track`` evaluated once per chunk.
      sd_coef: Spectral Decoupling coefficient (0 = plain logistic loss).
      key: PRNG key for ``apply_fn`` (dropout); ``None`` for deterministic models.
      dose_fn: maps a gradient pytree to the per-input dose of that step, (D,).
      track: optional ``track(params) -> pytree`` recorded after every chunk (e.g. test
        accuracy, weight norms).

    Returns:
      The final parameters and a :class:`History` with ``steps // record_every`` rows.
    """
    if steps < 1 or record_every < 1 or steps % record_every:
        raise ValueError(f"steps ({steps}) must be a positive multiple of record_every ({record_every})")
    if y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"need x (N, D) and y (N,), got {x.shape} and {y.shape}")
    chunks = steps // record_every
    use_key = key is not None
    if use_key:
        keys = jax.random.split(key, steps)
        keys = keys.reshape((chunks, record_every) + keys.shape[1:])
    else:
        keys = jnp.zeros((chunks, record_every, 1))
    track = track or (lambda p: jnp.zeros(()))

    def objective(p, k):
        logits = apply_fn(p, x, k if use_key else None)
        return jnp.mean(logistic_loss(logits, y)) + spectral_decoupling(logits, sd_coef)

    def step(carry, k):
        p, state = carry
        loss, grads = jax.value_and_grad(objective)(p, k)
        updates, state = optimizer.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), (dose_fn(grads), loss)

    def chunk(carry, ks):
        carry, (dose, loss) = jax.lax.scan(step, carry, ks)
        return carry, (jnp.sum(dose, axis=0), loss[-1], track(carry[0]))

    (params, _), (dose, loss, tracked) = jax.lax.scan(chunk, (params, optimizer.init(params)), keys)
    return params, History(dose, loss, tracked, record_every * jnp.arange(1, chunks + 1))


def sgd(lr: float, *, momentum: float = 0.0, weight_decay: float | jax.Array = 0.0) -> optax.GradientTransformation:
    """PyTorch-style SGD: ``weight_decay * params`` added to the gradient, then (heavy-ball) momentum."""
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(lr, momentum=momentum or None))


# ----------------------------------------------------------------------------- reliance

def flip_reliance(apply_fn: ApplyFn, params: Params, x: jax.Array, columns) -> jax.Array:
    """Effective logit weight of each +-1 input: half the mean logit change when it is flipped.

    ``r_f = mean_i (logit(x_i) - logit(x_i with x_if -> -x_if)) * x_if / 2``. For a linear model
    this is exactly ``w_f``; for a network it is the weight of the best additive reading of the
    feature. The Bayes-optimal logit for three 90% features is ``log 9 * sum_f x_f``, so
    ``r_f = log 9 = 2.197`` for each; the network follows the majority vote when no
    ``r_f`` exceeds the sum of the others.

    Returns:
      (len(columns),) float32.
    """
    base = apply_fn(params, x, None)
    out = []
    for c in columns:
        flipped = apply_fn(params, x.at[:, c].multiply(-1.0), None)
        out.append(jnp.mean((base - flipped) * x[:, c]) / 2.0)
    return jnp.stack(out)


def grid_points(lim: float = 2.0, n: int = 100) -> tuple[np.ndarray, jax.Array]:
    """An ``n x n`` grid over ``[-lim, lim]^2``: the axis (n,) and the points (n * n, 2), row-major in x2.

    ``logits.reshape(n, n)`` of a model applied to the points has row ``i`` at ``x2 = axis[i]``
    and column ``j`` at ``x1 = axis[j]``, as ``plt.contour(axis, axis, logits)`` expects.
    """
    if n < 2 or lim <= 0:
        raise ValueError(f"need n >= 2 and lim > 0, got n={n}, lim={lim}")
    axis = np.linspace(-lim, lim, n, dtype=np.float32)
    g1, g2 = np.meshgrid(axis, axis)
    return axis, jnp.asarray(np.stack([g1.ravel(), g2.ravel()], axis=1))


def first_step_reaching(values: np.ndarray, steps: np.ndarray, level: float) -> np.ndarray:
    """For each row of ``values`` (S, C), the first ``steps`` entry where it is >= level (NaN if never)."""
    values = np.atleast_2d(np.asarray(values))
    hit = values >= level
    first = np.where(hit.any(axis=1), np.asarray(steps)[np.argmax(hit, axis=1)], np.nan)
    return first.astype(float)


def loglog_slope(x, y) -> float:
    """Least-squares slope of ``log y`` against ``log x`` (both positive)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("loglog_slope needs positive x and y")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])
