"""A small regression problem and MLP shared by the chapter-6 tests."""
import jax
import jax.numpy as jnp
import numpy as np

from cgnb.engine import nets

SIZES = (12, 8, 7, 6, 1)


def data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, SIZES[0])).astype(np.float32)
    y = (x[:, 0] * 3 + np.abs(x[:, 1]) + 2).astype(np.float32)
    return x, y


def mean_grad(loss):
    """``jax.grad`` of a minibatch's mean loss, ``(params, x, y, key=None) -> grads``, jitted."""
    return jax.jit(jax.grad(lambda p, xb, yb, key=None: jnp.mean(loss(p, xb, yb, key=key))))


def mlp_params(batchnorm=False, seed=0):
    return nets.init(jax.random.PRNGKey(seed), SIZES, batchnorm=batchnorm)
