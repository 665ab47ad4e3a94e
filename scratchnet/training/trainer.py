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

Several ranks (``mpiexec -n K``, ``scratchnet.distributed``): with a ``DistributedOptimizer`` spanning several
ranks, ``fit`` starts every rank from rank 0's state (weights, optimizer, random streams, history: what a
checkpoint holds; on resume, the checkpoint rank 0 reads), then each rank takes its slice of every global batch,
whose order is the one a single process with the same seed draws, and the gradients, losses and metrics are
summed over the ranks in one Allreduce per step, so the run is one process's up to rounding. Evaluation is
sharded the same way. Rank 0 alone writes checkpoints, ``CSVLogger`` and ``ModelCheckpoint`` files (and those
of callbacks that set ``rank_zero_only = True``), prints and warns; an exception on one rank ends every rank
(``MPI.Abort``), since the others would wait for it forever. BatchNorm, dropout and what differs from one
process: ``scratchnet.distributed``.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scratchnet import distributed
from scratchnet.backend import get_array_module
from scratchnet.layers.base import Layer
from scratchnet.losses import Loss, SequenceCrossEntropy
from scratchnet.model_io import (
    load_state_dict,
    remove_stale_temporaries,
    save_arrays,
)
from scratchnet.random import child_rng
from scratchnet.training.checkpoints import (
    Checkpointing,
    _describe_entry,
    _first_non_finite,
    _has_state,
    _is_int,
    _shape_of,
)
from scratchnet.training.data import Arrays, as_data, as_validation, batch_count, check_reiterable
from scratchnet.training.early_stopping import EarlyStopping
from scratchnet.training.history import History
from scratchnet.training.metrics import metric_functions
from scratchnet.training.parallel import DataParallel, average_buffers, rank_zero_only


class Trainer(Checkpointing, DataParallel):
    """Mini-batch training of ``model`` with ``loss`` and ``optimizer``.

    ``metrics``: names (``"accuracy"``, ``"top_k_accuracy"`` (k=5), ``"mae"``, ``"mse"``, ``"perplexity"``:
    see ``scratchnet.training.metrics``), functions ``f(pred, target) -> float`` recorded under their
    ``__name__``, ``(name, function)`` pairs, or a dict ``{name: function}`` (a lambda needs a name given with
    it). By default they follow the loss: accuracy for a classification loss (``loss.classification``: the
    cross-entropies), and perplexity too for ``SequenceCrossEntropy``; none for a regression or an autoencoder,
    which record their loss only. With a binary cross-entropy, "accuracy" scores every output element as a
    yes/no decision (``binary_accuracy``).

    ``scheduler`` is stepped once per epoch (a ReduceLROnPlateau receives the validation loss, or the training
    loss without validation data), or after every optimizer step when it says ``per_step = True`` (warm-up
    and one-cycle schedules).

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
        for what, value, example in (
            ("loss", loss, "SoftmaxCrossEntropy()"),
            ("optimizer", optimizer, "Adam(...)"),
        ):
            if isinstance(value, type):
                raise TypeError(
                    f"Trainer: {what} must be an instance, got the class {value.__name__}; e.g. {example}"
                )
        if not (callable(getattr(loss, "forward", None)) and callable(getattr(loss, "backward", None))):
            raise TypeError(
                f"Trainer: loss must have forward and backward (scratchnet.losses), got {loss!r:.80}"
            )
        if not callable(getattr(optimizer, "step", None)):
            raise TypeError(f"Trainer: optimizer must have step() (scratchnet.optim), got {optimizer!r:.80}")
        self.model, self.loss, self.optimizer, self.scheduler = model, loss, optimizer, scheduler
        if metrics is None:
            # accuracy means something only where the loss scores classes: an autoencoder or a regression
            # would get a number that looks like a score and is not one
            metrics = ("accuracy",) if getattr(loss, "classification", False) else ()
            if isinstance(loss, SequenceCrossEntropy):
                metrics += ("perplexity",)
        self.metrics, self.derived_metrics = metric_functions(metrics, loss)
        self.history = History()
        self.epoch = 0
        # derived from scratchnet.seed without drawing from it, so that seeding the library reproduces the
        # batch order too, and building a Trainer leaves the initial weights of later models as they were
        self.rng = child_rng() if seed is None else np.random.default_rng(seed)
        self.stop_training = False  # a callback sets it to end training after the current epoch
        self._callbacks: list[Any] = []  # those of the running fit: their progress goes into checkpoints
        self._called: list[Any] = []  # those of them called on this rank (all but file writers on rank > 0)

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

    def evaluate(self, x: Any, y: Any = None, batch_size: int = 1024) -> dict[str, float]:
        """Mean loss and metrics in eval mode (the model's mode is restored afterwards), each batch weighted by
        its size: over arrays ``x``, ``y`` in batches of ``batch_size``, or over the ``(x, y)`` batches of a
        ``DataLoader`` or any re-iterable of batches passed as ``x``. Returns ``{"loss": ..., metric: ...}``.
        With a ``DistributedOptimizer`` on several ranks it is collective: every rank calls it with the same
        data, scores its slice of each batch, and all get the sums over the ranks."""
        data = as_data(x, y, "evaluate")
        dist = self._communicator()
        was_training = self.model.training
        self.model.eval()
        totals: dict[str, float] = {}
        seen = 0
        try:
            for xb, yb in self._batches(data, batch_size, shuffle=False):
                if dist is not None:  # this rank's slice of the batch; the sums are reduced below
                    start, stop = distributed.shard(len(xb), dist.rank, dist.size)
                    xb, yb = xb[start:stop], yb[start:stop]
                    if len(xb) == 0:
                        continue
                pred = self.model(xb)
                row = {"loss": self.loss(pred, yb), **self._score(pred, yb)}
                for k, v in row.items():
                    totals[k] = totals.get(k, 0.0) + v * len(xb)
                seen += len(xb)
        finally:
            self.model.train(was_training)
        if dist is not None:
            names = ["loss", *self.metrics]
            sums = dist.allreduce_(np.array([seen, *(totals.get(k, 0.0) for k in names)], dtype=np.float64))
            seen, totals = int(sums[0]), dict(zip(names, sums[1:].tolist()))
        if seen == 0:
            raise ValueError("evaluate: the data gave no batch")
        return self._with_derived({k: float(v) / seen for k, v in totals.items()})

    def predict(self, x: Any, batch_size: int = 1024) -> np.ndarray:
        """The model's outputs in eval mode (its mode is restored afterwards), concatenated over the batch
        axis: for an array ``x`` in batches of ``batch_size``, or for the batches of a ``DataLoader`` or
        re-iterable of ``x`` or ``(x, y)`` batches (targets are ignored; a shuffling loader gives its order)."""
        if hasattr(x, "shape"):
            if len(x) == 0:
                raise ValueError("predict: got an empty data set")
            batches = (x[i : i + batch_size] for i in range(0, len(x), batch_size))
        else:
            check_reiterable(x, "predict")
            batches = (item[0] if isinstance(item, tuple | list) else item for item in x)
        was_training = self.model.training
        self.model.eval()
        try:
            outs = [self.model(xb) for xb in batches]
        finally:
            self.model.train(was_training)
        if not outs:
            raise ValueError("predict: the data gave no batch")
        return get_array_module(outs[0]).concatenate(outs)

    def _batches(self, data: Any, batch_size: int, shuffle: bool) -> Any:
        """The ``(xb, yb)`` batches of one pass: over arrays, a fresh permutation from the trainer's
        generator (``shuffle``); over a loader or re-iterable, its own batches in its own order."""
        if isinstance(data, Arrays):
            n = len(data.x)
            order = self.rng.permutation(n) if shuffle else np.arange(n)
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size] if shuffle else slice(start, start + batch_size)
                yield data.x[idx], data.y[idx]
            return
        for item in data.batches:
            if not isinstance(item, tuple | list) or len(item) != 2 or item[1] is None:
                raise ValueError(
                    f"the data gave a batch that is not an (x, y) pair with targets: {type(item).__name__}"
                )
            yield item[0], item[1]

    def _with_derived(self, record: dict[str, float], prefix: str = "") -> dict[str, float]:
        """``record`` with the metrics computed from the epoch's mean loss (perplexity = exp(loss))."""
        if "perplexity" in self.derived_metrics and f"{prefix}loss" in record:
            loss = record[f"{prefix}loss"]
            record[f"{prefix}perplexity"] = math.exp(loss) if loss < 700 else math.inf
        return record

    # -- the loop ------------------------------------------------------------------------------------
    def fit(
        self,
        x: Any,
        y: Any = None,
        epochs: int = 1,
        batch_size: int = 32,
        *,
        validation_data: Any = None,
        seed: int | None = None,
        shuffle: bool = True,
        progress: bool = True,
        early_stopping: EarlyStopping | None = None,
        callbacks: Sequence[Any] | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int = 1,
        resume: bool = False,
        verbose: int | bool = 1,
    ) -> History:
        """Trains ``epochs`` more epochs; returns the history (``self.history``, one record per epoch).

        Data: arrays ``x`` and ``y`` (each epoch in a fresh order from the trainer's generator when
        ``shuffle``, in batches of ``batch_size``), or a ``DataLoader`` or any re-iterable of ``(x, y)``
        batches as ``x`` (its own batches, in its own order; ``batch_size`` and ``shuffle`` do not apply).
        ``validation_data`` is an ``(x, y)`` pair of arrays or a loader, evaluated after every epoch.

        ``verbose``: 0 silent; 1 (default) a progress bar while an epoch runs and one line per epoch, as
        Keras prints; 2 the line only. ``callbacks``: ``scratchnet.callbacks`` objects (an ``EarlyStopping``
        may be given there instead of ``early_stopping=``), called at the start and end of training, of
        every epoch and after every batch.

        Each call trains ``epochs`` epochs more than the trainer has run (calling ``fit(epochs=1)`` twice
        trains two epochs); a call with nothing to train warns. With ``checkpoint_dir``, ``checkpoint.npz``
        there is rewritten every ``checkpoint_every`` epochs, at the last epoch and when early stopping ends
        the run; ``resume=True`` continues the run saved there exactly, up to ``epochs`` epochs in total
        (the number the interrupted call was given; pass the same scheduler, early stopping and callbacks),
        or, when it holds a run that early stopping ended, returns that run's history without training. A
        failed resume changes nothing.

        A non-finite loss, validation loss or metric, or non-finite weights or optimizer state after an
        epoch, stop training with a warning and ``history.stop_reason`` set: the model, optimizer, schedule,
        callbacks' progress, random streams and history are put back to the end of the last good epoch,
        and the last good checkpoint is left as it was (on several ranks every rank decides alike: the values
        are the ranks' together). An exception raised during an epoch (by the data,
        the loss, a metric, a callback, the scheduler, or a KeyboardInterrupt) puts them back the same way
        and propagates; a metric that cannot take the model's output raises a ValueError naming it and both
        shapes on the first batch, before the first update.
        """
        data = as_data(x, y, "fit")
        validation = None if validation_data is None else as_validation(validation_data)
        if not _is_int(epochs) or epochs < 0:
            raise ValueError(f"fit: epochs must be an integer >= 0, got {epochs!r}")
        if not _is_int(batch_size) or batch_size < 1:
            raise ValueError(f"fit: batch_size must be an integer >= 1, got {batch_size!r}")
        if not _is_int(checkpoint_every) or checkpoint_every < 1:
            raise ValueError(f"fit: checkpoint_every must be an integer >= 1, got {checkpoint_every!r}")
        verbose = _check_verbose(verbose)
        callbacks, early_stopping = _split_callbacks(callbacks, early_stopping)
        if early_stopping is not None:
            self._check_monitored(early_stopping, validation is not None)
        ckpt = Path(checkpoint_dir) / "checkpoint.npz" if checkpoint_dir is not None else None
        if ckpt is not None and self.scheduler is not None and not _has_state(self.scheduler):
            raise TypeError(
                f"fit: checkpoints need the scheduler's state, but {type(self.scheduler).__name__} has no "
                "state_dict() and load_state_dict()"
            )
        if resume and ckpt is None:
            raise ValueError("fit: resume=True needs checkpoint_dir")
        dist = self._communicator()
        if dist is not None:
            self._prepare_distributed_data(dist, data, validation, batch_size)
        previous_callbacks, self._callbacks = self._callbacks, callbacks
        try:
            restore = None
            if dist is not None:
                restore = self._distributed_restore(dist, ckpt if resume else None, early_stopping, epochs)
            elif resume and ckpt.exists():
                restore = self._prepare_checkpoint_file(ckpt, early_stopping, epochs)
            else:
                bad = _first_non_finite(self._capture(early_stopping))
                if bad is not None:
                    raise ValueError(
                        f"fit: the {_describe_entry(bad)} holds non-finite values before training"
                    )
        except BaseException:
            self._callbacks = previous_callbacks
            raise
        # everything is checked: from here on the trainer changes
        if restore is not None:
            restore()
            if self.history.stop_reason is not None:  # a finished run: it ends as it ended
                self._callbacks = previous_callbacks
                return self.history
            target = epochs
        else:
            if seed is not None:
                self._seed(seed)
            if dist is not None:
                self._take_rank_zero_state(dist, early_stopping)
            target = self.epoch + epochs
        leader = dist is None or dist.rank == 0  # the one that writes files, prints and warns
        if target <= self.epoch:
            self._callbacks = previous_callbacks
            if leader:
                warnings.warn(
                    f"fit: nothing to train: the trainer has run {self.epoch} epochs"
                    + (
                        f" and the checkpoint's run asked for {epochs}"
                        if restore is not None
                        else f" and epochs={epochs}"
                    ),
                    RuntimeWarning,
                    stacklevel=2,
                )
            return self.history
        self.history.stop_reason = None
        self.stop_training = False
        if ckpt is not None and leader:
            remove_stale_temporaries(ckpt)
        self.model.train()
        for callback in callbacks:
            callback.trainer = self
        # on ranks other than 0, the callbacks that write files are not called (their progress is rank 0's)
        called = callbacks if leader else [c for c in callbacks if not rank_zero_only(c)]
        previous_called, self._called = self._called, called
        last_good = self._capture(early_stopping)
        problem = None
        guard = distributed.abort_on_error(dist) if dist is not None else contextlib.nullcontext()
        try:
            with guard:  # several ranks: an exception on one ends them all, the others waiting for it
                try:
                    for callback in called:
                        callback.on_train_begin(
                            dict(self.history.records[-1]) if self.history.records else {}
                        )
                    while self.epoch < target:
                        captured, stopping, problem = self._run_epoch(
                            data, target, batch_size, validation, shuffle, progress and verbose == 1 and leader,
                            verbose if leader else 0, early_stopping, dist,
                        )  # fmt: skip
                        if problem is not None:
                            self._prepare_checkpoint(last_good, early_stopping, "the last good state")()
                            self.history.stop_reason = problem
                            break
                        last_good = captured
                        if (
                            ckpt is not None
                            and leader
                            and (self.epoch % checkpoint_every == 0 or self.epoch == target or stopping)
                        ):
                            save_arrays(ckpt, captured)
                        if stopping:
                            break
                    if problem is None:
                        for callback in called:
                            callback.on_train_end(
                                dict(self.history.records[-1]) if self.history.records else {}
                            )
                except BaseException:
                    # anything raised in an epoch (by the data, the loss, a metric, a callback, the scheduler,
                    # Ctrl-C) leaves the trainer as at the end of the last good epoch, weights, optimizer,
                    # schedule, callbacks, random streams and history together, as a resume from its
                    # checkpoint would; then it propagates. (A failed checkpoint write comes after its epoch was
                    # kept: that epoch is the last good one.)
                    self._prepare_checkpoint(last_good, early_stopping, "the last good state")()
                    raise
        finally:
            self._callbacks, self._called = previous_callbacks, previous_called
        if problem is not None and leader:  # warned outside the try: a warning turned into an error changes
            warnings.warn(  # nothing more
                f"training stopped: {problem}; the trainer is back at the end of epoch {self.epoch}"
                + (f", last good checkpoint kept in {ckpt}" if ckpt else ""),
                RuntimeWarning,
                stacklevel=2,
            )
        return self.history

    def _run_epoch(
        self,
        data: Any,
        target: int,
        batch_size: int,
        validation: Any,
        shuffle: bool,
        bar_enabled: bool,
        verbose: int,
        early_stopping: EarlyStopping | None,
        dist: distributed.Communicator | None = None,
    ) -> tuple[dict[str, np.ndarray], bool, None] | tuple[None, bool, str]:
        """One epoch of ``fit``: returns the state captured at its end (``_capture``: the new last good state),
        whether the run ends here (early stopping or a callback), and None; or, after a non-finite value,
        (None, True, what was non-finite where), and ``fit`` puts the trainer back at the end of the last good
        epoch.

        With ``dist`` (several ranks), each rank trains on its slice of every batch and the losses, metrics and
        stop requests are those of all ranks together, so every rank takes the same decisions."""
        number = self.epoch + 1
        start = time.perf_counter()
        per_step = bool(getattr(self.scheduler, "per_step", False))
        for callback in self._called:
            callback.on_epoch_begin(number, {})
        totals: dict[str, float] = {}
        seen = 0
        bar = _progress(batch_count(data, batch_size), f"epoch {number}/{target}", bar_enabled)
        problem = None
        streams = (
            distributed.rank_generators(self.model, dist) if dist is not None else contextlib.nullcontext()
        )
        try:
            with streams:
                for b, (xb, yb) in enumerate(self._batches(data, batch_size, shuffle), start=1):
                    if dist is None:
                        value, _, scores = self._train_step(xb, yb, score=True)
                    else:
                        value, scores = self._distributed_step(xb, yb, dist)
                    if not math.isfinite(value):
                        problem = f"non-finite loss in epoch {number}, batch {b}"
                        break
                    seen += len(xb)
                    totals["loss"] = totals.get("loss", 0.0) + value * len(xb)
                    for name, score in scores.items():
                        totals[name] = totals.get(name, 0.0) + score * len(xb)
                    if per_step:
                        self.scheduler.step()
                    if self._called:
                        logs = {
                            "loss": value,
                            **scores,
                            "mean_loss": totals["loss"] / seen,
                            "lr": float(self.optimizer.lr),
                        }
                        for callback in self._called:
                            callback.on_batch_end(b, logs)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{totals['loss'] / seen:.4f}", refresh=False)
        finally:
            if bar is not None:
                bar.close()
        if problem is None and seen == 0:
            raise ValueError(f"fit: the data gave no batch in epoch {number}")
        stopping = False
        if problem is None and dist is not None:
            average_buffers(self.model, dist)  # the ranks' running averages (BatchNorm), before evaluating
        if problem is None:
            record: dict[str, float] = {"epoch": number}
            record.update(self._with_derived({k: float(v) / seen for k, v in totals.items()}))
            if validation is not None:
                record.update({f"val_{k}": v for k, v in self.evaluate(validation).items()})
            record["lr"] = float(self.optimizer.lr)
            record["time"] = time.perf_counter() - start
            bad = [k for k, v in record.items() if not math.isfinite(v)]
            if bad:
                problem = f"non-finite {', '.join(bad)} in epoch {number}"
        if problem is None:
            self.history.records.append(record)
            self.epoch += 1
            if verbose:
                print(_epoch_line(record, target), flush=True)
            if self.scheduler is not None and not per_step:
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
            for callback in self._called:
                callback.on_epoch_end(number, dict(record))
            if dist is not None:  # a callback called on rank 0 alone may have asked to stop
                self.stop_training = bool(dist.allreduce_max(int(self.stop_training)))
            if self.stop_training and not stopping:
                stopping = True
                self.history.stop_reason = f"stopped by a callback after epoch {number}"
            captured = self._capture(early_stopping)
            bad_entry = _first_non_finite(captured)
            if bad_entry is not None:
                problem = f"non-finite {_describe_entry(bad_entry)} after epoch {self.epoch}"
        if problem is not None:
            return None, True, problem
        return captured, stopping, None

    def _check_monitored(self, early_stopping: EarlyStopping, validating: bool) -> None:
        names = ["loss", *self.metrics, *self.derived_metrics]
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


def _check_verbose(verbose: Any) -> int:
    if isinstance(verbose, bool):
        return int(verbose)  # True: the progress bar and the lines, as verbose=1
    if not _is_int(verbose) or verbose not in (0, 1, 2):
        raise ValueError(
            f"fit: verbose must be 0 (silent), 1 (bar and one line per epoch) or 2 (lines), got {verbose!r}"
        )
    return int(verbose)


def _split_callbacks(
    callbacks: Any, early_stopping: EarlyStopping | None
) -> tuple[list[Any], EarlyStopping | None]:
    """The callbacks to call, and the early stopping (given either way) that ``fit`` runs itself."""
    from scratchnet.callbacks import Callback

    if callbacks is None:
        return [], early_stopping
    if isinstance(callbacks, Callback | EarlyStopping) or not isinstance(callbacks, list | tuple):
        raise TypeError(f"fit: callbacks must be a list of callbacks, got {type(callbacks).__name__}")
    plain = []
    for callback in callbacks:
        if isinstance(callback, EarlyStopping):
            if early_stopping is not None and early_stopping is not callback:
                raise ValueError("fit: two EarlyStopping given (early_stopping= and in callbacks); keep one")
            early_stopping = callback
        elif isinstance(callback, Callback):
            plain.append(callback)
        else:
            raise TypeError(
                f"fit: {callback!r:.60} is not a callback: subclass scratchnet.callbacks.Callback"
            )
    return plain, early_stopping


def _epoch_line(record: dict[str, float], target: int) -> str:
    """One line per epoch, as Keras prints: ``epoch 3/10 - 1.2s - loss 0.3412 - accuracy 0.9012 - ...``."""
    parts = [f"epoch {int(record['epoch'])}/{target}", f"{record['time']:.1f}s"]
    parts += [f"{k} {v:.4g}" for k, v in record.items() if k not in ("epoch", "time")]
    return " - ".join(parts)


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, mininterval=0.5)
