"""Tests of cgnb.chapters.what_scales_a_gradient.units (inactive units and the width-3 toys)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import nets
from cgnb.chapters.what_scales_a_gradient import backprop, units

from .problems import SIZES, batch, mlp_params


def _ones_toy(depth):
    return [{"w": jnp.ones((3, 3)), "b": jnp.zeros(3)} for _ in range(depth)]


def test_width3_ones_toy_exact_values():
    params, x, error = _ones_toy(4), jnp.ones((1, 3)), jnp.ones((1, 3))
    fwd = backprop.forward(params, x)
    full, off = units.unit_contributions(params, x, error, fwd.masks, hidden=1)
    for g in full:  # every path carries 1, and 3 * 3 * 3 paths pass through each weight
        np.testing.assert_array_equal(g, np.full((3, 3), 27.0))
    g = off[1]  # unit 1 of hidden layer 1 (0-based) off
    np.testing.assert_array_equal(g[0], np.full((3, 3), 18.0))
    np.testing.assert_array_equal(g[1], [[27, 0, 27]] * 3)
    np.testing.assert_array_equal(g[2], [[27] * 3, [0] * 3, [27] * 3])
    np.testing.assert_array_equal(g[3], np.full((3, 3), 18.0))
    np.testing.assert_allclose([units.attenuation(o, f)["energy"] for o, f in zip(g, full)], [4 / 9, 2 / 3, 2 / 3, 4 / 9])
    # a unit switched off by its bias (patterns recomputed) gives the same gradients here
    biased = [dict(p, b=jnp.array([0.0, -100.0, 0.0])) if i == 1 else p for i, p in enumerate(params)]
    for a, b in zip(units.weight_gradients(biased, x, error), g):
        np.testing.assert_array_equal(np.abs(a), b)


def test_deeper_ones_toy_other_layers_keep_four_ninths():
    params, x, error = _ones_toy(7), jnp.ones((1, 3)), jnp.ones((1, 3))
    full, off = units.unit_contributions(params, x, error, backprop.forward(params, x).masks, hidden=2)
    ratios = [units.attenuation(o, f)["energy"] for o, f in zip(off[0], full)]
    np.testing.assert_allclose(ratios, [4 / 9, 4 / 9, 2 / 3, 2 / 3, 4 / 9, 4 / 9, 4 / 9], rtol=1e-6)


def test_unit_contributions_add_up_and_predict_the_energy_ratio():
    params = nets.init(jax.random.PRNGKey(4), (3, 3, 3, 3, 3))
    x, error = jax.random.normal(jax.random.PRNGKey(5), (2, 3)), jax.random.normal(jax.random.PRNGKey(6), (2, 3))
    masks = tuple(jnp.ones((2, 3)) for _ in range(3))
    full, off = units.unit_contributions(params, x, error, masks, hidden=1)
    for l in range(4):
        contribs = [full[l] - o[l] for o in off]
        np.testing.assert_allclose(sum(contribs), full[l], rtol=1e-5, atol=1e-6)
        mean_ratio = np.mean([units.attenuation(o[l], full[l])["energy"] for o in off])
        rho = sum(np.sum(np.asarray(c, np.float64) ** 2) for c in contribs) / np.sum(np.asarray(full[l], np.float64) ** 2)
        assert mean_ratio == pytest.approx(units.predicted_energy_ratio(rho, 3), rel=1e-4)
        assert mean_ratio >= 4 / 9 - 1e-6  # Cauchy-Schwarz: rho >= 1/n
    assert units.predicted_energy_ratio(1 / 3, 3) == pytest.approx(4 / 9)
    assert units.predicted_energy_ratio(1.0, 3) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="unit must be in 0..2"):
        units.unit_off(masks, 0, 3)


def test_attenuation_measures_on_the_ones_toy():
    params, x, error = _ones_toy(4), jnp.ones((1, 3)), jnp.ones((1, 3))
    full, off = units.unit_contributions(params, x, error, backprop.forward(params, x).masks, hidden=1)
    first, own, following = (units.attenuation(off[1][l], full[l]) for l in (0, 1, 2))
    assert first == pytest.approx({"energy": 4 / 9, "norm": 2 / 3, "total": 2 / 3, "zeroed": 0.0,
                                   "survivor_min": 2 / 3, "survivor_max": 2 / 3})
    for a in (own, following):
        assert a == pytest.approx({"energy": 2 / 3, "norm": np.sqrt(2 / 3), "total": 2 / 3, "zeroed": 1 / 3,
                                   "survivor_min": 1.0, "survivor_max": 1.0})


def test_random_toys_and_inactive_unit_gradients():
    for family in units.TOY_FAMILIES:
        r = units.random_toys(0, 8, family)
        assert r["ratio"].shape == (8, 3, 4) and r["rho"].shape == (8, 4)
        np.testing.assert_array_equal(r["zeroed"], 0.0)
        np.testing.assert_allclose(r["mean_ratio"][:, 1:3], 2 / 3, rtol=1e-5)
        np.testing.assert_allclose(r["mean_ratio"], r["predicted"], rtol=1e-4)
        assert r["mean_ratio"].min() >= 4 / 9 - 1e-6
    assert r["mean_ratio"].shape == (8, 4)
    with pytest.raises(ValueError, match="family"):
        units.random_toys(0, 2, "negative")
    params, (x, labels) = mlp_params(bias=0.0), batch()
    found = units.inactive_unit_gradients(params, x, labels)
    assert found["max_abs"] == 0.0
    assert np.all(found["inactive"] > 0) and np.all(found["zero_columns"] >= found["inactive"])
