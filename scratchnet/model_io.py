"""Model state and its files: parameters and buffers by name, checked against a model before anything
changes, and the .npz files that hold them (written atomically, read without pickle, headers checked first);
and a model's architecture, stored in the same file so that ``load_model`` builds the model again.

``Sequential.save``/``load`` and the Trainer's checkpoints are built on these functions; ``scratchnet.model``
re-exports the state and file functions, so ``from scratchnet.model import atomic_write`` keeps working.

The file ``Sequential.save`` writes (``save_model``): one .npy entry per parameter and buffer, by dotted name
("0.W", "1.running_mean"), and the entry ``__architecture__``, a 0-d string array holding JSON::

    {"format": "scratchnet-architecture", "version": 1,
     "model": {"class": "Sequential", "config": {"layers": [
         {"layer": {"class": "Dense", "config": {"in_features": 4, "out_features": 8, "weight_init": "xavier",
                                                 "bias_init": "zeros", "dtype": {"dtype": "float32"},
                                                 "rng": null}}},
         {"layer": {"class": "ReLU", "config": {}}}]}},
     "training": true, "modes": {}}

Each layer is its class's registered name and the arguments that build it (``Layer.get_config``), nested
layers inside (``TimeDistributed(layer)``, a ``Sequential``'s layers); a block (``ResidualBlock``) is its
own arguments, since its constructor builds its sub-layers. Values are JSON, with one-key objects for what
JSON lacks (``{"tuple": [...]}``, ``{"dtype": "float32"}``, ``{"layer": ...}``, ``{"layer_class": "RBM"}``,
``{"dict": {...}}``, ``{"float": "inf"}``). What is not stored: arguments that only chose the initial weights
and cannot be written as data (a ``rng`` Generator, a callable ``weight_init``; the layer is built with the
default, then its weights are loaded), random generators' states, a stateful layer's carried state, and
gradients. ``load_model`` refuses a newer format version, an unknown layer class and damaged JSON before
anything is built; a file without the entry (``save(path, architecture=False)``, or older files) still
loads into a model built by hand, with ``model.load(path)``.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import math
import os
import re
import reprlib
import secrets
import warnings
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
from scratchnet.layers.base import Layer, init_signature
from scratchnet.random import get_rng


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

    A model file's ``__architecture__`` entry (``save_model``) is not an array of the model's state: it is
    left out of ``headers`` and of the result, so the arrays of a saved model are its ``state_dict``.
    """

    def check_weights(headers: dict[str, ArrayHeader], read: Callable[[str], np.ndarray]) -> None:
        if check is not None:
            check({k: v for k, v in headers.items() if k != ARCHITECTURE_ENTRY})

    return _read_npz(path, check_weights, skip=ARCHITECTURE_ENTRY)


def _read_npz(
    path: str | os.PathLike,
    check: Callable[[dict[str, ArrayHeader], Callable[[str], np.ndarray]], None] | None,
    skip: str | None = None,
) -> dict[str, np.ndarray]:
    """``load_arrays`` whose ``check`` also receives ``read(name)``, which reads one entry early (a small
    one the check needs, such as the architecture), from the same open archive as the rest; the entry
    ``skip`` is left unread (its header is still read)."""
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
            arrays: dict[str, np.ndarray] = {}

            def read(name: str) -> np.ndarray:
                if name not in arrays:
                    with archive.open(infos[name]) as f:
                        arrays[name] = np.lib.format.read_array(f, allow_pickle=False)
                        if f.read(1):
                            raise ValueError(f"{source}: entry {name!r} has data beyond its array")
                return arrays[name]

            if check is not None:
                check(headers, read)
            names = [name for name in infos if name != skip]
            for name in names:
                read(name)
            return {name: arrays[name] for name in names}
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ValueError(f"{source}: not a readable .npz archive ({exc})") from exc


# -- architecture: which layers, built with which arguments -------------------------------------------------
#: the .npz entry that holds a model's architecture: a 0-d string array of JSON text (read without pickle)
ARCHITECTURE_ENTRY = "__architecture__"
ARCHITECTURE_FORMAT = "scratchnet-architecture"
#: the format version this scratchnet writes, and the newest it reads
ARCHITECTURE_VERSION = 1
# a description of even a large model is a few kB; a header claiming more is refused before it is read
_MAX_ARCHITECTURE_CHARS = 1 << 22


class ArchitectureError(ValueError):
    """A model whose architecture a file cannot describe: an argument that is not plain data, a layer class
    that is not registered, one layer in two places."""


class ArchitectureWarning(UserWarning):
    """``save`` wrote the weights without the architecture, which cannot be described (the message says
    why)."""


# names of the custom layer classes that @register_layer made known; scratchnet's own are found by name
_REGISTERED: dict[str, type[Layer]] = {}


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _scratchnet_layers() -> dict[str, type[Layer]]:
    """scratchnet's own public layer classes by name: every Layer subclass that a scratchnet module defines
    at its top level (``import scratchnet`` imports them all)."""
    found: dict[str, list[type[Layer]]] = {}
    todo, seen = list(Layer.__subclasses__()), set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("scratchnet.") and cls.__qualname__ == cls.__name__:
            if not cls.__name__.startswith("_"):
                found.setdefault(cls.__name__, []).append(cls)
    return {name: classes[0] for name, classes in found.items() if len(classes) == 1}


def register_layer(cls: Any = None, *, name: str | None = None) -> Any:
    """Makes a custom layer class known by name to ``save`` and ``load_model``; a class decorator::

        @scratchnet.register_layer
        class Scale(Layer): ...

        @scratchnet.register_layer(name="mylib.Scale")  # or register_layer("mylib.Scale")
        class Scale(Layer): ...

    scratchnet's own layers are known without it. The name (default: the class's ``__name__``) is what a
    saved file stores, so the process that loads the file registers the class under the same name before
    ``load_model``. A name taken by another class, or by one of scratchnet's layers, is refused
    (ValueError), except by a redefinition of the same class (same module and qualified name, as when a
    notebook cell runs again), which replaces it. Returns the class.
    """
    if isinstance(cls, str) and name is None:
        cls, name = None, cls
    if cls is None:
        return lambda c: register_layer(c, name=name)
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"register_layer: expected a Layer subclass, got {cls!r}")
    name = cls.__name__ if name is None else name
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_layer: the name must be a non-empty string, got {name!r}")
    own = _scratchnet_layers()
    if own.get(name) is cls:
        return cls  # scratchnet's own layer, already known by this name
    if cls in own.values():
        raise ValueError(
            f"register_layer: {_qualified(cls)} is scratchnet's own layer, known as {cls.__name__!r}"
        )
    if name in own:
        raise ValueError(
            f"register_layer: {name!r} is the name of scratchnet's {_qualified(own[name])}; register "
            f"{_qualified(cls)} under another name (@scratchnet.register_layer(name=...))"
        )
    previous = _REGISTERED.get(name)
    if previous is not None and previous is not cls and _qualified(previous) != _qualified(cls):
        raise ValueError(
            f"register_layer: {name!r} is already the name of {_qualified(previous)}; register "
            f"{_qualified(cls)} under another name (@scratchnet.register_layer(name=...))"
        )
    for other_name, other in _REGISTERED.items():
        if other is cls and other_name != name:
            raise ValueError(f"register_layer: {_qualified(cls)} is already registered as {other_name!r}")
    _REGISTERED[name] = cls
    return cls


def _name_of_class(cls: type, where: str) -> str:
    for name, registered in _REGISTERED.items():
        if registered is cls:
            return name
    if _scratchnet_layers().get(cls.__name__) is cls:
        return cls.__name__
    raise ArchitectureError(
        f"{where}: layer class {_qualified(cls)} is not registered, so a file cannot name it for "
        "load_model: decorate the class with @scratchnet.register_layer"
    )


def _class_named(name: Any, where: str) -> type[Layer]:
    if not isinstance(name, str):
        raise ValueError(f"{where}: a layer class name must be a string, got {name!r}")
    cls = _REGISTERED.get(name) or _scratchnet_layers().get(name)
    if cls is None:
        raise ValueError(
            f"{where} is a {name!r}, a layer class this process does not know: define or import it and "
            f"decorate the class with @scratchnet.register_layer (register_layer(name={name!r}) if the "
            "class is called otherwise) before calling load_model"
        )
    return cls


def _may_leave_out(cls: type, argument: str) -> bool:
    """Whether building ``cls`` without ``argument`` uses a default (a parameter with one, or ``**kwargs``)."""
    parameters = init_signature(cls).parameters
    if argument in parameters:
        return parameters[argument].default is not inspect.Parameter.empty
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def _describe_value(value: Any, where: str, inside: frozenset[int], owner: str) -> Any:
    """A constructor argument as JSON data: null, bools, numbers, strings and lists as themselves; the rest
    tagged by a one-key object: ``{"tuple": [...]}``, ``{"dict": {...}}``, ``{"float": "inf"}`` (and
    "-inf", "nan"), ``{"dtype": "float32"}`` (a NumPy dtype or scalar type), ``{"layer": {...}}`` (a layer,
    as ``describe_layer`` gives it), ``{"layer_class": "Dense"}``."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, list):
        return [_describe_value(v, f"{where}[{i}]", inside, owner) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"tuple": [_describe_value(v, f"{where}[{i}]", inside, owner) for i, v in enumerate(value)]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _describe_value(v, f"{where}[{k!r}]", inside, owner) for k, v in value.items()}}
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        dtype = np.dtype(value)
        if dtype.names is None and dtype.subdtype is None and np.dtype(dtype.name) == dtype:
            return {"dtype": dtype.name}
    if isinstance(value, Layer):
        return {"layer": _describe_layer(value, where, inside)}
    if isinstance(value, type) and issubclass(value, Layer):
        return {"layer_class": _name_of_class(value, where)}
    raise ArchitectureError(
        f"{where} = {reprlib.repr(value)} (an argument of {owner}) cannot be described in a file (it holds "
        "None, bools, numbers, strings, lists, tuples, dicts, NumPy dtypes, layers and registered layer "
        "classes)"
    )


def _describe_layer(layer: Layer, where: str, inside: frozenset[int]) -> dict[str, Any]:
    cls = type(layer)
    label = f"{where} ({cls.__name__})"
    if id(layer) in inside:
        raise ArchitectureError(f"{label}: the layer is among its own arguments")
    name = _name_of_class(cls, where)
    try:
        config = layer.get_config()
    except (TypeError, ValueError) as exc:
        raise ArchitectureError(f"{label}: {exc}") from exc
    if not isinstance(config, Mapping) or not all(isinstance(k, str) for k in config):
        raise ArchitectureError(f"{label}: get_config must return a dict of argument names, got {config!r}")
    inside = inside | {id(layer)}
    described = {}
    for key, value in config.items():
        try:
            described[key] = _describe_value(value, f"{where}.{key}", inside, cls.__name__)
        except ArchitectureError:
            if key in cls.init_only_arguments and _may_leave_out(cls, key):
                continue  # it only chose the initial weights, which are loaded after the layer is built
            raise
    description = {"class": name, "config": described}
    if isinstance(layer.__dict__.get("name"), str):
        description["name"] = layer.__dict__["name"]  # given after construction; it names the weights
    return description


def describe_layer(layer: Layer) -> dict[str, Any]:
    """``layer`` as JSON data: ``{"class": its registered name, "config": {argument: value}}``, plus
    ``"name"`` when the layer was given one, from :meth:`Layer.get_config` (values as ``_describe_value``
    writes them; nested layers described the same way). Arguments in the class's ``init_only_arguments``
    (``rng``, ``weight_init``, ``bias_init``, ``recurrent_init``) that cannot be described are left out, so
    the layer is built with their defaults before its weights are loaded. Raises ArchitectureError naming
    the layer and argument that cannot be described."""
    return _describe_layer(layer, "model", frozenset())


def describe_model(model: Layer) -> dict[str, Any]:
    """The architecture document ``save`` stores as ``__architecture__``: format name and version, the model
    described by ``describe_layer``, and its modes (``"training"``, and in ``"modes"`` each layer whose mode
    differs). Raises ArchitectureError naming what cannot be described."""
    named = list(model.named_layers())
    first_name: dict[int, str] = {}
    for name, layer in named:
        if id(layer) in first_name:
            raise ArchitectureError(
                f"layer {name!r} is also layer {first_name[id(layer)]!r}: a layer used in two places shares "
                "its weights, which a file cannot describe"
            )
        first_name[id(layer)] = name
    return {
        "format": ARCHITECTURE_FORMAT,
        "version": ARCHITECTURE_VERSION,
        "model": describe_layer(model),
        "training": bool(model.training),
        "modes": {name: bool(layer.training) for name, layer in named if layer.training != model.training},
    }


def save_model(path: str | os.PathLike, model: Layer, architecture: bool | None = None) -> None:
    """Writes ``model``'s parameters and buffers to ``path`` as .npz (atomically, no pickle), and its
    architecture as the JSON entry ``__architecture__``, which ``load_model`` builds the model from.

    ``architecture``: None (default) stores it when it can be described, else writes the weights only and
    warns (ArchitectureWarning, saying why); True raises ArchitectureError instead, writing nothing; False
    writes the weights only. Random generators, a stateful layer's carried state and gradients are not
    stored."""
    if architecture is not None and not isinstance(architecture, bool):
        raise TypeError(f"save: architecture must be True, False or None, got {architecture!r}")
    arrays = state_dict(model)
    if ARCHITECTURE_ENTRY in arrays:
        raise ValueError(
            f"save: the model has an entry named {ARCHITECTURE_ENTRY!r}, a name the file reserves"
        )
    if architecture is not False:
        try:
            text = json.dumps(describe_model(model), allow_nan=False)
        except ArchitectureError as exc:
            if architecture:
                raise ArchitectureError(f"{path}: nothing written: {exc}") from exc
            warnings.warn(
                f"{path}: saved the weights only, without the architecture: {exc}. To load the weights, build "
                "the same model and call model.load(path)",
                ArchitectureWarning,
                stacklevel=3,
            )
        else:
            arrays[ARCHITECTURE_ENTRY] = np.array(text)
    save_arrays(path, arrays)


def _check_architecture_header(header: HasShapeAndDtype, source: str) -> None:
    if (
        header.dtype.kind != "U"
        or tuple(header.shape) != ()
        or header.dtype.itemsize // 4 > _MAX_ARCHITECTURE_CHARS
    ):
        raise ValueError(
            f"{source}: entry {ARCHITECTURE_ENTRY!r} must be JSON text (a 0-d string array of at most "
            f"{_MAX_ARCHITECTURE_CHARS} characters), got {header.dtype} of shape {tuple(header.shape)}"
        )


def _parse_architecture(array: np.ndarray, source: str) -> dict[str, Any]:
    where = f"{source}: entry {ARCHITECTURE_ENTRY!r}"
    try:
        document = json.loads(str(array[()]))
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{where} is not valid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != ARCHITECTURE_FORMAT:
        raise ValueError(f'{where} is not a scratchnet architecture (no "format": {ARCHITECTURE_FORMAT!r})')
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{where}: format version {version!r} is not a positive integer")
    if version > ARCHITECTURE_VERSION:
        raise ValueError(
            f"{source}: the architecture is in format version {version}, newer than this scratchnet reads "
            f"(up to {ARCHITECTURE_VERSION}): upgrade scratchnet to load it, or build the model and call "
            "model.load(path) for the weights"
        )
    modes = document.get("modes", {})
    if (
        not isinstance(document.get("model"), dict)
        or not isinstance(document.get("training", True), bool)
        or not isinstance(modes, dict)
        or not all(isinstance(flag, bool) for flag in modes.values())
    ):
        raise ValueError(f'{where}: expected "model" (an object), "training" (a bool) and "modes" (bools)')
    return document


def _build_value(value: Any, where: str) -> Any:
    """The argument ``_describe_value`` wrote as ``value``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_build_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict) and len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "tuple" and isinstance(inner, list):
            return tuple(_build_value(v, f"{where}[{i}]") for i, v in enumerate(inner))
        if tag == "dict" and isinstance(inner, dict):
            return {k: _build_value(v, f"{where}[{k!r}]") for k, v in inner.items()}
        if tag == "float" and inner in ("inf", "-inf", "nan"):
            return float(inner)
        if tag == "dtype" and isinstance(inner, str):
            try:
                return np.dtype(inner)
            except TypeError:
                raise ValueError(f"{where}: {inner!r} is not a NumPy dtype") from None
        if tag == "layer":
            return _build_layer(inner, where)
        if tag == "layer_class":
            return _class_named(inner, where)
    raise ValueError(f"{where}: {reprlib.repr(value)} is not a value this scratchnet reads")


def _build_layer(description: Any, where: str) -> Layer:
    if (
        not isinstance(description, dict)
        or not isinstance(description.get("config"), dict)
        or not set(description) <= {"class", "config", "name"}
        or not isinstance(description.get("name", ""), str)
    ):
        raise ValueError(f'{where}: expected a layer description {{"class", "config"[, "name"]}}')
    cls = _class_named(description.get("class"), where)
    label = f"{where} ({description['class']})"
    config = {k: _build_value(v, f"{where}.{k}") for k, v in description["config"].items()}
    try:
        layer = cls.from_config(config)
    except Exception as exc:  # whatever a constructor raises for arguments it refuses
        raise ValueError(
            f"{label}: cannot be built from its stored arguments ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(layer, cls):
        raise ValueError(f"{label}: from_config returned {reprlib.repr(layer)}, not a {cls.__name__}")
    if "name" in description:
        layer.name = description["name"]
    return layer


def build_model(document: Mapping[str, Any], source: str = "architecture") -> Layer:
    """A new model built from a ``describe_model`` document (fresh weights, modes as the document says);
    ValueError naming ``source`` and the layer for anything it cannot build."""
    try:
        model = _build_layer(document["model"], f"{source}: model")
    except RecursionError:
        raise ValueError(f"{source}: the architecture is nested too deeply to read") from None
    named = dict(model.named_layers())
    unknown = sorted(set(document.get("modes", {})) - set(named))
    if unknown:
        raise ValueError(
            f"{source}: the architecture sets the mode of layers {unknown}, which the model lacks"
        )
    model.train(document.get("training", True))
    for name, training in document.get("modes", {}).items():
        named[name].training = training
    return model


def _take_file_dtypes(model: Layer, headers: Mapping[str, HasShapeAndDtype]) -> None:
    """Casts each layer whose parameters the file holds in another float dtype (a model changed by
    ``astype`` whose constructor arguments do not say so) to that dtype, as ``astype`` would have."""
    for name, layer in model.named_layers():
        found = {
            headers[full].dtype
            for key in layer.params
            if (full := f"{name}.{key}" if name else key) in headers and headers[full].dtype.kind == "f"
        }
        if len(found) != 1:
            continue
        (dtype,) = found
        if dtype in (np.float32, np.float64) and any(p.dtype != dtype for p in layer.params.values()):
            for table in (layer.params, layer.grads):
                for key, value in table.items():
                    table[key] = value.astype(dtype)
            for key, value in layer.buffers.items():
                if np.issubdtype(value.dtype, np.floating):
                    layer.buffers[key] = value.astype(dtype)


def load_model(path: str | os.PathLike) -> Layer:
    """The model saved in ``path`` by ``save``: built from its architecture, with its weights and buffers.

    The headers are checked first, then the layers are built from the stored arguments (drawing their
    throwaway initial weights from scratchnet's global generator, as building them by hand would), then the
    weights are checked against them and loaded. The model is in the modes it was saved in (train or eval,
    layer by layer) and on the current default device. A layer class the file names must be scratchnet's
    or registered (``@scratchnet.register_layer``) in this process. A file without an architecture (saved
    with ``architecture=False``, or by an older scratchnet) is refused with how to load it: build the model
    and call ``model.load(path)``. Raises ValueError for anything wrong, leaving the global generator as it
    was."""
    source = str(path)
    built: dict[str, Layer] = {}

    def check(headers: dict[str, ArrayHeader], read: Callable[[str], np.ndarray]) -> None:
        if ARCHITECTURE_ENTRY not in headers:
            raise ValueError(
                f"{source} holds weights only, no architecture (it was saved with architecture=False, by an "
                "older scratchnet, or from a model whose architecture could not be described): build the "
                "same model and call model.load(path)"
            )
        _check_architecture_header(headers[ARCHITECTURE_ENTRY], source)
        model = build_model(_parse_architecture(read(ARCHITECTURE_ENTRY), source), source)
        weights = {k: v for k, v in headers.items() if k != ARCHITECTURE_ENTRY}
        _take_file_dtypes(model, weights)
        try:
            check_state_entries(model, weights, source)
        except ValueError as exc:
            raise ValueError(f"{exc} (the weights do not fit the architecture stored with them)") from None
        built["model"] = model

    generator = get_rng()
    state = copy.deepcopy(generator.bit_generator.state)
    try:
        arrays = _read_npz(path, check, skip=ARCHITECTURE_ENTRY)
        model = built["model"]
        prepare_load_state(model, arrays, source)()
    except BaseException:
        generator.bit_generator.state = state
        raise
    return model


def load_weights(layer: Layer, path: str | os.PathLike) -> None:
    """Loads the parameters and buffers in ``path`` into ``layer``, built the same way (``Sequential.load``).

    Names, shapes and dtypes are checked from the headers before any data is read; a file that does not
    match changes nothing, and the error says how to load it (``load_model`` when the file holds an
    architecture; for a model with nothing to load into, build the same layers first)."""
    source = str(path)

    def check(headers: dict[str, ArrayHeader], read: Callable[[str], np.ndarray]) -> None:
        has_architecture = ARCHITECTURE_ENTRY in headers
        if has_architecture:
            _check_architecture_header(headers[ARCHITECTURE_ENTRY], source)
        weights = {k: v for k, v in headers.items() if k != ARCHITECTURE_ENTRY}
        rebuild = (
            f"scratchnet.load_model({source!r}) builds the saved model from the architecture the file holds"
        )
        if weights and not _state_targets(layer):
            shown = sorted(weights)
            listed = ", ".join(map(repr, shown[:4])) + (", ..." if len(shown) > 4 else "")
            how = (
                f"{rebuild}; or build the same layers first, then call model.load(path)"
                if has_architecture
                else "build the same layers first (the file holds weights only, no architecture), then call "
                "model.load(path)"
            )
            raise ValueError(
                f"{source}: {layer!r} has no parameters or buffers to load the file's {len(shown)} arrays "
                f"({listed}) into: {how}"
            )
        try:
            check_state_entries(layer, weights, source)
        except ValueError as exc:
            if not has_architecture:
                raise
            raise ValueError(f"{exc}; {rebuild}") from None

    arrays = _read_npz(path, check, skip=ARCHITECTURE_ENTRY)
    prepare_load_state(layer, arrays, source)()
