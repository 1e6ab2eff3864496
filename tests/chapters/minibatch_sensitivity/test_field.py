"""Tests of cgnb.chapters.minibatch_sensitivity.field: the nearby gradient field and its roughness."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.chapters.minibatch_sensitivity import field as MF
from cgnb.chapters.minibatch_sensitivity import models
from cgnb.engine import sampler

from .problems import data, mean_grad, mlp_params


def test_angles_and_roughness():
    assert MF.angle_between(np.array([np.cos(np.radians(170)), np.sin(np.radians(170))]),
                           np.array([np.cos(np.radians(-170)), np.sin(np.radians(-170))])) == pytest.approx(20)
    assert MF.angle_between(np.array([1.0, 0]), np.array([-2.0, 0])) == pytest.approx(180)
    uniform = np.tile([0.3, -1.0], (5, 5, 1))
    assert MF.roughness(uniform) == pytest.approx(0.0)
    # arrow angle 10 i + 30 j degrees: neighbours along i differ by 10, along j by 30
    i, j = np.meshgrid(np.arange(4), np.arange(5), indexing="ij")
    theta = np.radians(10 * i + 30 * j)
    field = np.stack([np.cos(theta), np.sin(theta)], -1) * (1 + i[..., None])  # lengths do not matter
    n_i, n_j = 3 * 5, 4 * 4
    assert MF.roughness(field) == pytest.approx((10 * n_i + 30 * n_j) / (n_i + n_j))
    with pytest.raises(ValueError, match="field"):
        MF.roughness(np.ones((1, 4, 2)))


def test_grid_offsets():
    np.testing.assert_allclose(MF.grid_offsets(0.5, 5), [-1, -0.5, 0, 0.5, 1])
    with pytest.raises(ValueError, match="odd"):
        MF.grid_offsets(0.1, 4)
    with pytest.raises(ValueError, match="spacing"):
        MF.grid_offsets(0.0, 5)


def _field_reference(loss, params, coords, x, y, offsets, keys):
    n = len(offsets)
    out = np.zeros((n, n, 2))
    centre = np.asarray(models.get_coords(params, coords))
    grad = mean_grad(loss)
    for i in range(n):
        for j in range(n):
            moved = models.set_coords(params, coords, jnp.asarray(centre + [offsets[i], offsets[j]], jnp.float32))
            g = grad(moved, x, y, None if keys is None else keys[i * n + j])
            out[i, j] = [g[c[0]][c[1]][c[2]] for c in coords]
    return out


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_gradient_field_against_loop(dropout):
    params, (x, y) = mlp_params(), data(32)
    coords = models.bias_coords(params, unit=1)
    offsets = MF.grid_offsets(0.3, 3)
    loss = models.make_loss(dropout)
    key = jax.random.PRNGKey(3) if dropout else None
    field = MF.gradient_field(loss, params, coords, x, y, offsets, key=key)
    keys = jax.random.split(key, 9) if dropout else None
    np.testing.assert_allclose(field, _field_reference(loss, params, coords, x, y, offsets, keys), rtol=1e-4, atol=1e-6)
    if dropout:
        frozen = MF.gradient_field(loss, params, coords, x, y, offsets, key=key, fresh_noise=False)
        same = _field_reference(loss, params, coords, x, y, offsets, [key] * 9)
        np.testing.assert_allclose(frozen, same, rtol=1e-4, atol=1e-6)
        assert MF.roughness(field) > MF.roughness(frozen)
    with pytest.raises(ValueError, match="two coordinates"):
        MF.gradient_field(loss, params, coords[:1], x, y, offsets)


def test_field_roughness_collects_fields():
    params, (x, y) = mlp_params(), data(64)
    pairs = [models.bias_coords(params, unit=1), models.bias_coords(params, unit=2)]
    batches = sampler.disjoint_batches(0, 64, 16, 2)
    offsets = MF.grid_offsets(0.2, 3)
    loss = models.make_loss()
    r, first = MF.field_roughness(loss, params, pairs, x, y, batches, offsets)
    assert r.shape == (2, 2) and first.shape == (3, 3, 2)
    np.testing.assert_allclose(first, MF.gradient_field(loss, params, pairs[0], x[batches[0]], y[batches[0]], offsets))
    field = MF.gradient_field(loss, params, pairs[1], x[batches[1]], y[batches[1]], offsets)
    assert r[1, 1] == pytest.approx(MF.roughness(field))
