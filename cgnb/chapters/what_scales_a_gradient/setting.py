"""Chapter 2's parameters and its paper-scale program (the largest gradient it computes, for the memory check).

The chapter trains nothing; its largest program is one forward and backward pass of the mean loss of
the deepest MLP of the depth experiment on the gradient batch.

Reference: "Grokking gradients in deep neural networks" (article summary).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from ...engine import nets, sweep

MNIST_INPUTS = 784
#: The names the notebook's ``parameters`` cell defines, in its order (the ledger records them).
PARAMETERS = ("seeds", "batch", "width", "formula_depths", "scales", "per_example_batch", "toys", "depths",
              "w_scales")


def paper_programs(parameters: Mapping[str, Any], *, sweep_chunk: Callable | None = None) -> list[tuple]:
    """The paper profile's program: ``value_and_grad`` of the mean cross-entropy of the deepest MLP.

    Args:
      parameters: the notebook's ``parameters`` cell under the paper profile (``depths``, ``width``, ``batch``).
      sweep_chunk: not needed (the chapter trains nothing).

    Returns:
      ``[(label, function, abstract args, abstract kwargs)]``, one entry.
    """
    del sweep_chunk
    p = parameters
    depth = max(p["depths"])
    sizes = (MNIST_INPUTS,) + (p["width"],) * (depth - 1) + (10,)
    params = jax.eval_shape(lambda: nets.init(jax.random.PRNGKey(0), sizes))
    loss = lambda q, x, y: jnp.mean(sweep.per_example_loss(q, x, y))
    batch = (jax.ShapeDtypeStruct((p["batch"], MNIST_INPUTS), jnp.float32),
             jax.ShapeDtypeStruct((p["batch"],), jnp.int32))
    return [(f"forward/backward, depth {depth}", jax.value_and_grad(loss), (params, *batch), {})]
