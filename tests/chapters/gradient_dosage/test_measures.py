"""Tests of cgnb.chapters.gradient_dosage.measures (first-layer dose, dose ratio, reliance)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import nets
from cgnb.chapters.gradient_dosage import measures, models, tasks


def test_flip_reliance_is_the_weight_of_a_linear_model():
    x, _ = tasks.agreeing_features(jax.random.PRNGKey(0), 50, n_irrelevant=1)
    params = {"w": jnp.array([2.0, -0.5, 0.25, 3.0]), "b": jnp.float32(1.0)}
    np.testing.assert_allclose(measures.flip_reliance(models.apply_linear, params, x, range(3)), [2.0, -0.5, 0.25], rtol=1e-6)


def test_dose_ratio():
    dose = np.zeros((2, 3, 5))
    dose[:, :, 0], dose[:, :, 1], dose[:, :, 2] = 3.0, 1.0, 2.0
    np.testing.assert_allclose(measures.dose_ratio(dose), [2.0, 2.0])


def test_first_layer_dose_formats():
    g_mlp = nets.init(jax.random.PRNGKey(0), (3, 4, 1))
    np.testing.assert_allclose(measures.first_layer_dose(g_mlp), np.sum(np.asarray(g_mlp[0]["w"]) ** 2, 1),
                               rtol=1e-6)
    g_lin = {"w": jnp.array([1.0, -2.0]), "b": jnp.float32(0.0)}
    np.testing.assert_allclose(measures.first_layer_dose(g_lin), [1.0, 4.0])
    with pytest.raises(TypeError):
        measures.first_layer_dose({"q": jnp.zeros(2)})


def test_recognizer_dose_rows_are_input_weights_and_read_out():
    grads = {"a": jnp.ones((3, 2)), "b": jnp.zeros((3, 2)), "v": 2 * jnp.ones((3, 2)), "c": jnp.float32(0)}
    np.testing.assert_allclose(measures.recognizer_dose(grads), [[2.0] * 3, [8.0] * 3])


def test_vote_accuracy_of_the_majority_and_of_one_feature():
    majority = tasks.majority_vote_accuracy(0.9)
    vote = lambda p, x, key: x[:, 0] + x[:, 1] + x[:, 2]
    only_first = lambda p, x, key: 3.0 * x[:, 0] + x[:, 1] + x[:, 2]
    assert abs(float(measures.vote_accuracy(vote, None, agreement=0.9, n_inputs=5)) - majority) < 1e-6
    assert abs(float(measures.vote_accuracy(only_first, None, agreement=0.9, n_inputs=5)) - 0.9) < 1e-6


def test_settled():
    assert measures.settled(np.array([0.5, 0.9, 0.97, 0.97, 0.97, 0.97]))
    assert not measures.settled(np.array([0.5, 0.97, 0.9, 0.97, 0.9, 0.97]), tail=0.5, min_records=2)
    assert not measures.settled(np.array([0.97, 0.97]))             # too short to show it settled


def test_sharing_measures_on_a_constructed_case():
    task = tasks.shared_and_identity_features(jax.random.PRNGKey(0), (1, 4), 2)
    n_in = task["n_groups"] + len(task["y"])
    dose = np.ones((2, 3, 4, n_in))
    dose[..., :task["n_groups"]] *= task["group_size"]                # general dose proportional to size
    norms = np.ones((2, 3, 5, n_in))
    norms[1, :, -1, task["n_groups"]:] = 0.25                          # memorizers lose 3/4 under decay
    out = measures.sharing_measures(dose, norms, task)
    np.testing.assert_allclose(out["slope"], 1.0, rtol=1e-5)
    np.testing.assert_allclose(out["small"], np.log10(4.0), rtol=1e-6)
    np.testing.assert_allclose(out["kept_memorizers"], 0.25)
    np.testing.assert_allclose(out["kept_general"], 1.0)
