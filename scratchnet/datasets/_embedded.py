"""The small real data sets shipped inside the package (``scratchnet/datasets/data/``), used when offline.

* ``mnist_5k.npz``: ``images`` uint8 (5000, 28, 28), ``labels`` uint8 (5000,)  (from mnist_5k.csv.gz)
* ``digits.npz``: ``images`` uint8 (1797, 8, 8) with values 0..16, ``labels`` uint8 (1797,)  (from digits.csv.gz)
* ``tables.npz``: the exact bytes of iris.csv, breast_cancer.csv and the four course CSVs as uint8 arrays, so
  the same parser reads them and their registered sha256 still verifies them.

:func:`build_embedded` regenerates them from a data folder (the shared datasets); see data/README.md.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from functools import cache
from pathlib import Path

import numpy as np

from scratchnet.datasets._fetch import REGISTRY, bytes_hash
from scratchnet.datasets._parse import decode_text, gunzip, integer_table, integer_values
from scratchnet.datasets.errors import DatasetFormatError, describe

DATA_DIR = Path(__file__).resolve().parent / "data"
TABLE_FILES = (
    "iris.csv",
    "breast_cancer.csv",
    "data-01-test-score.csv",
    "data-02-stock_daily.csv",
    "data-03-diabetes.csv",
    "data-04-zoo.csv",
)


def _csv_uint8(raw: bytes, n_cols: int, name: str) -> np.ndarray:
    lines = [ln for ln in decode_text(raw, name, "ascii").splitlines() if ln.strip()]
    return integer_values(integer_table(lines, name, n_cols), name, "values", 0, 255).astype(np.uint8)


def build_embedded(src_dir: str | os.PathLike, out_dir: str | os.PathLike = DATA_DIR) -> dict[str, int]:
    """Writes the three .npz files from the originals in ``src_dir``; returns their sizes in bytes."""
    src, out = Path(src_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mnist = _csv_uint8(
        gunzip((src / "mnist_5k.csv.gz").read_bytes(), "mnist_5k.csv.gz"), 785, "mnist_5k.csv.gz"
    )
    np.savez_compressed(out / "mnist_5k.npz", images=mnist[:, :784].reshape(-1, 28, 28), labels=mnist[:, 784])
    digits = _csv_uint8(gunzip((src / "digits.csv.gz").read_bytes(), "digits.csv.gz"), 65, "digits.csv.gz")
    np.savez_compressed(out / "digits.npz", images=digits[:, :64].reshape(-1, 8, 8), labels=digits[:, 64])
    tables = {}
    for name in TABLE_FILES:
        raw = (src / name).read_bytes()
        expected = REGISTRY[name].hashes[0].partition(":")[2]
        if bytes_hash(raw) != expected:
            raise ValueError(f"{src / name} does not match its registered sha256; refusing to embed it")
        tables[name] = np.frombuffer(raw, dtype=np.uint8)
    np.savez_compressed(out / "tables.npz", **tables)
    return {p.name: p.stat().st_size for p in sorted(out.glob("*.npz"))}


@cache
def embedded_arrays(stem: str) -> dict[str, np.ndarray]:
    """The arrays of ``data/<stem>.npz`` (read once per process)."""
    path = DATA_DIR / f"{stem}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as err:  # a damaged installation
        raise DatasetFormatError(
            path, "the .npz shipped with scratchnet (reinstall it)", describe(err)
        ) from err


def embedded_table(name: str) -> bytes | None:
    """The exact bytes of an embedded CSV, checked against its registered sha256; None if not embedded."""
    if name not in TABLE_FILES:
        return None
    raw = embedded_arrays("tables")[name].tobytes()
    spec = REGISTRY[name].hashes[0]
    if bytes_hash(raw, spec.partition(":")[0]) != spec.partition(":")[2]:
        raise DatasetFormatError(
            f"embedded {name}", "the bytes of its registered checksum (reinstall scratchnet)", "other bytes"
        )
    return raw
