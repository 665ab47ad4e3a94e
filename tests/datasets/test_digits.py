"""scratchnet.datasets.digits: the 8x8 digits loader over a gzipped CSV."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from dataset_files import register

from scratchnet.datasets.digits import load_digits
from scratchnet.datasets.errors import DatasetFormatError


def test_corrupt_gzip_csv_is_a_format_error(tmp_path, monkeypatch):
    d = tmp_path / "data"
    d.mkdir()
    (d / "digits.csv.gz").write_bytes(gzip.compress(b"0,1,2,3\n" * 3)[:-6])  # truncated, but "verified"
    register(monkeypatch, "digits.csv.gz", d / "digits.csv.gz")
    with pytest.raises(DatasetFormatError, match="digits.csv.gz: expected a complete gzip stream"):
        load_digits(data_dir=d)


def test_digits_as_images_from_a_small_csv(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 17, (4, 8, 8))
    labels = rng.integers(0, 10, 4)
    rows = [",".join(map(str, [*img.ravel(), lab])) for img, lab in zip(images, labels)]
    d = tmp_path / "data"
    d.mkdir()
    (d / "digits.csv.gz").write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    register(monkeypatch, "digits.csv.gz", d / "digits.csv.gz")
    plain = load_digits(data_dir=d)  # the default is unchanged
    assert plain.source == "data_dir" and plain.x.dtype == np.uint8 and plain.x.shape == (4, 8, 8)
    x, y = load_digits(data_dir=d, as_images=True)
    assert x.shape == (4, 1, 8, 8) and x.dtype == np.float32 and x.max() <= 1 and x.min() >= 0
    np.testing.assert_array_equal(x[:, 0], images.astype(np.float32) / np.float32(16))  # 0..16 -> [0, 1]
    assert y.dtype == np.int64 and y.tolist() == labels.tolist()
    assert load_digits(data_dir=d, flatten=True, normalize=True).x.shape == (4, 64)
    with pytest.raises(ValueError, match="load_digits: as_images=True .* flatten=True"):
        load_digits(data_dir=d, flatten=True, as_images=True)
