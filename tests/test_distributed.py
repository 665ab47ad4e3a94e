"""Data parallelism over MPI (``scratchnet.distributed``): the pieces on one process, then whole runs under
``mpiexec -n 2`` (and 3) that must end where one process ends, resume across rank counts, write every file
once, and end every rank within seconds when one of them fails.

The ``mpiexec`` runs need the ``[mpi]`` extra (mpi4py and MPICH); without it they are skipped, with the reason,
except in CI (``CI`` set), where that would hide them: there they fail."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from toy_data import blobs

import scratchnet as sn
from scratchnet import distributed, optim
from scratchnet.layers import Dense, ReLU
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.training import Trainer

WORKER = Path(__file__).parent / "support" / "mpi_worker.py"
LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE")
FLOAT64_BOUND = 1e-10  # the bound: only the order of the additions differs
FLOAT32_BOUND = 1e-5  # measured 6e-8 on the weights after 24 steps (README "Past one machine")


# -- one process ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 5, 7, 32, 225])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_shards_cover_a_batch_once_in_order(n, size):
    bounds = [distributed.shard(n, r, size) for r in range(size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert [b - a for a, b in bounds] == [len(part) for part in np.array_split(np.arange(n), size)]


def test_without_a_launcher_init_is_one_process(monkeypatch):
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(distributed, "_world", None)
    comm = distributed.init()
    assert (comm.rank, comm.size, comm.mpi) == (0, 1, None) and distributed.init() is comm
    buffer = np.arange(3.0)
    assert comm.allreduce_(buffer) is buffer and buffer.tolist() == [0, 1, 2]
    assert comm.bcast("x") == "x" and comm.allgather(5) == [5]


def test_a_launcher_without_mpi4py_is_refused(monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setenv("PMI_RANK", "1")
    monkeypatch.setattr(distributed, "_world", None)
    monkeypatch.setattr(distributed, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"mpi4py is missing.*\[mpi\]"):
        distributed.init()


def classifier(opt_wrap=None, seed=0, clip_norm=None):
    sn.seed(seed)
    model = sn.Sequential([Dense(2, 16), ReLU(), Dense(16, 3)])
    inner = optim.Adam(model.parameters(), lr=0.05, clip_norm=clip_norm)
    opt = opt_wrap(inner) if opt_wrap else inner
    return model, Trainer(model, SoftmaxCrossEntropy(), opt, scheduler=optim.StepLR(inner, 1, 0.5), seed=1)


def test_on_one_process_a_distributed_optimizer_trains_bit_for_bit_as_its_optimizer(tmp_path):
    x, y = blobs(150)
    plain_model, plain = classifier()
    plain.fit(x, y, epochs=3, batch_size=32, validation_data=(x[:40], y[:40]), verbose=0)
    model, trainer = classifier(distributed.DistributedOptimizer)
    assert trainer.optimizer.comm.size == 1
    trainer.fit(
        x, y, epochs=3, batch_size=32, validation_data=(x[:40], y[:40]), verbose=0, checkpoint_dir=tmp_path
    )
    for a, b in zip(plain_model.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.value, b.value)
    assert plain.history.records[-1] == {
        **trainer.history.records[-1],
        "time": plain.history.records[-1]["time"],
    }
    # the schedule set the wrapped optimizer's rate, which the wrapper shows; its checkpoint is the wrapped one's
    assert trainer.optimizer.lr == trainer.optimizer.optimizer.lr == 0.05 * 0.5**3
    other_model, other = classifier()
    other.load_checkpoint(tmp_path / "checkpoint.npz")
    for a, b in zip(other_model.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.value, b.value)
    assert other.optimizer.step_count == trainer.optimizer.step_count


def test_the_wrapper_reads_and_writes_the_wrapped_optimizers_attributes():
    model = sn.Sequential([Dense(2, 3)])
    inner = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt = distributed.DistributedOptimizer(inner)
    opt.lr = 0.25
    assert inner.lr == 0.25 and opt.momentum == 0.9 and opt.params is inner.params
    assert opt.state_dict()["type"] == "SGD"
    with pytest.raises(TypeError, match="already distributed"):
        distributed.DistributedOptimizer(opt)
    with pytest.raises(ValueError, match="bucket_bytes"):
        distributed.DistributedOptimizer(inner, bucket_bytes=0)


class ThreadRanks:
    """``size`` ranks as threads of this process: a communicator each, whose allreduce sums their buffers."""

    def __init__(self, size: int) -> None:
        self.size, self.slots, self.calls = size, [None] * size, 0
        self.barrier = threading.Barrier(size)

    def comm(self, rank: int) -> distributed.Communicator:
        ranks = self

        class Rank(distributed.Communicator):
            def __init__(self) -> None:
                self.mpi, self.rank, self.size = None, rank, ranks.size

            def allreduce_(self, buffer):
                ranks.slots[rank] = buffer.copy()
                ranks.barrier.wait()
                total = np.sum(ranks.slots, axis=0, dtype=buffer.dtype)
                ranks.barrier.wait()
                if rank == 0:
                    ranks.calls += 1
                buffer[...] = total
                return buffer

        return Rank()

    def run(self, work):
        results, errors = [None] * self.size, []

        def target(rank):
            try:
                results[rank] = work(rank, self.comm(rank))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
                self.barrier.abort()

        threads = [threading.Thread(target=target, args=(r,)) for r in range(self.size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        return results


@pytest.mark.parametrize("bucket_bytes", [None, 40, 10**6])
def test_synchronize_sums_the_weighted_gradients_and_the_extras_in_one_allreduce_per_bucket(bucket_bytes):
    grads = {}

    def work(rank, comm):
        model = sn.Sequential([Dense(3, 4), ReLU(), Dense(4, 2)])
        opt = distributed.DistributedOptimizer(optim.SGD(model.parameters(), lr=0.1), comm, bucket_bytes)
        r = np.random.default_rng(rank)
        for p in model.parameters():
            p.layer.grads[p.key] = r.standard_normal(p.value.shape).astype(p.value.dtype)
        grads[rank] = [p.grad.copy() for p in model.parameters()]
        # 40 bytes: W (48 bytes, alone), b (16), then W2 with b2 (32 + 8)
        extras = opt.synchronize(weight=[0.25, 0.75][rank], extras=[rank + 1.0, 10.0])
        return [p.grad.copy() for p in model.parameters()], extras, len(opt._buckets)

    ranks = ThreadRanks(2)
    (g0, e0, buckets), (g1, e1, _) = ranks.run(work)
    assert e0.tolist() == e1.tolist() == [3.0, 20.0]
    for a, b, x, y in zip(g0, g1, grads[0], grads[1]):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, 0.25 * x + 0.75 * y, rtol=1e-6)
    assert buckets == {None: 1, 40: 3, 10**6: 1}[bucket_bytes] and ranks.calls == buckets


def test_clipping_sees_the_averaged_gradients():
    def work(rank, comm):
        model = sn.Sequential([Dense(2, 2)]).astype(np.float64)
        model.layers[0].params["W"][...] = 0.0
        model.layers[0].params["b"][...] = 0.0
        opt = distributed.DistributedOptimizer(optim.SGD(model.parameters(), lr=1.0, clip_norm=1.0), comm)
        for p in model.parameters():  # the two ranks' gradients cancel: the mean is small and not clipped
            p.layer.grads[p.key] = np.full(p.value.shape, [3.0, -2.9][rank])
        opt.step()
        return [p.value.copy() for p in model.parameters()]

    first, second = ThreadRanks(2).run(work)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(
            a, -0.05, rtol=1e-12
        )  # the mean 0.05 stepped whole; clipped per rank: ~0.5


def test_rank_generators_differ_by_rank_and_leave_the_shared_one_as_after_one_draw():
    def draws(rank, size):
        sn.seed(0)
        model = sn.Sequential([Dense(2, 2), sn.layers.Dropout(0.5)])
        comm = distributed.Communicator()
        comm.rank, comm.size = rank, size
        shared = model.layers[1].rng
        with distributed.rank_generators(model, comm):
            inside = model.layers[1].rng.random(4)
        assert model.layers[1].rng is shared
        return inside, shared.random()

    (a, after_a), (b, after_b) = draws(0, 2), draws(1, 2)
    assert not np.allclose(a, b) and after_a == after_b


def test_stateful_layers_are_refused_on_several_ranks():
    sn.seed(0)
    model = sn.Sequential([sn.layers.LSTM(2, 4, stateful=True, return_sequences=False), Dense(4, 3)])
    comm = distributed.Communicator()
    comm.rank, comm.size = 0, 2  # never reaches a collective: refused first
    trainer = Trainer(model, SoftmaxCrossEntropy(), distributed.DistributedOptimizer(optim.Adam(model), comm))
    x = np.zeros((4, 3, 2), np.float32)
    with pytest.raises(ValueError, match="stateful recurrent layers"):
        trainer.fit(x, np.zeros(4, int), epochs=1, verbose=0)


# -- under mpiexec -----------------------------------------------------------------------------------------
def _mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def _needs_mpi() -> None:
    reason = None
    if not distributed.is_available():
        reason = "the [mpi] extra is missing (mpi4py): pip install -e '.[mpi]'"
    elif _mpiexec() is None:
        reason = "no mpiexec on PATH: pip install -e '.[mpi]' installs MPICH's"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}: the data-parallel tests would vanish")
        pytest.skip(reason)


@pytest.fixture
def mpi() -> None:
    """The test runs mpiexec: skipped (failed in CI) first, before any one-process reference run."""
    _needs_mpi()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    return env


def _run(out: Path, config: dict, ranks: int = 0, mode: str = "train", timeout: float = 180):
    """The worker alone (``ranks`` 0) or under ``mpiexec -n ranks``; returns (completed process, seconds)."""
    command = [sys.executable, str(WORKER), mode, str(out), json.dumps(config)]
    if ranks:
        _needs_mpi()
        command = [_mpiexec(), "-n", str(ranks), *command]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=_env(), check=False)
    return proc, time.perf_counter() - started


def _train(out: Path, config: dict, ranks: int = 0) -> dict:
    proc, _ = _run(out, config, ranks)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return {r: dict(np.load(out / f"rank{r}.npz")) for r in range(max(ranks, 1))}


def _state(result: dict) -> dict[str, np.ndarray]:
    return {k: v for k, v in result.items() if k.startswith(("w/", "b/"))}


def _history(result: dict) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "time"} for r in json.loads(str(result["history"]))]


def _deviation(a: dict, b: dict) -> float:
    """The largest difference between two runs' weights, buffers and history values."""
    state = max(float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in _state(a))
    history = max(abs(x[k] - y[k]) for x, y in zip(_history(a), _history(b)) for k in x)
    assert len(_history(a)) == len(_history(b)) and _state(a).keys() == _state(b).keys()
    return max(state, history)


CONFIG = {"n": 225, "batch_size": 32, "epochs": 3}  # the last batch holds 1 sample: a rank gets none


@pytest.mark.parametrize(
    "ranks, extra",
    [(2, {}), (2, {"bucket_bytes": 2000, "scatter_init": True}), (3, {}), (2, {"loader_seed": "rank"})],
    ids=["2-ranks", "2-ranks-buckets-different-init", "3-ranks", "2-ranks-dataloaders-seeded-apart"],
)
def test_several_ranks_end_where_one_process_ends_in_float64(tmp_path, mpi, ranks, extra):
    one = _train(tmp_path / "one", {**CONFIG, **extra})[0]
    many = _train(tmp_path / "many", {**CONFIG, **extra}, ranks)
    assert _deviation(one, many[0]) <= FLOAT64_BOUND
    for r in range(1, ranks):  # the ranks hold the same model, bit for bit
        assert all(np.array_equal(many[0][k], many[r][k]) for k in _state(many[0]))
        assert _history(many[r]) == _history(many[0])
    # rank 0 alone wrote the checkpoint, the CSV log and the best model, each once per epoch at most
    written = [json.loads(str(many[r]["replaced"])) for r in range(ranks)]
    assert written[0].count("checkpoint.npz") == 3 and "log.csv" in written[0] and "best.npz" in written[0]
    assert all(w == [] for w in written[1:])
    assert sorted(p.name for p in (tmp_path / "many" / "ckpt").iterdir()) == ["checkpoint.npz"]
    meta = json.loads(str(many[0]["meta"]))
    assert meta["stats"]["steps"] == 3 * 8


def test_two_ranks_end_where_one_process_ends_in_float32(tmp_path, mpi):
    config = {**CONFIG, "dtype": "float32"}
    one = _train(tmp_path / "one", config)[0]
    two = _train(tmp_path / "two", config, 2)
    assert 0 < _deviation(one, two[0]) <= FLOAT32_BOUND


def test_batchnorm_and_dropout_train_on_two_ranks_which_stay_equal(tmp_path, mpi):
    config = {**CONFIG, "n": 228, "bn": True}  # each rank's slice of the last batch holds 2 samples
    two = _train(tmp_path, config, 2)
    assert all(np.array_equal(two[0][k], two[1][k]) for k in _state(two[0]))  # running averages averaged
    history = _history(two[0])
    assert history[-1]["loss"] < history[0]["loss"]


@pytest.mark.parametrize("first, then", [(2, 0), (0, 2)], ids=["2-ranks-then-1", "1-then-2-ranks"])
def test_a_run_resumes_on_another_number_of_ranks(tmp_path, mpi, first, then):
    whole = _train(tmp_path / "whole", {**CONFIG, "epochs": 4})[0]
    _train(tmp_path / "split", {**CONFIG, "epochs": 2, "run_epochs": 4}, first)
    resumed = _train(tmp_path / "split", {**CONFIG, "epochs": 4, "resume": True}, then)[0]
    assert [r["epoch"] for r in _history(resumed)] == [1, 2, 3, 4]
    assert _deviation(whole, resumed) <= FLOAT64_BOUND


def test_a_loop_of_ones_own_broadcasts_the_weights_and_averages_the_gradients(tmp_path, mpi):
    one, _ = _run(tmp_path / "one", {}, mode="manual")
    two, _ = _run(tmp_path / "two", {}, ranks=2, mode="manual")
    assert one.returncode == two.returncode == 0, one.stderr[-2000:] + two.stderr[-2000:]
    alone = dict(np.load(tmp_path / "one" / "rank0.npz"))
    ranks = [dict(np.load(tmp_path / "two" / f"rank{r}.npz")) for r in range(2)]
    for key, value in alone.items():  # rank 1 built its model from seed 1, then took rank 0's (seed 0)
        np.testing.assert_array_equal(ranks[0][key], ranks[1][key])
        assert float(np.max(np.abs(ranks[0][key] - value))) <= FLOAT64_BOUND


@pytest.mark.parametrize("where", ["fit", "script", "kill"])
def test_a_failing_rank_ends_every_rank_within_seconds(tmp_path, mpi, where):
    """Rank 1 raises in a callback during epoch 2 (rank 0 waits for it in the Allreduce), raises in the script
    before fit (rank 0 waits at the start of fit), or is killed: every rank exits, with the error."""
    proc, seconds = _run(
        tmp_path, {**CONFIG, "fail_rank": 1, "where": where}, ranks=2, mode="fault", timeout=120
    )
    assert proc.returncode != 0 and seconds < 30, (proc.returncode, seconds)
    if where != "kill":
        assert "injected failure on rank 1" in proc.stderr and "aborting every rank" in proc.stderr
    if where == "fit":  # the checkpoint of epoch 1 is whole: rank 0 wrote it, alone and atomically
        from scratchnet.model_io import load_arrays

        meta = json.loads(str(load_arrays(tmp_path / "ckpt" / "checkpoint.npz")["meta"]))
        assert meta["epoch"] == 1
        assert [p.name for p in (tmp_path / "ckpt").iterdir()] == ["checkpoint.npz"]
