"""Callbacks: code that ``Trainer.fit`` calls at fixed points of training, as Keras's callbacks are called.

``fit(..., callbacks=[...])`` calls, on every callback in order:

* ``on_train_begin(logs)``: before the first epoch of this call (``logs``: the last history record, or {});
* ``on_epoch_begin(epoch, logs)``: ``epoch`` counts from 1, as the history does;
* ``on_batch_end(batch, logs)``: after each optimizer step (``batch`` from 1; ``logs``: ``loss`` and the
  metrics of that batch, the running means ``mean_loss`` and the learning rate ``lr``);
* ``on_epoch_end(epoch, logs)``: ``logs`` is the epoch's history record (loss, metrics, validation, lr, time);
* ``on_train_end(logs)``: after the last epoch of this call, also when early stopping ended it.

A callback reaches the trainer as ``self.trainer`` (set before ``on_train_begin``) and may end training after
the current epoch with ``self.trainer.stop_training = True``. An exception raised by a callback propagates
out of ``fit`` and, like any other, puts the trainer back at the end of the last good epoch.

A callback that keeps progress (the best value seen, a schedule's position) returns it from ``state_dict``
(JSON-serialisable) and takes it back in ``prepare_load_state_dict``: a Trainer checkpoint stores it, so a
resumed run continues exactly. ``EarlyStopping`` (``scratchnet.training``) is also accepted in ``callbacks``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scratchnet.arguments import check_bool

__all__ = ["CSVLogger", "Callback", "LearningRateScheduler", "ModelCheckpoint"]


class Callback:
    """Base class: every hook does nothing; override the ones you need (see the module docstring)."""

    trainer: Any = None

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        """Before the first epoch of a ``fit`` call."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        """Before epoch ``epoch`` (counting from 1)."""

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        """After the optimizer step of batch ``batch`` (counting from 1 in each epoch)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        """After epoch ``epoch``; ``logs`` is its history record."""

    def on_train_end(self, logs: dict[str, Any]) -> None:
        """After the last epoch of a ``fit`` call."""

    def state_dict(self) -> dict[str, Any] | None:
        """The progress to keep in a checkpoint (JSON-serialisable), or None for a callback without any."""
        return None

    def prepare_load_state_dict(self, state: Any, source: str) -> Callable[[], None]:
        """Checks ``state`` (as ``state_dict`` returned it) and returns the step that applies it, which cannot
        fail; a ValueError naming ``source`` for a state this callback cannot take."""
        if state is not None:
            raise ValueError(f"{source}: {type(self).__name__} keeps no state, got {state!r:.80}")
        return lambda: None


def _check_mode(owner: str, monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        return "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    return mode


class ModelCheckpoint(Callback):
    """Saves the model (``model.save``) after every epoch, or only when ``monitor`` improved
    (``save_best_only=True``). ``path`` may hold ``{epoch}`` and any history field, e.g.
    ``"ckpt/model-{epoch:02d}-{val_loss:.3f}.npz"``; the file is written atomically. ``mode`` is ``"min"``,
    ``"max"`` or ``"auto"`` (max for accuracies, else min). Its best value is kept in checkpoints."""

    def __init__(
        self,
        path: str | os.PathLike,
        monitor: str = "val_loss",
        save_best_only: bool = False,
        mode: str = "auto",
    ) -> None:
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"ModelCheckpoint: path must be a str or a path, got {type(path).__name__}")
        if not isinstance(monitor, str):
            raise TypeError(f"ModelCheckpoint: monitor must be a history field name, got {monitor!r}")
        self.path = os.fspath(path)
        self.monitor = monitor
        self.save_best_only = check_bool("ModelCheckpoint", "save_best_only", save_best_only)
        self.mode = _check_mode("ModelCheckpoint", monitor, mode)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.saved: list[str] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.monitor not in logs and self.save_best_only:
            raise KeyError(
                f"ModelCheckpoint: {self.monitor!r} is not in the history record {sorted(logs)}; pass "
                "validation data to monitor a validation value"
            )
        if self.save_best_only:
            value = float(logs[self.monitor])
            better = value < self.best if self.mode == "min" else value > self.best
            if not better:
                return
            self.best = value
        try:
            path = self.path.format(**{**logs, "epoch": epoch})
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"ModelCheckpoint: cannot fill {self.path!r} from {sorted(logs)}: {exc}"
            ) from exc
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.trainer.model.save(path)
        self.saved.append(path)

    def state_dict(self) -> dict[str, Any]:
        return {"type": "ModelCheckpoint", "monitor": self.monitor, "mode": self.mode, "best": self.best}

    def prepare_load_state_dict(self, state: Any, source: str) -> Callable[[], None]:
        if not isinstance(state, dict) or state.get("type") != "ModelCheckpoint":
            raise ValueError(f"{source}: expected a ModelCheckpoint state, got {state!r:.80}")
        if (state.get("monitor"), state.get("mode")) != (self.monitor, self.mode):
            raise ValueError(
                f"{source}: written by a ModelCheckpoint monitoring {state.get('monitor')!r} "
                f"({state.get('mode')}), this one monitors {self.monitor!r} ({self.mode})"
            )
        best = state.get("best")
        if isinstance(best, bool) or not isinstance(best, int | float) or math.isnan(best):
            raise ValueError(f"{source}: ModelCheckpoint best value {best!r} is not a number")

        def apply() -> None:
            self.best = float(best)

        return apply


class CSVLogger(Callback):
    """Writes the whole history to ``path`` as CSV after every epoch (one row per epoch, atomically), so the
    file always matches the trainer's history, also after a resume or a rollback."""

    def __init__(self, path: str | os.PathLike) -> None:
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"CSVLogger: path must be a str or a path, got {type(path).__name__}")
        self.path = os.fspath(path)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.trainer.history.to_csv(self.path)


class LearningRateScheduler(Callback):
    """Steps ``schedule`` once per epoch (``per="epoch"``) or after every optimizer step (``per="batch"``):
    a schedule object of ``scratchnet.optim`` (anything with ``step()``), or a function
    ``f(count, lr) -> new lr`` of the number of epochs or steps done so far, which sets the optimizer's
    ``lr``. A schedule object's ``state_dict`` is kept in checkpoints; so is the count of a function's steps.
    ``per`` defaults to the schedule's own ``per_step`` attribute (True: per batch), else per epoch."""

    def __init__(self, schedule: Any, per: str | None = None) -> None:
        if not (callable(getattr(schedule, "step", None)) or callable(schedule)):
            raise TypeError(
                "LearningRateScheduler: schedule must have a step() method or be a function f(count, lr), "
                f"got {type(schedule).__name__}"
            )
        if per is None:
            per = "batch" if getattr(schedule, "per_step", False) else "epoch"
        if per not in ("epoch", "batch"):
            raise ValueError(f"LearningRateScheduler: per must be 'epoch' or 'batch', got {per!r}")
        self.schedule, self.per, self.count = schedule, per, 0

    def _advance(self) -> None:
        self.count += 1
        if callable(getattr(self.schedule, "step", None)):
            self.schedule.step()
            return
        optimizer = self.trainer.optimizer
        lr = self.schedule(self.count, float(optimizer.lr))
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr) or lr < 0:
            raise ValueError(f"LearningRateScheduler: the schedule returned {lr!r}, not a learning rate >= 0")
        optimizer.lr = float(lr)

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        if self.per == "batch":
            self._advance()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.per == "epoch":
            self._advance()

    def state_dict(self) -> dict[str, Any]:
        has_state = callable(getattr(self.schedule, "state_dict", None))
        return {
            "type": "LearningRateScheduler",
            "per": self.per,
            "count": self.count,
            "schedule": self.schedule.state_dict() if has_state else None,
        }

    def prepare_load_state_dict(self, state: Any, source: str) -> Callable[[], None]:
        if not isinstance(state, dict) or state.get("type") != "LearningRateScheduler":
            raise ValueError(f"{source}: expected a LearningRateScheduler state, got {state!r:.80}")
        if state.get("per") != self.per:
            raise ValueError(
                f"{source}: written by a schedule stepped per {state.get('per')}, this one per {self.per}"
            )
        count = state.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"{source}: LearningRateScheduler count {count!r} is not a count")
        saved = state.get("schedule")
        apply_schedule: Callable[[], None] = lambda: None  # noqa: E731
        if saved is not None:
            prepare = getattr(self.schedule, "prepare_load_state_dict", None)
            if callable(prepare):
                try:
                    apply_schedule = prepare(saved)
                except ValueError as exc:
                    raise ValueError(f"{source} (schedule): {exc}") from exc
            elif callable(getattr(self.schedule, "load_state_dict", None)):
                apply_schedule = lambda: self.schedule.load_state_dict(saved)  # noqa: E731
            else:
                raise ValueError(
                    f"{source}: holds a schedule state, but {type(self.schedule).__name__} takes none"
                )

        def apply() -> None:
            apply_schedule()
            self.count = count

        return apply
