"""scratchnet.datasets.idx: the IDX reader and writer and the malformed files they refuse."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest
from dataset_files import idx_header

from scratchnet.datasets.idx import IDXFormatError, parse_idx, read_idx, write_idx


def test_idx_roundtrip_dtypes(tmp_path):
    rng = np.random.default_rng(0)
    for arr in [
        rng.integers(0, 256, (3, 4, 5)).astype(np.uint8),
        rng.integers(-9, 9, (7,)).astype(np.int32),
        rng.standard_normal((2, 3)).astype(np.float64),
    ]:
        path = tmp_path / f"a{arr.dtype}.idx.gz"
        write_idx(path, arr)
        assert path.read_bytes()[:2] == b"\x1f\x8b"
        back = read_idx(path)
        assert back.dtype == arr.dtype.newbyteorder("=") and back.shape == arr.shape
        np.testing.assert_array_equal(back, arr)


def test_idx_header_magic_matches_mnist_convention(tmp_path):
    write_idx(tmp_path / "x.idx", np.zeros((2, 28, 28), np.uint8))
    assert int.from_bytes((tmp_path / "x.idx").read_bytes()[:4], "big") == 2051
    write_idx(tmp_path / "y.idx", np.zeros((2,), np.uint8))
    assert int.from_bytes((tmp_path / "y.idx").read_bytes()[:4], "big") == 2049


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b[:3], "too short"),
        (lambda b: b"\x01" + b[1:], "magic"),
        (lambda b: b[:2] + b"\x07" + b[3:], "type code"),
        (lambda b: b[:10], "truncated header"),
        (lambda b: b[:-5], "truncated data"),
        (lambda b: b + b"\x00\x00", "trailing"),
    ],
)
def test_idx_rejects_malformed(mutate, message):
    buf = io.BytesIO()
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + np.asarray(arr.shape, ">u4").tobytes()
    good = header + arr.tobytes()
    np.testing.assert_array_equal(parse_idx(good), arr)
    del buf
    with pytest.raises(IDXFormatError, match=message):
        parse_idx(mutate(good))


def test_idx_wrong_ndim_and_truncated_gzip(tmp_path):
    path = tmp_path / "labels.gz"
    write_idx(path, np.zeros(10, np.uint8))
    with pytest.raises(IDXFormatError, match="expected 3 dimensions"):
        read_idx(path, expected_ndim=3)
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(IDXFormatError, match="gzip"):
        read_idx(path)


def test_idx_dims_that_overflow_are_refused_before_allocating(tmp_path):
    # 2**31 * 2**31 * 4 = 2**64: an int64 product wraps to 0 and an empty payload looked "complete"
    wraps = idx_header(0x08, (2**31, 2**31, 4))
    huge = idx_header(0x0E, (2**32 - 1,) * 3)
    for header in (wraps, huge):
        with pytest.raises(IDXFormatError, match="fits in memory"):
            parse_idx(header)
        path = tmp_path / "x.gz"
        path.write_bytes(gzip.compress(header + b"\x00" * 16))
        with pytest.raises(IDXFormatError, match="fits in memory"):
            read_idx(path)


def test_idx_header_promising_more_than_the_file_holds_costs_only_the_file(tmp_path):
    import tracemalloc

    path = tmp_path / "liar.gz"
    path.write_bytes(gzip.compress(idx_header(0x08, (2**20, 2**20, 1)) + b"\x01" * 100))  # 1 TiB promised
    tracemalloc.start()
    try:
        with pytest.raises(IDXFormatError, match="truncated data: 100 bytes"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


def test_idx_corrupt_gzip_is_a_format_error(tmp_path):
    path = tmp_path / "x.gz"
    good = gzip.compress(idx_header(0x08, (50,)) + bytes(range(50)))
    bad_crc = good[:-8] + bytes([good[-8] ^ 0xFF]) + good[-7:]
    bad_deflate = good[:12] + b"\xff" * 8 + good[20:]
    for data in (bad_crc, bad_deflate, good[:-3], good[:15]):
        path.write_bytes(data)
        with pytest.raises(IDXFormatError, match="gzip"):
            read_idx(path)
    path.write_bytes(good + b"garbage")  # trailing bytes after the gzip member
    with pytest.raises(IDXFormatError):
        read_idx(path)
