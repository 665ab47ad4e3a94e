"""scratchnet.datasets._parse: the strict building blocks (decode_text, numeric_table, integer_table,
integer_values) behind the image-CSV and scikit-learn CSV parsers, through the refusals they report."""

from __future__ import annotations

import re

import pytest

from scratchnet.datasets.base import parse_image_csv
from scratchnet.datasets.csv_sets import parse_sklearn_csv
from scratchnet.datasets.errors import DatasetFormatError


@pytest.mark.parametrize(
    "raw, found",
    [
        (b"0,1,2,17,3\n", "pixel values as integers 0..16, found 17 at data row 0, column 3"),
        (b"0,-1,2,3,3\n", "found -1 at data row 0, column 1"),
        (b"0,1,nan,3,3\n", "finite numbers, found nan"),
        (b"0,1,2.5,3,3\n", "whole numbers, found 2.5"),
        (b"0,1,2,3\n", "5 columns, found 4"),
        (b"0,1,2,3,3\n0,1\n", "columns changed"),
        (b"0,1,\xff,3,3\n", "ascii text, found byte"),
        (b"\n \n", "no data rows"),
    ],
)
def test_image_csv_refuses_bad_pixels_shapes_and_bytes(raw, found):
    with pytest.raises(DatasetFormatError, match=re.escape(found)):
        parse_image_csv(raw, "d.csv", side=2, max_value=16)


def test_csv_features_must_be_finite_text():
    with pytest.raises(DatasetFormatError, match="finite numbers, found inf at data row 1, column 0"):
        parse_sklearn_csv(b"2,2,a,b\n1,2,0\ninf,4,1\n", "t.csv")
    with pytest.raises(DatasetFormatError, match=r"utf-8 text, found byte\(s\) b'\\xe9"):
        parse_sklearn_csv(b"2,2,caf\xe9,b\n1,2,0\n3,4,1\n", "t.csv")
    with pytest.raises(DatasetFormatError, match="n_samples"):
        parse_sklearn_csv(b"1e3,2\n", "t.csv")
