"""scratchnet.datasets.base: the image-CSV parser the digit loaders share.

(Not test_base.py: tests/layers/test_base.py has that basename and the test folders have no __init__.py.)"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

from scratchnet import datasets
from scratchnet.datasets.base import Dataset, image_features, parse_image_csv
from scratchnet.datasets.errors import DatasetFormatError


@pytest.mark.parametrize("label", ["1.7", "1e30", "nan", "inf", "-1", "10"])
def test_image_csv_labels_must_be_integers_0_to_9(label):
    images, labels = parse_image_csv(b"0,1,2,16,3\n" * 2, "d.csv", side=2, max_value=16)
    assert labels.tolist() == [3, 3] and images.max() == 16 and images.dtype == np.uint8
    with pytest.raises(
        DatasetFormatError, match=r"d\.csv: expected .*found " + re.escape(label.replace("e30", "e+30"))
    ):
        parse_image_csv(b"0,1,2,16,3\n0,1,2,16," + label.encode() + b"\n", "d.csv", side=2, max_value=16)


def test_image_features_as_images_adds_a_channel_axis_and_scales():
    gray = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = image_features(gray, as_images=True)
    assert out.shape == (2, 1, 3, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], gray / np.float32(255))
    color = np.full((2, 3, 4, 4), 16, np.uint8)  # already (N, C, H, W): kept
    out = image_features(color, as_images=True, max_value=16.0)
    assert out.shape == (2, 3, 4, 4) and out.dtype == np.float32 and np.all(out == 1)
    assert image_features(gray) is gray  # defaults unchanged: no copy, no cast
    assert image_features(gray, flatten=True).shape == (2, 12)
    with pytest.raises(ValueError, match="flatten"):
        image_features(gray, flatten=True, as_images=True)


def test_dataset_repr_without_targets():
    ds = Dataset(np.zeros((100_000, 20), np.float32), None, "big", "memory")
    assert repr(ds) == "Dataset('big', x=(100000, 20) float32, y=None, source='memory')"


IMAGE_LOADERS = [
    "load_mnist",
    "load_fashion_mnist",
    "load_mnist_5k",
    "load_mnist_with_fallback",
    "load_digits",
]


@pytest.mark.parametrize("name", [n for n in datasets.__all__ if n.startswith("load_")])
def test_every_loader_states_shapes_and_dtypes(name):
    loader = getattr(datasets, name)
    doc = inspect.getdoc(loader) or ""
    assert re.search(r"\(\w[\w ,=]*\)", doc), f"{name}: no shape in the docstring"
    assert re.search(r"int64|float32|uint8|``dtype``", doc), f"{name}: no dtype in the docstring"
    if name in IMAGE_LOADERS + ["load_cifar10"]:
        param = inspect.signature(loader).parameters["as_images"]
        assert param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is False
        assert "as_images=True" in doc and "float32" in doc
