"""scratchnet.datasets.mnist: the MNIST / Fashion-MNIST loaders over IDX files and the offline fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dataset_files import register

from scratchnet.datasets._fetch import DatasetNotFoundError
from scratchnet.datasets.idx import IDXFormatError, write_idx
from scratchnet.datasets.mnist import load_fashion_mnist, load_mnist, load_mnist_with_fallback


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
