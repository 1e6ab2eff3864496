"""Training sweeps: the engine's loop (:mod:`cgnb.engine.loop`) ``vmap``-ed over variants, cached, resumable.

A *sweep* trains one MLP architecture with one method on several *variants* at once. Variants
differ only in data: training labels (label noise), the pristine mask, the seed (initialisation,
minibatch order, null-world masks) and the winsorization level ``c``. Usage::

    config = sweep.SweepConfig(sizes=(784, 2048, 10), steps=2000, record_every=100)
    variants = sweep.Variants.noise_grid(jax.random.PRNGKey(0), data.y_train, [0.0, 0.5, 1.0])
    result = sweep.run_sweep(config, data, variants)
    result.test_acc          # (V, R) test accuracy at result.steps (R,)

Modules (each concern of the configuration lives with what it configures)
  config     :class:`SweepConfig`, the flat record of the four concerns below, and the schedule
  model      the MLP and its loss (:data:`per_example_loss`), :func:`init_params`
  methods    the registry of training methods (sgd, rm3, winsorized), :func:`method_step`
  records    the registry of gradient statistics, what one record measures
  variants   :class:`Variants`, the V variants of a sweep
  programs   the compiled programs, keyed on what shapes them (:class:`Program`)
  run        :func:`run_sweep`: checks, cache, checkpoints, resume
  results    :class:`SweepResult` and its files
  types      the shared containers (:class:`Arrays`, :class:`VariantArrays`, :class:`TrainState`) and
             :class:`ConfigError`

Randomness per variant: its integer seed gives the initial parameters
(:func:`cgnb.engine.nets.init` with ``seeds.variant_keys(seed)[0]``), the minibatch order
(:func:`cgnb.engine.sampler.batch_indices`: ``sampling="epochs"`` walks through a fresh permutation of
the training set every ``N // batch_size`` steps, skipping the ``N % batch_size`` left over;
``"uniform"`` draws each step's indices independently with replacement) and the null-world masks
(``seeds.variant_keys(seed)[1]``).

Reference: Chatterjee, "Coherent Gradients: An Approach to Understanding Generalization in Gradient
Descent-based Optimization", ICLR 2020.
"""
from .config import DEFAULT_CHUNK, ScheduleConfig, SweepConfig, default_chunk
from .methods import METHODS, Method, MethodConfig, config_step, method_step
from .model import ModelConfig, init_params, per_example_loss
from .programs import Program, program, programs
from .records import STATISTICS, RecordsConfig, Statistic
from .results import SweepResult
from .run import (DivergedError, check_finite_losses, check_inputs, initial_params, placement, run_sweep, sweep_indices,
                  sweep_key, variant_inputs)
from .types import Arrays, ConfigError, TrainState, VariantArrays
from .variants import Variants


__all__ = ["run_sweep", "sweep_key", "SweepConfig", "ModelConfig", "MethodConfig", "ScheduleConfig", "RecordsConfig",
           "Variants", "SweepResult", "ConfigError", "Arrays", "VariantArrays", "TrainState", "per_example_loss",
           "init_params", "initial_params", "variant_inputs", "sweep_indices", "check_inputs", "placement",
           "method_step", "config_step", "Method", "METHODS", "Statistic", "STATISTICS", "Program", "program",
           "programs", "DEFAULT_CHUNK", "default_chunk", "DivergedError", "check_finite_losses"]
