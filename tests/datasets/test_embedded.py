"""scratchnet.datasets._embedded: the small copies bundled with the package that loaders fall back to."""

from __future__ import annotations

import logging

import numpy as np

from scratchnet.datasets import _embedded
from scratchnet.datasets.csv_sets import (
    load_breast_cancer,
    load_diabetes,
    load_iris,
    load_stock_daily,
    load_test_scores,
    load_zoo,
)
from scratchnet.datasets.digits import load_digits
from scratchnet.datasets.mnist import load_mnist_5k


def test_embedded_fallbacks(caplog):
    with caplog.at_level(logging.WARNING, logger="scratchnet.datasets"):
        mnist = load_mnist_5k(download=False)
    assert mnist.source == "embedded" and mnist.is_fallback and "falling back" in caplog.text
    assert mnist.x.shape == (5000, 28, 28) and mnist.x.dtype == np.uint8 and mnist.y.shape == (5000,)
    assert set(np.unique(mnist.y)) == set(range(10)) and mnist.x.max() == 255
    digits = load_digits(flatten=True, normalize=True)
    assert digits.source == "embedded" and digits.x.shape == (1797, 64) and digits.x.max() == 1.0
    iris = load_iris()
    assert iris.source == "embedded" and iris.x.shape == (150, 4) and np.bincount(iris.y).tolist() == [50] * 3
    assert iris.info["class_names"] == ("setosa", "versicolor", "virginica")
    expected = {
        load_breast_cancer: ((569, 30), (569,)),
        load_test_scores: ((25, 3), (25, 1)),
        load_diabetes: ((759, 8), (759, 1)),
        load_zoo: ((101, 16), (101,)),
        load_stock_daily: ((732, 5), (732, 1)),
    }
    for loader, (xs, ys) in expected.items():
        ds = loader()
        assert ds.source == "embedded" and ds.x.shape == xs and ds.y.shape == ys, loader.__name__


def test_embedded_size_is_small():
    total = sum(p.stat().st_size for p in _embedded.DATA_DIR.iterdir())
    assert total < 5 * 2**20
