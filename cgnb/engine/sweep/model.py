"""The model of every sweep: an MLP (:mod:`cgnb.engine.nets`) of given widths trained on softmax cross-entropy.

:class:`ModelConfig` holds the widths and the initial scale; :data:`per_example_loss` is the loss;
:func:`init_params` the initial parameters of a variant's seed.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, sections 2.1 and 3.1 (the MLPs of the experiments).
"""
from __future__ import annotations

import dataclasses

from .. import checks, losses, nets, seeds
from .types import ConfigError

#: The per-example loss ``per_example_loss(params, x (B, d), y (B,)) -> (B,)``: softmax cross-entropy of
#: the MLP. A :class:`cgnb.engine.losses.MLPLoss`, so the factored per-example gradients apply
#: (:func:`cgnb.engine.pergrad.per_example`).
per_example_loss = losses.MLPLoss(losses.cross_entropy)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """The sweep's model.

    Attributes:
      sizes: MLP layer widths ``(d_in, h_1, ..., d_out)``, e.g. ``(784, 2048, 10)``.
      w_scale: multiplies the Glorot initial weights (:func:`cgnb.engine.nets.init`).
    """

    sizes: tuple[int, ...]
    w_scale: float = 1.0

    def __post_init__(self):
        try:  # a width of 8.9 is refused, never truncated to 8 (a whole 3.0 is 3)
            sizes = checks.integer_array("sizes", self.sizes)
        except ValueError as error:
            raise ConfigError(f"SweepConfig: {error}; sizes are the layer widths, e.g. (784, 2048, 10)") from None
        if sizes.ndim != 1:
            raise ConfigError(f"SweepConfig: sizes must be a sequence of layer widths, e.g. (784, 2048, 10); got "
                              f"{self.sizes!r}")
        object.__setattr__(self, "sizes", tuple(int(s) for s in sizes))
        self.check_model()

    def check_model(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field of the model and how to fix it."""
        if len(self.sizes) < 2 or min(self.sizes) < 1:
            raise ConfigError(f"sizes must list the input width, hidden widths and output width, all >= 1 "
                              f"(e.g. (784, 2048, 10)); got {self.sizes}")
        try:
            checks.real("w_scale", self.w_scale, positive=True)
        except ValueError as error:
            raise ConfigError(f"SweepConfig: {error}") from None


def init_params(seed: int, config: ModelConfig) -> nets.Params:
    """A variant's initial parameters: :func:`cgnb.engine.nets.init` with ``seeds.variant_keys(seed)[0]``."""
    return nets.init(seeds.variant_keys(seed)[0], config.sizes, w_scale=config.w_scale)


__all__ = ["per_example_loss", "ModelConfig", "init_params"]
