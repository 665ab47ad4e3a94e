"""UCI optical recognition of handwritten digits, 8x8 (the scikit-learn copy, 1,797 images).

``x``: uint8 ``(1797, 8, 8)`` with values 0..16; ``flatten=True`` -> ``(1797, 64)``; ``normalize=True`` -> float32
divided by 16. ``y``: int64 ``(1797,)`` classes 0..9 (``one_hot=True`` -> float32 ``(1797, 10)``).
"""

from __future__ import annotations

import gzip
import os

import numpy as np

from scratchnet.datasets._embedded import embedded_arrays
from scratchnet.datasets._fetch import DatasetNotFoundError, fetch
from scratchnet.datasets.base import Dataset, image_features, labels_out, report_fallback


def parse_digits_csv(raw: bytes, name: str = "digits csv") -> tuple[np.ndarray, np.ndarray]:
    """Rows of 64 values (0..16) then the label -> (uint8 (N, 8, 8), uint8 (N,))."""
    table = np.loadtxt(raw.decode("ascii").splitlines(), delimiter=",", dtype=np.float64, ndmin=2)
    if table.shape[1] != 65:
        raise ValueError(f"{name}: expected 65 columns (64 pixels + label), got {table.shape[1]}")
    if table.min() < 0 or table[:, :64].max() > 16 or table[:, 64].max() > 9:
        raise ValueError(f"{name}: pixel values must be 0..16 and labels 0..9")
    return table[:, :64].reshape(-1, 8, 8).astype(np.uint8), table[:, 64].astype(np.uint8)


def load_digits(
    flatten: bool = False,
    normalize: bool = False,
    one_hot: bool = False,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
) -> Dataset:
    """The 8x8 digits from ``digits.csv.gz``; falls back to the embedded copy (``source == "embedded"``)."""
    try:
        res = fetch("digits.csv.gz", data_dir, download)
        images, labels = parse_digits_csv(gzip.decompress(res.path.read_bytes()), str(res.path))
        source, path = res.source, str(res.path)
    except DatasetNotFoundError as err:
        report_fallback("digits", err)
        arrays = embedded_arrays("digits")
        images, labels, source, path = arrays["images"], arrays["labels"], "embedded", None
    x = image_features(images, flatten, normalize, max_value=16.0)
    return Dataset(x, labels_out(labels, one_hot), "digits", source, path)
