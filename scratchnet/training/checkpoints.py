"""What a Trainer checkpoint holds and how it is checked before anything is restored: the carried state of
stateful layers, the grouping of entries, non-finite values, the history and random states."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from scratchnet.backend import get_array_module
from scratchnet.layers.base import Layer

CHECKPOINT_FORMAT = 2
_CHECKPOINT_GROUPS = ("model/", "optim/", "early/", "carried/")


def _stateful_layers(model: Layer) -> dict[str, Layer]:
    """Recurrent layers in stateful mode: the state they carry into the next batch is training state too."""
    return {
        name: layer
        for name, layer in model.named_layers()
        if getattr(layer, "stateful", False) and callable(getattr(layer, "reset_state", None))
    }


def _to_host_copy(value: Any) -> np.ndarray:
    return (
        value.get()
        if hasattr(value, "get") and not isinstance(value, np.ndarray)
        else np.array(value, copy=True)
    )


def _check_carried_entries(model: Layer, entries: dict[str, Any], source: str) -> None:
    layers = _stateful_layers(model)
    for full, entry in entries.items():
        name, _, part = full.rpartition("/")
        layer = layers.get(name)
        if layer is None or part not in ("h", "c") or (part == "c" and not getattr(layer, "has_cell", False)):
            raise ValueError(f"{source}: carried state {full!r} belongs to no stateful layer of the model")
        shape = tuple(entry.shape)
        if len(shape) != 2 or shape[1] != layer.hidden_size or entry.dtype.kind != "f":
            raise ValueError(
                f"{source}: carried state {full!r} is {entry.dtype} {shape}, expected floats of shape "
                f"(N, {layer.hidden_size})"
            )
    for name, layer in layers.items():
        parts = {part for part in "hc" if f"{name}/{part}" in entries}
        wanted = {"h", "c"} if getattr(layer, "has_cell", False) else {"h"}
        if parts and parts != wanted:
            raise ValueError(f"{source}: carried state of layer {name!r} is incomplete ({sorted(parts)})")
        if parts and len({tuple(entries[f"{name}/{p}"].shape) for p in parts}) > 1:
            raise ValueError(f"{source}: carried state of layer {name!r} has parts of different shapes")


def _prepare_carried(model: Layer, entries: dict[str, np.ndarray]) -> Callable[[], None]:
    states = {}
    for name, layer in _stateful_layers(model).items():
        if f"{name}/h" not in entries:
            states[name] = None  # the run had none: the next batch starts from zeros, as it did then
            continue
        xp = get_array_module(*layer.params.values())
        h = xp.asarray(np.asarray(entries[f"{name}/h"]), dtype=layer.dtype).copy()
        c = entries.get(f"{name}/c")
        c = None if c is None else xp.asarray(np.asarray(c), dtype=layer.dtype).copy()
        states[name] = (h, c)
    layers = _stateful_layers(model)

    def apply() -> None:
        for name, state in states.items():
            layers[name]._state = state

    return apply


def _has_state(component: Any) -> bool:
    return component is not None and all(
        callable(getattr(component, method, None)) for method in ("state_dict", "load_state_dict")
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _first_non_finite(arrays: dict[str, Any]) -> str | None:
    """The name of the first float array (or JSON meta with a float) holding NaN or infinity, else None."""
    for name, value in arrays.items():
        if name == "meta":
            continue
        host = (
            value.get() if hasattr(value, "get") and not isinstance(value, np.ndarray) else np.asarray(value)
        )
        if host.dtype.kind in "fc" and not np.isfinite(host).all():
            return name
    return None


def _describe_entry(name: str) -> str:
    for prefix, what in (
        ("model/", "weight"),
        ("optim/", "optimizer state"),
        ("early/", "best weight"),
        ("carried/", "carried state"),
    ):
        if name.startswith(prefix):
            return f"{what} {name[len(prefix) :]!r}"
    return repr(name)


def _group_entries(entries: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {prefix: {} for prefix in _CHECKPOINT_GROUPS}
    for name, entry in entries.items():
        if name == "meta":
            continue
        prefix = next((p for p in _CHECKPOINT_GROUPS if name.startswith(p)), None)
        if prefix is None:
            raise ValueError(f"{source}: unknown checkpoint entry {name!r}")
        groups[prefix][name[len(prefix) :]] = entry
    if "meta" not in entries:
        raise ValueError(f"{source}: not a Trainer checkpoint (no 'meta' entry)")
    return groups


def _parse_history(records: Any, source: str) -> list[dict[str, float]]:
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError(f"{source}: the history is not a list of records")
    for i, record in enumerate(records):
        for key, value in record.items():
            if not _is_number(value) or not math.isfinite(value):
                raise ValueError(f"{source}: history record {i + 1} has {key}={value!r}, not a finite number")
    return [dict(r) for r in records]


def _generator_from_state(state: Any, source: str) -> np.random.Generator:
    name = state.get("bit_generator") if isinstance(state, dict) else None
    cls = getattr(np.random, name, None) if isinstance(name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, np.random.BitGenerator)):
        raise ValueError(f"{source}: {state!r:.80} is not a NumPy bit generator state")
    bit_generator = cls()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"{source}: unusable {name} state ({exc})") from exc
    return np.random.Generator(bit_generator)


def _check_presence(current: Any, saved: Any, what: str, source: str) -> None:
    if saved is not None and current is None:
        kind = saved.get("type", what) if isinstance(saved, dict) else what
        raise ValueError(
            f"{source} holds {kind} state, but none was given to continue it with (pass the same {what.split(' ', 1)[-1]})"
        )
    if saved is None and current is not None:
        raise ValueError(f"{source} was written without {what}; resume without it or start a new run")


def _shape_of(a: Any) -> tuple[int, ...] | str:
    """``a``'s shape for a message (the type's name for something without one)."""
    shape = getattr(a, "shape", None)
    return tuple(shape) if shape is not None else type(a).__name__
