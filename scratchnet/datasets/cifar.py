"""CIFAR-10 from the official python-batches tarball (``cifar-10-python.tar.gz``), read without trusting it.

``x``: uint8 ``(N, 3, 32, 32)`` (NCHW; ``normalize=True`` -> float32 in [0, 1]); ``y``: int64 ``(N,)`` classes 0..9
(``one_hot=True`` -> float32 ``(N, 10)``). ``kind="train"`` is the five data batches (50,000), "test" 10,000.

Safety: every member name of the archive is checked before anything is read (no absolute paths, no ``..``, no
links or device files; :func:`safe_extract` applies the same rule when a tarball is unpacked to disk). The batches
are Python pickles, which can run code when loaded, so they are read only from members of a tarball that passed
the checksum in the registry, and through :class:`_RestrictedUnpickler`, which only rebuilds plain containers and
NumPy arrays.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
import re
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np

from scratchnet.datasets._fetch import fetch
from scratchnet.datasets.base import Dataset, image_features, labels_out

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


class UnsafeArchiveError(ValueError):
    """An archive member would escape the target folder or is not a plain file/folder."""


def check_member(member: tarfile.TarInfo) -> None:
    """Rejects absolute paths, ``..`` components, links and special files."""
    path = PurePosixPath(member.name.replace("\\", "/"))
    # a drive letter ("C:...") is absolute on Windows even though it is not for PurePosixPath
    if path.is_absolute() or re.match(r"[A-Za-z]:", member.name):
        raise UnsafeArchiveError(f"archive member {member.name!r} has an absolute path")
    if ".." in path.parts:
        raise UnsafeArchiveError(f"archive member {member.name!r} escapes the target folder ('..')")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(f"archive member {member.name!r} is a link or special file; refusing it")


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> list[Path]:
    """Extracts a tar archive into ``dest`` after checking every member; returns the extracted file paths."""
    dest = Path(dest).resolve()
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for m in members:
            check_member(m)
            if not (dest / m.name).resolve().is_relative_to(dest):
                raise UnsafeArchiveError(f"archive member {m.name!r} resolves outside {dest}")
        tar.extractall(dest, members=members, filter="data")
    return [dest / m.name for m in members if m.isfile()]


class _RestrictedUnpickler(pickle.Unpickler):
    """Only the globals a CIFAR batch needs (NumPy array reconstruction); anything else is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 3 writes bytes into protocol-2 pickles as _codecs.encode(str, "latin1"); harmless.
        ("_codecs", "encode"): codecs.encode,
    }

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"CIFAR batch refers to {module}.{name}, which is not allowed"
            ) from None


def _load_batch(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    # encoding="bytes": the official batches were pickled by Python 2 (str keys become bytes).
    batch = _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"CIFAR member {name}: expected a dict with b'data' and b'labels'")
    images = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if images.ndim != 2 or images.shape[1] != 3072 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"CIFAR member {name}: data {images.shape} / labels {labels.shape} are inconsistent")
    return images.reshape(-1, 3, 32, 32), labels


def read_cifar10_tarball(path: str | os.PathLike, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Reads the batches of ``kind`` straight from the tarball (nothing is written to disk)."""
    if kind not in _BATCHES:
        raise ValueError(f"load_cifar10: kind must be 'train' or 'test', got {kind!r}")
    with tarfile.open(path, "r:gz") as tar:
        members = tar.getmembers()
        for m in members:
            check_member(m)
        by_base = {PurePosixPath(m.name).name: m for m in members if m.isfile()}
        xs, ys = [], []
        for batch in _BATCHES[kind]:
            if batch not in by_base:
                raise ValueError(f"{path}: missing CIFAR batch {batch!r}")
            fh = tar.extractfile(by_base[batch])
            x, y = _load_batch(fh.read(), batch)
            xs.append(x)
            ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def load_cifar10(
    kind: str = "train",
    normalize: bool = False,
    one_hot: bool = False,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
) -> Dataset:
    """CIFAR-10 (Krizhevsky 2009). Offline without a copy: :class:`DatasetNotFoundError`."""
    res = fetch("cifar-10-python.tar.gz", data_dir, download)
    images, labels = read_cifar10_tarball(res.path, kind)
    ds = Dataset(
        image_features(images, False, normalize),
        labels_out(labels, one_hot),
        f"cifar10-{kind}",
        res.source,
        str(res.path),
    )
    ds.info["class_names"] = CIFAR10_CLASSES
    return ds
