"""The data-dir/cache/download chain of scratchnet.datasets._fetch: registry, checksums, mirrors, messages; no network is ever used."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from dataset_files import idx_header, register, sha

from scratchnet.datasets import _embedded, _fetch
from scratchnet.datasets._fetch import DatasetNotFoundError, RemoteFile, fetch
from scratchnet.datasets.cifar import load_cifar10
from scratchnet.datasets.csv_sets import load_iris
from scratchnet.datasets.digits import load_digits
from scratchnet.datasets.idx import read_idx, write_idx
from scratchnet.datasets.mnist import load_fashion_mnist, load_mnist, load_mnist_5k
from scratchnet.datasets.ptb import load_ptb
from scratchnet.datasets.text import load_text

REPO = Path(__file__).resolve().parents[2]
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
    payload = idx_header(0x08, (3,)) + b"\x01\x02\x03"
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
