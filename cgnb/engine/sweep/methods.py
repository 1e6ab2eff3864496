"""The sweep's training methods: a registry, and the part of the configuration that picks one.

Each method is a :class:`cgnb.engine.trainer.Step` (a gradient rule followed by an optax chain)
with a constant learning rate:

  sgd         mean gradient -> ``optax.sgd(lr)``
  rm3         mean gradient -> ``optax.chain(transforms.rm3(), optax.sgd(lr))``
  winsorized  per-example gradients (an MLP's factors) ->
              ``optax.chain(transforms.winsorized_mean(c, c_max), optax.sgd(lr))``

A method that uses the variants' winsorization levels c traces them per variant, bounded by the
static ``c_max``; when every variant of a sweep has the same level, that level is compiled into the
program instead (:meth:`Method.compiled_level`). Adding a method is one entry in :data:`METHODS`.

References: Chatterjee, "Coherent Gradients", ICLR 2020, section 3 (winsorized SGD); Zielinski,
Krishnan and Chatterjee, arXiv 2003.07422 (RM3).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import numpy as np
import optax

from .. import checks, trainer, transforms, winsorize
from .model import per_example_loss
from .types import ConfigError


@dataclasses.dataclass(frozen=True)
class Method:
    """A training method of a sweep.

    Attributes:
      name: its key in :data:`METHODS`.
      step: ``step(lr, c, c_max) -> trainer.Step``; c a traced level bounded by the Python int
        ``c_max``, or a Python int (compiled in).
      uses_levels: whether it uses the variants' winsorization levels c (otherwise every c must be 0).
    """

    name: str
    step: Callable[[float, jax.Array | int, int], trainer.Step]
    uses_levels: bool = False

    def check(self, c_max: int, batch_size: int) -> None:
        """Raise :class:`ConfigError` unless ``c_max`` suits this method and a batch of ``batch_size``."""
        if c_max and not self.uses_levels:
            levelled = " or ".join(repr(m) for m in METHODS if METHODS[m].uses_levels)
            raise ConfigError(f"c_max={c_max} only means something for method={levelled} (got method="
                              f"{self.name!r}); set c_max=0")
        if 2 * c_max >= batch_size:
            raise ConfigError(f"winsorizing at c_max={c_max} clips to the (c+1)-th largest and smallest of "
                              f"batch_size={batch_size} values: needs 2 * c_max < batch_size")

    def check_levels(self, levels: np.ndarray, c_max: int) -> None:
        """Raise :class:`ConfigError` unless the variants' levels (V,) suit this method and ``c_max``."""
        if self.uses_levels and levels.max() > c_max:
            raise ConfigError(f"variants use c up to {levels.max()} but c_max={c_max}; set c_max={levels.max()} "
                              f"(c_max is static, c is traced per variant)")
        if not self.uses_levels and levels.any():
            raise ConfigError(f"variants set winsorization levels c={np.unique(levels)} but method={self.name!r} "
                              f"ignores them; use method='winsorized' or c=0")

    def compiled_level(self, levels: np.ndarray) -> int | None:
        """The level compiled into the program: the one every variant shares, or None (traced per variant)."""
        shared = np.unique(levels)
        return int(shared[0]) if self.uses_levels and len(shared) == 1 else None


def _sgd(lr: float, c: jax.Array | int, c_max: int) -> trainer.Step:
    return trainer.Step(per_example_loss, "mean", optax.sgd(lr))


def _rm3(lr: float, c: jax.Array | int, c_max: int) -> trainer.Step:
    return trainer.Step(per_example_loss, "mean", optax.chain(transforms.rm3(), optax.sgd(lr)))


def _winsorized(lr: float, c: jax.Array | int, c_max: int) -> trainer.Step:
    if winsorize.check_levels(c, c_max) == 0:  # a compiled-in c = 0 clips nothing: the sgd step
        return _sgd(lr, c, c_max)
    return trainer.Step(per_example_loss, "per_example",
                        optax.chain(transforms.winsorized_mean(c, c_max), optax.sgd(lr)))


METHODS: dict[str, Method] = {
    "sgd": Method("sgd", _sgd),
    "winsorized": Method("winsorized", _winsorized, uses_levels=True),
    "rm3": Method("rm3", _rm3),
}


def method_step(method: str, lr: float, c: jax.Array | int = 0, c_max: int = 0) -> trainer.Step:
    """The training step of a sweep method (see the module docstring), as a :class:`cgnb.engine.trainer.Step`.

    Args:
      method: a key of :data:`METHODS`.
      lr: the constant learning rate.
      c: the winsorization level: traced and bounded by ``c_max``, or a Python int (compiled in; a
        compiled-in c = 0 is the ``sgd`` step).
      c_max: the static bound of a traced c.
    Raises:
      ConfigError: an unknown method.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; use one of {tuple(METHODS)}")
    return METHODS[method].step(lr, c, c_max)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MethodConfig:
    """The sweep's training method.

    Attributes:
      method: a key of :data:`METHODS`: ``"sgd"``, ``"winsorized"`` or ``"rm3"``.
      lr: constant learning rate of the final SGD step.
      c_max: static upper bound of the variants' winsorization levels c (methods that use levels
        only; needs ``2 * c_max < batch_size``).
    """

    method: str = "sgd"
    lr: float = 0.1
    c_max: int = 0

    def __post_init__(self):
        self.check_method()

    def check_method(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field of the method and how to fix it."""
        try:
            checks.integer("c_max", self.c_max, minimum=0)
            checks.real("lr", self.lr, positive=True)
        except ValueError as error:
            raise ConfigError(f"SweepConfig: {error}") from None
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}; use one of {tuple(METHODS)}")

    def step(self, c: jax.Array | int = 0) -> trainer.Step:
        """:func:`method_step` of this method, learning rate and ``c_max`` for the level c."""
        return method_step(self.method, self.lr, c, self.c_max)


def config_step(config: MethodConfig, c: jax.Array | int = 0) -> trainer.Step:
    """``config.step(c)``: the step of a config's method (a :class:`cgnb.engine.sweep.SweepConfig` is one) at level c."""
    return config.step(c)


__all__ = ["Method", "METHODS", "method_step", "MethodConfig", "config_step"]
