"""The IDX file format of MNIST and Fashion-MNIST, parsed and validated.

Layout (big-endian): two zero bytes, one type code, one byte ``ndim``; then ``ndim`` uint32 sizes; then the
data, ``prod(sizes)`` items, row-major. Images are ``2051 = 0x00000803`` (ubyte, 3 dims), labels
``2049 = 0x00000801`` (ubyte, 1 dim). Files are usually gzip-compressed.

The header is checked before anything is allocated: the payload size is computed with Python integers (no
overflow), and a gzip file is decompressed in bounded pieces up to the size the header promises, so a lying
header costs at most the bytes the file really holds.
"""

from __future__ import annotations

import gzip
import math
import os
import sys
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from scratchnet.datasets.errors import DatasetFormatError, describe

# type code -> big-endian dtype of the payload
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CHUNK = 1 << 20
# gzip/zlib failures: BadGzipFile is an OSError, a cut stream an EOFError, a damaged deflate block zlib.error
_GZIP_ERRORS = (OSError, EOFError, zlib.error)


class IDXFormatError(DatasetFormatError):
    """The bytes are not a complete, well-formed IDX file."""


def _check_prefix(prefix: bytes, name: str, expected_ndim: int | None) -> int:
    """Validates the 4-byte magic; returns ``ndim``."""
    if len(prefix) < 4:
        raise IDXFormatError(name, "an IDX header (at least 4 bytes)", f"{len(prefix)} bytes (too short)")
    if prefix[0] != 0 or prefix[1] != 0:
        raise IDXFormatError(
            name, "a magic number starting with two zero bytes", f"bad magic {prefix[:4].hex()}"
        )
    code, ndim = prefix[2], prefix[3]
    if code not in IDX_DTYPES:
        raise IDXFormatError(
            name, f"a type code in {sorted(IDX_DTYPES)}", f"unknown IDX type code 0x{code:02x}"
        )
    if ndim == 0:
        raise IDXFormatError(name, "at least 1 dimension", "a header declaring 0 dimensions")
    if expected_ndim is not None and ndim != expected_ndim:
        raise IDXFormatError(name, f"{expected_ndim} dimensions", f"the header says {ndim}")
    return ndim


def _check_dims(head: bytes, name: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, dims, payload bytes) from a complete header; refuses sizes no array can have."""
    dtype = IDX_DTYPES[head[2]]
    dims = tuple(int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(head[3]))
    payload = math.prod(dims) * dtype.itemsize  # Python ints: no wrap-around
    if payload > sys.maxsize:
        raise IDXFormatError(
            name,
            f"dims whose data fits in memory (at most {sys.maxsize} bytes)",
            f"dims {dims} = {payload} bytes",
        )
    return dtype, dims, payload


def _to_array(payload, dtype: np.dtype, dims: tuple[int, ...]) -> np.ndarray:
    # a bytearray is ours to keep (no copy needed when the byte order is already native); bytes are read-only
    owned = isinstance(payload, bytearray)
    return np.frombuffer(payload, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="), copy=not owned)


def parse_idx(data: bytes, expected_ndim: int | None = None, name: str = "IDX data") -> np.ndarray:
    """Parses raw (uncompressed) IDX bytes into an array in native byte order."""
    ndim = _check_prefix(data[:4], name, expected_ndim)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXFormatError(name, f"a {header}-byte header", f"truncated header ({len(data)} bytes)")
    dtype, dims, expected = _check_dims(data[:header], name)
    got = len(data) - header
    if got < expected:
        raise IDXFormatError(name, f"{expected} data bytes for dims {dims}", f"truncated data: {got} bytes")
    if got > expected:
        raise IDXFormatError(
            name, f"{expected} data bytes for dims {dims}", f"{got - expected} trailing bytes"
        )
    return _to_array(memoryview(data)[header:], dtype, dims)


def _read_exactly(stream: BinaryIO, n: int) -> bytearray:
    """Up to ``n`` bytes, read in bounded pieces so a header that lies about ``n`` costs no more than the file."""
    out = bytearray()
    while len(out) < n:
        piece = stream.read(min(_CHUNK, n - len(out)))
        if not piece:
            break
        out += piece
    return out


def _read_stream(stream: BinaryIO, name: str, expected_ndim: int | None) -> np.ndarray:
    prefix = _read_exactly(stream, 4)
    ndim = _check_prefix(bytes(prefix), name, expected_ndim)
    header = prefix + _read_exactly(stream, 4 * ndim)
    if len(header) < 4 + 4 * ndim:
        raise IDXFormatError(name, f"a {4 + 4 * ndim}-byte header", f"truncated header ({len(header)} bytes)")
    dtype, dims, expected = _check_dims(bytes(header), name)
    payload = _read_exactly(stream, expected)
    if len(payload) < expected:
        raise IDXFormatError(
            name, f"{expected} data bytes for dims {dims}", f"truncated data: {len(payload)} bytes"
        )
    extra = len(stream.read(_CHUNK))  # also makes gzip read its trailer and check the CRC
    if extra:
        raise IDXFormatError(name, f"{expected} data bytes for dims {dims}", f"{extra}+ trailing bytes")
    return _to_array(payload, dtype, dims)


def read_idx(path: str | os.PathLike, expected_ndim: int | None = None) -> np.ndarray:
    """Reads an IDX file, gzip-compressed (detected by its magic bytes) or not.

    Raises :class:`IDXFormatError` (a :class:`DatasetFormatError`) for any malformed, truncated or corrupt file.
    """
    name = str(path)
    with open(path, "rb") as raw:
        if raw.read(2) != b"\x1f\x8b":
            raw.seek(0)
            return _read_stream(raw, name, expected_ndim)
        raw.seek(0)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _read_stream(stream, name, expected_ndim)
        except _GZIP_ERRORS as err:
            raise IDXFormatError(
                name, "a complete gzip stream", f"corrupt or truncated gzip ({describe(err)})"
            ) from err


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Writes ``array`` as IDX (gzip when ``compress`` or the name ends in .gz); used by tests and tools."""
    codes = {np.dtype(v).newbyteorder("="): k for k, v in IDX_DTYPES.items()}
    native = np.dtype(array.dtype).newbyteorder("=")
    if native not in codes:
        raise TypeError(f"write_idx: dtype {array.dtype} has no IDX type code")
    code = codes[native]
    if array.ndim == 0 or max(array.shape) > 2**32 - 1:
        # a 0-d header is unreadable and a size above 2**32-1 would wrap in its uint32 field
        raise ValueError(
            f"write_idx: IDX needs 1..255 dimensions of at most 2**32-1, got shape {array.shape}"
        )
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    data = header + payload
    if compress or (compress is None and str(path).endswith(".gz")):
        data = gzip.compress(data)
    Path(path).write_bytes(data)
