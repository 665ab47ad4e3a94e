"""Corrupted inputs to every dataset parser: the only exception that may come out is DatasetFormatError.

Each property starts from a valid file the test builds, damages it (flipped bytes, cuts, insertions, random text)
and checks that the parser either returns data that still satisfies its documented contract or raises the
library's DatasetFormatError -- never UnicodeDecodeError, EOFError, zlib.error, BadZipFile, OverflowError, ...
No network, no shared files; the example counts keep the module to a few seconds.
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scratchnet.datasets.base import parse_image_csv
from scratchnet.datasets.cifar import read_cifar10_tarball
from scratchnet.datasets.csv_sets import parse_numeric_csv, parse_sklearn_csv
from scratchnet.datasets.errors import DatasetFormatError
from scratchnet.datasets.idx import parse_idx, read_idx
from scratchnet.datasets.movielens import parse_ratings, read_movielens_zip
from scratchnet.datasets.text import load_text

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@st.composite
def damaged(draw, data: bytes) -> bytes:
    """``data`` with a few byte flips, a cut and/or an insertion."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, 4))):
        if out:
            i = draw(st.integers(0, len(out) - 1))
            out[i] = draw(st.integers(0, 255))
    if out and draw(st.booleans()):
        del out[draw(st.integers(0, len(out) - 1)) :]
    if draw(st.booleans()):
        i = draw(st.integers(0, len(out)))
        out[i:i] = draw(st.binary(max_size=12))
    return bytes(out)


def _idx_bytes() -> bytes:
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    return bytes([0, 0, 8, 3]) + np.asarray(arr.shape, ">u4").tobytes() + arr.tobytes()


@FUZZ
@given(st.one_of(damaged(_idx_bytes()), st.binary(max_size=40)))
def test_parse_idx_raises_only_format_errors(data):
    try:
        arr = parse_idx(data)
    except DatasetFormatError:
        return
    assert arr.size * arr.itemsize == len(data) - 4 - 4 * arr.ndim


@FUZZ
@given(data=damaged(gzip.compress(_idx_bytes(), mtime=0)))
def test_read_idx_gzip_raises_only_format_errors(tmp_path, data):
    path = tmp_path / "f.idx.gz"
    path.write_bytes(data)
    try:
        arr = read_idx(path, expected_ndim=3)
    except DatasetFormatError:
        return
    assert arr.ndim == 3


_CSV = b"0,1,2,16,3\n5,6,7,8,9\n"


@FUZZ
@given(st.one_of(damaged(_CSV), st.binary(max_size=30), st.text(max_size=30).map(str.encode)))
def test_image_csv_raises_only_format_errors(raw):
    try:
        images, labels = parse_image_csv(raw, "f.csv", side=2, max_value=16)
    except DatasetFormatError:
        return
    assert (
        images.dtype == np.uint8 and images.max() <= 16 and labels.max() <= 9 and len(images) == len(labels)
    )


_SKLEARN = b"2,2,a,b\n1.5,2,0\n3,4e-1,1\n"


@FUZZ
@given(st.one_of(damaged(_SKLEARN), st.text(max_size=40).map(str.encode)))
def test_table_csvs_raise_only_format_errors(raw):
    try:
        x, y, names = parse_sklearn_csv(raw, "t.csv")
        assert np.isfinite(x).all() and y.dtype == np.int64 and (y >= 0).all()
        assert not names or y.max() < len(names)
    except DatasetFormatError:
        pass
    try:
        table = parse_numeric_csv(raw, "t.csv")
        assert np.isfinite(table).all() and table.ndim == 2
    except DatasetFormatError:
        pass


_RATINGS = "1::10::5::978300760\n2::20::3::978302109\n"


@FUZZ
@given(st.one_of(damaged(_RATINGS.encode()).map(lambda b: b.decode("latin-1")), st.text(max_size=40)))
def test_parse_ratings_raises_only_format_errors(text):
    try:
        users, movies, ratings, stamps = parse_ratings(text, "r.dat")
    except DatasetFormatError:
        return
    assert users.min() >= 1 and movies.min() >= 1 and ratings.min() >= 1 and ratings.max() <= 5
    assert stamps.min() >= 0 and len(users) == len(movies) == len(ratings) == len(stamps)


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ml-1m/ratings.dat", _RATINGS * 3)
        zf.writestr("ml-1m/movies.dat", "10::Heat (1995)::Action\n")
    return buf.getvalue()


@FUZZ
@given(data=damaged(_zip_bytes()))
def test_movielens_zip_raises_only_format_errors(tmp_path, data):
    path = tmp_path / "ml.zip"
    path.write_bytes(data)
    try:
        ratings = read_movielens_zip(path)
    except DatasetFormatError:
        return
    assert len(ratings) >= 1 and ratings.ratings.max() <= 5


def _cifar_bytes() -> bytes:
    rng = np.random.default_rng(0)
    batch = {b"data": rng.integers(0, 256, (2, 3072)).astype(np.uint8), b"labels": [3, 7]}
    payload = pickle.dumps(batch, protocol=2)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def _cifar_pickle_tar(payload: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


_BATCH = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [4]}, protocol=2)


@FUZZ
@given(data=st.one_of(damaged(_cifar_bytes()), damaged(_BATCH).map(_cifar_pickle_tar)))
def test_cifar_tarball_raises_only_format_errors(tmp_path, data):
    path = tmp_path / "c.tar.gz"
    path.write_bytes(data)
    try:
        x, y = read_cifar10_tarball(path, "test")
    except DatasetFormatError:
        return
    assert x.dtype == np.uint8 and x.shape[1:] == (3, 32, 32) and y.min() >= 0 and y.max() <= 9


@FUZZ
@given(data=st.one_of(damaged("naïve café ☕\n".encode()), st.binary(min_size=1, max_size=30)))
def test_text_files_raise_only_format_errors(tmp_path, data):
    path = Path(tmp_path) / "t.txt"
    path.write_bytes(data)
    try:
        corpus = load_text(path)
    except DatasetFormatError:
        return
    assert corpus.vocab.decode(corpus.ids) == corpus.text


def test_fuzz_inputs_include_valid_files(tmp_path):
    """The seeds the properties damage are valid, so a property that only ever saw errors would show here."""
    assert parse_idx(_idx_bytes()).shape == (2, 3, 4)
    assert parse_image_csv(_CSV, "f.csv", 2, 16)[1].tolist() == [3, 9]
    assert parse_sklearn_csv(_SKLEARN, "t.csv")[1].tolist() == [0, 1]
    assert len(parse_ratings(_RATINGS)[0]) == 2
    (tmp_path / "ml.zip").write_bytes(_zip_bytes())
    assert read_movielens_zip(tmp_path / "ml.zip").titles == {10: "Heat (1995)"}
    (tmp_path / "c.tar.gz").write_bytes(_cifar_bytes())
    assert read_cifar10_tarball(tmp_path / "c.tar.gz", "test")[1].tolist() == [3, 7]
    (tmp_path / "b.tar.gz").write_bytes(_cifar_pickle_tar(_BATCH))
    assert read_cifar10_tarball(tmp_path / "b.tar.gz", "test")[1].tolist() == [4]


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # zipfile warns about damaged names
