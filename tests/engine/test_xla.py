"""Tests of cgnb.engine.xla: jax.jit with the engine's compiler options."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import xla


def test_jit_computes_what_jax_jit_computes():
    f = lambda a, n: jnp.cumsum(a) * n  # noqa: E731
    a = jnp.arange(10.0)
    np.testing.assert_array_equal(xla.jit(f, static_argnums=1)(a, 3), jax.jit(f, static_argnums=1)(a, 3))


def test_the_options_reach_the_compiler(monkeypatch):
    """XLA rejects an unknown option by name: proof that COMPILER_OPTIONS are passed on."""
    monkeypatch.setattr(xla, "COMPILER_OPTIONS", {**xla.COMPILER_OPTIONS, "xla_no_such_option": 1})
    with pytest.raises(Exception, match="xla_no_such_option"):
        xla.jit(lambda a: a + 1)(jnp.ones(3))


def test_options_given_override_the_defaults():
    assert "xla_cpu_prefer_vector_width" in xla.COMPILER_OPTIONS
    out = xla.jit(lambda a: a * 2, compiler_options={"xla_cpu_prefer_vector_width": 256})(jnp.ones(4))
    np.testing.assert_array_equal(out, 2 * np.ones(4))
    with pytest.raises(Exception, match="xla_other_unknown"):
        xla.jit(lambda a: a * 2, compiler_options={"xla_other_unknown": 1})(jnp.ones(4))
