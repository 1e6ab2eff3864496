"""The one training loop: ``lax.scan`` over steps in blocks of ``record_every``, with probes.

A step is a *gradient rule* followed by an optax transformation (a :class:`cgnb.engine.trainer.Step`
is one: pass ``step_gradient(step), step.tx``)::

    loss, grads = gradient(params, x[batch], y[batch], key)      # the rule
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)

What a chapter measures while training is a *probe*, not a copy of the loop:

* ``step_probe(params, grads, loss) -> pytree`` runs at every step, on the parameters *before*
  that step's update (and that step's gradient and loss); its values over a block of
  ``record_every`` steps, stacked along a leading axis, are reduced by ``block_reduce``
  (default :func:`block_sum`; :func:`block_all` keeps every step);
* ``record_probe(params) -> pytree`` runs once after each block (on the parameters after
  ``record_every, 2 * record_every, ..., steps`` steps);
* :func:`train_keeping_snapshots` keeps the parameters at chosen steps.

:func:`train` is pure (jit it, ``vmap`` it over seeds or settings; :data:`jitted_train` is it jitted
with its static arguments); the whole run is::

    scan over R = steps // record_every blocks
      block = scan over record_every steps (step probe), then block_reduce and record_probe

Batches: ``indices`` (steps, B) picks each step's examples (:mod:`cgnb.engine.sampler`);
``indices=None`` is full-batch training (every step uses all of x, y, in order). Keys:
``keys`` (steps, ...) gives each step's PRNG key (dropout); ``None`` passes ``key=None``.

Reference: ``jax.lax.scan``; optax's ``GradientTransformation`` (https://optax.readthedocs.io).
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import optax
from jax import lax

from . import losses, trainer, xla
from .losses import Loss, Params

#: ``gradient(params, x (B, ...), y (B, ...), key) -> (loss, grads)``; ``loss`` may be None when the
#: rule does not compute it; ``grads`` is whatever ``optimizer.update`` consumes.
Gradient = Callable[[Params, jax.Array, jax.Array, Any], tuple[Any, Any]]
StepProbe = Callable[[Params, Any, Any], Any]
RecordProbe = Callable[[Params], Any]


def step_gradient(step) -> Gradient:
    """The :data:`Gradient` of a :class:`cgnb.engine.trainer.Step`: its rule, without a loss value or key.

    ``train(step_gradient(step), step.tx, ...)`` makes every update exactly ``step(params, opt_state, x, y)``.
    """
    return lambda params, x, y, key: (None, step.gradient(params, x, y))


@functools.lru_cache(maxsize=64)
def mean_loss_gradient(loss: Loss) -> Gradient:
    """The :data:`Gradient` of the batch mean of a per-example ``loss``: ``(mean loss, its gradient)``.

    ``gradient(params, x, y, key)`` is ``jax.value_and_grad`` of :func:`cgnb.engine.losses.mean_loss`
    with the step's ``key`` passed on to ``loss`` (dropout). The same (hashable) loss gets the same
    function, so :data:`jitted_train` reuses its compilations.
    """
    def gradient(params, x, y, key):
        return jax.value_and_grad(lambda p: losses.mean_loss(loss, p, x, y, key=key))(params)

    return gradient


def block_sum(values):
    """Sum every leaf over the block's steps (leading axis): e.g. a dose summed per record."""
    return jax.tree_util.tree_map(lambda a: jnp.sum(a, axis=0), values)


def block_all(values):
    """Every step: leaves keep their (record_every, ...) block axis."""
    return values


class Trajectory(NamedTuple):
    """What :func:`train` returns.

    Attributes:
      params, opt_state: after the last step.
      step_values: the reduced step-probe values, leading axis R = steps // record_every
        (None without a step probe).
      records: the record-probe values after each block, leading axis R (None without one).
    """

    params: Params
    opt_state: Any
    step_values: Any
    records: Any


def _check(steps: int, record_every: int, indices, keys, x, y) -> None:
    if jnp.ndim(x) < 1 or jnp.ndim(y) < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"need a training set x (N, ...) and y (N, ...) of the same length N, got shapes "
                         f"{jnp.shape(x)} and {jnp.shape(y)}")
    if steps < 1 or record_every < 1 or steps % record_every:
        raise ValueError(f"steps ({steps}) must be a positive multiple of record_every ({record_every})")
    for name, value in (("indices", indices), ("keys", keys)):
        if value is not None and value.shape[0] != steps:
            raise ValueError(f"{name} must have one row per step ({steps}), got shape {value.shape}")


def train(gradient: Gradient, optimizer: optax.GradientTransformation, params: Params, x: jax.Array,
          y: jax.Array, *, steps: int, record_every: int | None = None, indices: jax.Array | None = None,
          keys: jax.Array | None = None, opt_state: Any = None, step_probe: StepProbe | None = None,
          block_reduce: Callable[[Any], Any] = block_sum, record_probe: RecordProbe | None = None) -> Trajectory:
    """Train ``steps`` steps from ``params`` (pure; ``steps`` and ``record_every`` are static).

    Args:
      gradient: the rule, ``gradient(params, x_batch, y_batch, key) -> (loss, grads)``.
      optimizer: an optax transformation applied to ``grads``.
      params: initial parameters.
      x, y: training set (N, ...), (N, ...).
      steps: number of updates; a multiple of ``record_every``.
      record_every: steps per block (default: ``steps``, one block).
      indices: (steps, B) int example indices of each step's minibatch; None = full batch.
      keys: (steps, ...) one PRNG key per step, passed to ``gradient``; None passes None.
      opt_state: optimizer state to resume from (default ``optimizer.init(params)``).
      step_probe, block_reduce, record_probe: see the module docstring.

    Returns:
      A :class:`Trajectory` with R = steps // record_every rows of probe values.
    Raises:
      ValueError: x and y of different lengths, ``steps`` not a multiple of ``record_every``, or
        ``indices``/``keys`` without one row per step.
    """
    record_every = steps if record_every is None else int(record_every)
    _check(steps, record_every, indices, keys, x, y)
    blocks = steps // record_every
    opt_state = optimizer.init(params) if opt_state is None else opt_state

    def by_block(a):
        return None if a is None else a.reshape((blocks, record_every) + a.shape[1:])

    def one_step(carry, inputs):
        p, state = carry
        batch, key = inputs
        xb, yb = (x, y) if batch is None else (x[batch], y[batch])
        loss, grads = gradient(p, xb, yb, key)
        value = None if step_probe is None else step_probe(p, grads, loss)
        return trainer.apply_updates(optimizer, p, state, grads), value

    def block(carry, inputs):
        carry, values = lax.scan(one_step, carry, inputs, length=record_every)
        reduced = None if step_probe is None else block_reduce(values)
        record = None if record_probe is None else record_probe(carry[0])
        return carry, (reduced, record)

    (params, opt_state), (values, records) = lax.scan(
        block, (params, opt_state), (by_block(indices), by_block(keys)), length=blocks)
    return Trajectory(params, opt_state, values, records)


def _concat(parts: list):
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    return jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *parts)


#: :func:`train` jitted (:func:`cgnb.engine.xla.jit`) with its static arguments: the gradient, the
#: optimizer, ``steps``, ``record_every`` and the probes. Compiled once per distinct static arguments
#: and input shapes; what :func:`train_keeping_snapshots` runs for each segment.
jitted_train = xla.jit(train, static_argnums=(0, 1), static_argnames=(
    "steps", "record_every", "step_probe", "block_reduce", "record_probe"))


def train_keeping_snapshots(gradient: Gradient, optimizer: optax.GradientTransformation, params: Params,
                         x: jax.Array, y: jax.Array, *, steps: int, snapshot_steps: Sequence[int],
                         record_every: int | None = None, indices: jax.Array | None = None,
                         keys: jax.Array | None = None, step_probe: StepProbe | None = None,
                         block_reduce: Callable[[Any], Any] = block_sum,
                         record_probe: RecordProbe | None = None) -> tuple[Trajectory, dict[int, Params]]:
    """:func:`train`, keeping the parameters after ``s`` steps for every ``s`` in ``snapshot_steps``.

    Runs :data:`jitted_train` between consecutive snapshot steps, so the trajectory is the one
    :func:`train` takes in one go. ``record_every`` must divide ``steps`` and every snapshot step
    (default: their greatest common divisor); the other arguments are :func:`train`'s.

    Returns:
      ``(trajectory, {s: params after s steps})``; the trajectory's rows are concatenated over segments.
    Raises:
      ValueError: a snapshot step outside [0, steps], or one that ``record_every`` does not divide.
    """
    snapshot_steps = sorted({int(s) for s in snapshot_steps})
    if any(not 0 <= s <= steps for s in snapshot_steps):
        raise ValueError(f"snapshot steps must lie in [0, {steps}], got {list(snapshot_steps)}")
    if record_every is None:
        record_every = math.gcd(steps, *snapshot_steps)
    if any(s % record_every for s in snapshot_steps):
        raise ValueError(f"record_every ({record_every}) must divide every snapshot step {snapshot_steps}")
    _check(steps, record_every, indices, keys, x, y)
    run = jitted_train
    opt_state = optimizer.init(params)
    snapshots, values, records, done = {}, [], [], 0
    for stop in sorted(set(snapshot_steps) | {steps}):
        if stop > done:
            part = slice(done, stop)
            trace = run(gradient, optimizer, params, x, y, steps=stop - done, record_every=record_every,
                        indices=None if indices is None else indices[part], keys=None if keys is None else keys[part],
                        opt_state=opt_state, step_probe=step_probe, block_reduce=block_reduce,
                        record_probe=record_probe)
            params, opt_state = trace.params, trace.opt_state
            values.append(trace.step_values)
            records.append(trace.records)
            done = stop
        if stop in snapshot_steps:
            snapshots[stop] = params
    return Trajectory(params, opt_state, _concat(values), _concat(records)), snapshots
