import json
import os

import jax
import jax.numpy as jnp
import pytest

from cgnb.engine import aot, profiles


def test_program_memory_counts_the_arguments_bytes():
    x = jax.ShapeDtypeStruct((1000, 250), jnp.float32)
    report = aot.program_memory(lambda a: (a * 2).sum(axis=0), x)
    assert report["argument"] == 1000 * 250 * 4
    assert report["output"] == 250 * 4
    assert report["total"] == report["argument"] + report["output"] + report["temp"]


def test_a_huge_abstract_input_is_reported_over_the_limit_without_allocating():
    huge = jax.ShapeDtypeStruct((5, 2 ** 30), jnp.float32)  # 20 GiB, never allocated
    report = aot.program_memory(lambda a: a.sum(), huge)
    assert report["argument"] == 20 * aot.GIB
    assert not aot.fits(report)
    assert aot.fits(aot.program_memory(lambda a: a.sum(), jax.ShapeDtypeStruct((1000,), jnp.float32)))


def test_fits_refuses_to_guess_without_an_analysis():
    with pytest.raises(ValueError, match="memory_analysis"):
        aot.fits({"total": None})


def _notebook(tmp_path, source, tags=("parameters",)):
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": list(tags)}, "source": source}]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    return path


def test_notebook_parameters_reads_the_chosen_profile_and_restores_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(profiles.ENV_VAR, "quick")
    path = _notebook(tmp_path, "steps = cgnb.pick(quick=10, paper=1000)\nepochs = steps // 10\n")
    assert aot.notebook_parameters(path, "paper") == {"steps": 1000, "epochs": 100}
    assert aot.notebook_parameters(path, "quick")["steps"] == 10
    assert os.environ[profiles.ENV_VAR] == "quick"


def test_notebook_parameters_errors(tmp_path):
    with pytest.raises(ValueError, match="no cell tagged"):
        aot.notebook_parameters(_notebook(tmp_path, "x = 1", tags=()), "paper")
    with pytest.raises(ValueError, match="unknown profile"):
        aot.notebook_parameters(_notebook(tmp_path, "x = 1"), "huge")
