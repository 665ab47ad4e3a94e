"""scratchnet.datasets.digits: the 8x8 digits loader over a gzipped CSV."""

from __future__ import annotations

import gzip

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
