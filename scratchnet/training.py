"""The training loop: mini-batches, validation, history, early stopping, checkpoints and exact resumption.

``Trainer(model, loss, optimizer).fit(x, y, epochs, batch_size)`` runs mini-batch gradient descent:
for each batch, forward -> loss -> loss.backward -> model.backward -> optimizer.step. It records one row
per epoch (loss, metrics, validation loss/metrics, learning rate, seconds) in a ``History``.

Reproducibility: with ``seed`` given, the batch order and every stochastic layer's random stream are
derived from it, so two runs from identical initial weights are bit-identical at a fixed BLAS thread count
(OpenBLAS sums in a thread-count-dependent order; the compiled OpenMP kernels do not). Without it they all
come from the library's global generator, so ``scratchnet.seed(s)`` before building the model and the
trainer makes the whole run reproducible in the same way. A run resumed from a
checkpoint continues exactly as if it had not been interrupted: the checkpoint holds the weights, the
optimizer's and scheduler's state, the early-stopping progress, every random stream and the history.

Failure safety: a checkpoint is written atomically and never holds non-finite values; a non-finite loss,
metric, weight or optimizer state stops training and puts the trainer back at the end of the last good
epoch, and so does an exception raised during an epoch (then re-raised); a metric that cannot take the
model's output is refused on the first batch, before any update; loading a checkpoint checks all of it
before changing anything.
"""

from __future__ import annotations

import csv
import io
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
from scratchnet.model_io import (
    atomic_write,
    check_state_entries,
    load_arrays,
    load_state_dict,
    prepare_load_state,
    remove_stale_temporaries,
    save_arrays,
    state_dict,
)
from scratchnet.random import child_rng

CHECKPOINT_FORMAT = 2
_CHECKPOINT_GROUPS = ("model/", "optim/", "early/", "carried/")


def accuracy(pred: np.ndarray, target: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of correct predictions.

    pred (N, C) with C > 1: arg-max class against integer labels (N,) or (N, 1), or one-hot rows (N, C).
    pred (N, T, C) with C > 1 (sequence logits): the same at every step, against labels (N, T) or one-hot
    (N, T, C); every step counts once.
    pred (N,) or (N, 1): ``pred > threshold`` against 0/1 targets (N,) or (N, 1).
    Any other pair of shapes is a ValueError naming both.
    """
    xp = get_array_module(pred)
    target = xp.asarray(target)
    shape, target_shape = tuple(pred.shape), tuple(target.shape)
    if pred.ndim in (2, 3) and shape[-1] > 1:  # class scores on the last axis
        if target_shape == shape:
            labels = target.argmax(axis=-1)
        elif _without_unit_axis(target_shape) == shape[:-1]:
            labels = target.reshape(shape[:-1])
        else:
            raise ValueError(
                f"accuracy: targets {target_shape} do not fit class scores {shape}: expected labels "
                f"{shape[:-1]} or one-hot targets {shape}"
            )
        return float((pred.argmax(axis=-1) == labels).mean())
    if pred.ndim == 1 or (pred.ndim == 2 and shape[-1] == 1):  # one score per sample
        if _without_unit_axis(target_shape) != shape[:1]:
            raise ValueError(
                f"accuracy: targets {target_shape} do not fit scores {shape}: expected 0/1 targets "
                f"{shape[:1]} or {(*shape[:1], 1)}"
            )
        return binary_accuracy(pred, target, threshold)
    raise ValueError(
        f"accuracy: cannot score predictions {shape} against targets {target_shape}: it takes class scores "
        "(N, C) or (N, T, C), or one score per sample (N,) or (N, 1)"
    )


def binary_accuracy(pred: np.ndarray, target: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of elements with ``pred > threshold`` equal to ``target > 0.5``: one yes/no decision per
    element, for any shape (a multi-label (N, K) output scores N * K decisions). Targets have the
    prediction's shape ((N,) for an (N, 1) output is accepted); anything else is a ValueError naming both."""
    xp = get_array_module(pred)
    target = xp.asarray(target)
    shape, target_shape = tuple(pred.shape), tuple(target.shape)
    if _without_unit_axis(target_shape) != _without_unit_axis(shape):
        raise ValueError(f"binary_accuracy: targets {target_shape} do not match predictions {shape}")
    return float(((pred.reshape(-1) > threshold) == (target.reshape(-1) > 0.5)).mean())


def _without_unit_axis(shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` without a trailing axis of length 1 ((N, 1) -> (N,)), which labels and scores may carry."""
    return shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape


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
        """Writes the records and stop reason as JSON (atomically, like model files)."""
        text = json.dumps({"records": self.records, "stop_reason": self.stop_reason}, indent=1)
        atomic_write(path, lambda f: f.write(text.encode()))

    def to_csv(self, path: str | os.PathLike) -> None:
        """Writes one row per epoch, one column per key seen in any record (atomically)."""
        keys: list[str] = []
        for r in self.records:
            keys.extend(k for k in r if k not in keys)
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.records)
        atomic_write(path, lambda f: f.write(text.getvalue().encode()))

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


class Trainer:
    """Mini-batch training of ``model`` with ``loss`` and ``optimizer``.

    ``metrics`` are names ("accuracy") or callables ``f(pred, target) -> float``; by default they follow the
    loss: accuracy for a classification loss (``loss.classification``: the cross-entropies), none otherwise
    (a regression or an autoencoder records its loss only). With a binary cross-entropy, "accuracy" scores
    every output element as a yes/no decision (``binary_accuracy``). ``scheduler`` is stepped once per epoch
    (a ReduceLROnPlateau receives the validation loss, or the training loss without validation data).

    The batch order comes from ``rng``, spawned from the library's global generator (``scratchnet.seed``)
    unless ``fit(seed=...)`` replaces it.
    """

    def __init__(
        self,
        model: Layer,
        loss: Loss,
        optimizer: Any,
        metrics: Sequence[str | Callable] | None = None,
        scheduler: Any = None,
    ) -> None:
        self.model, self.loss, self.optimizer, self.scheduler = model, loss, optimizer, scheduler
        if metrics is None:
            # accuracy means something only where the loss scores classes: an autoencoder or a regression
            # would get a number that looks like a score and is not one
            metrics = ("accuracy",) if getattr(loss, "classification", False) else ()
        self.metrics: dict[str, Callable] = {}
        threshold = 0.0 if isinstance(loss, BinaryCrossEntropy) and loss.from_logits else 0.5
        for m in metrics:
            if m == "accuracy":
                if isinstance(loss, BinaryCrossEntropy):  # independent yes/no outputs, not one class per row
                    self.metrics["accuracy"] = lambda p, t: binary_accuracy(p, t, threshold)
                else:
                    self.metrics["accuracy"] = lambda p, t: accuracy(p, t, threshold)
            elif callable(m):
                self.metrics[getattr(m, "__name__", f"metric{len(self.metrics)}")] = m
            else:
                raise ValueError(f"Trainer: unknown metric {m!r} (use 'accuracy' or a callable)")
        self.history = History()
        self.epoch = 0
        # derived from scratchnet.seed without drawing from it, so that seeding the library reproduces the
        # batch order too, and building a Trainer leaves the initial weights of later models as they were
        self.rng = child_rng()

    # -- one step and evaluation ---------------------------------------------------------------------
    def train_step(self, xb: np.ndarray, yb: np.ndarray) -> tuple[float, np.ndarray]:
        """Forward, backward and one optimizer update on a batch; returns (loss, predictions).

        A non-finite loss is returned without updating, so the weights stay the last good ones."""
        value, pred, _ = self._train_step(xb, yb, score=False)
        return value, pred

    def _train_step(
        self, xb: np.ndarray, yb: np.ndarray, score: bool
    ) -> tuple[float, np.ndarray, dict[str, float]]:
        """``train_step`` that also returns the metrics of the predictions when ``score`` is set (else {})."""
        pred = self.model.forward(xb)
        value = self.loss.forward(pred, yb)
        if not math.isfinite(value):
            return value, pred, {}
        # scored before the update: a metric that cannot take the model's output is refused before it has
        # changed the weights or the optimizer
        scores = self._score(pred, yb) if score else {}
        self.model.backward_params(self.loss.backward())  # the input is data: no dx needed
        self.optimizer.step()
        return value, pred, scores

    def _score(self, pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
        """Every metric of (pred, target); a metric that cannot take them is a ValueError naming it and both
        shapes (the metric's own error, often a bare broadcasting message, is chained)."""
        scores = {}
        for name, fn in self.metrics.items():
            try:
                scores[name] = float(fn(pred, target))
            except (TypeError, ValueError, IndexError) as exc:
                raise ValueError(
                    f"Trainer: metric {name!r} cannot take the model's output {_shape_of(pred)} with targets "
                    f"{_shape_of(target)}: {exc}"
                ) from exc
        return scores

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
                row = {"loss": self.loss.forward(pred, yb), **self._score(pred, yb)}
                for k, v in row.items():
                    totals[k] = totals.get(k, 0.0) + v * len(xb)
        finally:
            self.model.train(was_training)
        return {k: float(v) / len(x) for k, v in totals.items()}

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

        With ``checkpoint_dir``, ``checkpoint.npz`` there is rewritten every ``checkpoint_every`` epochs, at
        the last epoch and when early stopping ends the run; ``resume=True`` continues from it exactly (pass
        the same scheduler and early stopping), or, when it holds a run that early stopping ended, returns
        that run's history without training. A failed resume changes nothing.

        A non-finite loss, validation loss or metric, or non-finite weights or optimizer state after an
        epoch, stop training with a warning and ``history.stop_reason`` set: the model, optimizer, schedule,
        random streams and history are put back to the end of the last good epoch, and the last good
        checkpoint is left as it was. An exception raised during an epoch (by the data, the loss, a metric,
        the scheduler, or a KeyboardInterrupt) puts them back the same way and propagates; a metric that
        cannot take the model's output raises a ValueError naming it and both shapes on the first batch,
        before the first update.
        """
        _check_xy(x, y)
        if validation_data is not None:
            _check_xy(*validation_data)
        if not _is_int(epochs) or epochs < 0:
            raise ValueError(f"fit: epochs must be an integer >= 0, got {epochs!r}")
        if batch_size < 1:
            raise ValueError(f"fit: batch_size must be >= 1, got {batch_size}")
        if checkpoint_every < 1:
            raise ValueError(f"fit: checkpoint_every must be >= 1, got {checkpoint_every}")
        if early_stopping is not None:
            self._check_monitored(early_stopping, validation_data is not None)
        ckpt = Path(checkpoint_dir) / "checkpoint.npz" if checkpoint_dir is not None else None
        if ckpt is not None and self.scheduler is not None and not _has_state(self.scheduler):
            raise TypeError(
                f"fit: checkpoints need the scheduler's state, but {type(self.scheduler).__name__} has no "
                "state_dict() and load_state_dict()"
            )
        if resume and ckpt is None:
            raise ValueError("fit: resume=True needs checkpoint_dir")
        restore = None
        if resume and ckpt.exists():
            restore = self._prepare_checkpoint_file(ckpt, early_stopping, epochs)
        else:
            bad = _first_non_finite(self._capture(early_stopping))
            if bad is not None:
                raise ValueError(f"fit: the {_describe_entry(bad)} holds non-finite values before training")
        # everything is checked: from here on the trainer changes
        if restore is not None:
            restore()
            if self.history.stop_reason is not None:  # a finished run: it ends as it ended
                return self.history
        elif seed is not None:
            self._seed(seed)
        self.history.stop_reason = None
        if ckpt is not None:
            remove_stale_temporaries(ckpt)
        self.model.train()
        last_good = self._capture(early_stopping)
        problem = None
        try:
            while self.epoch < epochs:
                captured, stopping, problem = self._run_epoch(
                    x, y, epochs, batch_size, validation_data, shuffle, progress, verbose, early_stopping
                )
                if problem is not None:
                    self._prepare_checkpoint(last_good, early_stopping, "the last good state")()
                    self.history.stop_reason = problem
                    break
                last_good = captured
                if ckpt is not None and (
                    self.epoch % checkpoint_every == 0 or self.epoch == epochs or stopping
                ):
                    save_arrays(ckpt, captured)
                if stopping:
                    break
        except BaseException:
            # anything raised in an epoch (by the data, the loss, a metric, the scheduler, Ctrl-C) leaves the
            # trainer as at the end of the last good epoch, weights, optimizer, schedule, random streams and
            # history together, as a resume from its checkpoint would; then it propagates. (A failed
            # checkpoint write comes after its epoch was kept: that epoch is the last good one.)
            self._prepare_checkpoint(last_good, early_stopping, "the last good state")()
            raise
        if problem is not None:  # warned outside the try: a warning turned into an error changes nothing more
            warnings.warn(
                f"training stopped: {problem}; the trainer is back at the end of epoch {self.epoch}"
                + (f", last good checkpoint kept in {ckpt}" if ckpt else ""),
                RuntimeWarning,
                stacklevel=2,
            )
        return self.history

    def _run_epoch(
        self,
        x: np.ndarray,
        y: np.ndarray,
        epochs: int,
        batch_size: int,
        validation_data: tuple[np.ndarray, np.ndarray] | None,
        shuffle: bool,
        progress: bool,
        verbose: bool,
        early_stopping: EarlyStopping | None,
    ) -> tuple[dict[str, np.ndarray], bool, None] | tuple[None, bool, str]:
        """One epoch of ``fit``: returns the state captured at its end (``_capture``: the new last good state),
        whether early stopping ends the run, and None; or, after a non-finite value, (None, True, what was
        non-finite where), and ``fit`` puts the trainer back at the end of the last good epoch."""
        n = len(x)
        n_batches = math.ceil(n / batch_size)
        start = time.perf_counter()
        order = self.rng.permutation(n) if shuffle else np.arange(n)
        totals: dict[str, float] = {}
        bar = _progress(n_batches, f"epoch {self.epoch + 1}/{epochs}", progress)
        problem = None
        try:
            for b in range(n_batches):
                idx = order[b * batch_size : (b + 1) * batch_size]
                yb = y[idx]
                value, _, scores = self._train_step(x[idx], yb, score=True)
                if not math.isfinite(value):
                    problem = f"non-finite loss in epoch {self.epoch + 1}, batch {b + 1}"
                    break
                totals["loss"] = totals.get("loss", 0.0) + value * len(idx)
                for name, score in scores.items():
                    totals[name] = totals.get(name, 0.0) + score * len(idx)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(
                        loss=f"{totals['loss'] / min(n, (b + 1) * batch_size):.4f}", refresh=False
                    )
        finally:
            if bar is not None:
                bar.close()
        stopping = False
        if problem is None:
            record: dict[str, float] = {"epoch": self.epoch + 1}
            record.update({k: float(v) / n for k, v in totals.items()})
            if validation_data is not None:
                record.update({f"val_{k}": v for k, v in self.evaluate(*validation_data).items()})
            record["lr"] = float(self.optimizer.lr)
            record["time"] = time.perf_counter() - start
            bad = [k for k, v in record.items() if not math.isfinite(v)]
            if bad:
                problem = f"non-finite {', '.join(bad)} in epoch {self.epoch + 1}"
        if problem is None:
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
            if early_stopping is not None and early_stopping.update(self.epoch, record, self.model):
                stopping = True
                self.history.stop_reason = (
                    f"early stopping: {early_stopping.monitor} did not improve for "
                    f"{early_stopping.patience} epochs"
                )
                if early_stopping.restore_best and early_stopping.best_state is not None:
                    load_state_dict(self.model, early_stopping.best_state)
            captured = self._capture(early_stopping)
            bad_entry = _first_non_finite(captured)
            if bad_entry is not None:
                problem = f"non-finite {_describe_entry(bad_entry)} after epoch {self.epoch}"
        if problem is not None:
            return None, True, problem
        return captured, stopping, None

    def _check_monitored(self, early_stopping: EarlyStopping, validating: bool) -> None:
        names = ["loss", *self.metrics]
        available = ["epoch", *names, *(f"val_{k}" for k in names if validating), "lr", "time"]
        if early_stopping.monitor not in available:
            raise KeyError(
                f"EarlyStopping: {early_stopping.monitor!r} is not in the history ({sorted(available)}); "
                "pass validation_data to monitor validation metrics"
            )

    def _seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        for i, (_, layer) in enumerate(self.model.named_layers()):
            if layer.rng is not None:
                layer.rng = np.random.default_rng([seed, i])

    # -- checkpoints ---------------------------------------------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike, early_stopping: EarlyStopping | None = None) -> None:
        """Model weights and buffers, optimizer state, scheduler, early-stopping progress, RNG states, epoch
        and history in one .npz (atomic write). Refuses (ValueError) to write non-finite state."""
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
