"""UCI optical recognition of handwritten digits, 8x8 (the scikit-learn copy, 1,797 images).

``x``: uint8 ``(1797, 8, 8)`` with values 0..16; ``flatten=True`` -> ``(1797, 64)``; ``normalize=True`` -> float32
divided by 16, in [0, 1]; ``as_images=True`` -> float32 ``(1797, 1, 8, 8)`` in [0, 1] for ``Conv2D``. ``y``: int64
``(1797,)`` classes 0..9 (``one_hot=True`` -> float32 ``(1797, 10)``).
"""

from __future__ import annotations

import os

import numpy as np

from scratchnet.datasets.base import (
    Dataset,
    check_as_images,
    image_features,
    labels_out,
    load_image_csv,
    parse_image_csv,
)


def parse_digits_csv(raw: bytes, name: str = "digits csv") -> tuple[np.ndarray, np.ndarray]:
    """Rows of 64 values (0..16) then the label -> (uint8 (N, 8, 8), uint8 (N,))."""
    return parse_image_csv(raw, name, side=8, max_value=16)


def load_digits(
    flatten: bool = False,
    normalize: bool = False,
    one_hot: bool = False,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
    *,
    as_images: bool = False,
) -> Dataset:
    """The 8x8 digits from ``digits.csv.gz``; falls back to the embedded copy (``source == "embedded"``).

    * ``x``: uint8 ``(N, 8, 8)``, N = 1,797, values 0..16; ``flatten=True``: ``(N, 64)``; ``normalize=True``:
      float32 divided by 16, in [0, 1]; ``as_images=True``: float32 ``(N, 1, 8, 8)`` in [0, 1], ready for
      ``Conv2D`` (not with ``flatten``);
    * ``y``: int64 ``(N,)``, classes 0..9; ``one_hot=True``: float32 ``(N, 10)``.
    """
    as_images = check_as_images("load_digits", as_images, flatten)
    images, labels, source, path = load_image_csv("digits.csv.gz", "digits", 8, 16, data_dir, download)
    x = image_features(images, flatten, normalize, max_value=16.0, as_images=as_images)
    return Dataset(x, labels_out(labels, one_hot), "digits", source, path)
