"""scratchnet.datasets.csv_sets: the course and scikit-learn CSV tables and the values they refuse."""

from __future__ import annotations

import re

import numpy as np
import pytest
from dataset_files import register

from scratchnet.datasets.csv_sets import (
    load_diabetes,
    load_iris,
    load_stock_daily,
    load_test_scores,
    load_zoo,
    parse_sklearn_csv,
)
from scratchnet.datasets.errors import DatasetFormatError


def test_course_csv_parsers_from_files(tmp_path, monkeypatch):
    d = tmp_path / "data"
    d.mkdir()
    (d / "data-02-stock_daily.csv").write_text(
        "# source\n# Open,High,Low,Volume,Close\n3,4,2,100,3.5\n1,2,0.5,50,1.5\n"
    )
    (d / "data-04-zoo.csv").write_text("# header, with commas,,\n" + ",".join(["1"] * 16) + ",6\n")
    (d / "iris.csv").write_text("3,4,a,b\n1,2,3,4,0\n5,6,7,8,1\n")  # header promises 3 rows: truncated
    for name in ("data-02-stock_daily.csv", "data-04-zoo.csv", "iris.csv"):
        register(monkeypatch, name, d / name)
    stock = load_stock_daily(data_dir=d)
    assert stock.source == "data_dir" and stock.x[:, 0].tolist() == [1, 3]  # reversed to chronological
    assert stock.y[:, 0].tolist() == [1.5, 3.5]
    assert load_stock_daily(chronological=False, data_dir=d).x[0, 0] == 3
    zoo = load_zoo(data_dir=d, dtype=np.float64)
    assert zoo.x.shape == (1, 16) and zoo.x.dtype == np.float64 and zoo.y.tolist() == [6]
    with pytest.raises(DatasetFormatError, match="iris.csv: expected 3 rows .*found 2"):
        load_iris(data_dir=d)
    with pytest.raises(DatasetFormatError, match="n_samples"):
        parse_sklearn_csv(b"x,y\n1,2\n", "bad")


@pytest.mark.parametrize("label", ["1.7", "1e30", "nan", "inf", "-1", "3"])
def test_sklearn_csv_labels_are_class_indices_not_truncated(label):
    good = b"2,2,a,b,c\n1,2,0\n3,4,2\n"
    x, y, names = parse_sklearn_csv(good, "t.csv")
    assert y.tolist() == [0, 2] and names == ("a", "b", "c") and x.shape == (2, 2)
    with pytest.raises(
        DatasetFormatError, match=r"t\.csv: expected (class labels as integers 0\.\.2|finite)"
    ):
        parse_sklearn_csv(b"2,2,a,b,c\n1,2,0\n3,4," + label.encode() + b"\n", "t.csv")


@pytest.mark.parametrize(
    "loader, file, row, found",
    [
        (
            load_zoo,
            "data-04-zoo.csv",
            ",".join(["1"] * 16) + ",7",
            "animal classes as integers 0..6, found 7",
        ),
        (load_zoo, "data-04-zoo.csv", ",".join(["1"] * 16) + ",2.5", "found 2.5"),
        (load_diabetes, "data-03-diabetes.csv", ",".join(["0.1"] * 8) + ",0.5", "outcomes as integers 0..1"),
        (load_test_scores, "data-01-test-score.csv", "1,2,nan,4", "finite numbers, found nan"),
    ],
)
def test_course_csv_labels_and_values_checked(tmp_path, monkeypatch, loader, file, row, found):
    d = tmp_path / "data"
    d.mkdir()
    (d / file).write_text(row + "\n")
    register(monkeypatch, file, d / file)
    with pytest.raises(DatasetFormatError, match=re.escape(file) + ": expected .*" + re.escape(found)):
        loader(data_dir=d)
