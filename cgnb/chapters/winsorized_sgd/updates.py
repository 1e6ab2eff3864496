"""Chapter 5's single updates: one step of each method through the engine's own update code, and its cost.

* :func:`update_difference` -- one winsorized ``c = 0`` update against one plain SGD update on the
  same minibatch (claim C5.1);
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

from ...engine import sweep, xla
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


def one_update(params: Params, x: jax.Array, y: jax.Array, *, method: str, lr: float, c: int = 0,
               c_max: int = 0) -> Params:
    """Parameters after one step of the engine's update rule from a fresh optimizer state.

    Args:
      params: the parameters; x, y: one minibatch (B, d), (B,).
      method, lr: as in :func:`step_program`; c: the (traced) level, at most the static ``c_max``.
    """
    init, step = step_program(method, float(lr), int(c_max))
    c = jnp.int32(c)
    return step(params, init(params, c), x, y, c)[0]


def update_difference(params: Params, x: jax.Array, y: jax.Array, *, lr: float, c_max: int) -> dict:
    """One winsorized update at ``c = 0`` against one plain SGD update on the same batch.

    Both go through the engine's step (:func:`one_update`); the winsorized one with ``c`` traced
    and bounded by ``c_max``, as in a sweep.

    Args:
      params: the parameters; x, y: one minibatch (B, d), (B,); lr: the learning rate.

    Returns:
      A dict of floats: ``max_abs`` = max |difference| of the new parameters, ``max_update`` = max
      |SGD update|, ``relative`` = max_abs / max_update, and ``bitwise`` = 1.0 when the two parameter
      sets are bit-for-bit identical, else 0.0.
    """
    sgd = one_update(params, x, y, method="sgd", lr=lr)
    wins = one_update(params, x, y, method="winsorized", lr=lr, c=0, c_max=c_max)
    leaves = zip(jax.tree_util.tree_leaves(sgd), jax.tree_util.tree_leaves(wins), jax.tree_util.tree_leaves(params))
    max_abs = max_update = 0.0
    bitwise = True
    for s, w, p in leaves:
        s, w, p = np.asarray(s), np.asarray(w), np.asarray(p)
        max_abs = max(max_abs, float(np.max(np.abs(s - w))))
        max_update = max(max_update, float(np.max(np.abs(s - p))))
        bitwise &= bool(np.array_equal(s, w))
    return {"max_abs": max_abs, "max_update": max_update,
            "relative": max_abs / max_update if max_update else float("nan"), "bitwise": float(bitwise)}


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
