"""What a Trainer checkpoint holds and how it is checked before anything is restored: the carried state of
stateful layers, the grouping of entries, non-finite values, the history and random states."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from scratchnet.backend import get_array_module
from scratchnet.layers.base import Layer
from scratchnet.model_io import check_state_entries, load_arrays, prepare_load_state, save_arrays, state_dict
from scratchnet.training.history import History

if TYPE_CHECKING:  # annotations only: early_stopping.py uses this module's checks
    from scratchnet.training.early_stopping import EarlyStopping

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


class Checkpointing:
    """Mixed into ``Trainer``: what a checkpoint holds (``_capture``), and how a file is checked completely
    before anything is restored (``_prepare_checkpoint``)."""

    def save_checkpoint(self, path: str | os.PathLike, early_stopping: EarlyStopping | None = None) -> None:
        """Model weights and buffers, optimizer state, scheduler, early-stopping progress, RNG states, epoch
        and history in one .npz (atomic write). Refuses (ValueError) to write non-finite state. With a
        ``DistributedOptimizer`` on several ranks, rank 0 alone writes (the ranks hold the same state)."""
        dist = self._communicator()
        if dist is not None and dist.rank != 0:
            return
        captured = self._capture(early_stopping)
        bad = _first_non_finite(captured)
        if bad is not None:
            raise ValueError(
                f"save_checkpoint: refusing to write {path}: {_describe_entry(bad)} is not finite"
            )
        save_arrays(path, captured)

    def load_checkpoint(self, path: str | os.PathLike, early_stopping: EarlyStopping | None = None) -> None:
        """Restores a checkpoint written by ``save_checkpoint`` or ``fit`` (pass the EarlyStopping the run
        used, if any). Everything is checked first (architecture, optimizer and scheduler types, shapes,
        dtypes, finite values, random states); on any problem it raises ValueError and changes nothing."""
        self._prepare_checkpoint_file(path, early_stopping)()

    def _capture(self, early_stopping: EarlyStopping | None) -> dict[str, np.ndarray]:
        """The checkpoint's content, as arrays (copies, so later training does not change them)."""
        arrays = {f"model/{k}": v for k, v in state_dict(self.model).items()}
        arrays.update({f"optim/{k}": np.asarray(v) for k, v in self.optimizer.state_dict().items()})
        if early_stopping is not None and early_stopping.best_state is not None:
            arrays.update({f"early/{k}": v for k, v in early_stopping.best_state.items()})
        for name, layer in _stateful_layers(self.model).items():
            carried = getattr(layer, "_state", None)
            for part, value in zip("hc", carried or ()):
                if value is not None:
                    arrays[f"carried/{name}/{part}"] = _to_host_copy(value)
        meta = {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "trainer_rng": self.rng.bit_generator.state,
            "layer_rngs": self.model.get_rng_state(),
            "history": self.history.records,
            "stop_reason": self.history.stop_reason,
            "scheduler": self.scheduler.state_dict() if _has_state(self.scheduler) else None,
            "early_stopping": early_stopping.state_dict() if early_stopping is not None else None,
            "callbacks": [
                {"type": type(c).__name__, "state": c.state_dict()}
                for c in self._callbacks
                if c.state_dict() is not None
            ],
        }
        arrays["meta"] = np.array(json.dumps(meta))
        return arrays

    def _check_headers(self, headers: dict[str, Any], source: str) -> None:
        groups = _group_entries(headers, source)
        check_state_entries(self.model, groups["model/"], f"{source} (model)")
        self.optimizer.check_state_entries(groups["optim/"], f"{source} (optimizer)")
        if groups["early/"]:
            check_state_entries(self.model, groups["early/"], f"{source} (early-stopping best weights)")
        _check_carried_entries(self.model, groups["carried/"], source)
        meta = headers["meta"]
        if meta.dtype.kind != "U" or tuple(meta.shape) != ():
            raise ValueError(f"{source}: 'meta' must be a JSON string, got {meta.dtype} {tuple(meta.shape)}")

    def _prepare_checkpoint_file(
        self, path: str | os.PathLike, early_stopping: EarlyStopping | None, epochs: int | None = None
    ) -> Callable[[], None]:
        source = str(path)
        arrays = load_arrays(path, check=lambda headers: self._check_headers(headers, source))
        return self._prepare_checkpoint(arrays, early_stopping, source, epochs)

    def _prepare_checkpoint(
        self,
        arrays: dict[str, np.ndarray],
        early_stopping: EarlyStopping | None,
        source: str,
        epochs: int | None = None,
    ) -> Callable[[], None]:
        """Checks a checkpoint's arrays completely against this trainer and returns the step that applies
        them, which cannot fail (a duck-typed scheduler's own load_state_dict runs first, so that if it
        fails nothing else has changed)."""
        self._check_headers(arrays, source)
        groups = _group_entries(arrays, source)
        try:
            meta = json.loads(str(arrays["meta"]))
        except ValueError as exc:
            raise ValueError(f"{source}: 'meta' is not valid JSON ({exc})") from exc
        if not isinstance(meta, dict):
            raise ValueError(f"{source}: 'meta' is not a JSON object")
        version = meta.get("format", 1)
        if not _is_int(version) or version > CHECKPOINT_FORMAT:
            raise ValueError(f"{source}: checkpoint format {version!r} is newer than this scratchnet reads")
        missing = [k for k in ("epoch", "trainer_rng", "layer_rngs", "history", "scheduler") if k not in meta]
        if missing:
            raise ValueError(f"{source}: 'meta' lacks {missing}")
        epoch, records = meta["epoch"], _parse_history(meta["history"], source)
        if not _is_int(epoch) or epoch != len(records):
            raise ValueError(f"{source}: epoch {epoch!r} does not match its {len(records)} history records")
        if epochs is not None and epoch > epochs:
            raise ValueError(f"{source} holds {epoch} epochs, more than the {epochs} asked for")
        stop_reason = meta.get("stop_reason")
        if stop_reason is not None and not isinstance(stop_reason, str):
            raise ValueError(f"{source}: stop_reason {stop_reason!r} is not a string")
        bad = _first_non_finite({k: v for k, v in arrays.items() if k != "meta"})
        if bad is not None:
            raise ValueError(f"{source}: {_describe_entry(bad)} holds non-finite values")

        apply_model = prepare_load_state(self.model, groups["model/"], f"{source} (model)")
        apply_optimizer = self.optimizer.prepare_load_state_dict(groups["optim/"], f"{source} (optimizer)")
        trainer_rng = _generator_from_state(meta["trainer_rng"], f"{source} (trainer random state)")
        apply_layer_rngs = self._prepare_layer_rngs(meta["layer_rngs"], source)
        apply_carried = _prepare_carried(self.model, groups["carried/"])

        saved_schedule = meta["scheduler"]
        # a scheduler without state methods can only be trained without checkpoints (fit checks that):
        # rolling back after a non-finite epoch then restores everything but its progress
        _check_presence(
            self.scheduler if _has_state(self.scheduler) else None, saved_schedule, "a scheduler", source
        )
        apply_schedule, custom_schedule = None, None
        if saved_schedule is not None:
            if callable(getattr(self.scheduler, "prepare_load_state_dict", None)):
                try:
                    apply_schedule = self.scheduler.prepare_load_state_dict(saved_schedule)
                except ValueError as exc:
                    raise ValueError(f"{source} (scheduler): {exc}") from exc
            else:
                custom_schedule = saved_schedule

        saved_stopper = meta.get("early_stopping")
        apply_stopper = None
        if version >= 2 or saved_stopper is not None:
            _check_presence(early_stopping, saved_stopper, "an EarlyStopping", source)
        if saved_stopper is not None:
            apply_stopper = early_stopping.prepare_load_state_dict(
                saved_stopper, groups["early/"], self.model, f"{source} (early stopping)"
            )
        elif groups["early/"]:
            raise ValueError(f"{source}: holds early-stopping weights without early-stopping state")
        apply_callbacks = self._prepare_callbacks(meta.get("callbacks", []), source)

        def apply() -> None:
            if custom_schedule is not None:
                self.scheduler.load_state_dict(custom_schedule)
            apply_model()
            apply_optimizer()
            apply_layer_rngs()
            apply_carried()
            self.rng = trainer_rng
            self.epoch = epoch
            self.history = History(records)
            self.history.stop_reason = stop_reason
            if apply_schedule is not None:
                apply_schedule()
            if apply_stopper is not None:
                apply_stopper()
            apply_callbacks()

        return apply

    def _prepare_callbacks(self, saved: Any, source: str) -> Callable[[], None]:
        """Checks the callbacks' saved progress against the callbacks of this fit (those that keep any, in
        order); returns the step that applies it."""
        keeping = [c for c in self._callbacks if c.state_dict() is not None]
        if not isinstance(saved, list) or not all(isinstance(e, dict) and "type" in e for e in saved):
            raise ValueError(
                f"{source}: the callbacks' state is not a list of {{type, state}}: {saved!r:.80}"
            )
        found = [e["type"] for e in saved]
        if found != [type(c).__name__ for c in keeping]:
            raise ValueError(
                f"{source}: written with callbacks keeping state {found}, this fit has "
                f"{[type(c).__name__ for c in keeping]}; pass the same callbacks to resume"
            )
        steps = [
            c.prepare_load_state_dict(e["state"], f"{source} ({e['type']})") for c, e in zip(keeping, saved)
        ]

        def apply() -> None:
            for step in steps:
                step()

        return apply

    def _prepare_layer_rngs(self, states: Any, source: str) -> Callable[[], None]:
        layers = {name: layer for name, layer in self.model.named_layers() if layer.rng is not None}
        if not isinstance(states, dict) or set(states) != set(layers):
            found = sorted(states) if isinstance(states, dict) else states
            raise ValueError(
                f"{source}: random states for layers {found!r:.200}, the model's stochastic layers are "
                f"{sorted(layers)}"
            )
        return self.model.prepare_rng_state(states, source)
