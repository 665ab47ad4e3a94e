"""CIFAR-10 from the official python-batches tarball (``cifar-10-python.tar.gz``), read without trusting it.

``x``: uint8 ``(N, 3, 32, 32)`` (NCHW, RGB, 0..255; ``normalize=True`` or ``as_images=True`` -> float32 in [0, 1]);
``y``: int64 ``(N,)`` classes 0..9 (``one_hot=True`` -> float32 ``(N, 10)``). ``kind="train"`` is the five data
batches (50,000), "test" 10,000.

Safety: every member name of the archive is checked before anything is read (no absolute paths, no ``..``, no
links or device files, no name twice; :func:`safe_extract` applies the same rule when a tarball is unpacked to disk). The batches
are Python pickles, which can run code when loaded, so they are read only from members of a tarball that passed
the checksum in the registry, and through :class:`_RestrictedUnpickler`, which only rebuilds plain containers and
NumPy arrays.
"""

from __future__ import annotations

import codecs
import io
import lzma
import os
import pickle
import re
import tarfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from scratchnet.datasets._fetch import fetch
from scratchnet.datasets.base import Dataset, check_as_images, image_features, labels_out
from scratchnet.datasets.errors import DatasetFormatError, describe

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


class UnsafeArchiveError(DatasetFormatError):
    """An archive member would escape the target folder, is not a plain file/folder, or is ambiguous."""


# a damaged or truncated archive surfaces as any of these, depending on where the damage is and on the
# compression (gzip and bz2 raise OSError subclasses without an errno)
_TAR_ERRORS = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError)


def check_member(member: tarfile.TarInfo, archive: str = "archive") -> None:
    """Rejects absolute paths, ``..`` components, links and special files."""
    path = PurePosixPath(member.name.replace("\\", "/"))
    # a drive letter ("C:...") is absolute on Windows even though it is not for PurePosixPath
    if path.is_absolute() or re.match(r"[A-Za-z]:", member.name):
        raise UnsafeArchiveError(
            archive, "relative member paths", f"member {member.name!r} has an absolute path"
        )
    if ".." in path.parts:
        raise UnsafeArchiveError(
            archive, "members inside the target folder", f"member {member.name!r} escapes it ('..')"
        )
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(
            archive, "plain files and folders", f"member {member.name!r} is a link or special file"
        )


def _check_members(members: list[tarfile.TarInfo], archive: str) -> None:
    """Every member safe, and no name twice: with duplicates, which copy is read depends on the reader."""
    seen: set[str] = set()
    for m in members:
        check_member(m, archive)
        key = str(PurePosixPath(m.name.replace("\\", "/")))
        if key in seen:
            raise UnsafeArchiveError(archive, "each member name once", f"{m.name!r} more than once")
        seen.add(key)


def _members(tar: tarfile.TarFile, archive: str) -> list[tarfile.TarInfo]:
    try:
        members = tar.getmembers()
    except _TAR_ERRORS as err:
        raise DatasetFormatError(
            archive, "a complete tar archive", f"a damaged one ({describe(err)})"
        ) from err
    _check_members(members, archive)
    return members


def _read_to_end(tar: tarfile.TarFile, archive: str) -> None:
    """Reads the compressed stream to its end, which makes gzip check its length and CRC: tarfile itself stops
    at the end-of-archive blocks, so a cut-off or damaged trailer would otherwise go unnoticed."""
    try:
        while tar.fileobj.read(1 << 20):
            pass
    except _TAR_ERRORS as err:
        raise DatasetFormatError(
            archive, "a complete compressed stream", f"a damaged one ({describe(err)})"
        ) from err


def _open_tar(path: str | os.PathLike, mode: str) -> tarfile.TarFile:
    try:
        return tarfile.open(path, mode)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except _TAR_ERRORS as err:
        raise DatasetFormatError(path, "a readable tar archive", f"{describe(err)}") from err


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> list[Path]:
    """Extracts a tar archive into ``dest`` after checking every member; returns the extracted file paths."""
    dest = Path(dest).resolve()
    with _open_tar(archive, "r:*") as tar:
        members = _members(tar, str(archive))
        for m in members:
            if not (dest / m.name).resolve().is_relative_to(dest):
                raise UnsafeArchiveError(archive, f"members inside {dest}", f"{m.name!r} resolves outside it")
        try:
            tar.extractall(dest, members=members, filter="data")
        except _TAR_ERRORS as err:
            if isinstance(err, OSError) and err.errno is not None:
                raise  # the destination's problem (disk full, permissions), not the archive's
            raise DatasetFormatError(
                archive, "a complete tar archive", f"a damaged one ({describe(err)})"
            ) from err
        _read_to_end(tar, str(archive))
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
    """A pickled batch -> (uint8 (n, 3, 32, 32), int64 (n,) labels 0..9), refusing anything else."""
    try:
        # encoding="bytes": the official batches were pickled by Python 2 (str keys become bytes).
        batch = _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as err:  # a hostile or damaged pickle can raise nearly any exception type while loading
        raise DatasetFormatError(name, "a CIFAR batch pickle", describe(err)) from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        found = f"keys {list(batch)[:5]}" if isinstance(batch, dict) else type(batch).__name__
        raise DatasetFormatError(name, "a dict with b'data' and b'labels'", found)
    images = batch[b"data"]
    if (
        not isinstance(images, np.ndarray)
        or images.dtype != np.uint8
        or images.ndim != 2
        or images.shape[1] != 3072
    ):
        found = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise DatasetFormatError(name, "b'data' as a uint8 (n, 3072) array", found)
    raw_labels = batch[b"labels"]
    if (
        not isinstance(raw_labels, list | np.ndarray)
        or (isinstance(raw_labels, np.ndarray) and raw_labels.ndim != 1)
        or any(isinstance(v, bool) or not isinstance(v, int | np.integer) for v in raw_labels)
    ):
        raise DatasetFormatError(name, "b'labels' as a list of integers", f"{type(raw_labels).__name__}")
    if len(raw_labels) != images.shape[0]:
        raise DatasetFormatError(name, f"{images.shape[0]} labels (one per image)", f"{len(raw_labels)}")
    bad = [v for v in raw_labels if not 0 <= v <= 9]
    if bad:
        raise DatasetFormatError(name, "labels 0..9", f"{len(bad)} outside it, e.g. {int(bad[0])}")
    return images.reshape(-1, 3, 32, 32), np.asarray(raw_labels, dtype=np.int64).reshape(-1)


def read_cifar10_tarball(path: str | os.PathLike, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Reads the batches of ``kind`` straight from the tarball (nothing is written to disk).

    Raises :class:`DatasetFormatError` (or its subclass :class:`UnsafeArchiveError`) for a damaged, ambiguous or
    unsafe archive and for a batch that is not uint8 images with labels 0..9.
    """
    if kind not in _BATCHES:
        raise ValueError(f"load_cifar10: kind must be 'train' or 'test', got {kind!r}")
    archive = str(path)
    with _open_tar(path, "r:gz") as tar:
        members = _members(tar, archive)
        by_base: dict[str, tarfile.TarInfo] = {}
        for m in members:
            if not m.isfile():
                continue
            base = PurePosixPath(m.name).name
            if base in _BATCHES["train"] + _BATCHES["test"] and base in by_base:
                raise UnsafeArchiveError(
                    archive, f"one member named {base!r}", f"{by_base[base].name!r} and {m.name!r}"
                )
            by_base.setdefault(base, m)
        xs, ys = [], []
        for batch in _BATCHES[kind]:
            if batch not in by_base:
                raise DatasetFormatError(archive, f"a CIFAR batch named {batch!r}", "no such member")
            member = f"{archive}:{by_base[batch].name}"
            try:
                payload = tar.extractfile(by_base[batch]).read()
            except _TAR_ERRORS as err:
                raise DatasetFormatError(member, "a complete archive member", describe(err)) from err
            x, y = _load_batch(payload, member)
            xs.append(x)
            ys.append(y)
        _read_to_end(tar, archive)
    return np.concatenate(xs), np.concatenate(ys)


def load_cifar10(
    kind: str = "train",
    normalize: bool = False,
    one_hot: bool = False,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
    *,
    as_images: bool = False,
) -> Dataset:
    """CIFAR-10 (Krizhevsky 2009), ``kind`` "train" (N = 50,000) or "test" (N = 10,000).

    * ``x``: uint8 ``(N, 3, 32, 32)`` (NCHW, RGB planes), 0..255; ``normalize=True``: float32 in [0, 1];
      ``as_images=True``: the same float32 ``(N, 3, 32, 32)`` in [0, 1], ready for ``Conv2D`` (the name every
      image loader shares; the layout is NCHW either way);
    * ``y``: int64 ``(N,)``, classes 0..9 (``info["class_names"]``); ``one_hot=True``: float32 ``(N, 10)``.

    Offline without a copy: :class:`DatasetNotFoundError`.
    """
    if kind not in _BATCHES:  # before a 163 MB download, not after it
        raise ValueError(f"load_cifar10: kind must be 'train' or 'test', got {kind!r}")
    as_images = check_as_images("load_cifar10", as_images)
    res = fetch("cifar-10-python.tar.gz", data_dir, download)
    images, labels = read_cifar10_tarball(res.path, kind)
    ds = Dataset(
        image_features(images, False, normalize, as_images=as_images),
        labels_out(labels, one_hot),
        f"cifar10-{kind}",
        res.source,
        str(res.path),
    )
    ds.info["class_names"] = CIFAR10_CLASSES
    return ds
