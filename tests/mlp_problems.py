"""Small MLP problems and reference loops shared by the engine's per-example-gradient tests."""
import jax
import numpy as np

from cgnb.engine import losses, nets, pergrad

XENT = losses.MLPLoss()


def xent(params, x, y):
    """The same loss as XENT, as a plain function (generic code paths)."""
    return losses.cross_entropy(nets.forward(params, x), y)


def mlp_problem(sizes=(6, 5, 4, 3), batch=8, seed=0):
    """Glorot MLP parameters and a random batch x (batch, sizes[0]), y (batch,)."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    params = nets.init(k1, sizes)
    x = jax.random.normal(k2, (batch, sizes[0]))
    y = jax.random.randint(k3, (batch,), 0, sizes[-1])
    return params, x, y


def step_problem(steps=3, batch=8, sizes=(10, 300, 4)):
    """Glorot MLP parameters and ``steps`` random minibatches xs (steps, batch, sizes[0]), ys (steps, batch)."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    params = nets.init(k1, sizes)
    xs = jax.random.normal(k2, (steps, batch, sizes[0]))
    ys = jax.random.randint(k3, (steps, batch), 0, sizes[-1])
    return params, xs, ys


def loop_grads(loss_fn, params, x, y):
    """Per-example gradients by a Python loop of jax.grad, raveled: (B, P) numpy."""
    grad_one = jax.jit(jax.grad(lambda p, xi, yi: loss_fn(p, xi, yi)[0]))
    return np.stack([np.asarray(pergrad.ravel(grad_one(params, x[i:i + 1], y[i:i + 1])))
                     for i in range(x.shape[0])])
