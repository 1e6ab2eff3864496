"""Chapter 3's measure: an MLP's accuracy on the training set and on the test sets with and without x1.

Reference: Pezeshki et al., "Gradient Starvation: A Learning Proclivity in Neural Networks", NeurIPS 2021.
"""
from __future__ import annotations

import jax

from ...engine import losses
from ...engine.losses import Params
from . import models


def accuracies(params: Params, data: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Accuracy (scalars) of an MLP on a :func:`cgnb.chapters.gradient_starvation.tasks.moons_task`'s train, test, neutralized and x1-shuffled sets."""
    def acc(x, y):
        return losses.binary_accuracy(models.apply_mlp(params, x), y)
    return {"train": acc(data["x"], data["y"]), "test": acc(data["x_test"], data["y_test"]),
            "neutralized": acc(data["x_neutral"], data["y_test"]), "x1 shuffled": acc(data["x_permuted"], data["y_test"])}
