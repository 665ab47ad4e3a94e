"""scratchnet.datasets.base: the image-CSV parser the digit loaders share.

(Not test_base.py: tests/layers/test_base.py has that basename and the test folders have no __init__.py.)"""

from __future__ import annotations

import re

import numpy as np
import pytest

from scratchnet.datasets.base import parse_image_csv
from scratchnet.datasets.errors import DatasetFormatError


@pytest.mark.parametrize("label", ["1.7", "1e30", "nan", "inf", "-1", "10"])
def test_image_csv_labels_must_be_integers_0_to_9(label):
    images, labels = parse_image_csv(b"0,1,2,16,3\n" * 2, "d.csv", side=2, max_value=16)
    assert labels.tolist() == [3, 3] and images.max() == 16 and images.dtype == np.uint8
    with pytest.raises(
        DatasetFormatError, match=r"d\.csv: expected .*found " + re.escape(label.replace("e30", "e+30"))
    ):
        parse_image_csv(b"0,1,2,16,3\n0,1,2,16," + label.encode() + b"\n", "d.csv", side=2, max_value=16)
