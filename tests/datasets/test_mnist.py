"""scratchnet.datasets.mnist: the MNIST / Fashion-MNIST loaders over IDX files and the offline fallback."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from dataset_files import register

from scratchnet.datasets._fetch import DatasetNotFoundError
from scratchnet.datasets.idx import IDXFormatError, write_idx
from scratchnet.datasets.mnist import (
    load_fashion_mnist,
    load_mnist,
    load_mnist_5k,
    load_mnist_with_fallback,
)


def _make_mnist_dir(root: Path, folder: str, n: int, monkeypatch, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = {}
    for prefix in ("train", "t10k"):
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        (root / folder).mkdir(parents=True, exist_ok=True)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{folder}/{prefix}-{kind}-ubyte.gz"
            write_idx(root / name, arr)
            register(monkeypatch, name, root / name)
        out[prefix] = (images, labels)
    return out


@pytest.mark.parametrize("loader, folder", [(load_mnist, "mnist"), (load_fashion_mnist, "fashion-mnist")])
def test_idx_loaders_from_data_dir(tmp_path, monkeypatch, loader, folder):
    truth = _make_mnist_dir(tmp_path / "data", folder, 12, monkeypatch)
    ds = loader("test", data_dir=tmp_path / "data")
    assert ds.source == "data_dir" and ds.x.dtype == np.uint8 and ds.x.shape == (12, 28, 28)
    assert ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.x, truth["t10k"][0])
    np.testing.assert_array_equal(ds.y, truth["t10k"][1])
    x, y = loader("train", flatten=True, normalize=True, one_hot=True, data_dir=tmp_path / "data")
    assert x.shape == (12, 784) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    np.testing.assert_allclose(x * 255, truth["train"][0].reshape(12, -1), atol=1e-3)
    assert y.shape == (12, 10) and np.array_equal(y.argmax(1), truth["train"][1])
    with pytest.raises(ValueError, match="kind"):
        loader("validation", data_dir=tmp_path / "data")


def test_env_var_data_dir_and_label_count_mismatch(tmp_path, monkeypatch):
    _make_mnist_dir(tmp_path / "d", "mnist", 5, monkeypatch)
    write_idx(tmp_path / "d/mnist/t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    register(monkeypatch, "mnist/t10k-labels-idx1-ubyte.gz", tmp_path / "d/mnist/t10k-labels-idx1-ubyte.gz")
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "d"))
    assert load_mnist("train").source == "data_dir"
    with pytest.raises(IDXFormatError, match="t10k-labels.*expected 5 labels.*found 4"):
        load_mnist("test")


def test_full_mnist_offline_falls_back_to_subset():
    train, test = load_mnist_with_fallback(flatten=True, normalize=True, test_size=500, seed=1)
    assert train.name == "mnist_5k-train" and train.source == "embedded"
    assert train.x.shape == (4500, 784) and test.x.shape == (500, 784) and test.y.shape == (500,)
    with pytest.raises(DatasetNotFoundError, match="mnist/train-images-idx3-ubyte.gz"):
        load_mnist("train")


def test_idx_loader_refuses_labels_of_another_type(tmp_path, monkeypatch):
    _make_mnist_dir(tmp_path / "d", "mnist", 4, monkeypatch)
    name = "mnist/t10k-labels-idx1-ubyte.gz"
    write_idx(tmp_path / "d" / name, np.array([0, -1, 2, 3], np.int8))  # -1 passed a "max() <= 9" check
    register(monkeypatch, name, tmp_path / "d" / name)
    with pytest.raises(IDXFormatError, match="t10k-labels.*expected uint8 labels, found dtype int8"):
        load_mnist("test", data_dir=tmp_path / "d")


def _csv_gz(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    rows = [",".join(map(str, [*img.ravel(), lab])) for img, lab in zip(images, labels)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    return path


@pytest.mark.parametrize("loader, folder", [(load_mnist, "mnist"), (load_fashion_mnist, "fashion-mnist")])
def test_idx_loaders_as_images_give_nchw_float32(tmp_path, monkeypatch, loader, folder):
    truth = _make_mnist_dir(tmp_path / "data", folder, 6, monkeypatch)
    default = loader("test", data_dir=tmp_path / "data")  # the default is unchanged
    assert default.x.dtype == np.uint8 and default.x.shape == (6, 28, 28)
    ds = loader("test", data_dir=tmp_path / "data", as_images=True)
    assert ds.x.shape == (6, 1, 28, 28) and ds.x.dtype == np.float32
    assert ds.x.min() >= 0 and ds.x.max() <= 1 and ds.x.flags.c_contiguous
    np.testing.assert_array_equal(ds.x[:, 0], truth["t10k"][0].astype(np.float32) / np.float32(255))
    assert ds.y.dtype == np.int64 and ds.y.shape == (6,)
    # normalize and one_hot combine with it; normalize changes nothing (already in [0, 1])
    x, y = loader("train", normalize=True, one_hot=True, data_dir=tmp_path / "data", as_images=True)
    assert x.shape == (6, 1, 28, 28) and x.dtype == np.float32 and y.shape == (6, 10)


@pytest.mark.parametrize("loader", [load_mnist, load_fashion_mnist, load_mnist_5k, load_mnist_with_fallback])
def test_as_images_refuses_flatten_and_non_bools_before_reading_anything(tmp_path, loader):
    empty = tmp_path / "nothing-here"  # no file at all: the argument error must come first
    with pytest.raises(ValueError, match=r"as_images=True returns \(N, C, H, W\).*flatten=True"):
        loader(flatten=True, as_images=True, data_dir=empty)
    with pytest.raises(TypeError, match="as_images must be True or False, got 'yes'"):
        loader(as_images="yes", data_dir=empty)


def test_mnist_5k_and_fallback_as_images_from_a_small_csv(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, 5)
    path = _csv_gz(tmp_path / "data" / "mnist_5k.csv.gz", images, labels)
    register(monkeypatch, "mnist_5k.csv.gz", path)
    plain = load_mnist_5k(data_dir=tmp_path / "data")
    assert plain.source == "data_dir" and plain.x.dtype == np.uint8 and plain.x.shape == (5, 28, 28)
    ds = load_mnist_5k(data_dir=tmp_path / "data", as_images=True)
    assert ds.x.shape == (5, 1, 28, 28) and ds.x.dtype == np.float32
    np.testing.assert_allclose(ds.x[:, 0] * 255, images, atol=1e-4)
    assert ds.y.tolist() == labels.tolist() and ds.y.dtype == np.int64
    # no full MNIST in the data dir: the fallback splits the subset, as images too
    train, test = load_mnist_with_fallback(test_size=2, data_dir=tmp_path / "data", as_images=True)
    assert (
        train.name == "mnist_5k-train" and train.x.shape == (3, 1, 28, 28) and test.x.shape == (2, 1, 28, 28)
    )
    assert train.x.dtype == test.x.dtype == np.float32


def test_fallback_with_full_mnist_as_images(tmp_path, monkeypatch):
    _make_mnist_dir(tmp_path / "data", "mnist", 4, monkeypatch)
    train, test = load_mnist_with_fallback(data_dir=tmp_path / "data", as_images=True)
    assert train.name == "mnist-train" and train.x.shape == test.x.shape == (4, 1, 28, 28)
    assert train.x.dtype == np.float32


def test_dataset_repr_is_a_short_summary(tmp_path, monkeypatch):
    _make_mnist_dir(tmp_path / "data", "mnist", 3, monkeypatch)
    ds = load_mnist("test", flatten=True, normalize=True, data_dir=tmp_path / "data")
    assert repr(ds) == "Dataset('mnist-test', x=(3, 784) float32, y=(3,) int64, source='data_dir')"
