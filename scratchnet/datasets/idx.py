"""The IDX file format of MNIST and Fashion-MNIST, parsed and validated.

Layout (big-endian): two zero bytes, one type code, one byte ``ndim``; then ``ndim`` uint32 sizes; then the
data, ``prod(sizes)`` items, row-major. Images are ``2051 = 0x00000803`` (ubyte, 3 dims), labels
``2049 = 0x00000801`` (ubyte, 1 dim). Files are usually gzip-compressed.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

# type code -> big-endian dtype of the payload
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IDXFormatError(ValueError):
    """The bytes are not a complete, well-formed IDX file."""


def parse_idx(data: bytes, expected_ndim: int | None = None, name: str = "IDX data") -> np.ndarray:
    """Parses raw (uncompressed) IDX bytes into an array in native byte order."""
    if len(data) < 4:
        raise IDXFormatError(f"{name}: {len(data)} bytes is too short for an IDX header (need at least 4)")
    if data[0] != 0 or data[1] != 0:
        raise IDXFormatError(
            f"{name}: bad magic number {data[:4].hex()} (IDX files start with two zero bytes)"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise IDXFormatError(f"{name}: unknown IDX type code 0x{code:02x}")
    if ndim == 0:
        raise IDXFormatError(f"{name}: IDX header declares 0 dimensions")
    if expected_ndim is not None and ndim != expected_ndim:
        raise IDXFormatError(f"{name}: expected {expected_ndim} dimensions, the header says {ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXFormatError(f"{name}: truncated header ({len(data)} bytes, need {header})")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got < expected:
        raise IDXFormatError(
            f"{name}: truncated data, dims {dims} need {expected} bytes but {got} are present"
        )
    if got > expected:
        raise IDXFormatError(f"{name}: {got - expected} unexpected trailing bytes after dims {dims}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike, expected_ndim: int | None = None) -> np.ndarray:
    """Reads an IDX file, gzip-compressed (detected by its magic bytes) or not."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as err:
            raise IDXFormatError(f"{path}: corrupt or truncated gzip stream ({err})") from err
    return parse_idx(raw, expected_ndim=expected_ndim, name=str(path))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Writes ``array`` as IDX (gzip when ``compress`` or the name ends in .gz); used by tests and tools."""
    codes = {np.dtype(v).newbyteorder("="): k for k, v in IDX_DTYPES.items()}
    native = np.dtype(array.dtype).newbyteorder("=")
    if native not in codes:
        raise TypeError(f"write_idx: dtype {array.dtype} has no IDX type code")
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    data = header + payload
    if compress or (compress is None and str(path).endswith(".gz")):
        data = gzip.compress(data)
    Path(path).write_bytes(data)
