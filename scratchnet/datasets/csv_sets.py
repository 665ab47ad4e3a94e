"""Small tables: iris and breast cancer (scikit-learn copies) and the course CSVs (DeepLearningZeroToAll).

All fall back to the exact copies embedded in the package (``source == "embedded"``). Features are ``dtype``
(float32 by default); shapes:

============================  ==================  =====================================================
loader                        x                   y
============================  ==================  =====================================================
``load_iris``                 (150, 4)            int64 (150,), classes 0..2
``load_breast_cancer``        (569, 30)           int64 (569,), 0 = malignant, 1 = benign
``load_test_scores``          (25, 3)             (25, 1) final score (linear regression)
``load_diabetes``             (759, 8) in [-1,1]  (759, 1) 0/1 (logistic regression)
``load_zoo``                  (101, 16)           int64 (101,), classes 0..6
``load_stock_daily``          (732, 5)            (732, 1) Close; columns Open, High, Low, Volume, Close
============================  ==================  =====================================================
"""

from __future__ import annotations

import os

import numpy as np

from scratchnet.datasets._embedded import embedded_table
from scratchnet.datasets._fetch import DatasetNotFoundError, fetch
from scratchnet.datasets._parse import decode_text, integer_values, numeric_table
from scratchnet.datasets.base import Dataset, report_fallback
from scratchnet.datasets.errors import DatasetFormatError


def read_table(
    name: str, data_dir: str | os.PathLike | None = None, download: bool | None = None
) -> tuple[bytes, str, str | None]:
    """(bytes, source, path) of a registered CSV, from a verified file or else the embedded copy."""
    try:
        res = fetch(name, data_dir, download)
        return res.path.read_bytes(), res.source, str(res.path)
    except DatasetNotFoundError as err:
        raw = embedded_table(name)
        if raw is None:
            raise
        report_fallback(name, err)
        return raw, "embedded", None


def parse_numeric_csv(raw: bytes, name: str, n_cols: int | None = None) -> np.ndarray:
    """Comma-separated finite numbers, '#' lines skipped, as a float64 (rows, cols) array.

    Raises :class:`DatasetFormatError` for non-UTF-8 bytes, non-numbers, ragged rows, NaN/inf or a wrong number
    of columns.
    """
    text = decode_text(raw, name)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return numeric_table(lines, name, n_cols)


def parse_sklearn_csv(raw: bytes, name: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """scikit-learn's format: a header "n_samples,n_features,class names..." then feature columns and a label.

    Labels must be integers naming a class (0..len(class names)-1; any non-negative integer without names).
    """
    text = decode_text(raw, name)
    header, _, body = text.partition("\n")
    fields = header.strip().split(",")
    if len(fields) < 2 or not all(f.strip().isascii() and f.strip().isdigit() for f in fields[:2]):
        raise DatasetFormatError(name, "a header starting 'n_samples,n_features'", repr(header[:60]))
    n_samples, n_features = int(fields[0]), int(fields[1])
    table = parse_numeric_csv(body.encode("utf-8"), name, n_cols=n_features + 1)
    if table.shape[0] != n_samples:
        raise DatasetFormatError(
            name, f"{n_samples} rows (the header promises them)", f"{table.shape[0]} (truncated file?)"
        )
    names = tuple(f.strip() for f in fields[2:])
    top = len(names) - 1 if names else 2**53  # beyond 2**53 floats skip integers
    labels = integer_values(table[:, n_features], name, "class labels", 0, top)
    return table[:, :n_features], labels, names


def _sklearn_set(name: str, file: str, data_dir, download, dtype) -> Dataset:
    raw, source, path = read_table(file, data_dir, download)
    x, y, names = parse_sklearn_csv(raw, path or f"embedded {file}")
    return Dataset(x.astype(dtype), y, name, source, path, {"class_names": names})


def load_iris(
    data_dir: str | os.PathLike | None = None, download: bool | None = None, dtype: type = np.float32
) -> Dataset:
    """Fisher's iris: sepal length/width, petal length/width (cm); classes setosa, versicolor, virginica.

    ``x``: ``dtype`` (float32) ``(150, 4)``; ``y``: int64 ``(150,)``, classes 0..2 (``info["class_names"]``).
    """
    return _sklearn_set("iris", "iris.csv", data_dir, download, dtype)


def load_breast_cancer(
    data_dir: str | os.PathLike | None = None, download: bool | None = None, dtype: type = np.float32
) -> Dataset:
    """Wisconsin diagnostic breast cancer, 30 features; label 0 = malignant, 1 = benign.

    ``x``: ``dtype`` (float32) ``(569, 30)``; ``y``: int64 ``(569,)``, 0 or 1 (``info["class_names"]``).
    """
    return _sklearn_set("breast_cancer", "breast_cancer.csv", data_dir, download, dtype)


def _course_set(file: str, n_cols: int, data_dir, download) -> tuple[np.ndarray, str, str, str | None]:
    """(float64 table, source, name for messages, path) of a course CSV."""
    raw, source, path = read_table(file, data_dir, download)
    label = path or f"embedded {file}"
    return parse_numeric_csv(raw, label, n_cols=n_cols), source, label, path


def load_test_scores(
    data_dir: str | os.PathLike | None = None, download: bool | None = None, dtype: type = np.float32
) -> Dataset:
    """Three quiz scores -> final exam score (course's multi-variable linear regression lab).

    ``x``: ``dtype`` (float32) ``(25, 3)``; ``y``: ``dtype`` ``(25, 1)``, the final score.
    """
    t, source, _, path = _course_set("data-01-test-score.csv", 4, data_dir, download)
    t = t.astype(dtype)
    return Dataset(t[:, :3], t[:, 3:], "test_scores", source, path)


def load_stock_daily(
    chronological: bool = True,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
    dtype: type = np.float32,
) -> Dataset:
    """Daily GOOG prices; x is all five columns (Open, High, Low, Volume, Close), y the Close column (N, 1).

    ``x``: ``dtype`` (float32) ``(732, 5)`` (``info["columns"]``); ``y``: ``dtype`` ``(732, 1)``, a copy of the
    Close column. The file lists the newest day first; ``chronological=True`` reverses it, as the course's RNN
    lab does.
    """
    t, source, _, path = _course_set("data-02-stock_daily.csv", 5, data_dir, download)
    t = t.astype(dtype)
    if chronological:
        t = t[::-1].copy()
    return Dataset(
        t,
        t[:, 4:].copy(),
        "stock_daily",
        source,
        path,
        {"columns": ("Open", "High", "Low", "Volume", "Close")},
    )


def load_diabetes(
    data_dir: str | os.PathLike | None = None, download: bool | None = None, dtype: type = np.float32
) -> Dataset:
    """Pima-style diabetes: 8 features scaled to [-1, 1]; y (N, 1) is 0/1 (course's logistic regression lab).

    ``x``: ``dtype`` (float32) ``(759, 8)`` in [-1, 1]; ``y``: ``dtype`` ``(759, 1)``, 0.0 or 1.0.
    """
    t, source, label, path = _course_set("data-03-diabetes.csv", 9, data_dir, download)
    integer_values(t[:, 8], label, "outcomes", 0, 1)
    t = t.astype(dtype)
    return Dataset(t[:, :8], t[:, 8:], "diabetes", source, path)


def load_zoo(
    data_dir: str | os.PathLike | None = None, download: bool | None = None, dtype: type = np.float32
) -> Dataset:
    """UCI zoo: 16 attributes (15 boolean, legs as a count); y int64 (N,) animal class 0..6.

    ``x``: ``dtype`` (float32) ``(101, 16)``; ``y``: int64 ``(101,)``, classes 0..6.
    """
    t, source, label, path = _course_set("data-04-zoo.csv", 17, data_dir, download)
    classes = integer_values(t[:, 16], label, "animal classes", 0, 6)
    return Dataset(t[:, :16].astype(dtype), classes, "zoo", source, path)
