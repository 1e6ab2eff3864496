"""Small MLPs and batches shared by the chapter-2 tests."""
import jax

from cgnb.engine import nets

SIZES = (7, 5, 4, 6, 3)


def mlp_params(key=0, sizes=SIZES, bias=0.3, w_scale=1.0):
    """A cgnb MLP of ``sizes``, with random biases of scale ``bias`` (0: the zero biases of nets.init)."""
    params = nets.init(jax.random.PRNGKey(key), sizes, w_scale=w_scale)
    if bias:
        keys = jax.random.split(jax.random.PRNGKey(key + 1000), len(params))
        params = [dict(p, b=bias * jax.random.normal(k, p["b"].shape)) for p, k in zip(params, keys)]
    return params


def batch(key=1, n=9, d=SIZES[0], k=SIZES[-1]):
    """``(x (n, d), int labels (n,) in 0..k-1)``."""
    x = jax.random.normal(jax.random.PRNGKey(key), (n, d))
    labels = jax.random.randint(jax.random.PRNGKey(key + 1), (n,), 0, k)
    return x, labels
