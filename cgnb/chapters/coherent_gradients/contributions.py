"""Chapter 4's Figure 3: per-example contributions over the first SGD steps.

:func:`early_contributions` replays the first SGD steps of each variant of a sweep (through the
engine's one training loop, with a step probe) and records every example's contribution
``<gbar, g_i>`` on the whole training set, so that :func:`group_curves` gives the mean cumulative
contribution per pristine / corrupt example
``abar_p(t) = (1 / m_p) sum_{tau < t} sum_{i in P} <gbar_tau, g_{i,tau}>`` and any number of null
worlds (:func:`cgnb.engine.stats.null_masks`, :func:`contribution_gaps`) costs nothing.
After Chatterjee, "Coherent Gradients", ICLR 2020, section 2.

All arrays are numpy; V = variants, S = seeds, K = null worlds, M = examples.
"""
from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ...engine import loop, pergrad, sampler, stats, store, sweep, xla


def _blocks(m: int, block: int) -> tuple[int, int]:
    """``(n_blocks, padded size)`` covering m examples with blocks of at most ``block``."""
    if m < 1 or block < 1:
        raise ValueError(f"need at least one example and a positive block size, got m={m}, block={block}")
    n_blocks = -(-m // block)
    size = -(-m // n_blocks)
    return n_blocks, n_blocks * size


def sample_statistics(params, x: jax.Array, y: jax.Array, block: int = 1000) -> tuple[jax.Array, jax.Array]:
    """Per-example contributions and coherence of a sample at ``params``.

    With ``g_i = grad l_i`` and ``gbar = (1/M) sum_i g_i`` over the M examples x (M, d), y (M,):

    * ``c_i = <gbar, g_i>`` (M,), one forward-mode pass along ``gbar``; ``lr * c_i`` is the
      first-order decrease of example i's loss under a full-batch gradient step, and
      ``sum_i c_i = M |gbar|^2``;
    * coherence ``|gbar|^2 / mean_i |g_i|^2`` (scalar), with the squared norms from
      :func:`cgnb.engine.pergrad.mlp_per_example_sq_norms` (no per-example gradient tensors).

    Examples are processed ``block`` at a time (``lax.map``) to bound memory.

    Raises:
      ValueError: no examples or a block size below 1.
    """
    loss = sweep.per_example_loss
    m = x.shape[0]
    n_blocks, padded = _blocks(m, block)
    pad = padded - m
    xb = jnp.pad(x, ((0, pad), (0, 0))).reshape(n_blocks, -1, x.shape[1])
    yb = jnp.pad(y, (0, pad)).reshape(n_blocks, -1)
    wb = (jnp.arange(padded) < m).astype(x.dtype).reshape(n_blocks, -1)

    def add_block_grad(total, args):  # summed over blocks in the carry: memory O(parameters)
        xi, yi, wi = args
        g = jax.grad(lambda p: jnp.sum(wi * loss(p, xi, yi)))(params)
        return jax.tree_util.tree_map(jnp.add, total, g), None

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    total, _ = lax.scan(add_block_grad, zeros, (xb, yb, wb))
    gbar = jax.tree_util.tree_map(lambda g: g / m, total)

    def block_stats(args):
        xi, yi, wi = args
        c = jax.jvp(lambda p: loss(p, xi, yi), (params,), (gbar,))[1]
        sq = pergrad.mlp_per_example_sq_norms(loss, params, xi, yi)
        return c, jnp.sum(wi * sq)

    c, sq = lax.map(block_stats, (xb, yb, wb))
    gbar_sq = sum(jnp.sum(g * g) for g in jax.tree_util.tree_leaves(gbar))
    return c.reshape(-1)[:m], gbar_sq / (jnp.sum(sq) / m)


def replay_program(config: sweep.SweepConfig, x: jax.Array, steps: int, examples: int, block: int = 1000):
    """The program :func:`early_contributions` runs: every variant's first ``steps`` SGD steps, with statistics.

    Each step's probe is :func:`sample_statistics` on the first ``examples`` rows of ``x`` with the
    variant's labels, before the step; the trajectory is :func:`cgnb.engine.sweep.run_sweep`'s for ``config``.

    Args:
      config: the sweep's configuration (plain SGD).
      x: (N, d) the training inputs (an array, or a tracer when the program is compiled for abstract inputs).
      steps: steps to replay; examples: M, the rows of ``x`` whose contributions are taken; block: as in
        :func:`sample_statistics`.

    Returns:
      ``program(params, labels (V, N), indices (V, steps, B)) -> (c (V, steps, M), coherence (V, steps))``,
      vmapped over the V variants (``params`` leaves have a leading V axis); not jitted.
    """
    step = sweep.config_step(config)

    def one(params, labels, idx):
        trace = loop.train(loop.step_gradient(step), step.tx, params, x, labels, steps=steps, indices=idx,
                           step_probe=lambda p, grads, loss: sample_statistics(p, x[:examples], labels[:examples],
                                                                               block),
                           block_reduce=loop.block_all)
        c, coh = trace.step_values  # one block: (1, steps, M), (1, steps)
        return c[0], coh[0]

    return jax.vmap(one)


def early_contributions(config: sweep.SweepConfig, data, variants: sweep.Variants, steps: int, *,
                        examples: int | None = None, block: int = 1000) -> dict[str, np.ndarray]:
    """Per-example contributions along the first ``steps`` SGD steps of every variant.

    Runs the engine's loop (:func:`cgnb.engine.loop.train`) on exactly the trajectory
    :func:`cgnb.engine.sweep.run_sweep` trains for ``config`` (same initial parameters
    :func:`cgnb.engine.sweep.initial_params`, minibatches :func:`cgnb.engine.sampler.batch_indices` and
    step :func:`cgnb.engine.sweep.config_step`), with a step probe computing
    :func:`sample_statistics` before each step tau = 0..steps-1 on the first ``examples``
    training examples (default: all) with the variant's training labels.

    Returns a dict of numpy arrays:
      ``decrease`` (V, steps, M): ``lr * <gbar_tau, g_{i,tau}>``, the first-order loss decrease
        of example i due to step tau had it followed the sample's mean gradient (nats);
      ``coherence`` (V, steps); ``pristine`` (V, M); ``noise``, ``seed`` (V,); ``steps`` (steps,).

    Raises:
      ValueError: a method other than plain SGD, ``examples`` outside [1, N], or ``steps < 1``.
    """
    if config.method != "sgd":
        raise ValueError(f"early_contributions replays plain SGD; got method={config.method!r}")
    n = data.x_train.shape[0]
    m = n if examples is None else int(examples)
    if not 1 <= m <= n:
        raise ValueError(f"examples must be in [1, {n}] (the training set), got {examples}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    params = sweep.initial_params(config, variants)
    indices = np.stack([sampler.batch_indices(int(seed), 0, steps, n, config.batch_size, config.sampling)
                        for seed in variants.seed])
    program = replay_program(config, jnp.asarray(data.x_train), steps, m, block)
    c, coh = xla.jit(program)(params, jnp.asarray(variants.labels), jnp.asarray(indices))
    return {"decrease": config.lr * np.asarray(c), "coherence": np.asarray(coh),
            "pristine": np.asarray(variants.pristine[:, :m]), "noise": np.asarray(variants.noise),
            "seed": np.asarray(variants.seed), "steps": np.arange(steps)}


def group_curves(decrease: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Mean cumulative contribution per example of each group after t = 0..T steps: (V, T + 1) each.

    ``f_p(t) = (1 / m_p) sum_{tau < t} sum_{i in P} decrease[:, tau, i]`` (and ``f_c`` for the
    corrupt group ``~mask``), via :func:`cgnb.engine.stats.group_contributions`; ``f(0) = 0``.
    This is the paper's Figure 3 statistic with the learning rate as its scale factor.

    Raises:
      ValueError: ``decrease`` not (V, T, M) or ``mask`` not (V, M).
    """
    decrease, mask = np.asarray(decrease, float), np.asarray(mask, bool)
    if decrease.ndim != 3 or mask.shape != (decrease.shape[0], decrease.shape[2]):
        raise ValueError(f"decrease must be (V, T, M) and mask (V, M); got {decrease.shape} and {mask.shape}")
    dot_p = np.einsum("vtm,vm->vt", decrease, mask)
    dot_c = np.einsum("vtm,vm->vt", decrease, ~mask)
    f = stats.group_contributions(dot_p, dot_c, mask.sum(1)[:, None], (~mask).sum(1)[:, None], axis=1)
    zero = np.zeros((decrease.shape[0], 1))
    return {"pristine": np.concatenate([zero, np.asarray(f["f_p"])], axis=1),
            "corrupt": np.concatenate([zero, np.asarray(f["f_c"])], axis=1)}


def contribution_gaps(decrease: np.ndarray, mask: np.ndarray, nulls: np.ndarray, block: int = 100
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``f_p - f_c`` after all T steps: real (V,) and in each null world (V, K).

    ``decrease`` (V, T, M), ``mask`` (V, M), ``nulls`` (V, K, M) from :func:`cgnb.engine.stats.null_masks`
    (with a numpy Generator).
    Each gap is the mean total contribution of a pristine example minus that of a corrupt one.
    The null worlds are summed ``block`` at a time, so memory stays O(block * M) for any K.
    """
    total = np.asarray(decrease, float).sum(axis=1)  # (V, M) per-example totals
    mask, nulls = np.asarray(mask, bool), np.asarray(nulls, bool)
    everything = total.sum(-1)  # (V,)

    def gap(masks: np.ndarray, v: int) -> np.ndarray:  # masks (K, M) of variant v -> (K,)
        count = masks.sum(-1)
        inside = np.concatenate([masks[k:k + block] @ total[v] for k in range(0, len(masks), block)])
        with np.errstate(invalid="ignore", divide="ignore"):  # an empty group (no noise) gives NaN
            return inside / count - (everything[v] - inside) / (masks.shape[-1] - count)

    real = np.array([gap(mask[v][None], v)[0] for v in range(len(total))])
    return real, np.stack([gap(nulls[v], v) for v in range(len(total))])


def condense(early: dict[str, np.ndarray], null_worlds: int, n_null: int, rng_seed: int = 0
              ) -> dict[str, np.ndarray]:
    """What Figure 3, the C4.6 check and the coherence figure need from :func:`early_contributions`.

    The null worlds are ``null_worlds`` random relabellings per variant
    (:func:`cgnb.engine.stats.null_masks` with ``np.random.default_rng(rng_seed)``).

    Returns numpy arrays: ``curves`` (V, 1 + n_null, 2, T + 1), the mean cumulative contribution per
    pristine (index 0) and corrupt (1) example of :func:`group_curves` for the real designation and
    the first ``n_null`` null worlds; ``gap`` (V,) and ``null_gap`` (V, null_worlds) of
    :func:`contribution_gaps`; ``coherence`` (V, T), ``pristine`` (V, M), ``noise``, ``seed`` (V,)
    as in ``early``. It is small (no per-example, per-step values), so a stored run can keep it.

    Raises:
      ValueError: ``n_null`` outside [0, null_worlds].
    """
    if not 0 <= n_null <= null_worlds:
        raise ValueError(f"n_null (null worlds drawn in the figure) must be in [0, null_worlds={null_worlds}], "
                         f"got {n_null}")
    pristine = np.asarray(early["pristine"], bool)
    nulls = stats.null_masks(np.random.default_rng(rng_seed), pristine, null_worlds)
    gap, null_gap = contribution_gaps(early["decrease"], pristine, nulls)
    rows = [pristine] + [nulls[:, k] for k in range(n_null)]
    curves = np.stack([np.stack([(c := group_curves(early["decrease"], m))["pristine"], c["corrupt"]], axis=1)
                       for m in rows], axis=1)
    return {"curves": curves, "gap": gap, "null_gap": null_gap, "coherence": np.asarray(early["coherence"]),
            "pristine": pristine, "noise": np.asarray(early["noise"]), "seed": np.asarray(early["seed"])}


def cached_early_contributions(config: sweep.SweepConfig, data, variants: sweep.Variants, steps: int, *,
                               examples: int | None = None, block: int = 1000) -> dict[str, np.ndarray]:
    """:func:`early_contributions` through :func:`cgnb.engine.store.memoize` (keyed by every input and this
    module's code)."""
    key = {"config": config.to_json(), "x_train": data.x_train, "labels": variants.labels,
           "pristine": variants.pristine, "seed": variants.seed, "noise": variants.noise, "steps": int(steps),
           "examples": examples, "block": int(block)}
    return store.memoize("coherent-early-contributions", key,
                         lambda: early_contributions(config, data, variants, steps, examples=examples, block=block),
                         sources=[sys.modules[__name__]])
