"""The Trainer on several ranks (``scratchnet.distributed``): the methods ``fit`` and ``evaluate`` call when the
optimizer is a ``DistributedOptimizer`` spanning more than one rank, mixed into ``Trainer``."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from scratchnet import distributed
from scratchnet.layers.base import Layer
from scratchnet.model_io import (
    load_arrays,
)
from scratchnet.training.checkpoints import (
    _describe_entry,
    _first_non_finite,
    _stateful_layers,
)
from scratchnet.training.data import Arrays, batch_count
from scratchnet.training.early_stopping import EarlyStopping


class DataParallel:
    """Mixed into ``Trainer``: sharding, rank 0's state on every rank, one Allreduce per step."""

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
            if isinstance(d, Arrays):
                return ("arrays", len(d.x))
            return ("batches", batch_count(d, batch_size))

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


def rank_zero_only(callback: Any) -> bool:
    """A callback that writes files (``ModelCheckpoint``, ``CSVLogger``, or one whose class sets
    ``rank_zero_only = True``) is called on rank 0 alone when several ranks train."""
    from scratchnet.callbacks import CSVLogger, ModelCheckpoint

    return isinstance(callback, ModelCheckpoint | CSVLogger) or bool(
        getattr(callback, "rank_zero_only", False)
    )


def average_buffers(model: Layer, dist: distributed.Communicator) -> None:
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
