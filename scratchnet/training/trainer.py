"""The training loop: mini-batches, validation, history, early stopping, checkpoints and exact resumption.

``Trainer(model, loss, optimizer).fit(x, y, epochs, batch_size)`` runs mini-batch gradient descent:
for each batch, ``model(x)`` -> ``loss(pred, y)`` -> ``loss.backward()`` -> ``model.backprop(...)`` ->
``optimizer.step()``. It records one row
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
    check_state_entries,
    load_arrays,
    load_state_dict,
    prepare_load_state,
    remove_stale_temporaries,
    save_arrays,
    state_dict,
)
from scratchnet.random import child_rng
from scratchnet.training.checkpoints import (
    CHECKPOINT_FORMAT,
    _check_carried_entries,
    _check_presence,
    _describe_entry,
    _first_non_finite,
    _generator_from_state,
    _group_entries,
    _has_state,
    _is_int,
    _parse_history,
    _prepare_carried,
    _shape_of,
    _stateful_layers,
    _to_host_copy,
)
from scratchnet.training.early_stopping import EarlyStopping
from scratchnet.training.history import History
from scratchnet.training.metrics import accuracy, binary_accuracy


class Trainer:
    """Mini-batch training of ``model`` with ``loss`` and ``optimizer``.

    ``metrics`` are names ("accuracy") or callables ``f(pred, target) -> float``; by default they follow the
    loss: accuracy for a classification loss (``loss.classification``: the cross-entropies), none otherwise
    (a regression or an autoencoder records its loss only). With a binary cross-entropy, "accuracy" scores
    every output element as a yes/no decision (``binary_accuracy``). ``scheduler`` is stepped once per epoch
    (a ReduceLROnPlateau receives the validation loss, or the training loss without validation data).

    The batch order comes from ``rng``: ``np.random.default_rng(seed)`` when ``seed`` is given, else spawned
    from the library's global generator (``scratchnet.seed``); ``fit(seed=...)`` reseeds it and the layers'
    generators.
    """

    def __init__(
        self,
        model: Layer,
        loss: Loss,
        optimizer: Any,
        metrics: Sequence[str | Callable] | None = None,
        scheduler: Any = None,
        seed: int | None = None,
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
        self.rng = child_rng() if seed is None else np.random.default_rng(seed)

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
        pred = self.model(xb)
        value = self.loss(pred, yb)
        if not math.isfinite(value):
            return value, pred, {}
        # scored before the update: a metric that cannot take the model's output is refused before it has
        # changed the weights or the optimizer
        scores = self._score(pred, yb) if score else {}
        self.model.backprop(self.loss.backward(), params_only=True)  # the input is data: no dx needed
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
                pred = self.model(xb)
                row = {"loss": self.loss(pred, yb), **self._score(pred, yb)}
                for k, v in row.items():
                    totals[k] = totals.get(k, 0.0) + v * len(xb)
        finally:
            self.model.train(was_training)
        return {k: float(v) / len(x) for k, v in totals.items()}

    def predict(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        try:
            outs = [self.model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
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
