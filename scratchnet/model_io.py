"""Model state and its files: parameters and buffers by name, checked against a model before anything
changes, and the .npz files that hold them (written atomically, read without pickle, headers checked first).

``Sequential.save``/``load`` and the Trainer's checkpoints are built on these functions; ``scratchnet.model``
re-exports them, so ``from scratchnet.model import atomic_write`` keeps working.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import secrets
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be deleted there, which protects a running save instead
    fcntl = None

import numpy as np

from scratchnet.backend import get_array_module
from scratchnet.layers.base import Layer


def state_dict(layer: Layer) -> dict[str, np.ndarray]:
    """Copies of the parameters and buffers (running statistics) by dotted name, as host (NumPy) arrays."""
    state = {}
    for name, sub in layer.named_layers():
        for table in (sub.params, sub.buffers):
            for key, value in table.items():
                state[f"{name}.{key}" if name else key] = _to_host(value)
    return state


# Entries are cast into the model's float dtype: real numbers and booleans survive that, strings, complex,
# structured and object arrays do not.
USABLE_KINDS = "fiub"


class HasShapeAndDtype(Protocol):
    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...


@dataclass(frozen=True)
class ArrayHeader:
    """What an .npy header inside an .npz claims: read before any of the array's data."""

    shape: tuple[int, ...]
    dtype: np.dtype


def _state_targets(layer: Layer) -> dict[str, tuple[dict[str, Any], str]]:
    targets = {}
    for name, sub in layer.named_layers():
        for table in (sub.params, sub.buffers):
            for key in table:
                targets[f"{name}.{key}" if name else key] = (table, key)
    return targets


def check_state_entries(layer: Layer, entries: Mapping[str, HasShapeAndDtype], source: str = "state") -> None:
    """Raises ValueError unless ``entries`` (arrays, or the headers of arrays not yet read) name exactly the
    parameters and buffers of ``layer``, each with the model's shape and a dtype that casts to it."""
    targets = _state_targets(layer)
    missing = sorted(set(targets) - set(entries))
    unexpected = sorted(set(entries) - set(targets))
    if missing or unexpected:
        raise ValueError(f"{source} does not match the model: missing {missing}, unexpected {unexpected}")
    for full, (table, key) in targets.items():
        entry = entries[full]
        if tuple(entry.shape) != tuple(table[key].shape):
            raise ValueError(
                f"{source} entry {full!r} has shape {tuple(entry.shape)}, "
                f"the model expects {tuple(table[key].shape)}"
            )
        if entry.dtype.kind not in USABLE_KINDS or entry.dtype.names is not None:
            raise ValueError(
                f"{source} entry {full!r} has dtype {entry.dtype}, "
                f"the model expects real numbers ({table[key].dtype})"
            )


def prepare_load_state(layer: Layer, state: Mapping[str, Any], source: str = "state") -> Callable[[], None]:
    """Checks ``state`` against ``layer`` and converts every entry; returns the step that puts them in place,
    which cannot fail. Raises ValueError (changing nothing) when any entry is missing, extra, misshapen or of
    an unusable dtype."""
    arrays = {
        k: v if hasattr(v, "shape") and hasattr(v, "dtype") else np.asarray(v) for k, v in state.items()
    }
    check_state_entries(layer, arrays, source)
    converted = []
    for full, (table, key) in _state_targets(layer).items():
        current = table[key]
        xp = get_array_module(current)
        converted.append((table, key, xp.asarray(np.asarray(arrays[full]), dtype=current.dtype).copy()))

    def apply() -> None:
        for table, key, value in converted:
            table[key] = value

    return apply


def load_state_dict(layer: Layer, state: Mapping[str, Any]) -> None:
    """Copies ``state`` into ``layer``; every key must match in name, shape and a usable dtype, or nothing
    changes."""
    prepare_load_state(layer, state)()


def _to_host(a: Any) -> np.ndarray:
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.array(a, copy=True)


# -- files ---------------------------------------------------------------------------------------------
def _temporary_pattern(target: Path) -> re.Pattern[str]:
    # The names tempfile.mkstemp gave earlier versions and _create_temporary gives now: only these are ours.
    return re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.tmp")


def _lock_exclusively(fd: int) -> bool:
    """Takes an exclusive advisory lock without waiting; False when another process holds one. The kernel
    drops the lock when its holder dies, so a locked temporary file is a save still in progress."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[str]:
    """Deletes the ``.NAME.XXXXXXXX.tmp`` files that saves of ``path`` killed midway left beside it (never a
    save still running, which holds a lock on its file); returns their names."""
    target = Path(os.path.realpath(path))
    pattern = _temporary_pattern(target)
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            if _lock_exclusively(fd):
                os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _create_temporary(target: Path) -> tuple[int, str]:
    """A new, locked, empty file beside ``target``, created with mode 0o666 so the umask applies (mkstemp's
    0o600 would survive the rename)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    while True:
        tmp = str(target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        _lock_exclusively(fd)
        try:
            # a cleaner may have taken the file for stale before the lock was ours: then start again
            if os.path.samestat(os.stat(tmp), os.fstat(fd)):
                return fd, tmp
        except FileNotFoundError:
            pass
        os.close(fd)


def _fsync_directory(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform; the rename itself is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Calls ``write(file)`` on a temporary file in the same folder, then renames it over ``path``, so an
    interrupted save never leaves a half-written file behind.

    A symbolic link is followed (its target is replaced, the link stays); the file gets the mode the umask
    allows for a new file; temporaries left by earlier saves of the same file that were killed are removed.
    """
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    fd, tmp = _create_temporary(target)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, target)  # while the lock is held, so no cleaner takes the file for stale
        _fsync_directory(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Writes ``arrays`` to ``path`` as .npz with ``atomic_write``."""
    atomic_write(path, lambda f: np.savez(f, **arrays))


def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> ArrayHeader:
    name = info.filename[: -len(".npy")]
    with archive.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as exc:
            raise ValueError(f"{source}: entry {name!r} has no valid .npy header ({exc})") from exc
        if dtype.hasobject:
            raise ValueError(f"{source}: entry {name!r} holds Python objects, which need pickle (refused)")
        claimed = math.prod(shape) * dtype.itemsize
        held = info.file_size - f.tell()
        if claimed != held:
            raise ValueError(
                f"{source}: entry {name!r} claims shape {shape} of {dtype} ({claimed} bytes) "
                f"but holds {held} bytes of data"
            )
    return ArrayHeader(tuple(shape), dtype)


def load_arrays(
    path: str | os.PathLike, check: Callable[[dict[str, ArrayHeader]], None] | None = None
) -> dict[str, np.ndarray]:
    """Reads an .npz written by ``save_arrays`` (pickles and object arrays are refused).

    Every entry's header is read first and must be consistent with the data the archive holds; then
    ``check(headers)`` may refuse the file (unknown names, wrong shapes or dtypes) before any array is read,
    so a file that claims huge arrays costs no memory to reject. Raises ValueError naming the file when it is
    not a readable .npz.
    """
    source = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = {}
            for info in archive.infolist():
                if info.is_dir() or not info.filename.endswith(".npy"):
                    raise ValueError(
                        f"{source}: unexpected member {info.filename!r} (an .npz holds .npy files)"
                    )
                name = info.filename[: -len(".npy")]
                if name in infos:
                    raise ValueError(f"{source}: entry {name!r} appears twice")
                infos[name] = info
            headers = {name: _read_header(archive, info, source) for name, info in infos.items()}
            if check is not None:
                check(headers)
            arrays = {}
            for name, info in infos.items():
                with archive.open(info) as f:
                    arrays[name] = np.lib.format.read_array(f, allow_pickle=False)
                    if f.read(1):
                        raise ValueError(f"{source}: entry {name!r} has data beyond its array")
            return arrays
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ValueError(f"{source}: not a readable .npz archive ({exc})") from exc
