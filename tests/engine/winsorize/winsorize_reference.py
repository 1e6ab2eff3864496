"""The reference every winsorization test compares with (sort each coordinate, clip, average), and its data."""
import jax
import jax.numpy as jnp
import numpy as np

from cgnb.engine import pergrad

from mlp_problems import XENT, xent


def sort_winsorize(a, c):
    """Reference: sort each coordinate, clip to the (c+1)-th smallest / largest, average."""
    a = np.asarray(a)
    s = np.sort(a, axis=0)
    return np.clip(a, s[c], s[a.shape[0] - 1 - c]).sum(axis=0) / a.shape[0]


def tree_max_abs_diff(a, b):
    return max(float(jnp.max(jnp.abs(u - v))) for u, v in zip(jax.tree_util.tree_leaves(a),
                                                                 jax.tree_util.tree_leaves(b)))


def generic_grads(params, x, y):
    """Per-example gradients by vmap(grad) of the plain loss (no MLP factors)."""
    return jax.jit(pergrad.per_example_grads, static_argnums=0)(xent, params, x, y)


def factors(params, x, y):
    return jax.jit(pergrad.mlp_factors, static_argnums=0)(XENT, params, x, y)


def outlier_data(batch, seed=0):
    """(B, 9) quarter-integers with many ties (every sum exact in float32); column 0 holds +inf and
    -inf, column 1 huge finite outliers, so a wrong rank or an unclipped outlier shows."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-8, 9, size=(batch, 9)).astype(np.float32) / 4
    a[0, 0], a[-1, 0] = np.inf, -np.inf
    a[batch // 2, 1], a[batch // 3, 1] = 3e30, -1e30
    return a


def check_against_sort(a, got, c):
    """Agreement with the sort-and-clip reference up to the rounding of the final division by B
    (XLA may multiply by 1/B): a wrong order statistic moves a mean by >= 1/(4 B) here, or by
    ~1e30 / B if an outlier is not clipped. For c = 0 the outlier columns are inf/nan or rounded
    differently, so only the tied columns are compared."""
    want = sort_winsorize(a, c)
    cols = slice(None) if c else slice(2, None)
    np.testing.assert_allclose(np.asarray(got)[cols], want[cols], rtol=3e-7, atol=0, err_msg=f"B={a.shape[0]} c={c}")
