"""Chapter 3's model: an MLP with PyTorch's default initialisation, and the Spectral Decoupling penalty.

Reference: Pezeshki et al., "Gradient Starvation: A Learning Proclivity in Neural Networks", NeurIPS 2021.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ...engine import nets
from ...engine.losses import Params


def init_torch_mlp(key: jax.Array, sizes: tuple[int, ...]) -> Params:
    """MLP parameters in :mod:`cgnb.engine.nets` format with PyTorch's ``nn.Linear`` default init.

    Every weight and bias of a layer with ``fan_in`` inputs is uniform in
    ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]`` (the non-zero biases matter in 2-D: they let the
    ReLU kinks sit anywhere in the plane, not only through the origin).

    Args:
      key: PRNG key; sizes: layer widths ``(d_0, ..., d_L)``.

    Raises:
      ValueError: fewer than two sizes, or a size below 1.
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


def apply_mlp(params: Params, x: jax.Array, key: jax.Array | None = None, *,
              dropout_rate: float = 0.0) -> jax.Array:
    """One logit per example from a :mod:`cgnb.engine.nets` MLP with one output: (B, D) -> (B,).

    Dropout (inverted, on the hidden units) is on when ``dropout_rate > 0`` and a ``key`` is
    given. Dropping a unit after its ReLU is the same as dropping its pre-activation before
    it (the paper's placement), since ``relu(m z / q) = m relu(z) / q`` for a 0/1 mask ``m``.
    """
    return nets.forward(params, x, dropout_rate=dropout_rate, key=key)[:, 0]


def spectral_decoupling(logits: jax.Array, coef: float) -> jax.Array:
    """Spectral Decoupling penalty ``coef * mean(logits ** 2)`` (scalar), Pezeshki et al. (2021)."""
    return coef * jnp.mean(logits**2)
