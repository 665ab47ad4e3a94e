"""scratchnet.datasets.cifar: the CIFAR-10 tarball reader, its safe extraction and the archives it refuses."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from dataset_files import register

from scratchnet.datasets.cifar import UnsafeArchiveError, load_cifar10, read_cifar10_tarball, safe_extract
from scratchnet.datasets.errors import DatasetFormatError


def _cifar_member(n: int, rng) -> tuple[bytes, np.ndarray, list[int]]:
    data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    labels = rng.integers(0, 10, n).tolist()
    return pickle.dumps({b"data": data, b"labels": labels, b"batch_label": b"x"}, protocol=2), data, labels


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def _cifar_tar(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            _add(tar, name, payload)
    return path


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


def test_cifar10_as_images_is_nchw_float32(tmp_path, monkeypatch):
    payload, data, labels = _cifar_member(4, np.random.default_rng(5))
    path = _cifar_tar(
        tmp_path / "data" / "cifar-10-python.tar.gz", {"cifar-10-batches-py/test_batch": payload}
    )
    register(monkeypatch, "cifar-10-python.tar.gz", path)
    assert load_cifar10("test", data_dir=tmp_path / "data").x.dtype == np.uint8  # the default is unchanged
    x, y = load_cifar10("test", data_dir=tmp_path / "data", as_images=True)
    assert x.shape == (4, 3, 32, 32) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    np.testing.assert_array_equal(x.reshape(4, -1), data.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(x, load_cifar10("test", normalize=True, data_dir=tmp_path / "data").x)
    assert y.dtype == np.int64 and y.tolist() == labels
    with pytest.raises(TypeError, match="load_cifar10: as_images must be True or False"):
        load_cifar10("test", data_dir=tmp_path / "nothing", as_images=1)
