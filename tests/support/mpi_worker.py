"""The program ``tests/test_distributed.py`` runs under ``mpiexec -n K`` (and alone, as the one-process
reference): ``python tests/support/mpi_worker.py MODE OUT_DIR [options as JSON]``.

Modes:

* ``train``: a small CNN + MLP on synthetic images, Adam with gradient clipping that clips and a per-step
  warm-up/cosine schedule, batches that do not divide evenly (the last one holds one sample, so one rank gets
  none), validation data, a checkpoint, a CSVLogger and a ModelCheckpoint. Each rank writes ``rank<r>.npz``
  (final weights, history, the files it replaced) to OUT_DIR.
* ``fault``: the same, with a callback that raises on rank ``fail_rank`` during epoch 2 (``where: "fit"``), or
  an exception raised by the script itself on that rank before it calls fit (``where: "script"``).
* ``manual``: ``broadcast_parameters`` and ``DistributedOptimizer.step()`` in a loop of one's own.
* ``speed``: the course CNN on MNIST digits, timed (see ``benchmark``); the README's figures come from
  ``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2 python tests/support/mpi_worker.py speed OUT '{"n": 3000}'`` and
  ``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 mpiexec -n 2 python tests/support/mpi_worker.py speed OUT '{"n": 3000}'``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import scratchnet as sn
from scratchnet import distributed, optim
from scratchnet.callbacks import Callback, CSVLogger, ModelCheckpoint
from scratchnet.datasets import DataLoader
from scratchnet.layers import BatchNorm1D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.training import Trainer

replaced: list[str] = []  # every file this process put in place (atomic writes end in os.replace)
_real_replace = os.replace


def _logging_replace(src, dst, *args, **kwargs):
    replaced.append(os.path.basename(os.fspath(dst)))
    return _real_replace(src, dst, *args, **kwargs)


os.replace = _logging_replace


def images(n: int, seed: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Three classes of 8x8 one-channel images: a bright row, column or diagonal, in noise."""
    r = np.random.default_rng(seed)
    y = r.integers(0, 3, n)
    x = 0.5 * r.standard_normal((n, 1, 8, 8))
    pos = r.integers(1, 7, n)
    for i in range(n):
        if y[i] == 0:
            x[i, 0, pos[i], :] += 1.0
        elif y[i] == 1:
            x[i, 0, :, pos[i]] += 1.0
        else:
            x[i, 0, np.arange(8), np.arange(8)] += 1.0
    return x.astype(dtype), y


def build(config: dict) -> tuple[sn.Sequential, Trainer, distributed.Communicator]:
    comm = distributed.init()
    dtype = np.dtype(config.get("dtype", "float64"))
    # rank 1 builds its model from another seed: fit starts every rank from rank 0's state anyway
    sn.seed(config.get("init_seed", 0) + (comm.rank if config.get("scatter_init") else 0))
    layers = [Conv2D(1, 4, 3, padding="same"), ReLU(), MaxPool2D(2), Flatten(), Dense(64, 16), ReLU()]
    if config.get("bn"):
        layers += [BatchNorm1D(16), Dropout(0.2)]
    model = sn.Sequential([*layers, Dense(16, 3)]).astype(dtype)
    inner = optim.Adam(model.parameters(), lr=0.02, clip_norm=config.get("clip_norm", 0.5))
    opt = distributed.DistributedOptimizer(inner, bucket_bytes=config.get("bucket_bytes"))
    # the schedule spans the whole run, also when this call trains its first epochs only (then resumes)
    steps = config.get("run_epochs", config["epochs"]) * -(-config["n"] // config["batch_size"])
    schedule = optim.WarmupCosineLR(inner, warmup_steps=3, total_steps=steps)
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, metrics=["accuracy"], scheduler=schedule, seed=7)
    return model, trainer, comm


class FailOn(Callback):
    """Raises (or, with ``kill``, SIGKILLs its process) on one rank at one batch."""

    def __init__(self, rank: int, epoch: int, batch: int, kill: bool = False) -> None:
        self.where = (rank, epoch, batch)
        self.epoch, self.kill = 0, kill

    def on_epoch_begin(self, epoch, logs):
        self.epoch = epoch

    def on_batch_end(self, batch, logs):
        if (self.trainer.optimizer.comm.rank, self.epoch, batch) == self.where:
            if self.kill:
                os.kill(os.getpid(), 9)
            raise RuntimeError(f"injected failure on rank {self.where[0]}, epoch {self.epoch}, batch {batch}")


def train(out: Path, config: dict) -> None:
    model, trainer, comm = build(config)
    dtype = np.dtype(config.get("dtype", "float64"))
    x, y = images(config["n"], 1, dtype)
    validation = images(101, 2, dtype)
    callbacks = [
        CSVLogger(out / "log.csv"),
        ModelCheckpoint(out / "best.npz", monitor="val_loss", save_best_only=True),
    ]
    if "fail_rank" in config:
        if config.get("where") == "script" and comm.rank == config["fail_rank"]:
            raise RuntimeError(f"injected failure on rank {comm.rank} before fit")
        callbacks.append(FailOn(config["fail_rank"], 2, 3, kill=config.get("where") == "kill"))
    data = (x, y)
    if "loader_seed" in config:  # "rank": each rank seeds its loader differently; fit gives them rank 0's
        seed = comm.rank if config["loader_seed"] == "rank" else config["loader_seed"]
        data = (DataLoader(x, y, batch_size=config["batch_size"], seed=seed), None)
    started = time.perf_counter()
    history = trainer.fit(
        *data,
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        validation_data=validation,
        callbacks=callbacks,
        checkpoint_dir=out / "ckpt" if config.get("checkpoint", True) else None,
        resume=config.get("resume", False),
        verbose=2,
    )
    seconds = time.perf_counter() - started
    arrays = {f"w/{r.name}": r.value for r in model.parameters()}
    for name, layer in model.named_layers():
        arrays.update({f"b/{name}.{k}": v for k, v in layer.buffers.items()})
    arrays["history"] = np.array(json.dumps(history.records))
    arrays["replaced"] = np.array(json.dumps(replaced))
    arrays["meta"] = np.array(
        json.dumps({"size": comm.size, "seconds": seconds, "stats": trainer.optimizer.stats})
    )
    np.savez(out / f"rank{comm.rank}.npz", **arrays)


def manual(out: Path, config: dict) -> None:
    """A loop of one's own: each rank builds its model from its own seed, takes rank 0's weights with
    ``broadcast_parameters``, and steps a ``DistributedOptimizer`` on its half of each batch of 64."""
    comm = distributed.init()
    sn.seed(comm.rank)
    model = sn.Sequential([Dense(64, 16), ReLU(), Dense(16, 3)]).astype(np.float64)
    distributed.broadcast_parameters(model)
    first = {f"w/{r.name}": r.value.copy() for r in model.parameters()}
    opt = distributed.DistributedOptimizer(optim.SGD(model.parameters(), lr=0.1, momentum=0.9, clip_norm=1.0))
    loss = SoftmaxCrossEntropy()
    x, y = images(64 * 5, 3, np.float64)
    x = x.reshape(len(x), -1)
    for b in range(5):
        xb, yb = x[64 * b : 64 * (b + 1)], y[64 * b : 64 * (b + 1)]
        start, stop = distributed.shard(64, comm.rank, comm.size)
        loss(model(xb[start:stop]), yb[start:stop])
        model.backprop(loss.backward(), params_only=True)
        opt.step()
    arrays = {f"w/{r.name}": r.value for r in model.parameters()}
    arrays.update({f"first/{k}": v for k, v in first.items()})
    np.savez(out / f"rank{comm.rank}.npz", **arrays)


def course_cnn() -> sn.Sequential:
    """The course's simple CNN (benchmarks/bench_training.py): 3x3 conv 32, pool, 3x3 conv 64, pool, dense 10."""
    return sn.Sequential(
        [
            Conv2D(1, 32, 3, padding="same"),
            ReLU(),
            MaxPool2D(2),
            Conv2D(32, 64, 3, padding="same"),
            ReLU(),
            MaxPool2D(2),
            Flatten(),
            Dense(7 * 7 * 64, 10),
        ]
    )


class StepClock(Callback):
    """Wall time of every optimizer step (from one on_batch_end to the next)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_batch_end(self, batch, logs):
        self.times.append(time.perf_counter())


def benchmark(out: Path, config: dict) -> None:
    """The course CNN on the embedded MNIST digits, Adam 1e-3, global batch 100: steps per second after a
    warm-up epoch, and the seconds per step spent in Allreduce (waiting for the slower rank included)."""
    from scratchnet.datasets import load_mnist_5k

    comm = distributed.init()
    data = load_mnist_5k(as_images=True)
    pick = np.random.default_rng(0).permutation(len(data.x))[
        : config.get("n", 3000)
    ]  # the file is sorted by label
    x, y = data.x.astype(np.float32)[pick], data.y[pick]
    sn.seed(0)
    model = course_cnn()
    opt = distributed.DistributedOptimizer(optim.Adam(model.parameters(), lr=1e-3))
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, seed=0)
    trainer.fit(x[:500], y[:500], epochs=1, batch_size=100, verbose=0)  # warm-up
    clock = StepClock()
    before = dict(opt.stats)
    trainer.fit(x, y, epochs=2, batch_size=100, verbose=0, callbacks=[clock])
    steps = opt.stats["steps"] - before["steps"]
    spent = opt.stats["allreduce_seconds"] - before["allreduce_seconds"]
    gaps = np.diff(clock.times)
    # the Allreduce alone, the ranks lined up by a barrier first: the transport's cost, without the waiting
    # for the slower rank that the per-step figure includes
    buffer = np.ones(opt.stats["bytes_per_step"] // 4, np.float32)
    alone = []
    for _ in range(50):
        comm.barrier()
        started = time.perf_counter()
        comm.allreduce_(buffer)
        alone.append(time.perf_counter() - started)
    report = {
        "rank": comm.rank,
        "size": comm.size,
        "threads": sn.backend.num_threads(),
        "steps_per_second": float(1 / np.median(gaps)),
        "mean_step_seconds": float(np.mean(gaps)),
        "allreduce_ms_per_step": 1000 * spent / steps if steps else 0.0,
        "allreduce_alone_ms": 1000 * float(np.median(alone)) if comm.size > 1 else 0.0,
        "gradient_bytes": opt.stats["bytes_per_step"],
        "final_loss": trainer.history.records[-1]["loss"],
    }
    if comm.rank == 0:
        (out / f"speed-{comm.size}.json").write_text(json.dumps(report))
        print(json.dumps(report))


def main() -> None:
    mode, out = sys.argv[1], Path(sys.argv[2])
    config = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    out.mkdir(parents=True, exist_ok=True)
    if mode in ("train", "fault"):
        train(out, config)
    elif mode == "manual":
        manual(out, config)
    elif mode == "speed":
        benchmark(out, config)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
