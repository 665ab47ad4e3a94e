"""Strict building blocks the text and CSV parsers share; each failure is a :class:`DatasetFormatError`."""

from __future__ import annotations

import gzip
import zlib

import numpy as np

from scratchnet.datasets.errors import DatasetFormatError, describe


def gunzip(raw: bytes, name: str) -> bytes:
    """The decompressed content of gzip bytes."""
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise DatasetFormatError(
            name, "a complete gzip stream", f"corrupt or truncated gzip ({describe(err)})"
        ) from err


def decode_text(raw: bytes, name: str, encoding: str = "utf-8") -> str:
    """``raw`` decoded; a byte the encoding does not allow is reported with its offset."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        bad = raw[err.start : err.start + 4]
        raise DatasetFormatError(
            name,
            f"{encoding} text",
            f"byte(s) {bad!r} at offset {err.start} that are not {encoding} ({err.reason})",
        ) from err


def numeric_table(lines: list[str], name: str, n_cols: int | None = None) -> np.ndarray:
    """Comma-separated numbers, one row a line, as a float64 (rows, cols) array of finite values."""
    if not lines:
        raise DatasetFormatError(name, "at least one row of numbers", "no data rows")
    try:
        table = np.loadtxt(lines, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as err:  # a non-number, or rows of different lengths; numpy names the row and column
        raise DatasetFormatError(name, "a numeric CSV with equal-length rows", describe(err)) from err
    if n_cols is not None and table.shape[1] != n_cols:
        raise DatasetFormatError(name, f"{n_cols} columns", f"{table.shape[1]}")
    bad = ~np.isfinite(table)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DatasetFormatError(name, "finite numbers", f"{table[row, col]} at data row {row}, column {col}")
    return table


def integer_table(lines: list[str], name: str, n_cols: int | None = None) -> np.ndarray:
    """Comma-separated integers, one row a line, as an int64 (rows, cols) array.

    The integer parser is tried first (four times faster than the float one); only when it fails is the table
    read as floats, to say exactly what is wrong (``1.7``, ``nan``, ``1e30`` are refused, never truncated).
    """
    if not lines:
        raise DatasetFormatError(name, "at least one row of numbers", "no data rows")
    try:
        table = np.loadtxt(lines, delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError:
        table = integer_values(
            numeric_table(lines, name, n_cols), name, "", -(2**53), 2**53, expected="whole numbers"
        )
    if n_cols is not None and table.shape[1] != n_cols:
        raise DatasetFormatError(name, f"{n_cols} columns", f"{table.shape[1]}")
    return table


def integer_values(
    values: np.ndarray, name: str, what: str, low: int, high: int, expected: str | None = None
) -> np.ndarray:
    """``values`` as int64, refusing fractions, NaN/inf and values outside ``low..high``; never truncates.

    ``expected`` replaces the default ``"<what> as integers <low>..<high>"`` in the error message.
    """
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        bad = (values < low) | (values > high)
    else:
        values = values.astype(np.float64)
        bad = ~(np.isfinite(values) & (values == np.round(values)) & (values >= low) & (values <= high))
    if bad.any():
        index = np.unravel_index(int(np.argmax(bad)), values.shape)
        where = f" at data row {index[0]}" + (f", column {index[1]}" if len(index) > 1 else "")
        found = values[index].item()
        raise DatasetFormatError(name, expected or f"{what} as integers {low}..{high}", f"{found!r}{where}")
    return values.astype(np.int64)
