"""Tests of cgnb.engine.nets: init, the one forward pass and its trace."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import nets


def test_mlp_shapes_init_and_forward():
    params = nets.init(jax.random.key(0), (784, 32, 16, 10))
    assert [p["w"].shape for p in params] == [(784, 32), (32, 16), (16, 10)]
    assert nets.num_params(params) == 784 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10
    limit = np.sqrt(6.0 / (784 + 32))  # Glorot uniform bound
    assert float(jnp.abs(params[0]["w"]).max()) <= limit
    x = jnp.ones((5, 784))
    manual = jax.nn.relu(jax.nn.relu(x @ params[0]["w"]) @ params[1]["w"]) @ params[2]["w"]
    np.testing.assert_allclose(nets.forward(params, x), manual, rtol=1e-5, atol=1e-5)


def test_batchnorm_normalises_hidden_units():
    params = nets.init(jax.random.key(0), (8, 16, 1), batchnorm=True)
    assert set(params[0]) == {"w", "b", "gamma", "beta"} and set(params[1]) == {"w", "b"}
    z = jax.random.normal(jax.random.key(1), (64, 16)) * 3 + 2
    out = nets.batch_norm(z, jnp.ones(16), jnp.zeros(16))
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(0), 1, atol=1e-3)


def test_dropout_needs_a_key_and_rescales():
    params = nets.init(jax.random.key(0), (4, 1000, 1))
    x = jnp.ones((2, 4))
    np.testing.assert_array_equal(nets.forward(params, x, dropout_rate=0.5), nets.forward(params, x))
    noisy = nets.forward(params, x, dropout_rate=0.5, key=jax.random.key(2))
    assert not np.allclose(noisy, nets.forward(params, x))
    with pytest.raises(ValueError, match=r"dropout_rate must be in \[0, 1\)"):
        nets.forward(params, x, dropout_rate=1.0, key=jax.random.key(2))


def test_bad_sizes():
    with pytest.raises(ValueError, match="at least an input and an output"):
        nets.init(jax.random.key(0), (10,))


def test_trace_holds_every_layer_and_matches_the_outputs():
    params = nets.init(jax.random.key(0), (6, 5, 4, 3))
    x = jax.random.normal(jax.random.key(1), (7, 6))
    trace = nets.forward(params, x, intermediates=True)
    np.testing.assert_array_equal(trace.outputs, nets.forward(params, x))
    assert len(trace.inputs) == 3 and len(trace.preactivations) == 3 and len(trace.masks) == 2
    np.testing.assert_array_equal(trace.inputs[0], x)
    for l in range(2):
        z = trace.inputs[l] @ params[l]["w"] + params[l]["b"]
        np.testing.assert_array_equal(trace.preactivations[l], z)
        np.testing.assert_array_equal(trace.masks[l], (z > 0).astype(z.dtype))
        np.testing.assert_array_equal(trace.inputs[l + 1], jax.nn.relu(z))
    np.testing.assert_array_equal(trace.preactivations[-1], trace.outputs)


def test_fixed_masks_replace_relu_and_shifts_add_to_preactivations():
    params = nets.init(jax.random.key(0), (4, 5, 2))
    x = jax.random.normal(jax.random.key(1), (3, 4))
    ones = [jnp.ones((3, 5))]
    z = x @ params[0]["w"] + params[0]["b"]
    np.testing.assert_allclose(nets.forward(params, x, masks=ones), z @ params[1]["w"] + params[1]["b"], rtol=1e-6)
    own = nets.forward(params, x, intermediates=True).masks
    np.testing.assert_allclose(nets.forward(params, x, masks=own), nets.forward(params, x), rtol=1e-6, atol=1e-7)
    zeros = [jnp.zeros((3, 5)), jnp.zeros((3, 2))]
    np.testing.assert_array_equal(nets.forward(params, x, shifts=zeros), nets.forward(params, x))
    shifted = nets.forward(params, x, shifts=[jnp.zeros((3, 5)), jnp.ones((3, 2))])
    np.testing.assert_allclose(shifted, nets.forward(params, x) + 1.0, rtol=1e-6)


def test_batchnorm_forward_normalises_before_relu():
    params = nets.init(jax.random.key(0), (8, 16, 1), batchnorm=True)
    x = jax.random.normal(jax.random.key(1), (32, 8))
    trace = nets.forward(params, x, intermediates=True)
    z = nets.batch_norm(x @ params[0]["w"] + params[0]["b"], params[0]["gamma"], params[0]["beta"])
    np.testing.assert_array_equal(trace.inputs[1], jax.nn.relu(z))


def test_forward_bad_masks_and_shifts():
    params = nets.init(jax.random.key(0), (4, 5, 2))
    x = jnp.ones((3, 4))
    with pytest.raises(ValueError, match="one pattern per hidden layer"):
        nets.forward(params, x, masks=[jnp.ones((3, 5))] * 2)
    with pytest.raises(ValueError, match="one array per layer"):
        nets.forward(params, x, shifts=[jnp.zeros((3, 5))])


def test_blocked_forward_equals_one_pass_and_pads_the_last_block():
    params = nets.init(jax.random.PRNGKey(0), (4, 5, 3))
    x = jax.random.normal(jax.random.PRNGKey(1), (10, 4))
    blocks = nets.pad_to_blocks(x, 4)
    assert blocks.shape == (3, 4, 4) and not blocks[2, 2:].any()
    np.testing.assert_array_equal(nets.pad_to_blocks(jnp.arange(3), 2), [[0, 1], [2, 0]])
    np.testing.assert_allclose(nets.forward_in_blocks(params, x, 4), nets.forward(params, x), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(nets.forward_in_blocks(params, x, 10), nets.forward(params, x))
