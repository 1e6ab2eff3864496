"""Chapter 5's single updates: one step of each method through the engine's own update code, and its cost.

* :func:`update_difference` -- one winsorized ``c = 0`` update against one plain SGD update on the
  same minibatch, and :func:`sort_and_clip_gap` -- one winsorized update at ``c > 0`` against the
  paper's definition computed in float64 (claim C5.1);
* :func:`step_program` / :func:`step_times` -- the engine's jitted step of each method and its cost.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 3.
"""
from __future__ import annotations

import functools
import statistics
import time
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from ...engine import pergrad, sweep, xla
from ...engine.losses import Params


@functools.lru_cache(maxsize=16)
def step_program(method: str, lr: float, c_max: int = 0, static: bool = False):
    """The engine's training step for one method, jitted once per configuration.

    The step is the sweep's :func:`cgnb.engine.sweep.method_step` (a :class:`cgnb.engine.trainer.Step`).

    Args:
      method: ``"sgd"``, ``"rm3"`` or ``"winsorized"``; lr: the learning rate.
      c_max: the largest level the traced ``c`` may take (winsorized only).
      static: compile the level ``c_max`` in and ignore ``c`` (winsorized only): the program
        :func:`cgnb.chapters.winsorized_sgd.setting.run_winsorized` trains with.

    Returns:
      ``(init, step)``: ``init(params, c) -> opt_state`` and
      ``step(params, opt_state, x (B, d), y (B,), c) -> (params, opt_state)``, ``c`` a traced int32.

    Raises:
      ValueError: ``static=True`` for a method other than winsorized.
    """
    if static and method != "winsorized":
        raise ValueError(f"static=True only applies to method='winsorized', got {method!r}")
    c_max = c_max if method == "winsorized" else 0

    def make(c):
        return sweep.method_step(method, lr, c_max if static else c, c_max)

    def init(params, c):
        return make(c).init(params)

    def step(params, opt_state, x, y, c):
        return make(c)(params, opt_state, x, y)

    return xla.jit(init), xla.jit(step)


@functools.lru_cache(maxsize=16)
def update_program(method: str, lr: float, c_max: int = 0, static: bool = False):
    """The engine's update (before it is added to the parameters) of one method, jitted once per configuration.

    Args: as :func:`step_program`.

    Returns:
      ``update(params, x (B, d), y (B,), c) -> updates`` (a pytree like ``params``), the step's gradient
      rule and optax chain from a fresh optimizer state; ``c`` a traced int32.
    """
    if static and method != "winsorized":
        raise ValueError(f"static=True only applies to method='winsorized', got {method!r}")
    c_max = c_max if method == "winsorized" else 0

    def update(params, x, y, c):
        step = sweep.method_step(method, lr, c_max if static else c, c_max)
        return step.tx.update(step.gradient(params, x, y), step.init(params), params)[0]

    return xla.jit(update)


def one_update(params: Params, x: jax.Array, y: jax.Array, *, method: str, lr: float, c: int = 0,
               c_max: int = 0, static: bool = False) -> Params:
    """The engine's update of one step from a fresh optimizer state (the change of every parameter).

    Args:
      params: the parameters; x, y: one minibatch (B, d), (B,).
      method, lr, static: as in :func:`step_program`; c: the level, at most ``c_max`` (traced
        unless ``static``, which compiles ``c`` in).
    """
    c_max = c if static else c_max
    return update_program(method, float(lr), int(c_max), static)(params, x, y, jnp.int32(c))


def update_difference(params: Params, x: jax.Array, y: jax.Array, *, lr: float, c_max: int) -> dict:
    """One winsorized update at ``c = 0`` against one plain SGD update on the same batch.

    Both are the engine's (:func:`one_update`); the winsorized one with ``c`` traced and bounded by
    ``c_max``, as in a sweep, so it runs the clipping kernel rather than the plain step.

    Args:
      params: the parameters; x, y: one minibatch (B, d), (B,); lr: the learning rate.

    Returns:
      A dict of floats: ``max_abs`` = max |difference| of the updates, ``max_update`` = max |SGD update|,
      ``relative`` = max_abs / max_update, and ``bitwise`` = 1.0 when the two updates are bit-for-bit
      identical, else 0.0.
    """
    sgd = one_update(params, x, y, method="sgd", lr=lr)
    wins = one_update(params, x, y, method="winsorized", lr=lr, c=0, c_max=c_max)
    max_abs = max_update = 0.0
    bitwise = True
    for s, w in zip(jax.tree_util.tree_leaves(sgd), jax.tree_util.tree_leaves(wins)):
        s, w = np.asarray(s), np.asarray(w)
        max_abs = max(max_abs, float(np.max(np.abs(s.astype(np.float64) - w))))
        max_update = max(max_update, float(np.max(np.abs(s))))
        bitwise &= bool(np.array_equal(s, w))
    return {"max_abs": max_abs, "max_update": max_update,
            "relative": max_abs / max_update if max_update else float("nan"), "bitwise": float(bitwise)}


def sort_and_clip(values: np.ndarray, c: int) -> np.ndarray:
    """The c-winsorized mean of per-example values (B, ...) over the batch axis, in float64: each
    coordinate's values clipped to its (c+1)-th smallest and (c+1)-th largest, then averaged.

    Raises:
      ValueError: ``2 c >= B`` (nothing would be left between the clipping levels).
    """
    values = np.asarray(values, np.float64)
    if c < 0 or 2 * c >= len(values):
        raise ValueError(f"c must be in [0, B/2) for a batch of B = {len(values)}, got {c}")
    ordered = np.sort(values, axis=0)
    return np.clip(values, ordered[c], ordered[len(values) - 1 - c]).mean(axis=0)


def sort_and_clip_gap(params: Params, x: jax.Array, y: jax.Array, *, lr: float, c: int) -> float:
    """One winsorized update of the engine (level ``c`` compiled in, as the chapter's sweeps train)
    against the paper's definition: :func:`sort_and_clip` of the per-example gradients, in float64.

    Args:
      params: the parameters; x, y: one minibatch (B, d), (B,); lr: the learning rate; c: the level.

    Returns:
      max |engine update - reference update| over all parameters, divided by the largest |reference update|.
    """
    engine = one_update(params, x, y, method="winsorized", lr=lr, c=c, static=True)
    grads = pergrad.per_example_grads(sweep.per_example_loss, params, x, y)
    gap = largest = 0.0
    for update, g in zip(jax.tree_util.tree_leaves(engine), jax.tree_util.tree_leaves(grads)):
        reference = -float(lr) * sort_and_clip(g, c)
        gap = max(gap, float(np.max(np.abs(np.asarray(update, np.float64) - reference))))
        largest = max(largest, float(np.max(np.abs(reference))))
    return gap / largest if largest else float("nan")


# ----------------------------------------------------------------------------- step costs


def step_times(params: Params, x: jax.Array, y: jax.Array, *, lr: float, methods: Mapping[str, dict],
               repeats: int = 20, rounds: int = 3) -> dict[str, float]:
    """Seconds per jitted training step of each method, on one minibatch x (B, d), y (B,).

    ``methods`` maps a label to the step's keyword arguments, e.g.
    ``{"sgd": {"method": "sgd"}, "winsorized": {"method": "winsorized", "c": 4, "static": True}}``
    (``static``: the level c compiled in, as :func:`cgnb.chapters.winsorized_sgd.setting.run_winsorized`
    trains; otherwise c is traced and bounded by ``c_max``).
    Each method runs the compiled step of :func:`step_program` (the same program
    :func:`one_update` uses, so nothing is compiled twice) ``repeats`` times, carrying the
    parameters and the optimizer state from step to step (so RM3 really keeps its last
    gradients); the result is the median over ``rounds`` such runs of the time per step.
    The methods take turns round by round, so a change in the machine's load affects them
    alike. The time includes one Python dispatch per step (microseconds).

    Raises:
      ValueError: ``repeats`` or ``rounds`` below 1, or an unknown step argument.
    """
    if repeats < 1 or rounds < 1:
        raise ValueError(f"repeats and rounds must be >= 1, got {repeats}, {rounds}")
    programs = {}
    for label, kwargs in methods.items():
        kwargs = dict(kwargs)
        method, c, c_max = kwargs.pop("method"), kwargs.pop("c", 0), kwargs.pop("c_max", 0)
        static = bool(kwargs.pop("static", False))
        if kwargs:
            raise ValueError(f"unknown step arguments for {label!r}: {sorted(kwargs)}; "
                             "use method, c, c_max, static")
        if static:
            c_max = c
        init, step = step_program(method, float(lr), int(c_max), static)
        c = jnp.int32(c)
        state = init(params, c)
        jax.block_until_ready(step(params, state, x, y, c))  # compile and warm up
        programs[label] = (step, state, c)
    seconds: dict[str, list[float]] = {label: [] for label in programs}
    for _ in range(rounds):
        for label, (step, state, c) in programs.items():
            p = params
            start = time.perf_counter()
            for _ in range(repeats):
                p, state = step(p, state, x, y, c)
            jax.block_until_ready(p)
            seconds[label].append((time.perf_counter() - start) / repeats)
    return {label: statistics.median(values) for label, values in seconds.items()}
