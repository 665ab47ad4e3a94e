"""The training loop: mini-batches, validation, history, early stopping, checkpoints and exact resumption.

``Trainer(model, loss, optimizer).fit(x, y, epochs, batch_size)`` runs mini-batch gradient descent:
for each batch, forward -> loss -> loss.backward -> model.backward -> optimizer.step. It records one row
per epoch (loss, metrics, validation loss/metrics, learning rate, seconds) in a ``History``.

Reproducibility: with ``seed`` given, the batch order and every stochastic layer's random stream are
derived from it, so two runs from identical initial weights are bit-identical; a run resumed from a
checkpoint continues exactly as if it had not been interrupted.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scratchnet.backend import get_array_module
from scratchnet.layers.base import Layer
from scratchnet.losses import BinaryCrossEntropy, Loss
from scratchnet.model import load_arrays, load_state_dict, save_arrays, state_dict


def accuracy(pred: np.ndarray, target: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of correct predictions.

    pred (N, C) with C > 1: arg-max class against integer labels (N,) or one-hot rows (N, C).
    pred (N,) or (N, 1): ``pred > threshold`` against 0/1 targets.
    """
    xp = get_array_module(pred)
    target = xp.asarray(target)
    if pred.ndim == 2 and pred.shape[1] > 1:
        labels = target.argmax(axis=1) if target.ndim == 2 else target
        return float((pred.argmax(axis=1) == labels.reshape(-1)).mean())
    return float(((pred.reshape(-1) > threshold) == (target.reshape(-1) > 0.5)).mean())


class History:
    """Per-epoch records: ``history.records`` is a list of dicts; ``history["loss"]`` a column."""

    def __init__(self, records: list[dict[str, float]] | None = None) -> None:
        self.records: list[dict[str, float]] = list(records or [])
        self.stop_reason: str | None = None

    def __getitem__(self, key: str) -> list[float]:
        return [r[key] for r in self.records if key in r]

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"History({len(self.records)} epochs, stop_reason={self.stop_reason!r})"

    def to_json(self, path: str | os.PathLike) -> None:
        Path(path).write_text(
            json.dumps({"records": self.records, "stop_reason": self.stop_reason}, indent=1)
        )

    def to_csv(self, path: str | os.PathLike) -> None:
        keys: list[str] = []
        for r in self.records:
            keys.extend(k for k in r if k not in keys)
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.records)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> History:
        data = json.loads(Path(path).read_text())
        history = cls(data["records"])
        history.stop_reason = data.get("stop_reason")
        return history


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


class Trainer:
    """Mini-batch training of ``model`` with ``loss`` and ``optimizer``.

    ``metrics`` are names ("accuracy") or callables ``f(pred, target) -> float``; ``scheduler`` is stepped
    once per epoch (a ReduceLROnPlateau receives the validation loss, or the training loss without
    validation data).
    """

    def __init__(
        self,
        model: Layer,
        loss: Loss,
        optimizer: Any,
        metrics: Sequence[str | Callable] = ("accuracy",),
        scheduler: Any = None,
    ) -> None:
        self.model, self.loss, self.optimizer, self.scheduler = model, loss, optimizer, scheduler
        self.metrics: dict[str, Callable] = {}
        threshold = 0.0 if isinstance(loss, BinaryCrossEntropy) and loss.from_logits else 0.5
        for m in metrics:
            if m == "accuracy":
                self.metrics["accuracy"] = lambda p, t: accuracy(p, t, threshold)
            elif callable(m):
                self.metrics[getattr(m, "__name__", f"metric{len(self.metrics)}")] = m
            else:
                raise ValueError(f"Trainer: unknown metric {m!r} (use 'accuracy' or a callable)")
        self.history = History()
        self.epoch = 0
        self.rng = np.random.default_rng()

    # -- one step and evaluation ---------------------------------------------------------------------
    def train_step(self, xb: np.ndarray, yb: np.ndarray) -> tuple[float, np.ndarray]:
        """Forward, backward and one optimizer update on a batch; returns (loss, predictions).

        A non-finite loss is returned without updating, so the weights stay the last good ones."""
        pred = self.model.forward(xb)
        value = self.loss.forward(pred, yb)
        if not math.isfinite(value):
            return value, pred
        self.model.backward(self.loss.backward())
        self.optimizer.step()
        return value, pred

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int = 1024) -> dict[str, float]:
        """Mean loss and metrics over (x, y) in eval mode (weights batches by their size)."""
        _check_xy(x, y)
        was_training = self.model.training
        self.model.eval()
        totals: dict[str, float] = {}
        try:
            for i in range(0, len(x), batch_size):
                xb, yb = x[i : i + batch_size], y[i : i + batch_size]
                pred = self.model.forward(xb)
                row = {"loss": self.loss.forward(pred, yb)}
                row.update({name: fn(pred, yb) for name, fn in self.metrics.items()})
                for k, v in row.items():
                    totals[k] = totals.get(k, 0.0) + v * len(xb)
        finally:
            self.model.train(was_training)
        return {k: v / len(x) for k, v in totals.items()}

    def predict(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        try:
            outs = [self.model.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        finally:
            self.model.train(was_training)
        return get_array_module(outs[0]).concatenate(outs)

    # -- the loop ------------------------------------------------------------------------------------
    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        epochs: int,
        batch_size: int = 32,
        *,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        seed: int | None = None,
        shuffle: bool = True,
        progress: bool = True,
        early_stopping: EarlyStopping | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int = 1,
        resume: bool = False,
        verbose: bool = False,
    ) -> History:
        """Trains until ``epochs`` epochs have run in total (counting resumed ones); returns the history.

        A non-finite loss stops training with a warning and ``history.stop_reason`` set; the offending batch
        is not applied, the partial epoch is not recorded, and the last good checkpoint is left as it was.
        """
        _check_xy(x, y)
        if batch_size < 1:
            raise ValueError(f"fit: batch_size must be >= 1, got {batch_size}")
        if seed is not None:
            self._seed(seed)
        ckpt = Path(checkpoint_dir) / "checkpoint.npz" if checkpoint_dir is not None else None
        if resume:
            if ckpt is None:
                raise ValueError("fit: resume=True needs checkpoint_dir")
            if ckpt.exists():
                self.load_checkpoint(ckpt)
        n = len(x)
        n_batches = math.ceil(n / batch_size)
        self.model.train()
        while self.epoch < epochs:
            start = time.perf_counter()
            order = self.rng.permutation(n) if shuffle else np.arange(n)
            totals: dict[str, float] = {}
            bar = _progress(n_batches, f"epoch {self.epoch + 1}/{epochs}", progress)
            diverged = False
            for b in range(n_batches):
                idx = order[b * batch_size : (b + 1) * batch_size]
                value, pred = self.train_step(x[idx], y[idx])
                if not math.isfinite(value):
                    diverged = True
                    break
                totals["loss"] = totals.get("loss", 0.0) + value * len(idx)
                for name, fn in self.metrics.items():
                    totals[name] = totals.get(name, 0.0) + fn(pred, y[idx]) * len(idx)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(
                        loss=f"{totals['loss'] / min(n, (b + 1) * batch_size):.4f}", refresh=False
                    )
            if bar is not None:
                bar.close()
            if diverged:
                self.history.stop_reason = f"non-finite loss in epoch {self.epoch + 1}, batch {b + 1}"
                warnings.warn(
                    f"training stopped: {self.history.stop_reason}; that batch was not applied"
                    + (f", last good checkpoint kept in {ckpt}" if ckpt else ""),
                    RuntimeWarning,
                    stacklevel=2,
                )
                break
            record: dict[str, float] = {"epoch": self.epoch + 1}
            record.update({k: v / n for k, v in totals.items()})
            if validation_data is not None:
                record.update({f"val_{k}": v for k, v in self.evaluate(*validation_data).items()})
            record["lr"] = self.optimizer.lr
            record["time"] = time.perf_counter() - start
            self.history.records.append(record)
            self.epoch += 1
            if verbose:
                print(
                    " ".join(
                        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()
                    )
                )
            if self.scheduler is not None:
                if hasattr(self.scheduler, "patience"):
                    self.scheduler.step(record.get("val_loss", record["loss"]))
                else:
                    self.scheduler.step()
            if ckpt is not None and (self.epoch % checkpoint_every == 0 or self.epoch == epochs):
                self.save_checkpoint(ckpt)
            if early_stopping is not None and early_stopping.update(self.epoch, record, self.model):
                self.history.stop_reason = (
                    f"early stopping: {early_stopping.monitor} did not improve for "
                    f"{early_stopping.patience} epochs"
                )
                if early_stopping.restore_best and early_stopping.best_state is not None:
                    load_state_dict(self.model, early_stopping.best_state)
                break
        return self.history

    def _seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        for i, (_, layer) in enumerate(self.model.named_layers()):
            if layer.rng is not None:
                layer.rng = np.random.default_rng([seed, i])

    # -- checkpoints ---------------------------------------------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Model weights and buffers, optimizer state, scheduler, RNG states, epoch and history in one
        .npz (atomic write)."""
        arrays = {f"model/{k}": v for k, v in state_dict(self.model).items()}
        arrays.update({f"optim/{k}": np.asarray(v) for k, v in self.optimizer.state_dict().items()})
        meta = {
            "epoch": self.epoch,
            "trainer_rng": self.rng.bit_generator.state,
            "layer_rngs": self.model.get_rng_state(),
            "history": self.history.records,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
        }
        arrays["meta"] = np.array(json.dumps(meta))
        save_arrays(path, arrays)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        arrays = load_arrays(path)
        meta = json.loads(str(arrays.pop("meta")))
        load_state_dict(self.model, {k[6:]: v for k, v in arrays.items() if k.startswith("model/")})
        self.optimizer.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("optim/")})
        self.epoch = int(meta["epoch"])
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = meta["trainer_rng"]
        self.model.set_rng_state(meta["layer_rngs"])
        self.history = History(meta["history"])
        if self.scheduler is not None and meta["scheduler"] is not None:
            self.scheduler.load_state_dict(meta["scheduler"])


def _check_xy(x: Any, y: Any) -> None:
    if not hasattr(x, "shape") or not hasattr(y, "shape"):
        raise TypeError("fit/evaluate: x and y must be arrays")
    if len(x) != len(y):
        raise ValueError(f"fit/evaluate: x has {len(x)} samples but y has {len(y)}")
    if len(x) == 0:
        raise ValueError("fit/evaluate: got an empty data set")


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, mininterval=0.5)
