"""A stand-in for tensorflow-datasets' MNIST, for running the paper profile's data path offline.

Put ``tests/fakes`` first on ``PYTHONPATH`` (a notebook kernel inherits it) and
``cgnb.engine.data.load_tfds`` takes the path a Colab runtime takes once MNIST is prepared:
``tfds.builder("mnist", data_dir=...)`` finds prepared ``*.tfrecord*`` files, ``as_dataset(split,
batch_size=-1)`` returns every example as uint8 ``(N, 28, 28, 1)`` images and int64 labels, and
``as_numpy`` hands them over. The examples are real: Fashion-MNIST from Debian's
``dataset-fashion-mnist`` (the same 60,000 / 10,000 split sizes as MNIST), or, where that package is
missing, seeded uniform noise of the same shapes. TensorFlow, which ``tfds.testing.mock_data``
needs, is not used.
"""
from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path

import numpy as np

__version__ = "0+fake"
FASHION = Path("/usr/share/datasets/fashion-mnist")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
SIZES = {"train": 60_000, "test": 10_000}


def _idx(path: Path, header: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def _split(split: str) -> dict[str, np.ndarray]:
    images, labels = (FASHION / name for name in FILES[split])
    if images.is_file() and labels.is_file():
        return {"image": _idx(images, 16).reshape(-1, 28, 28, 1), "label": _idx(labels, 8).astype(np.int64)}
    rng = np.random.default_rng({"train": 0, "test": 1}[split])
    n = SIZES[split]
    return {"image": rng.integers(0, 256, size=(n, 28, 28, 1), dtype=np.uint8),
            "label": rng.integers(0, 10, size=n, dtype=np.int64)}


class _Builder:
    """``tfds.builder("mnist")``, already prepared in ``data_dir``."""

    def __init__(self, name: str, data_dir: str | None = None):
        if name != "mnist":
            raise ValueError(f"the fake tensorflow_datasets serves only 'mnist', not {name!r}")
        root = Path(data_dir or os.environ.get("CGNB_FAKE_TFDS_DIR") or Path(tempfile.gettempdir()) / "fake_tfds")
        self.data_dir = str(root / "mnist" / "3.0.1")
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        (Path(self.data_dir) / "mnist-train.tfrecord-00000-of-00001").touch()

    def download_and_prepare(self) -> None:
        """Prepared already: nothing to download."""

    def as_dataset(self, split: str, batch_size: int) -> dict[str, np.ndarray]:
        if batch_size != -1:
            raise ValueError("the fake serves whole splits only (batch_size=-1)")
        return _split(split)


def builder(name: str, data_dir: str | None = None) -> _Builder:
    return _Builder(name, data_dir)


def as_numpy(tree):
    return tree
