"""A small MLP, minibatch and made-up sweep shared by the chapter-5 tests."""
import jax
import numpy as np

from cgnb.engine import sweep

SIZES = (6, 5, 4, 3)


def batch(n=10, key=1):
    x = jax.random.uniform(jax.random.PRNGKey(key), (n, SIZES[0]))
    y = jax.random.randint(jax.random.PRNGKey(key + 1), (n,), 0, SIZES[-1])
    return x, y


def fake_result(eval_examples=None):
    steps = np.array([0, 10, 20])
    records = {"train_acc": np.array([[0.1, 0.5, 0.7], [0.1, 0.6, 0.9]]),
               "test_acc": np.array([[0.1, 0.4, 0.5], [0.1, 0.5, 0.6]]),
               "pristine_acc": np.zeros((2, 3)), "corrupt_acc": np.zeros((2, 3))}
    pristine = np.array([[True, True, False, False], [True, True, True, False]])
    config = sweep.SweepConfig(sizes=(4, 2), steps=20, record_every=10, method="winsorized", c_max=2,
                               eval_examples=eval_examples)
    return sweep.SweepResult(config, steps, records, np.zeros((2, 4), int), pristine,
                             noise=np.array([0.5, 0.5]), seed=np.array([0, 0]), c=np.array([0, 2]))
