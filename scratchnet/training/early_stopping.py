"""``EarlyStopping``: stop when a monitored value has not improved for ``patience`` epochs, keeping the best
weights; its progress is saved in checkpoints."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from scratchnet.layers.base import Layer
from scratchnet.model_io import (
    check_state_entries,
    state_dict,
)
from scratchnet.training.checkpoints import _first_non_finite, _is_int, _is_number


class EarlyStopping:
    """Stops when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs; optionally
    restores the best weights seen."""

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best: bool = True,
    ) -> None:
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.mode, self.restore_best = mode, restore_best
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1
        self.best_state: dict[str, np.ndarray] | None = None
        self.wait = 0

    def update(self, epoch: int, record: dict[str, float], model: Layer) -> bool:
        """Records the epoch; returns True when training should stop."""
        if self.monitor not in record:
            raise KeyError(
                f"EarlyStopping: {self.monitor!r} is not in the history ({sorted(record)}); "
                "pass validation_data to monitor validation metrics"
            )
        value = record[self.monitor]
        better = (
            value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        )
        if better:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_state = state_dict(model)
            return False
        self.wait += 1
        return self.wait >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """What identifies this stopper and how far it has got, JSON-serialisable; the best weights, when
        kept, are ``best_state`` (a checkpoint stores them as arrays)."""
        return {
            "type": type(self).__name__,
            "monitor": self.monitor,
            "mode": self.mode,
            "restore_best": self.restore_best,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
        }

    def prepare_load_state_dict(
        self,
        state: Any,
        best_state: dict[str, np.ndarray],
        model: Layer,
        source: str = "early-stopping state",
    ) -> Callable[[], None]:
        """Checks a ``state_dict`` (and the best weights saved with it) against this stopper and ``model``;
        returns the step that applies them, which cannot fail. A state monitoring another value, in another
        mode, or with another ``restore_best`` is refused (ValueError)."""
        if not isinstance(state, dict) or state.get("type") != type(self).__name__:
            raise ValueError(f"{source}: expected an EarlyStopping state, got {state!r:.80}")
        for key in ("monitor", "mode", "restore_best"):
            if state.get(key) != getattr(self, key):
                raise ValueError(
                    f"{source}: it was written by an EarlyStopping with {key}={state.get(key)!r}, "
                    f"this one has {key}={getattr(self, key)!r}"
                )
        best, best_epoch, wait = state.get("best"), state.get("best_epoch"), state.get("wait")
        if not _is_number(best) or math.isnan(best):
            raise ValueError(f"{source}: best value {best!r} is not a number")
        if not _is_int(best_epoch) or best_epoch < -1 or not _is_int(wait) or wait < 0:
            raise ValueError(f"{source}: best_epoch {best_epoch!r} or wait {wait!r} is not a count")
        kept: dict[str, np.ndarray] | None = None
        if self.restore_best and best_epoch >= 0:
            check_state_entries(model, best_state, f"{source} (best weights)")
            kept = {k: np.array(v, copy=True) for k, v in best_state.items()}
            bad = _first_non_finite(kept)
            if bad is not None:
                raise ValueError(f"{source}: best weights {bad!r} hold non-finite values")
        elif best_state:
            raise ValueError(f"{source}: holds best weights it has no use for: {sorted(best_state)[:3]}")

        def apply() -> None:
            self.best, self.best_epoch, self.wait, self.best_state = float(best), best_epoch, wait, kept

        return apply
