"""Loaders, parsers, the data-dir/cache/download chain and the embedded fallbacks; no network is ever used."""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import pickle
import re
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from scratchnet.datasets import _embedded, _fetch
from scratchnet.datasets._fetch import DatasetNotFoundError, RemoteFile, fetch
from scratchnet.datasets.base import parse_image_csv
from scratchnet.datasets.cifar import UnsafeArchiveError, load_cifar10, read_cifar10_tarball, safe_extract
from scratchnet.datasets.csv_sets import (
    load_breast_cancer,
    load_diabetes,
    load_iris,
    load_stock_daily,
    load_test_scores,
    load_zoo,
    parse_sklearn_csv,
)
from scratchnet.datasets.digits import load_digits
from scratchnet.datasets.errors import DatasetFormatError
from scratchnet.datasets.idx import IDXFormatError, parse_idx, read_idx, write_idx
from scratchnet.datasets.mnist import load_fashion_mnist, load_mnist, load_mnist_5k, load_mnist_with_fallback
from scratchnet.datasets.movielens import load_movielens_1m, parse_ratings, ratings_matrix
from scratchnet.datasets.ptb import load_ptb
from scratchnet.datasets.text import Vocabulary, load_text

REPO = Path(__file__).resolve().parents[1]
REAL_DOWNLOAD = _fetch._download


def _shared_dir() -> Path | None:
    for cand in [
        *os.environ.get("SCRATCHNET_DATA", "").split(os.pathsep),
        str(REPO.parent / "shared" / "datasets"),
    ]:
        if cand and (Path(cand) / "README.md").is_file() and (Path(cand) / "iris.csv").is_file():
            return Path(cand)
    return None


SHARED = _shared_dir()
needs_shared = pytest.mark.skipif(SHARED is None, reason="shared datasets folder not found")


def _no_network(url, known_hash, dest):
    raise ConnectionError(f"no network in tests ({url})")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Empty cache, no data dir, downloads that fail: every test starts offline with nothing at hand."""
    monkeypatch.delenv("SCRATCHNET_DATA", raising=False)
    monkeypatch.delenv("SCRATCHNET_OFFLINE", raising=False)
    monkeypatch.setenv("SCRATCHNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(_fetch, "_download", _no_network)
    return tmp_path


def sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def register(
    monkeypatch, name: str, good: Path | None = None, url: str = "https://example.invalid/f"
) -> None:
    """Points the registry entry ``name`` at the checksum of ``good`` (a file the test made)."""
    hashes = (sha(good),) if good is not None else ()
    monkeypatch.setitem(_fetch.REGISTRY, name, RemoteFile(name, (url,), hashes, f"test file {name}"))


# ---------------------------------------------------------------------------------------------------- IDX


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


def _make_mnist_dir(root: Path, folder: str, n: int, monkeypatch, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = {}
    for prefix in ("train", "t10k"):
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        (root / folder).mkdir(parents=True, exist_ok=True)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{folder}/{prefix}-{kind}-ubyte.gz"
            write_idx(root / name, arr)
            register(monkeypatch, name, root / name)
        out[prefix] = (images, labels)
    return out


@pytest.mark.parametrize("loader, folder", [(load_mnist, "mnist"), (load_fashion_mnist, "fashion-mnist")])
def test_idx_loaders_from_data_dir(tmp_path, monkeypatch, loader, folder):
    truth = _make_mnist_dir(tmp_path / "data", folder, 12, monkeypatch)
    ds = loader("test", data_dir=tmp_path / "data")
    assert ds.source == "data_dir" and ds.x.dtype == np.uint8 and ds.x.shape == (12, 28, 28)
    assert ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.x, truth["t10k"][0])
    np.testing.assert_array_equal(ds.y, truth["t10k"][1])
    x, y = loader("train", flatten=True, normalize=True, one_hot=True, data_dir=tmp_path / "data")
    assert x.shape == (12, 784) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    np.testing.assert_allclose(x * 255, truth["train"][0].reshape(12, -1), atol=1e-3)
    assert y.shape == (12, 10) and np.array_equal(y.argmax(1), truth["train"][1])
    with pytest.raises(ValueError, match="kind"):
        loader("validation", data_dir=tmp_path / "data")


def test_env_var_data_dir_and_label_count_mismatch(tmp_path, monkeypatch):
    _make_mnist_dir(tmp_path / "d", "mnist", 5, monkeypatch)
    write_idx(tmp_path / "d/mnist/t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    register(monkeypatch, "mnist/t10k-labels-idx1-ubyte.gz", tmp_path / "d/mnist/t10k-labels-idx1-ubyte.gz")
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "d"))
    assert load_mnist("train").source == "data_dir"
    with pytest.raises(IDXFormatError, match="t10k-labels.*expected 5 labels.*found 4"):
        load_mnist("test")


# ---------------------------------------------------------------------------- data dir / cache / download


def _good_file(tmp_path: Path) -> Path:
    good = tmp_path / "good.bin"
    good.write_bytes(b"real data " * 100)
    return good


def test_offline_error_is_clear(tmp_path, monkeypatch):
    register(monkeypatch, "thing/file.bin", _good_file(tmp_path))
    with pytest.raises(DatasetNotFoundError) as info:
        fetch("thing/file.bin", data_dir=tmp_path / "nowhere")
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "thing/file.bin" in msg and str(tmp_path / "nowhere") in msg and "cache" in msg
    assert "SCRATCHNET_DATA" in msg and "ConnectionError" in msg and "example.invalid" in msg


def test_download_into_cache_then_cache_hit(tmp_path, monkeypatch):
    good = _good_file(tmp_path)
    register(monkeypatch, "thing/file.bin", good)
    calls = []

    def fake_download(url, known_hash, dest):
        calls.append((url, known_hash))
        shutil.copy(good, dest)
        return dest

    monkeypatch.setattr(_fetch, "_download", fake_download)
    first = fetch("thing/file.bin")
    assert first.source == "download" and first.path == tmp_path / "cache" / "thing" / "file.bin"
    assert calls == [("https://example.invalid/f", sha(good))]
    second = fetch("thing/file.bin")
    assert second.source == "cache" and len(calls) == 1


def test_corrupt_cache_is_refetched(tmp_path, monkeypatch, caplog):
    good = _good_file(tmp_path)
    register(monkeypatch, "thing/file.bin", good)
    cached = tmp_path / "cache" / "thing" / "file.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(good.read_bytes()[:-7])  # truncated copy
    calls = []

    def fake_download(url, known_hash, dest):
        calls.append(url)
        assert not dest.exists(), "the corrupt copy must be removed before refetching"
        shutil.copy(good, dest)
        return dest

    monkeypatch.setattr(_fetch, "_download", fake_download)
    with caplog.at_level(logging.WARNING, logger="scratchnet.datasets"):
        res = fetch("thing/file.bin")
    assert res.source == "download" and calls and cached.read_bytes() == good.read_bytes()
    assert "checksum" in caplog.text


def test_corrupt_file_with_downloads_disabled(tmp_path, monkeypatch):
    good = _good_file(tmp_path)
    register(monkeypatch, "thing/file.bin", good)
    data = tmp_path / "data" / "thing"
    data.mkdir(parents=True)
    (data / "file.bin").write_bytes(b"garbage")

    def must_not_download(*args):
        raise AssertionError("download attempted although disabled")

    monkeypatch.setattr(_fetch, "_download", must_not_download)
    with pytest.raises(DatasetNotFoundError, match="checksum mismatch") as info:
        fetch("thing/file.bin", data_dir=tmp_path / "data", download=False)
    assert "disabled" in str(info.value)
    monkeypatch.setenv("SCRATCHNET_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError, match="disabled"):
        fetch("thing/file.bin", data_dir=tmp_path / "data")


def test_corrupt_data_dir_copy_skipped_for_cache(tmp_path, monkeypatch):
    good = _good_file(tmp_path)
    register(monkeypatch, "f.bin", good)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f.bin").write_bytes(b"bad")
    (tmp_path / "cache").mkdir()
    shutil.copy(good, tmp_path / "cache" / "f.bin")
    res = fetch("f.bin", data_dir=tmp_path / "data")
    assert res.source == "cache"


def test_downloaded_file_with_wrong_checksum_is_rejected(tmp_path, monkeypatch):
    register(monkeypatch, "f.bin", _good_file(tmp_path))

    def bad_download(url, known_hash, dest):
        dest.write_bytes(b"tampered")
        return dest

    monkeypatch.setattr(_fetch, "_download", bad_download)
    with pytest.raises(DatasetNotFoundError, match="failed its checksum"):
        fetch("f.bin")
    assert not (tmp_path / "cache" / "f.bin").exists()


def test_real_download_function_goes_through_pooch(tmp_path, monkeypatch):
    """The undecorated _download hands url, hash and destination to pooch.retrieve with a progress bar."""
    seen = {}

    def fake_retrieve(url, known_hash, fname, path, downloader):
        seen.update(url=url, known_hash=known_hash, progressbar=downloader.progressbar)
        Path(path).mkdir(parents=True, exist_ok=True)
        Path(path, fname).write_bytes(b"x")
        return str(Path(path, fname))

    monkeypatch.setattr(_fetch.pooch, "retrieve", fake_retrieve)
    out = REAL_DOWNLOAD("https://example.invalid/a.gz", "md5:abc", tmp_path / "sub" / "a.gz")
    assert out == tmp_path / "sub" / "a.gz" and seen["progressbar"] and seen["known_hash"] == "md5:abc"


def test_unknown_name_and_registry_hashes_are_well_formed():
    with pytest.raises(KeyError, match="unknown dataset"):
        fetch("nope.csv")
    for entry in _fetch.REGISTRY.values():
        assert entry.urls and all(u.startswith(("http://", "https://")) for u in entry.urls)
        for spec in entry.hashes:
            alg, _, hexd = spec.partition(":")
            assert alg in ("sha256", "md5") and len(hexd) == {"sha256": 64, "md5": 32}[alg]
            int(hexd, 16)


# -------------------------------------------------------------------------------------- embedded fallbacks


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


def test_full_mnist_offline_falls_back_to_subset():
    train, test = load_mnist_with_fallback(flatten=True, normalize=True, test_size=500, seed=1)
    assert train.name == "mnist_5k-train" and train.source == "embedded"
    assert train.x.shape == (4500, 784) and test.x.shape == (500, 784) and test.y.shape == (500,)
    with pytest.raises(DatasetNotFoundError, match="mnist/train-images-idx3-ubyte.gz"):
        load_mnist("train")


def test_embedded_size_is_small():
    total = sum(p.stat().st_size for p in _embedded.DATA_DIR.iterdir())
    assert total < 5 * 2**20


# -------------------------------------------------------------------------------------------------- CSVs


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


# ------------------------------------------------------------------------------------------------ CIFAR


def _cifar_member(n: int, rng) -> tuple[bytes, np.ndarray, list[int]]:
    data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    labels = rng.integers(0, 10, n).tolist()
    return pickle.dumps({b"data": data, b"labels": labels, b"batch_label": b"x"}, protocol=2), data, labels


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def test_cifar10_from_tarball(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    path = tmp_path / "data" / "cifar-10-python.tar.gz"
    path.parent.mkdir()
    truth = {}
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            payload, data, labels = _cifar_member(3, rng)
            truth[name] = (data, labels)
            _add(tar, f"cifar-10-batches-py/{name}", payload)
        _add(tar, "cifar-10-batches-py/readme.html", b"<html/>")
    register(monkeypatch, "cifar-10-python.tar.gz", path)
    train = load_cifar10("train", data_dir=tmp_path / "data")
    assert train.x.shape == (15, 3, 32, 32) and train.x.dtype == np.uint8 and train.y.dtype == np.int64
    np.testing.assert_array_equal(train.x[3:6].reshape(3, -1), truth["data_batch_2"][0])
    x, y = load_cifar10("test", normalize=True, one_hot=True, data_dir=tmp_path / "data")
    assert (
        x.dtype == np.float32 and x.shape == (3, 3, 32, 32) and y.argmax(1).tolist() == truth["test_batch"][1]
    )
    # channel layout: the first 1024 values of a row are the red plane
    np.testing.assert_array_equal(train.x[0, 0].ravel(), truth["data_batch_1"][0][0, :1024])


def test_cifar_rejects_traversal_links_and_foreign_pickles(tmp_path):
    rng = np.random.default_rng(1)
    payload, _, _ = _cifar_member(2, rng)
    for bad in ["../evil", "/abs/evil", "cifar-10-batches-py/../../evil", "C:/evil", "..\\evil"]:
        path = tmp_path / "bad.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            _add(tar, "cifar-10-batches-py/data_batch_1", payload)
            _add(tar, bad, b"x")
        with pytest.raises(UnsafeArchiveError):
            read_cifar10_tarball(path, "train")
        with pytest.raises(UnsafeArchiveError):
            safe_extract(path, tmp_path / "out")
        assert not (tmp_path / "evil").exists()
    link = tmp_path / "link.tar.gz"
    with tarfile.open(link, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(UnsafeArchiveError, match="link"):
        read_cifar10_tarball(link, "train")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        _add(tar, "cifar-10-batches-py/test_batch", pickle.dumps(Evil(), protocol=2))
    with pytest.raises(DatasetFormatError, match=r"test_batch: .*\.system, which is not allowed"):
        read_cifar10_tarball(evil, "test")


def test_safe_extract_good_archive(tmp_path):
    path = tmp_path / "ok.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "top/sub/a.txt", b"hello")
    files = safe_extract(path, tmp_path / "out")
    assert files == [(tmp_path / "out" / "top/sub/a.txt").resolve()] and files[0].read_bytes() == b"hello"


# --------------------------------------------------------------------------------------------- text, PTB


def test_char_vocabulary_frequency_order_and_roundtrip(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("abracadabra!")
    corpus = load_text(path)
    # a:5, b:2, r:2, then c, d, ! once each -> ties broken by character
    assert corpus.vocab.id_to_word == ["a", "b", "r", "!", "c", "d"]
    assert corpus.source == "file" and corpus.ids.dtype == np.int64 and corpus.ids.shape == (12,)
    assert corpus.vocab.decode(corpus.ids) == "abracadabra!"
    with pytest.raises(FileNotFoundError, match="neither a file"):
        load_text(tmp_path / "missing.txt")
    with pytest.raises(KeyError, match="'z'"):
        corpus.vocab.encode("z")


def _ptb_dir(root: Path, monkeypatch, with_train: bool = True) -> Path:
    d = root / "data" / "ptb"
    d.mkdir(parents=True)
    texts = {"valid": " the cat sat \n the dog <unk> \n", "test": " a cat ran \n"}
    if with_train:
        texts["train"] = " the cat sat on the mat \n the dog sat \n"
    for split, text in texts.items():
        (d / f"ptb.{split}.txt").write_text(text)
        register(monkeypatch, f"ptb/ptb.{split}.txt", d / f"ptb.{split}.txt")
    return root / "data"


def test_ptb_vocab_from_train(tmp_path, monkeypatch):
    data = _ptb_dir(tmp_path, monkeypatch)
    train = load_ptb("train", data_dir=data)
    v = train.vocab
    # the: 3; <eos>, sat: 2 (tie broken by token); then the singletons; <unk> appended as it never occurs
    assert v.id_to_word == ["the", "<eos>", "sat", "cat", "dog", "mat", "on", "<unk>"]
    assert train.vocab_from == "train"
    assert train.ids.tolist() == v.encode("the cat sat on the mat <eos> the dog sat <eos>".split()).tolist()
    test = load_ptb("test", data_dir=data)
    assert test.vocab_from == "train" and test.vocab.id_to_word == v.id_to_word
    unk = v.word_to_id["<unk>"]
    assert test.ids.tolist() == [unk, v.word_to_id["cat"], unk, v.word_to_id["<eos>"]]
    with pytest.raises(ValueError, match="split"):
        load_ptb("dev", data_dir=data)


def test_ptb_without_train_builds_vocab_from_split(tmp_path, monkeypatch, caplog):
    data = _ptb_dir(tmp_path, monkeypatch, with_train=False)
    register(monkeypatch, "ptb/ptb.train.txt", None)
    with caplog.at_level(logging.WARNING, logger="scratchnet.datasets"):
        ids, vocab = load_ptb("valid", data_dir=data)
    assert "ptb.train.txt is not available" in caplog.text
    assert vocab.decode(ids, sep=" ") == "the cat sat <eos> the dog <unk> <eos>"
    test = load_ptb("test", vocab=vocab, data_dir=data)
    assert test.vocab_from == "given" and test.ids[0] == vocab.word_to_id["<unk>"]
    with pytest.raises(ValueError, match="<unk>"):
        load_ptb("test", vocab=Vocabulary(["a"]), data_dir=data)


# ---------------------------------------------------------------------------------------------- MovieLens


def test_movielens_zip_and_matrix(tmp_path, monkeypatch):
    path = tmp_path / "data" / "ml-1m.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ml-1m/ratings.dat", "1::10::5::978300760\n1::20::3::978302109\n7::10::4::978301968\n")
        zf.writestr("ml-1m/movies.dat", "10::Caf\xe9 (1995)::Comedy\n20::B (1996)::Drama\n".encode("latin-1"))
    register(monkeypatch, "ml-1m.zip", path)
    r = load_movielens_1m(data_dir=tmp_path / "data")
    users, movies, ratings, stamps = r
    assert users.tolist() == [1, 1, 7] and movies.tolist() == [10, 20, 10] and ratings.dtype == np.float32
    assert (
        stamps.dtype == np.int64 and stamps[0] == 978300760 and len(r) == 3 and r.titles[10] == "Café (1995)"
    )
    matrix, uids, mids = r.to_matrix()
    assert uids.tolist() == [1, 7] and mids.tolist() == [10, 20]
    np.testing.assert_array_equal(matrix, [[5, 3], [4, 0]])
    with pytest.raises(ValueError, match="expected 'user::movie"):
        parse_ratings("1::2::3\n")
    with pytest.raises(ValueError, match="1..5"):
        parse_ratings("1::2::9::0\n")
    with pytest.raises(ValueError, match="equal length"):
        ratings_matrix(np.zeros(2), np.zeros(3), np.zeros(2))


# -------------------------------------------------------------------------------------- real shared files


@needs_shared
def test_shared_files_match_registry_and_load(monkeypatch):
    monkeypatch.setenv("SCRATCHNET_DATA", str(SHARED))
    for name in [n for n in _fetch.REGISTRY if (SHARED / n).is_file()]:
        assert fetch(name).source == "data_dir", name  # checksum verified
    test = load_fashion_mnist("test")
    assert test.x.shape == (10000, 28, 28) and np.bincount(test.y).tolist() == [1000] * 10
    assert 70 < test.x.mean() < 75  # Fashion-MNIST's mean pixel is about 72.9
    mnist = load_mnist_5k()
    assert mnist.source == "data_dir" and mnist.x.shape == (5000, 28, 28)
    np.testing.assert_array_equal(mnist.x, _embedded.embedded_arrays("mnist_5k")["images"])
    np.testing.assert_array_equal(mnist.y, _embedded.embedded_arrays("mnist_5k")["labels"])
    digits = load_digits()
    np.testing.assert_array_equal(digits.x, _embedded.embedded_arrays("digits")["images"])
    for name in _embedded.TABLE_FILES:
        assert _embedded.embedded_table(name) == (SHARED / name).read_bytes()
    valid = load_ptb("valid", download=False)
    assert valid.ids.shape == (73760,) and len(valid.vocab) < 10001
    shakespeare = load_text("tinyshakespeare")
    assert len(shakespeare.text) == 1115394 and len(shakespeare.vocab) == 65
    assert shakespeare.vocab.id_to_word[0] == " "


@needs_shared
def test_shared_corrupt_copy_is_never_used(tmp_path, monkeypatch):
    """A truncated copy of a real shared file in the data dir is skipped and the clear error names it."""
    d = tmp_path / "data"
    d.mkdir()
    (d / "iris.csv").write_bytes((SHARED / "iris.csv").read_bytes()[:-50])
    with pytest.raises(DatasetNotFoundError, match="checksum mismatch"):
        fetch("iris.csv", data_dir=d, download=False)
    assert load_iris(data_dir=d, download=False).source == "embedded"
    gz = d / "fashion-mnist"
    gz.mkdir()
    (gz / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(gzip.decompress((SHARED / "fashion-mnist/t10k-labels-idx1-ubyte.gz").read_bytes())[:-1])
    )
    with pytest.raises(DatasetNotFoundError, match="t10k-labels-idx1-ubyte.gz .*checksum mismatch"):
        fetch("fashion-mnist/t10k-labels-idx1-ubyte.gz", data_dir=d)


def test_recompressed_copy_is_accepted_by_its_payload_checksum(tmp_path, monkeypatch):
    """A gzip copy with other bytes but the published decompressed content is used; any other content is not."""
    payload = bytes(range(256)) * 40
    original = gzip.compress(payload, compresslevel=9, mtime=0)
    recompressed = gzip.compress(payload, compresslevel=1, mtime=12345)
    assert original != recompressed
    name = "thing/file.gz"
    entry = RemoteFile(
        name,
        ("https://example.invalid/file.gz",),
        ("sha256:" + hashlib.sha256(original).hexdigest(),),
        "test gzip",
        payload_hashes=("sha256:" + hashlib.sha256(payload).hexdigest(),),
    )
    monkeypatch.setitem(_fetch.REGISTRY, name, entry)
    data = tmp_path / "data"
    (data / "thing").mkdir(parents=True)
    (data / name).write_bytes(recompressed)
    assert fetch(name, data_dir=data, download=False).source == "data_dir"

    (data / name).write_bytes(gzip.compress(payload[:-1]))  # different content, valid gzip
    with pytest.raises(DatasetNotFoundError, match="checksum of the decompressed content mismatch"):
        fetch(name, data_dir=data, download=False)
    (data / name).write_bytes(recompressed[:-20])  # truncated gzip: no payload to check
    with pytest.raises(DatasetNotFoundError, match="file checksum"):
        fetch(name, data_dir=data, download=False)
    (data / name).write_bytes(payload)  # not gzip at all
    with pytest.raises(DatasetNotFoundError, match="mismatch"):
        fetch(name, data_dir=data, download=False)


# ------------------------------------------------------------------ malformed files: one error class, clear


def test_format_errors_are_one_class_and_say_file_expected_found():
    for cls in (IDXFormatError, UnsafeArchiveError):
        assert issubclass(cls, DatasetFormatError) and issubclass(cls, ValueError)
    err = IDXFormatError("a/b.gz", "3 dimensions", "the header says 1")
    assert str(err) == "a/b.gz: expected 3 dimensions, found the header says 1"
    assert (err.file, err.expected, err.found) == ("a/b.gz", "3 dimensions", "the header says 1")
    back = pickle.loads(pickle.dumps(err))  # e.g. raised in a worker process
    assert type(back) is IDXFormatError and str(back) == str(err)


def _idx_header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + np.asarray(dims, ">u4").tobytes()


def test_idx_dims_that_overflow_are_refused_before_allocating(tmp_path):
    # 2**31 * 2**31 * 4 = 2**64: an int64 product wraps to 0 and an empty payload looked "complete"
    wraps = _idx_header(0x08, (2**31, 2**31, 4))
    huge = _idx_header(0x0E, (2**32 - 1,) * 3)
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
    path.write_bytes(gzip.compress(_idx_header(0x08, (2**20, 2**20, 1)) + b"\x01" * 100))  # 1 TiB promised
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
    good = gzip.compress(_idx_header(0x08, (50,)) + bytes(range(50)))
    bad_crc = good[:-8] + bytes([good[-8] ^ 0xFF]) + good[-7:]
    bad_deflate = good[:12] + b"\xff" * 8 + good[20:]
    for data in (bad_crc, bad_deflate, good[:-3], good[:15]):
        path.write_bytes(data)
        with pytest.raises(IDXFormatError, match="gzip"):
            read_idx(path)
    path.write_bytes(good + b"garbage")  # trailing bytes after the gzip member
    with pytest.raises(IDXFormatError):
        read_idx(path)


def test_idx_loader_refuses_labels_of_another_type(tmp_path, monkeypatch):
    _make_mnist_dir(tmp_path / "d", "mnist", 4, monkeypatch)
    name = "mnist/t10k-labels-idx1-ubyte.gz"
    write_idx(tmp_path / "d" / name, np.array([0, -1, 2, 3], np.int8))  # -1 passed a "max() <= 9" check
    register(monkeypatch, name, tmp_path / "d" / name)
    with pytest.raises(IDXFormatError, match="t10k-labels.*expected uint8 labels, found dtype int8"):
        load_mnist("test", data_dir=tmp_path / "d")


@pytest.mark.parametrize("label", ["1.7", "1e30", "nan", "inf", "-1", "10"])
def test_image_csv_labels_must_be_integers_0_to_9(label):
    images, labels = parse_image_csv(b"0,1,2,16,3\n" * 2, "d.csv", side=2, max_value=16)
    assert labels.tolist() == [3, 3] and images.max() == 16 and images.dtype == np.uint8
    with pytest.raises(
        DatasetFormatError, match=r"d\.csv: expected .*found " + re.escape(label.replace("e30", "e+30"))
    ):
        parse_image_csv(b"0,1,2,16,3\n0,1,2,16," + label.encode() + b"\n", "d.csv", side=2, max_value=16)


@pytest.mark.parametrize(
    "raw, found",
    [
        (b"0,1,2,17,3\n", "pixel values as integers 0..16, found 17 at data row 0, column 3"),
        (b"0,-1,2,3,3\n", "found -1 at data row 0, column 1"),
        (b"0,1,nan,3,3\n", "finite numbers, found nan"),
        (b"0,1,2.5,3,3\n", "whole numbers, found 2.5"),
        (b"0,1,2,3\n", "5 columns, found 4"),
        (b"0,1,2,3,3\n0,1\n", "columns changed"),
        (b"0,1,\xff,3,3\n", "ascii text, found byte"),
        (b"\n \n", "no data rows"),
    ],
)
def test_image_csv_refuses_bad_pixels_shapes_and_bytes(raw, found):
    with pytest.raises(DatasetFormatError, match=re.escape(found)):
        parse_image_csv(raw, "d.csv", side=2, max_value=16)


def test_corrupt_gzip_csv_is_a_format_error(tmp_path, monkeypatch):
    d = tmp_path / "data"
    d.mkdir()
    (d / "digits.csv.gz").write_bytes(gzip.compress(b"0,1,2,3\n" * 3)[:-6])  # truncated, but "verified"
    register(monkeypatch, "digits.csv.gz", d / "digits.csv.gz")
    with pytest.raises(DatasetFormatError, match="digits.csv.gz: expected a complete gzip stream"):
        load_digits(data_dir=d)


@pytest.mark.parametrize("label", ["1.7", "1e30", "nan", "inf", "-1", "3"])
def test_sklearn_csv_labels_are_class_indices_not_truncated(label):
    good = b"2,2,a,b,c\n1,2,0\n3,4,2\n"
    x, y, names = parse_sklearn_csv(good, "t.csv")
    assert y.tolist() == [0, 2] and names == ("a", "b", "c") and x.shape == (2, 2)
    with pytest.raises(
        DatasetFormatError, match=r"t\.csv: expected (class labels as integers 0\.\.2|finite)"
    ):
        parse_sklearn_csv(b"2,2,a,b,c\n1,2,0\n3,4," + label.encode() + b"\n", "t.csv")


def test_csv_features_must_be_finite_text():
    with pytest.raises(DatasetFormatError, match="finite numbers, found inf at data row 1, column 0"):
        parse_sklearn_csv(b"2,2,a,b\n1,2,0\ninf,4,1\n", "t.csv")
    with pytest.raises(DatasetFormatError, match=r"utf-8 text, found byte\(s\) b'\\xe9"):
        parse_sklearn_csv(b"2,2,caf\xe9,b\n1,2,0\n3,4,1\n", "t.csv")
    with pytest.raises(DatasetFormatError, match="n_samples"):
        parse_sklearn_csv(b"1e3,2\n", "t.csv")


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


def _cifar_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            _add(tar, name, payload)
    return path


@pytest.mark.parametrize(
    "batch, found",
    [
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "labels 0..9"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [-1, 3]}, "labels 0..9"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1.7, 3]}, "list of integers"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [2**70, 3]}, "labels 0..9"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2, 3]}, "2 labels"),
        ({b"data": np.full((2, 3072), 300, np.int64), b"labels": [1, 2]}, "uint8 .*int64"),
        ({b"data": np.zeros((2, 3071), np.uint8), b"labels": [1, 2]}, r"\(n, 3072\).*3071"),
        ({b"data": [[0] * 3072] * 2, b"labels": [1, 2]}, "found list"),
        ({b"labels": [1, 2]}, "b'data' and b'labels'"),
        ([1, 2], "found list"),
    ],
)
def test_cifar_batch_content_is_checked(tmp_path, batch, found):
    path = _cifar_tar(
        tmp_path / "c.tar.gz", {"cifar-10-batches-py/test_batch": pickle.dumps(batch, protocol=2)}
    )
    with pytest.raises(DatasetFormatError, match=f"test_batch: expected .*{found}"):
        read_cifar10_tarball(path, "test")


def test_cifar_damaged_or_ambiguous_archives(tmp_path):
    payload, _, _ = _cifar_member(2, np.random.default_rng(0))
    good = _cifar_tar(tmp_path / "good.tar.gz", {"cifar-10-batches-py/test_batch": payload})
    assert read_cifar10_tarball(good, "test")[0].shape == (2, 3, 32, 32)
    raw = good.read_bytes()
    for i, data in enumerate([raw[: len(raw) // 2], raw[:-5], b"not a tarball at all", payload]):
        bad = tmp_path / f"bad{i}.tar.gz"
        bad.write_bytes(data)
        with pytest.raises(DatasetFormatError, match=f"bad{i}.tar.gz"):
            read_cifar10_tarball(bad, "test")
    cut = _cifar_tar(tmp_path / "cut.tar.gz", {"cifar-10-batches-py/test_batch": payload[:-40]})
    with pytest.raises(DatasetFormatError, match="test_batch: expected a CIFAR batch pickle"):
        read_cifar10_tarball(cut, "test")
    for members in [
        {"cifar-10-batches-py/test_batch": payload, "cifar-10-batches-py/./test_batch": payload},
        {"a/test_batch": payload, "b/test_batch": payload},
    ]:
        dup = tmp_path / "dup.tar.gz"
        with tarfile.open(dup, "w:gz") as tar:
            for name, data in members.items():
                _add(tar, name, data)
        with pytest.raises(UnsafeArchiveError, match="test_batch"):
            read_cifar10_tarball(dup, "test")
    with pytest.raises(UnsafeArchiveError, match="more than once"):
        safe_extract(_cifar_tar(tmp_path / "d2.tar.gz", {"x/a": b"1", "x/./a": b"2"}), tmp_path / "out")
    assert not (tmp_path / "out" / "x" / "a").exists()


@pytest.mark.parametrize(
    "line, found",
    [
        ("1::10::5", "user::movie::rating::timestamp"),
        ("99999999999999999999::10::5::0", "user id in 1..9223372036854775807"),
        ("1::99999999999999999999::5::0", "movie id in 1"),
        ("1::10::5::99999999999999999999", "timestamp in 0"),
        ("0::10::5::0", "user id in 1"),
        ("-1::10::5::0", "user id as a non-negative integer"),
        ("+1::10::5::0", "non-negative integer"),
        ("1_0::10::5::0", "non-negative integer"),
        ("\u0663::10::5::0", "non-negative integer"),  # an Arabic-Indic digit: int() would take it
        ("1::10::6::0", "rating in 1..5"),
        ("1::10::0::0", "rating in 1..5"),
        ("1::10::3.5::0", "rating as a non-negative integer"),
    ],
)
def test_movielens_rating_lines_are_checked(line, found):
    users, movies, ratings, stamps = parse_ratings("1::10::5::978300760\n", "r.dat")
    assert (users[0], movies[0], ratings[0], stamps[0]) == (1, 10, 5.0, 978300760)
    with pytest.raises(DatasetFormatError, match=f"r.dat:2: expected .*{found}".replace("+", r"\+")):
        parse_ratings("1::10::5::978300760\n" + line + "\n", "r.dat")


def test_movielens_damaged_or_ambiguous_zip(tmp_path):
    from scratchnet.datasets.movielens import parse_movies, read_movielens_zip

    good = tmp_path / "ml.zip"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ml-1m/ratings.dat", "1::10::5::978300760\n" * 200)
    assert len(read_movielens_zip(good)) == 200
    raw = good.read_bytes()
    for i, data in enumerate(
        [b"PK\x03\x04 not really a zip", raw[:-30], raw[:60] + b"\x00" * 40 + raw[100:]]
    ):
        bad = tmp_path / f"bad{i}.zip"
        bad.write_bytes(data)
        with pytest.raises(DatasetFormatError, match=f"bad{i}.zip"):
            read_movielens_zip(bad)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("ml-1m/ratings.dat", "\n")
    with pytest.raises(DatasetFormatError, match="at least one rating line"):
        read_movielens_zip(empty)
    dup = tmp_path / "dup.zip"
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(dup, "w") as zf:
        zf.writestr("ml-1m/ratings.dat", "1::10::5::0\n")
        zf.writestr("ml-1m/ratings.dat", "1::10::1::0\n")
    with pytest.raises(DatasetFormatError, match="one member named 'ml-1m/ratings.dat', found 2"):
        read_movielens_zip(dup)
    assert parse_movies("\u00b2::Squared (1999)::Drama\n7::Seven (1995)::Crime\n") == {7: "Seven (1995)"}


def test_text_with_bytes_that_are_not_utf8_is_a_format_error(tmp_path, monkeypatch):
    data = _ptb_dir(tmp_path, monkeypatch)
    bad = data / "ptb" / "ptb.valid.txt"
    bad.write_bytes(b" the cat \n the \xff\xfe dog \n")
    register(monkeypatch, "ptb/ptb.valid.txt", bad)
    with pytest.raises(
        DatasetFormatError, match=r"ptb.valid.txt: expected utf-8 text, found .* at offset 15"
    ):
        load_ptb("valid", data_dir=data)
    with pytest.raises(DatasetFormatError, match="offset 15"):
        load_text(bad)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DatasetFormatError, match="empty"):
        load_text(tmp_path / "empty.txt")
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(b"ab\r\ncd\re")
    assert load_text(crlf).text == "ab\ncd\ne"  # newlines normalised as open() would


def test_vocabulary_decode_refuses_ids_out_of_range():
    vocab = Vocabulary(["a", "b", "c"])
    assert vocab.decode([2, 0, np.int64(1)]) == "cab"
    for bad in (-1, 3):
        with pytest.raises(IndexError, match=f"id {bad} is outside 0..2"):
            vocab.decode([0, bad])


# ------------------------------------------------------- checksums: nothing unverified, mirrors, messages


def test_captive_portal_page_is_not_accepted_as_ptb_train(tmp_path, monkeypatch, caplog):
    """The real registry entry: an HTML page served with status 200 is refused and not cached."""
    entry = _fetch.REGISTRY["ptb/ptb.train.txt"]
    assert entry.hashes, "ptb.train.txt must be checked against its published checksums"
    portal = b"<html><body>Please log in to the hotel Wi-Fi</body></html>\n"

    def portal_download(url, known_hash, dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(portal)
        return dest

    monkeypatch.setattr(_fetch, "_download", portal_download)
    with pytest.raises(DatasetNotFoundError, match="failed its checksum"):
        fetch("ptb/ptb.train.txt")
    assert not (tmp_path / "cache" / "ptb" / "ptb.train.txt").exists()
    (tmp_path / "data" / "ptb").mkdir(parents=True)
    (tmp_path / "data" / "ptb" / "ptb.train.txt").write_bytes(portal)
    with caplog.at_level(logging.WARNING, logger="scratchnet.datasets"):
        with pytest.raises(DatasetNotFoundError, match="checksum mismatch"):
            fetch("ptb/ptb.train.txt", data_dir=tmp_path / "data", download=False)
    assert "not using it" in caplog.text


def test_an_entry_without_checksums_accepts_no_file(tmp_path, monkeypatch):
    register(monkeypatch, "nohash.txt", None)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "nohash.txt").write_text("anything")
    with pytest.raises(DatasetNotFoundError, match="no published checksum"):
        fetch("nohash.txt", data_dir=tmp_path / "data", download=False)
    for entry in _fetch.REGISTRY.values():
        if entry.name != "nohash.txt":
            assert entry.hashes or entry.payload_hashes, entry.name


def test_md5_or_sha256_of_a_file_is_enough(tmp_path, monkeypatch):
    good = _good_file(tmp_path)
    md5 = "md5:" + hashlib.md5(good.read_bytes()).hexdigest()
    other = "sha256:" + "0" * 64
    monkeypatch.setitem(
        _fetch.REGISTRY, "f.bin", RemoteFile("f.bin", ("https://x.invalid/f",), (other, md5), "f")
    )
    shutil.copy(good, tmp_path / "f.bin")
    assert fetch("f.bin", data_dir=tmp_path, download=False).source == "data_dir"


def test_second_mirror_serves_a_recompressed_copy_vouched_for_by_its_payload(tmp_path, monkeypatch, caplog):
    payload = _idx_header(0x08, (3,)) + b"\x01\x02\x03"
    canonical = gzip.compress(payload, mtime=0)
    mirror_copy = gzip.compress(payload, compresslevel=1, mtime=99)
    entry = RemoteFile(
        "mnist/x.gz",
        ("https://primary.invalid/x.gz", "https://storage.googleapis.com/cvdf-datasets/mnist/x.gz"),
        ("md5:" + hashlib.md5(canonical).hexdigest(), "sha256:" + hashlib.sha256(canonical).hexdigest()),
        "test IDX",
        payload_hashes=("sha256:" + hashlib.sha256(payload).hexdigest(),),
        size=3 * 2**20,
    )
    monkeypatch.setitem(_fetch.REGISTRY, entry.name, entry)
    calls = []

    def flaky(url, known_hash, dest):
        calls.append((url, known_hash))
        if "primary" in url:
            raise ConnectionError("primary is down")
        dest.write_bytes(mirror_copy)
        return dest

    monkeypatch.setattr(_fetch, "_download", flaky)
    with caplog.at_level(logging.WARNING, logger="scratchnet.datasets"):
        res = fetch(entry.name)
    assert res.source == "download" and res.path.read_bytes() == mirror_copy
    np.testing.assert_array_equal(read_idx(res.path), [1, 2, 3])
    # pooch gets no single hash to enforce (it would refuse the mirror's byte-different copy)
    assert [known for _, known in calls] == [None, None] and "storage.googleapis.com" in calls[1][0]
    assert "3.0 MiB from primary.invalid" in caplog.text and "at 1 MB/s" in caplog.text


def test_download_notice_gives_size_host_and_time_before_the_download(monkeypatch, caplog):
    seen = []

    def record(url, known_hash, dest):
        seen.append(caplog.text)
        raise ConnectionError("offline")

    monkeypatch.setattr(_fetch, "_download", record)
    with caplog.at_level(logging.WARNING, logger="scratchnet.datasets"), pytest.raises(DatasetNotFoundError):
        load_cifar10()
    assert seen and "cifar-10-python.tar.gz" in seen[0] and "162.6 MiB from www.cs.toronto.edu" in seen[0]
    assert "3 min at 1 MB/s" in seen[0] and "progress bar" in seen[0]


def test_mnist_has_the_cvdf_mirror_and_every_size_is_an_int():
    for fname in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        entry = _fetch.REGISTRY[f"mnist/{fname}"]
        assert entry.urls[1] == f"https://storage.googleapis.com/cvdf-datasets/mnist/{fname}"
        assert entry.payload_hashes and len(entry.hashes) == 2
    for entry in _fetch.REGISTRY.values():
        assert entry.size is None or (isinstance(entry.size, int) and entry.size > 0)


def test_unreadable_copies_and_unwritable_cache_give_the_clear_error(tmp_path, monkeypatch):
    good = _good_file(tmp_path)
    register(monkeypatch, "f.bin", good)
    (tmp_path / "data").mkdir()
    shutil.copy(good, tmp_path / "data" / "f.bin")
    real_hash = _fetch.file_hash

    def denied(path, algorithm="sha256"):
        if "data" in Path(path).parts:
            raise PermissionError(13, "Permission denied", str(path))
        return real_hash(path, algorithm)

    monkeypatch.setattr(_fetch, "file_hash", denied)
    with pytest.raises(DatasetNotFoundError, match="unreadable .PermissionError"):
        fetch("f.bin", data_dir=tmp_path / "data", download=False)
    # the cache folder cannot be created (a file is in the way): a DatasetNotFoundError, so fallbacks still work
    (tmp_path / "blocker").write_text("x")
    monkeypatch.setenv("SCRATCHNET_CACHE", str(tmp_path / "blocker" / "cache"))
    with pytest.raises(DatasetNotFoundError, match="cannot create the cache folder"):
        fetch("f.bin")
    assert load_iris().source == "embedded"


def test_bad_cached_copy_that_cannot_be_deleted_is_reported(tmp_path, monkeypatch):
    register(monkeypatch, "f.bin", _good_file(tmp_path))
    cached = tmp_path / "cache" / "f.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"stale")
    real_unlink = Path.unlink

    def no_unlink(self, missing_ok=False):
        if self == cached:
            raise PermissionError(13, "Permission denied", str(self))
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", no_unlink)
    monkeypatch.setattr(
        _fetch, "_download", lambda *a: pytest.fail("must not download over an undeletable copy")
    )
    with pytest.raises(DatasetNotFoundError, match="cannot be deleted"):
        fetch("f.bin")


@needs_shared
def test_shared_mnist_matches_the_published_cvdf_checksums():
    """Three shared MNIST files are the canonical bytes: their sha256 is the one tensorflow-datasets publishes for
    the CVDF mirror; the recompressed train-images is vouched for by its payload only."""
    by_payload = []
    for fname in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ):
        entry = _fetch.REGISTRY[f"mnist/{fname}"]
        sha = "sha256:" + _fetch.file_hash(SHARED / "mnist" / fname)
        if sha not in entry.hashes:
            assert _fetch.verify(SHARED / "mnist" / fname, entry) is None
            by_payload.append(fname)
    assert by_payload == ["train-images-idx3-ubyte.gz"]


def test_real_download_hides_poochs_advice_to_pin_an_unverified_hash(tmp_path, monkeypatch):
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    keep = Keep()
    pooch_logger = _fetch.pooch.get_logger()
    pooch_logger.addHandler(keep)

    def fake_retrieve(url, known_hash, fname, path, downloader):
        pooch_logger.info("Downloading data from '%s'", url)
        pooch_logger.info("SHA256 hash of downloaded file: %s\nUse this value as the 'known_hash'", "ab" * 32)
        Path(path, fname).write_bytes(b"x")
        return str(Path(path, fname))

    monkeypatch.setattr(_fetch.pooch, "retrieve", fake_retrieve)
    try:
        REAL_DOWNLOAD("https://example.invalid/a.gz", None, tmp_path / "a.gz")
        pooch_logger.info("SHA256 hash of downloaded file: later")  # the filter is gone after the download
    finally:
        pooch_logger.removeHandler(keep)
    assert records == [
        "Downloading data from 'https://example.invalid/a.gz'",
        "SHA256 hash of downloaded file: later",
    ]


def test_bad_arguments_are_refused_before_any_download(tmp_path, monkeypatch):
    monkeypatch.setattr(
        _fetch, "_download", lambda *a: pytest.fail("downloaded before checking the arguments")
    )
    with pytest.raises(ValueError, match="kind must be 'train' or 'test'"):
        load_cifar10("validation")
    with pytest.raises(ValueError, match="kind"):
        load_mnist("valid")
    with pytest.raises(ValueError, match="split"):
        load_ptb("dev")
    with pytest.raises(ValueError, match="1..255 dimensions"):
        write_idx(tmp_path / "scalar.idx", np.array(3, np.uint8))  # a 0-d header could never be read back


def test_safe_extract_tells_a_damaged_archive_from_a_bad_destination(tmp_path):
    good = _cifar_tar(tmp_path / "ok.tar.gz", {"top/a.txt": b"hello" * 1000})
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[:-12])
    with pytest.raises(DatasetFormatError, match="cut.tar.gz"):
        safe_extract(cut, tmp_path / "out1")
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(OSError) as info:  # the destination's problem: not reported as a damaged archive
        safe_extract(good, tmp_path / "a_file")
    assert not isinstance(info.value, DatasetFormatError)
