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
import json
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
from scratchnet.losses import BinaryCrossEntropy, Loss, SequenceCrossEntropy
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
from scratchnet.training.metrics import (
    accuracy,
    binary_accuracy,
    mean_absolute_error,
    mean_squared_error,
    top_k_accuracy,
)


class Trainer:
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
        self.metrics, self.derived_metrics = _metric_functions(metrics, loss)
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
        data = _data(x, y, "evaluate")
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
            _check_reiterable(x, "predict")
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
        if isinstance(data, _Arrays):
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
        data = _data(x, y, "fit")
        validation = None if validation_data is None else _validation(validation_data)
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
        called = callbacks if leader else [c for c in callbacks if not _rank_zero_only(c)]
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
        bar = _progress(_batch_count(data, batch_size), f"epoch {number}/{target}", bar_enabled)
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
            _average_buffers(self.model, dist)  # the ranks' running averages (BatchNorm), before evaluating
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

    # -- several ranks (scratchnet.distributed) -----------------------------------------------------------
    def _communicator(self) -> distributed.Communicator | None:
        """The ranks this trainer's ``DistributedOptimizer`` spans, when there are several; else None."""
        if isinstance(self.optimizer, distributed.DistributedOptimizer) and self.optimizer.comm.size > 1:
            return self.optimizer.comm
        return None

    def _prepare_distributed_data(
        self, dist: distributed.Communicator, data: Any, validation: Any, batch_size: int
    ) -> None:
        """Refuses what several ranks cannot train, before anything changes: a stateful recurrent layer (its
        carried state would be each rank's own, and a checkpoint holds rank 0's only), and data that does not
        give every rank the same number of samples and batches (a rank would wait alone for the others).
        Then gives a loader's own generator (``DataLoader.rng``) rank 0's state on every rank, so that an
        unseeded shuffling loader gives all ranks the same batches."""
        stateful = sorted(_stateful_layers(self.model))
        if stateful:
            raise ValueError(
                f"fit: stateful recurrent layers {stateful} cannot be trained on several ranks (each rank would "
                "carry the state of its own slice); train them in one process"
            )

        def shape(d: Any) -> Any:
            if d is None:
                return None
            if isinstance(d, _Arrays):
                return ("arrays", len(d.x))
            return ("batches", _batch_count(d, batch_size))

        mine = (batch_size, shape(data), shape(validation))
        found = dist.allgather(mine)
        if any(f != found[0] for f in found):
            raise ValueError(
                "fit: the ranks were given different data or batch sizes (batch size, training, validation "
                f"by rank: {found}); every rank passes the whole data set, and a DataLoader must give every "
                "rank the same batches in the same order (seed it the same)"
            )
        for d in (data, validation):
            rng = getattr(getattr(d, "batches", None), "rng", None)
            if isinstance(rng, np.random.Generator):
                rng.bit_generator.state = dist.bcast(rng.bit_generator.state)

    def _distributed_restore(
        self,
        dist: distributed.Communicator,
        ckpt: Path | None,
        early_stopping: EarlyStopping | None,
        epochs: int,
    ) -> Callable[[], None] | None:
        """``fit``'s resume on several ranks: rank 0 reads and checks the checkpoint (the only rank that needs
        to see the file) and sends it to all, each checks it against its own trainer, and a problem on any
        rank is raised on every rank before anything changes. Returns the step that applies it, or None
        when there is no checkpoint to resume from (then each rank's own state is checked)."""
        arrays, error = None, None
        if dist.rank == 0:
            try:
                if ckpt is not None and ckpt.exists():
                    source = str(ckpt)
                    arrays = load_arrays(ckpt, check=lambda headers: self._check_headers(headers, source))
            except Exception as exc:
                error = exc
        dist.agree(error, "fit (reading the checkpoint on rank 0)")
        arrays = dist.bcast(arrays)
        apply, error = None, None
        try:
            if arrays is not None:
                apply = self._prepare_checkpoint(arrays, early_stopping, str(ckpt), epochs)
            else:
                bad = _first_non_finite(self._capture(early_stopping))
                if bad is not None:
                    raise ValueError(
                        f"fit: the {_describe_entry(bad)} holds non-finite values before training"
                    )
        except Exception as exc:
            error = exc
        dist.agree(error, "fit")
        return apply

    def _take_rank_zero_state(
        self, dist: distributed.Communicator, early_stopping: EarlyStopping | None
    ) -> None:
        """Every rank takes rank 0's weights, buffers, optimizer state, random streams (the batch order's and
        the layers'), schedule, history and callbacks' progress: what a checkpoint holds. So the ranks start
        equal whatever each did before (built the model from another seed, did not seed at all)."""
        state = dist.bcast(self._capture(early_stopping) if dist.rank == 0 else None)
        apply, error = None, None
        if dist.rank != 0:
            try:
                apply = self._prepare_checkpoint(state, early_stopping, "rank 0's trainer")
            except Exception as exc:
                error = exc
        dist.agree(error, "fit (taking rank 0's state)")
        if apply is not None:
            apply()

    def _distributed_step(
        self, xb: Any, yb: Any, dist: distributed.Communicator
    ) -> tuple[float, dict[str, float]]:
        """One optimizer step on a global batch, of which this rank computes its slice: the gradients, weighted
        by the slice's share of the batch, and the slice's loss and metric sums are summed over the ranks in
        one Allreduce; returns the batch's loss and metrics (the same on every rank). A non-finite loss on any
        rank is returned without updating, on every rank."""
        n = len(xb)
        start, stop = distributed.shard(n, dist.rank, dist.size)
        names = list(self.metrics)
        extras = np.zeros(1 + len(names))
        weight = 0.0
        if stop > start:
            xl, yl = xb[start:stop], yb[start:stop]
            pred = self.model(xl)
            value = self.loss(pred, yl)
            if math.isfinite(value):
                scores = self._score(pred, yl)
                self.model.backprop(self.loss.backward(), params_only=True)
                extras[:] = [value, *(scores[k] for k in names)]
                extras *= stop - start
                weight = (stop - start) / n
            else:
                extras[0] = value  # NaN or inf: the sum is not finite on any rank
        sums = self.optimizer.synchronize(weight=weight, extras=extras)
        value = float(sums[0]) / n
        if not math.isfinite(value):
            return value, {}
        self.optimizer.step(synchronize=False)
        return value, {k: float(v) / n for k, v in zip(names, sums[1:])}

    def _seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        for i, (_, layer) in enumerate(self.model.named_layers()):
            if layer.rng is not None:
                layer.rng = np.random.default_rng([seed, i])

    # -- checkpoints ---------------------------------------------------------------------------------
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


class _Arrays:
    """Training or evaluation data given as arrays ``x`` and ``y``."""

    def __init__(self, x: Any, y: Any, who: str) -> None:
        if not hasattr(y, "shape"):
            raise TypeError(f"{who}: y must be an array like x, got {type(y).__name__}")
        if len(x) != len(y):
            raise ValueError(f"{who}: x has {len(x)} samples but y has {len(y)}")
        if len(x) == 0:
            raise ValueError(f"{who}: got an empty data set")
        self.x, self.y = x, y


class _Batches:
    """Training or evaluation data given as a ``DataLoader`` or another re-iterable of ``(x, y)`` batches."""

    def __init__(self, batches: Any) -> None:
        self.batches = batches


def _rank_zero_only(callback: Any) -> bool:
    """A callback that writes files (``ModelCheckpoint``, ``CSVLogger``, or one whose class sets
    ``rank_zero_only = True``) is called on rank 0 alone when several ranks train."""
    from scratchnet.callbacks import CSVLogger, ModelCheckpoint

    return isinstance(callback, ModelCheckpoint | CSVLogger) or bool(
        getattr(callback, "rank_zero_only", False)
    )


def _average_buffers(model: Layer, dist: distributed.Communicator) -> None:
    """Sets every floating-point buffer (BatchNorm's running mean and variance) to its mean over the ranks,
    which each updated from their own slices, so that all ranks evaluate and save the same model."""
    entries = [
        (layer.buffers, key)
        for _, layer in model.named_layers()
        for key, value in layer.buffers.items()
        if np.issubdtype(value.dtype, np.floating)
    ]
    if not entries:
        return
    flat = np.concatenate([np.asarray(table[key], dtype=np.float64).reshape(-1) for table, key in entries])
    dist.allreduce_(flat)
    flat /= dist.size
    offset = 0
    for table, key in entries:
        value = table[key]
        table[key] = flat[offset : offset + value.size].reshape(value.shape).astype(value.dtype)
        offset += value.size


def _check_reiterable(obj: Any, who: str) -> None:
    try:
        iterator = iter(obj)
    except TypeError:
        raise TypeError(
            f"{who}: expected arrays x and y, a DataLoader or a re-iterable of (x, y) batches, got "
            f"{type(obj).__name__}"
        ) from None
    if iterator is obj:  # a generator or an iterator: the second epoch would find it empty
        raise TypeError(
            f"{who}: got a one-pass iterator ({type(obj).__name__}), which would be empty after the first epoch; "
            "pass a DataLoader or a list of (x, y) batches"
        )


def _data(x: Any, y: Any, who: str) -> _Arrays | _Batches:
    """``fit``/``evaluate``'s data: arrays x and y, or (with y None) a re-iterable of batches as x."""
    if hasattr(x, "shape"):
        if y is None:
            raise TypeError(f"{who}: y is missing: pass targets y, or a DataLoader of (x, y) batches as x")
        return _Arrays(x, y, who)
    if y is not None:
        raise TypeError(f"{who}: x must be an array when y is given, got {type(x).__name__}")
    if isinstance(x, _Arrays | _Batches):
        return x
    _check_reiterable(x, who)
    if getattr(x, "y", True) is None:  # a DataLoader built without targets
        raise ValueError(f"{who}: the DataLoader has no targets (y); build it with DataLoader(x, y, ...)")
    return _Batches(x)


def _validation(data: Any) -> _Arrays | _Batches:
    if isinstance(data, tuple) and len(data) == 2 and hasattr(data[0], "shape"):
        return _Arrays(*data, "fit (validation_data)")
    if isinstance(data, tuple):
        raise TypeError(
            "fit: validation_data must be a pair of arrays (x, y) or a DataLoader of (x, y) batches"
        )
    return _data(data, None, "fit (validation_data)")


def _batch_count(data: _Arrays | _Batches, batch_size: int) -> int | None:
    if isinstance(data, _Arrays):
        return math.ceil(len(data.x) / batch_size)
    try:
        return len(data.batches)
    except TypeError:
        return None


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


def _metric_functions(metrics: Any, loss: Any) -> tuple[dict[str, Callable], list[str]]:
    """The per-batch metric functions by name, and the names of the metrics computed from the epoch's loss."""
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    if isinstance(metrics, dict):
        metrics = list(metrics.items())
    threshold = 0.0 if isinstance(loss, BinaryCrossEntropy) and loss.from_logits else 0.5
    if isinstance(loss, BinaryCrossEntropy):  # independent yes/no outputs, not one class per row
        scored_accuracy = lambda p, t: binary_accuracy(p, t, threshold)  # noqa: E731
    else:
        scored_accuracy = lambda p, t: accuracy(p, t, threshold)  # noqa: E731
    known: dict[str, Callable] = {
        "accuracy": scored_accuracy,
        "top_k_accuracy": top_k_accuracy,
        "mae": mean_absolute_error,
        "mse": mean_squared_error,
    }
    functions: dict[str, Callable] = {}
    derived: list[str] = []
    for m in metrics:
        if isinstance(m, str):
            if m == "perplexity":
                if not getattr(loss, "classification", False) or isinstance(loss, BinaryCrossEntropy):
                    raise ValueError(
                        f"Trainer: perplexity is the exponential of a cross-entropy, not of {loss!r}"
                    )
                name, fn = m, None
            elif m in known:
                name, fn = m, known[m]
            else:
                raise ValueError(
                    f"Trainer: unknown metric {m!r}; known: {sorted([*known, 'perplexity'])}, or a function"
                )
        elif isinstance(m, tuple) and len(m) == 2 and isinstance(m[0], str) and callable(m[1]):
            name, fn = m
        elif callable(m):
            name, fn = getattr(m, "__name__", None), m
            if not name or name == "<lambda>":
                raise ValueError(
                    f"Trainer: the metric {m!r:.60} has no name to record it under; pass ('name', function) "
                    "or {'name': function}"
                )
        else:
            raise TypeError(
                f"Trainer: a metric is a name, a function or a (name, function) pair, got {m!r:.60}"
            )
        if (
            name in ("loss", "lr", "time", "epoch")
            or name.startswith("val_")
            or name in functions
            or name in derived
        ):
            raise ValueError(f"Trainer: metric name {name!r} is taken (by the history or another metric)")
        if fn is None:
            derived.append(name)
        else:
            functions[name] = fn
    return functions, derived


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, mininterval=0.5)
