"""A small MLP, minibatch, made-up sweep and made-up runs shared by the chapter-5 tests."""
import math

import jax
import numpy as np

from cgnb.chapters.winsorized_sgd import measures, setting
from cgnb.engine import sweep

SIZES = (6, 5, 4, 3)
STEPS = np.arange(0, 2100, 100)


def batch(n=10, key=1):
    x = jax.random.uniform(jax.random.PRNGKey(key), (n, SIZES[0]))
    y = jax.random.randint(jax.random.PRNGKey(key + 1), (n,), 0, SIZES[-1])
    return x, y


def fake_result(eval_examples=None):
    steps = np.array([0, 10, 20])
    records = {"train_acc": np.array([[0.1, 0.5, 0.7], [0.1, 0.6, 0.9]]),
               "test_acc": np.array([[0.1, 0.4, 0.5], [0.1, 0.5, 0.6]]),
               "train_loss": np.array([[2.3, 1.5, 1.0], [2.3, 1.2, 0.5]]),
               "pristine_acc": np.zeros((2, 3)), "corrupt_acc": np.zeros((2, 3))}
    pristine = np.array([[True, True, False, False], [True, True, True, False]])
    config = sweep.SweepConfig(sizes=(4, 2), steps=20, record_every=10, method="winsorized", c_max=2,
                               eval_examples=eval_examples)
    return sweep.SweepResult(config, steps, records, np.zeros((2, 4), int), pristine,
                             noise=np.array([0.5, 0.5]), seed=np.array([0, 0]), c=np.array([0, 2]))


def curve(c, noise, seed, *, peak=0.9, end=None, memorized=0.0, norm=5.0, collapse=False, model=True):
    """A made-up run: accuracy rising to ``peak`` (then down to ``end``), ``memorized`` of the corrupt labels
    fitted beyond chance at the end, the output layer's weight norm ending at ``norm``; ``collapse``: the
    network ends at a constant output (loss ln 10, accuracy 0.1)."""
    t = STEPS / STEPS[-1]
    rise = 0.1 + (peak - 0.1) * np.minimum(1.0, 5 * t)
    end = peak if end is None else end
    test = np.where(t < 0.5, rise, peak + (end - peak) * (t - 0.5) / 0.5)
    pristine = test + 0.01 * seed
    chance = (1 - test) / 9
    corrupt = chance + memorized * t
    proper = 1 - noise + noise / 10
    train = (1 - noise) * pristine + noise * corrupt
    loss = 2.3 - 1.5 * (train - 0.1)
    if collapse:
        train, test, pristine = (np.where(t > 0.7, 0.1, a) for a in (train, test, pristine))
        loss = np.where(t > 0.7, math.log(10), loss)
    L = len(SIZES) - 1
    weight_norm = np.stack([np.linspace(1, norm if k == L - 1 else 2, len(t)) for k in range(L)], axis=1)
    return measures.VariantCurves(
        steps=STEPS, train_acc=train, test_acc=test, pristine_acc=pristine, corrupt_acc=corrupt,
        overfit=measures.overfit(train, test, noise), noise=noise, c=c, proper=proper, seed=seed,
        epochs=STEPS / 100, train_loss=loss, weight_norm=weight_norm if model else None,
        logit_spread=np.linspace(1, 3 * norm, len(t)) if model else None,
        dead_units=np.zeros((len(t), L - 1)) if model else None)


TINY_SETTING = setting.Setting(source="embedded", n_train=4000, n_test=1000, hidden=(5, 4), steps=2000,
                               record_every=100, noise_levels=(0.0, 0.25, 0.5), cs=(0, 1, 4),
                               claim_levels=(0.25, 0.5), seeds=(0, 1, 2))


def fake_run(name="quick", ledger=None, *, model=True, control=True, collapse=(4, 0.25)):
    """A made-up :class:`setting.Shown`: plain SGD memorizes, c = 1 memorizes a little, c = 4 memorizes nothing,
    peaks and declines, its output weights grow; the cell ``collapse`` collapses in seed 1."""
    s = TINY_SETTING
    grid = {}
    for c in s.cs:
        for noise in s.noise_levels:
            seeds = s.seeds if noise in s.claim_levels else s.seeds[:1]
            grid[(c, noise)] = [curve(c, noise, seed, memorized={0: 0.6, 1: 0.2, 4: 0.0}[c],
                                      end=0.6 if c == 4 else None, norm=5.0 * (1 + c), model=model,
                                      collapse=(c, noise) == collapse and seed == 1) for seed in seeds]
    rm3 = {n: grid[(1, n)] for n in s.noise_levels}
    controls = {0.03: [curve(4, 0.25, seed, norm=6.0, model=model) for seed in s.seeds]} if control else {}
    return setting.Shown(name, f"{name} run", ledger, s, None, grid, rm3, controls)
