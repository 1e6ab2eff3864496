"""Chapter 3, gradient starvation: the two-moons task of Pezeshki et al. (2021) and its models.

* :func:`two_moons` -- the classic two interleaving half circles (as ``sklearn.datasets
  .make_moons``, written here so that cgnb does not depend on scikit-learn).
* :func:`starvation_moons` -- the two moons moved apart so that the first coordinate
  separates the classes linearly with a margin (Pezeshki et al., 2021, Figure 1).
* :func:`neutralize_feature`, :func:`permute_feature` -- test sets on which one coordinate
  no longer tells the classes apart.
* :func:`init_torch_mlp` -- an MLP in the :mod:`cgnb.engine.nets` format with PyTorch's default
  initialisation (weights and biases uniform in +-1/sqrt(fan_in)), the set-up of the paper;
  apply it with :func:`apply_mlp` (dropout on the hidden units when asked).
* :func:`spectral_decoupling` -- the paper's penalty ``coef * mean(logit ** 2)``.
* :func:`grid_points` -- a plotting grid over the plane.
* :func:`train_with_sd` -- full-batch training on the logistic loss + Spectral Decoupling that
  records each input's first-layer dose; :func:`moons_run` -- one seed and variant of the chapter.

Inputs ``x`` are (N, 2) float32, labels ``y`` (N,) float32 in {-1, +1}.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..engine import losses, loop, nets, plots
from ..engine.losses import Params
from ..engine.trainer import torch_style_sgd


def two_moons(key: jax.Array, n: int = 300, noise: float = 0.1) -> tuple[jax.Array, jax.Array]:
    """Two interleaving half circles with Gaussian noise (the ``make_moons`` construction).

    Class -1 (``n // 2`` points): ``(cos t, sin t)``, class +1 (the rest):
    ``(1 - cos t, 1/2 - sin t)``, with ``t`` evenly spaced in [0, pi]; then
    ``noise * N(0, I)`` is added and the rows are shuffled.

    Returns:
      ``x`` (n, 2) float32 and ``y`` (n,) float32 in {-1, +1}.
    """
    if n < 2 or noise < 0:
        raise ValueError(f"need n >= 2 and noise >= 0, got n={n}, noise={noise}")
    n_out, n_in = n // 2, n - n // 2
    t_out = jnp.linspace(0.0, jnp.pi, n_out)
    t_in = jnp.linspace(0.0, jnp.pi, n_in)
    x = jnp.concatenate([
        jnp.stack([jnp.cos(t_out), jnp.sin(t_out)], axis=1),
        jnp.stack([1.0 - jnp.cos(t_in), 0.5 - jnp.sin(t_in)], axis=1),
    ]).astype(jnp.float32)
    y = jnp.concatenate([-jnp.ones(n_out), jnp.ones(n_in)]).astype(jnp.float32)
    k_noise, k_perm = jax.random.split(key)
    x = x + noise * jax.random.normal(k_noise, x.shape, jnp.float32)
    order = jax.random.permutation(k_perm, n)
    return x[order], y[order]


def starvation_moons(
    key: jax.Array, n: int = 300, noise: float = 0.1, margin: float = 0.1
) -> tuple[jax.Array, jax.Array]:
    """The two-moons task of Pezeshki et al. (2021, Fig. 1): linearly separable along x1.

    Starting from :func:`two_moons`, the construction of the paper's code: shift both moons
    by -0.5 along the first axis and each class by ``-0.3 y`` along the second; centre the
    second coordinate; reflect every point whose second coordinate has the wrong sign for its
    class (so class +1 lies below zero and class -1 above); push the classes apart by
    ``margin`` each (a gap of ``2 margin``; a negative margin makes them overlap); finally
    swap the two axes. In the result, the first coordinate ``x1`` separates the classes with a
    linear boundary at ``x1 = 0`` (class +1 at ``x1 < -margin``, class -1 at
    ``x1 > margin``); the second coordinate ``x2`` carries the rest of the moon shape.

    Returns:
      ``x`` (n, 2) float32 and ``y`` (n,) float32 in {-1, +1}.
    """
    x, y = two_moons(key, n, noise)
    vertical = x[:, 1] - 0.3 * y
    vertical = vertical - jnp.mean(vertical)
    vertical = jnp.abs(vertical) * -y          # class +1 below zero, class -1 above
    vertical = vertical - margin * y
    horizontal = x[:, 0] - 0.5
    return jnp.stack([vertical, horizontal], axis=1), y


def neutralize_feature(x: jax.Array, y: jax.Array, column: int = 0) -> jax.Array:
    """Shift each class along ``column`` so that both classes have mean 0 there.

    The class-conditional means of that coordinate then coincide, so a linear read-out of it
    (``sign(x[:, column])`` or any threshold near the middle) tells the classes apart about
    as well as a coin; the shape of each class (e.g. each moon) is kept.
    """
    col = x[:, column]
    means = {c: jnp.sum(jnp.where(y == c, col, 0.0)) / jnp.maximum(jnp.sum(y == c), 1) for c in (-1.0, 1.0)}
    shifted = col - jnp.where(y > 0, means[1.0], means[-1.0])
    return x.at[:, column].set(shifted)


def permute_feature(key: jax.Array, x: jax.Array, column: int = 0) -> jax.Array:
    """Shuffle one coordinate across the rows: it keeps its distribution but is independent of the label."""
    return x.at[:, column].set(jax.random.permutation(key, x[:, column]))


def init_torch_mlp(key: jax.Array, sizes: tuple[int, ...]) -> Params:
    """MLP parameters in :mod:`cgnb.engine.nets` format with PyTorch's ``nn.Linear`` default init.

    Every weight and bias of a layer with ``fan_in`` inputs is uniform in
    ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]`` (the non-zero biases matter in 2-D: they let the
    ReLU kinks sit anywhere in the plane, not only through the origin).
    """
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list at least an input and an output width, all >= 1; got {sizes}")
    params = []
    for k, d_in, d_out in zip(jax.random.split(key, len(sizes) - 1), sizes[:-1], sizes[1:]):
        k_w, k_b = jax.random.split(k)
        bound = 1.0 / np.sqrt(d_in)
        params.append({"w": jax.random.uniform(k_w, (d_in, d_out), jnp.float32, -bound, bound),
                       "b": jax.random.uniform(k_b, (d_out,), jnp.float32, -bound, bound)})
    return params


def apply_mlp(params: Params, x: jax.Array, key: jax.Array | None = None, *,
              dropout_rate: float = 0.0) -> jax.Array:
    """One logit per example from a :mod:`cgnb.engine.nets` MLP with one output: (B, D) -> (B,).

    Dropout (inverted, on the hidden units) is on when ``dropout_rate > 0`` and a ``key`` is
    given. Dropping a unit after its ReLU is the same as dropping its pre-activation before
    it (the paper's placement), since ``relu(m z / q) = m relu(z) / q`` for a 0/1 mask ``m``.
    """
    return nets.forward(params, x, dropout_rate=dropout_rate, key=key)[:, 0]


def spectral_decoupling(logits: jax.Array, coef: float) -> jax.Array:
    """Spectral Decoupling penalty ``coef * mean(logits ** 2)`` (scalar), Pezeshki et al. (2021)."""
    return coef * jnp.mean(logits**2)


def grid_points(lim: float = 2.0, n: int = 100) -> tuple[np.ndarray, jax.Array]:
    """An ``n x n`` grid over ``[-lim, lim]^2``: the axis (n,) and the points (n * n, 2), row-major in x2.

    ``logits.reshape(n, n)`` of a model applied to the points has row ``i`` at ``x2 = axis[i]``
    and column ``j`` at ``x1 = axis[j]``, as ``plt.contour(axis, axis, logits)`` expects.
    """
    if n < 2 or lim <= 0:
        raise ValueError(f"need n >= 2 and lim > 0, got n={n}, lim={lim}")
    axis = np.linspace(-lim, lim, n, dtype=np.float32)
    g1, g2 = np.meshgrid(axis, axis)
    return axis, jnp.asarray(np.stack([g1.ravel(), g2.ravel()], axis=1))



# ----------------------------------------------------------------------------- training

class SDHistory(NamedTuple):
    """What :func:`train_with_sd` recorded, one row per chunk of ``record_every`` steps.

    Attributes:
      dose: (C, 2) summed squared gradient of each input's first-layer weights over each chunk.
      loss: (C,) training objective at the last step of each chunk (before that step's update).
      tracked: ``track(params)`` after each chunk, leading axis C.
      steps: (C,) number of steps done at the end of each chunk.
    """

    dose: jax.Array
    loss: jax.Array
    tracked: Any
    steps: jax.Array


def train_with_sd(params: Params, apply_fn: Callable[..., jax.Array], x: jax.Array, y: jax.Array, *,
                  optimizer: optax.GradientTransformation, steps: int, record_every: int,
                  sd_coef: float | jax.Array = 0.0, key: jax.Array | None = None,
                  track: Callable[[Params], Any] | None = None) -> tuple[Params, SDHistory]:
    """Full-batch training of an MLP on the logistic loss + :func:`spectral_decoupling`, on :func:`cgnb.engine.loop.train`.

    Each step descends ``mean(losses.logistic(logits, y)) + sd_coef * mean(logits ** 2)`` with
    ``logits = apply_fn(params, x (N, D), key_t)`` (N,), through ``optimizer``; the step probe
    records each input's dose ``sum_t ||dL_t / dW_1[i, :]||^2`` (summed per chunk), ``track`` is
    the record probe. ``key`` (dropout) is split into one key per step; ``None`` passes None.
    Pure: jit it and ``vmap`` it (``sd_coef`` may be traced).

    Returns:
      The final parameters and an :class:`SDHistory` with ``steps // record_every`` rows.
    """
    keys = None if key is None else jax.random.split(key, steps)

    def gradient(p, xb, yb, k):
        def objective(p):
            logits = apply_fn(p, xb, k)
            return jnp.mean(losses.logistic(logits, yb)) + spectral_decoupling(logits, sd_coef)
        return jax.value_and_grad(objective)(p)

    def dose_and_loss(p, grads, loss):
        return jnp.sum(grads[0]["w"] ** 2, axis=1), loss

    trace = loop.train(gradient, optimizer, params, x, y, steps=steps, record_every=record_every, keys=keys,
                       step_probe=dose_and_loss,
                       block_reduce=lambda block: (jnp.sum(block[0], axis=0), block[1][-1]),
                       record_probe=track or (lambda p: jnp.zeros(())))
    dose, loss = trace.step_values
    chunks = steps // record_every
    return trace.params, SDHistory(dose, loss, trace.records, record_every * jnp.arange(1, chunks + 1))


def moons_run(seed: int | jax.Array, sd: float | jax.Array, wd: float | jax.Array, *, n_train: int, n_test: int,
              noise: float, margin: float, hidden: int, lr: float, momentum: float, n_steps: int, chunks: int,
              drop: float = 0.0) -> tuple[Params, SDHistory]:
    """One seed of one variant of the chapter: a (2, hidden, 1) MLP on :func:`moons_task`.

    The network (:func:`init_torch_mlp`, PRNG key ``seed``) is trained by :func:`train_with_sd`
    for ``n_steps`` steps in ``chunks`` records, with SD coefficient ``sd`` and
    :func:`cgnb.engine.trainer.torch_style_sgd` ``(lr, momentum, weight_decay=wd)``; dropout
    ``drop`` on the hidden units (its keys from PRNG key ``10_000 + seed``). ``tracked`` is the
    accuracy on the x1-neutralized test set (C,). ``seed``, ``sd`` and ``wd`` may be traced (vmap).
    """
    d = moons_task(seed, n_train, n_test, noise, margin)
    params = init_torch_mlp(jax.random.PRNGKey(seed), (2, hidden, 1))
    apply = functools.partial(apply_mlp, dropout_rate=drop)
    track = lambda p: losses.binary_accuracy(apply_mlp(p, d["x_neutral"]), d["y_test"])
    return train_with_sd(params, apply, d["x"], d["y"], optimizer=torch_style_sgd(lr, momentum=momentum, weight_decay=wd),
                         steps=n_steps, record_every=n_steps // chunks, sd_coef=sd,
                         key=jax.random.PRNGKey(10_000 + seed) if drop > 0 else None, track=track)


# ----------------------------------------------------------------------------- the chapter's task and figures

SET_LABELS = {"x": "training set", "x_neutral": "test: x1 neutralized", "x_permuted": "test: x1 shuffled"}


def moons_task(seed: int | jax.Array, n_train: int, n_test: int, noise: float, margin: float) -> dict[str, jax.Array]:
    """One seed's data: training set, i.i.d. test set, and the two test sets without the linear feature.

    Keys ``x`` (n_train, 2), ``y`` (n_train,), ``x_test`` (n_test, 2), ``y_test`` (n_test,),
    ``x_neutral`` (:func:`neutralize_feature` of the test set) and ``x_permuted``
    (:func:`permute_feature`), both (n_test, 2). ``seed`` may be traced (vmap over seeds).
    """
    k_train, k_test, k_perm = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 1), 3)
    x, y = starvation_moons(k_train, n_train, noise, margin)
    x_test, y_test = starvation_moons(k_test, n_test, noise, margin)
    return {"x": x, "y": y, "x_test": x_test, "y_test": y_test,
            "x_neutral": neutralize_feature(x_test, y_test, 0),
            "x_permuted": permute_feature(k_perm, x_test, 0)}


def accuracies(params: Params, data: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Accuracy (scalars) of an MLP on a :func:`moons_task`'s train, test, neutralized and x1-shuffled sets."""
    def acc(x, y):
        return losses.binary_accuracy(apply_mlp(params, x), y)
    return {"train": acc(data["x"], data["y"]), "test": acc(data["x_test"], data["y_test"]),
            "neutralized": acc(data["x_neutral"], data["y_test"]), "x1 shuffled": acc(data["x_permuted"], data["y_test"])}


def _scatter_classes(ax, x: np.ndarray, y: np.ndarray, size: float = 3.0, labels: bool = False) -> None:
    for c, color, label in [(1.0, "C0", "class +1"), (-1.0, "C3", "class -1")]:
        ax.scatter(x[y == c, 0], x[y == c, 1], s=size, color=color, label=label if labels else None)


def plot_task_sets(data: dict[str, jax.Array]):
    """The training set and the two test sets without the linear feature, side by side; returns the figure."""
    fig, axes = plots.grid(1, 3, size=(3.3, 3.2))
    for ax, name in zip(axes[0], SET_LABELS):
        x, y = np.asarray(data[name]), np.asarray(data["y" if name == "x" else "y_test"])
        _scatter_classes(ax, x, y, size=4, labels=True)
        ax.set_xlim(-2, 2); ax.set_ylim(-2, 2)
        plots.label(ax, "$x_1$ (linear feature)", "$x_2$", SET_LABELS[name])
    axes[0, 0].legend(fontsize=8, loc="lower right")
    return fig


def plot_boundaries(params: dict[str, Params], data: dict[str, jax.Array], neutralized: dict[str, np.ndarray],
                    lim: float = 2.0, n: int = 100):
    """Decision boundaries of each variant (columns) over the training set and the neutralized test set (rows).

    ``params[name]`` holds one MLP per seed (leading axis S); the mean logit is shaded (a colour
    bar per top panel), each seed's boundary is thin and the mean's thick. ``neutralized[name]``
    (S,) are the neutralized test accuracies, named with their mean ± std in every panel's title.
    Returns the figure.
    """
    axis, points = grid_points(lim, n)
    names = list(params)
    fig, axes = plots.grid(2, len(names), size=(2.9, 2.8))
    for j, name in enumerate(names):
        logits = np.asarray(jax.vmap(lambda p: apply_mlp(p, points))(params[name]))
        logits = logits.reshape(-1, len(axis), len(axis))
        mean_logit = logits.mean(0)
        for row, set_name in enumerate(["x", "x_neutral"]):
            ax = axes[row, j]
            x = np.asarray(data[set_name]); y = np.asarray(data["y" if set_name == "x" else "y_test"])[: len(x)]
            if row == 0:
                top = np.abs(mean_logit).max()
                shade = ax.contourf(axis, axis, mean_logit, 20, cmap="RdBu", vmin=-top, vmax=top, alpha=0.8)
                fig.colorbar(shade, ax=ax, label=f"logit (mean of {len(logits)} seeds)", shrink=0.85)
            for seed_logit in logits:
                ax.contour(axis, axis, seed_logit, [0.0], colors="k", linewidths=0.6, alpha=0.5)
            ax.contour(axis, axis, mean_logit, [0.0], colors="k", linewidths=1.8)
            show = slice(None) if row == 0 else slice(0, 400)
            _scatter_classes(ax, x[show], y[show])
            acc = neutralized[name]
            where = "training set" if row == 0 else "neutralized test set"
            plots.label(ax, "$x_1$", "$x_2$", f"{name} ({where})\nneutralized acc. {acc.mean():.3f} ± {acc.std():.3f}")
    return fig


def plot_reliance(neutralized: dict[str, np.ndarray], histories: dict, steps: int, linear_alone: float):
    """Left: neutralized test accuracy per variant (bar = mean, dots = seeds); right: over training.

    ``neutralized[name]`` (S,); ``histories[name]`` has ``steps`` (S, R) and ``tracked`` (S, R),
    the neutralized accuracy recorded during training; ``linear_alone`` is the accuracy of
    ``sign(-x1)`` on the neutralized set. Returns the figure.
    """
    names = list(neutralized)
    colors = plots.colors(len(names), "tab10")
    fig, axes = plots.grid(1, 2, size=(4.4, 3.2))
    ax = axes[0, 0]
    for j, name in enumerate(names):
        seeds = len(neutralized[name])
        ax.bar(j, neutralized[name].mean(), color=colors[j], alpha=0.6)
        ax.scatter(np.full(seeds, j) + np.linspace(-0.2, 0.2, seeds), neutralized[name], color="k", s=10, zorder=3)
    ax.axhline(0.5, color="grey", ls=":", lw=1, label="chance")
    ax.axhline(linear_alone, color="k", ls="--", lw=1, label="sign of $x_1$ alone")
    ax.set_xticks(range(len(names)), names, rotation=25, ha="right"); ax.set_ylim(0.4, 1.0)
    plots.label(ax, "", "accuracy on the neutralized test set", "which feature is used")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    for name, color in zip(names, colors):
        h = histories[name]
        plots.band(ax, np.asarray(h.steps[0]) / steps, np.asarray(h.tracked), label=name, color=color)
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set_xscale("log")
    plots.label(ax, f"training steps / {steps}", "neutralized test accuracy", "over training")
    ax.legend(fontsize=8)
    return fig


def plot_dose_per_input(histories: dict):
    """Cumulative dose of x1 and x2 (left) and their ratio (right) over training, per variant.

    ``histories[name]`` has ``steps`` (S, R) and ``dose`` (S, R, 2). Returns the figure.
    """
    fig, axes = plots.grid(1, 2, size=(4.4, 3.2))
    for name, color in zip(histories, ["C0", "C1", "C2", "C4", "C5"]):
        h = histories[name]
        x_axis = np.asarray(h.steps[0])
        cum = np.cumsum(np.asarray(h.dose), axis=1)          # (seed, record, input)
        plots.band(axes[0, 0], x_axis, cum[..., 0], label=f"{name}: $x_1$", color=color)
        plots.band(axes[0, 0], x_axis, cum[..., 1], label=f"{name}: $x_2$", color=color, ls="--")
        plots.band(axes[0, 1], x_axis, cum[..., 1] / cum[..., 0], label=name, color=color)
    axes[0, 0].set_xscale("log"); axes[0, 1].set_xscale("log")
    plots.label(axes[0, 0], "training step", "cumulative dose $D_{x_i}$", "dose per input")
    plots.label(axes[0, 1], "training step", "dose ratio $D_{x_2} / D_{x_1}$", "share of the moon coordinate")
    axes[0, 0].legend(fontsize=8, loc="center right"); axes[0, 1].legend(fontsize=8)
    return fig
