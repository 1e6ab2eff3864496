"""Tests of cgnb.chapters.what_scales_a_gradient.setting (the paper-scale program)."""
from __future__ import annotations

import jax

from cgnb.chapters.what_scales_a_gradient import setting


def test_paper_program_is_the_deepest_mlps_gradient_on_the_batch():
    [(label, fn, args, kwargs)] = setting.paper_programs({"depths": [2, 6, 4], "width": 8, "batch": 5})
    assert label == "forward/backward, depth 6" and kwargs == {}
    params, x, y = args
    assert len(params) == 6 and x.shape == (5, setting.MNIST_INPUTS) and y.shape == (5,)
    loss, grads = jax.eval_shape(fn, *args)
    assert loss.shape == () and jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(params)


def test_parameters_are_the_notebooks_parameters_cell():
    from pathlib import Path

    from cgnb.engine import aot
    from cgnb.chapters.what_scales_a_gradient import CHAPTER

    cell = aot.notebook_parameters(Path(__file__).resolve().parents[3] / CHAPTER.notebook, "quick")
    assert tuple(cell) == setting.PARAMETERS
