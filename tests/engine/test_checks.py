"""Bad input never trains silently: each case gets a clear error that says what was wrong."""
import jax
import numpy as np
import pytest

from cgnb.engine import checks, data, profiles, sweep


def test_integer_rejects_floats_bools_and_small_values():
    assert checks.integer("steps", np.int64(5), minimum=1) == 5
    with pytest.raises(ValueError, match=r"steps must be an integer, got float 10.0; use steps=10"):
        checks.integer("steps", 10.0)
    with pytest.raises(ValueError, match="must be an integer"):
        checks.integer("steps", True)
    with pytest.raises(ValueError, match=">= 1"):
        checks.integer("steps", 0, minimum=1)


def test_optional_integer_is_none_or_an_integer():
    assert checks.optional_integer("chunk_steps", None, minimum=1) is None
    assert checks.optional_integer("chunk_steps", np.int32(4), minimum=1) == 4
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match=r"chunk_steps must be None \(the default\) or an integer >= 1"):
            checks.optional_integer("chunk_steps", bad, minimum=1)


def test_real_rejects_strings_non_finite_and_out_of_range():
    assert checks.real("lr", 1) == 1.0
    for bad, message in (("0.5", "must be a number"), (float("inf"), "finite"), (float("nan"), "finite")):
        with pytest.raises(ValueError, match=message):
            checks.real("lr", bad)
    with pytest.raises(ValueError, match="> 0"):
        checks.real("lr", 0.0, positive=True)
    with pytest.raises(ValueError, match=r"in \[0.0, 1.0\]"):
        checks.real("noise", 1.5, low=0.0, high=1.0)


def test_integer_array_and_label_range():
    np.testing.assert_array_equal(checks.integer_array("c", [1.0, 2.0]), [1, 2])
    with pytest.raises(ValueError, match=r"c must hold integers, got \[2.5\]"):
        checks.integer_array("c", [1, 2.5])
    with pytest.raises(ValueError, match=r"must lie in \[0, 10\) for 10 classes, got \[-1, 10\]"):
        checks.labels_in_range("y", np.array([3, -1, 10]), 10)


@pytest.mark.parametrize("field, value, message", [
    ("steps", 10.0, "steps must be an integer"),
    ("record_every", 5.0, "record_every must be an integer"),
    ("lr", float("inf"), "lr must be finite"),
    ("lr", float("nan"), "lr must be finite"),
    ("c_max", 2.5, "c_max must be an integer"),
    ("batch_size", 0, "batch_size must be >= 1"),
])
def test_sweep_config_rejects_bad_fields(field, value, message):
    fields = dict(sizes=(4, 3), steps=10, record_every=5)
    fields[field] = value
    if field == "c_max":
        fields["method"] = "winsorized"
    with pytest.raises(sweep.ConfigError, match=message):
        sweep.SweepConfig(**fields)


def test_variants_reject_fractional_c_negative_labels_and_nan_noise_levels():
    labels, pristine = np.zeros((1, 4)), np.ones((1, 4), bool)
    with pytest.raises(sweep.ConfigError, match=r"Variants.c must hold integers, got \[2.5\]"):
        sweep.Variants(labels, pristine, c=2.5)
    with pytest.raises(sweep.ConfigError, match="Variants.labels must be >= 0"):
        sweep.Variants(-np.ones((1, 4)), pristine)
    with pytest.raises(sweep.ConfigError, match="noise level must be finite"):
        sweep.Variants.noise_grid(jax.random.PRNGKey(0), np.zeros(4, int), [float("nan")])


def test_run_sweep_rejects_labels_outside_the_classes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4)).astype(np.float32)
    ds = data.Dataset(x, np.array([0, 1, 2, 0, 1, 2, 0, 1]), x, np.array([0, 1, 2, 0, 1, 2, 0, -1]), "toy", "toy")
    config = sweep.SweepConfig(sizes=(4, 3), steps=2, record_every=1, batch_size=4)
    with pytest.raises(sweep.ConfigError, match=r"data.y_test must lie in \[0, 3\) for 3 classes, got \[-1\]"):
        sweep.run_sweep(config, ds, sweep.Variants(ds.y_train[None], np.ones((1, 8), bool)), cache=False,
                        progress=False)


def test_label_noise_helpers_reject_strings_and_out_of_range_fractions():
    with pytest.raises(ValueError, match="must be a number"):
        data.corrupt_labels(jax.random.PRNGKey(0), np.zeros(4, int), "0.5")
    with pytest.raises(ValueError, match=r"in \[0.0, 1.0\]"):
        data.expected_proper_accuracy(1.5)


def test_profile_error_suggests_commands_the_environment_has(monkeypatch):
    monkeypatch.setenv("CGNB_PROFILE", "huge")
    with pytest.raises(profiles.ProfileError, match="build_book.sh") as info:
        profiles.profile()
    assert "nbconvert" not in str(info.value)


def test_empty_batches_and_mismatched_shapes_are_clear_errors():
    import jax.numpy as jnp

    from cgnb.engine import losses, nets, pergrad, sampler, stats

    params = nets.init(jax.random.PRNGKey(0), (4, 5, 3))
    loss = losses.MLPLoss(losses.cross_entropy)
    empty_x, empty_y = jnp.zeros((0, 4)), jnp.zeros((0,), jnp.int32)
    for call in (lambda: stats.coherence(loss, params, empty_x, empty_y),
                 lambda: pergrad.per_example_grads(loss, params, empty_x, empty_y),
                 lambda: pergrad.group_sums(loss, params, empty_x, empty_y, jnp.ones((1, 0), bool))):
        with pytest.raises(ValueError, match=r"empty batch|batch is empty"):
            call()
    with pytest.raises(ValueError, match=r"batch_size must be in \[1, n=10\], got 0"):
        sampler.batch_indices(0, 0, 3, 10, 0)
    with pytest.raises(ValueError, match=r"x must be a batch \(B, 4\) for this network's 4 inputs, got shape \(2, 5\)"):
        nets.forward(params, jnp.zeros((2, 5)))
    with pytest.raises(ValueError, match="same leading size B"):
        pergrad.per_example_grads(loss, params, jnp.zeros((2, 4)), jnp.zeros((3,), jnp.int32))


# ---------------------------------------------------------------------------- non-finite and out-of-range inputs


def tiny_data(x_train=None, y_train=None, x_test=None, y_test=None):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1], np.int32)
    pick = lambda given, default: default if given is None else given
    return data.Dataset(pick(x_train, x), pick(y_train, y), pick(x_test, x), pick(y_test, y), "toy", "toy")


def test_finite_array_names_the_first_non_finite_entry():
    x = np.zeros((3, 2), np.float32)
    x[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"x holds 1 non-finite values \(the first, inf, at index \(2, 1\)\)"):
        checks.finite_array("x", x)
    with pytest.raises(ValueError, match="must hold real numbers, got dtype <U1"):
        checks.finite_array("x", np.array(["a"]))
    with pytest.raises(ValueError, match=r"x must have 2 axes, got shape \(3,\)"):
        checks.finite_array("x", np.zeros(3), ndim=2)


def test_integer_array_refuses_values_an_int64_cannot_hold():
    with pytest.raises(ValueError, match=r"y must be <= 2147483647, got 4294967298 at flat position 1"):
        checks.integer_array("y", np.array([0, 2 ** 32 + 2], np.uint64), maximum=2 ** 31 - 1)
    with pytest.raises(ValueError, match=r"y must be <= 9223372036854775807"):
        checks.integer_array("y", np.array([2 ** 64 - 1], np.uint64))


def nan_pixel_in_x_train():
    x = tiny_data().x_train.copy()
    x[3, 2] = np.nan
    return tiny_data(x_train=x)


@pytest.mark.parametrize("make, message", [
    (nan_pixel_in_x_train, r"x_train holds 1 non-finite values \(the first, nan, at index \(3, 2\)\)"),
    (lambda: tiny_data(x_test=np.full((8, 4), np.nan, np.float32)), r"x_test holds 32 non-finite values"),
    (lambda: tiny_data(x_test=np.full((8, 4), np.inf, np.float32)), r"x_test holds 32 non-finite values"),
    (lambda: tiny_data(y_train=np.array([0, 1, 2, 0, 1, 2, 0, 1], float)),
     r"y_train must be an array of an integer dtype, got float64; convert whole-number labels"),
    (lambda: tiny_data(y_train=np.array([0, 1, 2, 0, 1, 2, 0, 2 ** 32 + 2], np.int64)),
     r"y_train must be <= 2147483647, got 4294967298 at flat position 7"),
    (lambda: tiny_data(x_train=np.zeros((0, 4), np.float32), y_train=np.zeros(0, np.int32)),
     r"the train set is empty \(x_train has shape \(0, 4\)\)"),
    (lambda: tiny_data(x_test=np.zeros((0, 4), np.float32), y_test=np.zeros(0, np.int32)),
     r"the test set is empty"),
])
def test_run_sweep_refuses_data_it_cannot_train_on(make, message):
    ds = make()
    config = sweep.SweepConfig(sizes=(4, 3), steps=2, record_every=1, batch_size=4)
    variants = sweep.Variants(np.zeros((1, len(ds.y_train)), np.int64), np.ones((1, len(ds.y_train)), bool))
    with pytest.raises(sweep.ConfigError, match=message):
        sweep.run_sweep(config, ds, variants, cache=False, progress=False)
    with pytest.raises(ValueError, match=message):
        data.validate(ds)


def test_loaded_labels_are_range_checked_before_they_are_stored_as_int32():
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"y_train must be <= 2147483647, got 4294967298"):
        data._finish(x, np.array([0, 2 ** 32 + 2]), x, np.array([0, 1]), "toy", "toy")


def test_fractional_layer_widths_are_refused_not_truncated():
    with pytest.raises(sweep.ConfigError, match=r"sizes must hold integers, got \[8.9, 16.7, 3.2\]"):
        sweep.SweepConfig(sizes=(8.9, 16.7, 3.2), steps=2, record_every=1)
    assert sweep.SweepConfig(sizes=(8.0, 3.0), steps=2, record_every=1).sizes == (8, 3)


def test_variant_labels_beyond_int32_are_refused_not_wrapped():
    with pytest.raises(sweep.ConfigError, match=r"Variants.labels must be <= 2147483647, got 4294967298"):
        sweep.Variants(np.array([[0, 2 ** 32 + 2]]), np.ones((1, 2), bool))


@pytest.mark.parametrize("labels, message", [
    ([0, 1, -1, 0], r"class labels must lie in \[0, 3\) for 3 classes, got \[-1\]"),
    ([0, 1, 3, 0], r"class labels must lie in \[0, 3\) for 3 classes, got \[3\]"),
    (np.array([0.0, 1.0, 2.0, 0.0]), "class labels must have an integer dtype, got float64"),
    ([0, 1, 2], r"class labels must be \(B,\) for logits \(B, K\); got labels \(3,\) and logits \(4, 3\)"),
])
def test_public_loss_functions_validate_their_labels(labels, message):
    import jax.numpy as jnp

    from cgnb.engine import losses

    logits = jnp.zeros((4, 3))
    for metric in (losses.cross_entropy, losses.accuracy):
        with pytest.raises(ValueError, match=message):
            metric(logits, np.asarray(labels))
    params = sweep.init_params(0, sweep.ModelConfig(sizes=(2, 3)))
    with pytest.raises(ValueError, match=message):
        sweep.per_example_loss(params, jnp.zeros((4, 2)), np.asarray(labels))
    assert jax.jit(losses.cross_entropy)(logits, jnp.array([0, 1, 2, 0])).shape == (4,)  # traced: shapes only
