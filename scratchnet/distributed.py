r"""Data-parallel training over MPI (mpi4py), Horovod-style: the same model on every rank, each rank a slice of
every batch, and the gradients averaged before each update.

Why it gives the same result as one process. A loss that is a mean over the samples of a batch of :math:`N`
has the gradient :math:`g = \frac1N \sum_{i} \nabla \ell_i`. Split the batch into slices of :math:`n_r` samples,
one per rank, and rank :math:`r` computes the mean over its slice, :math:`g_r = \frac1{n_r} \sum_{i \in r}
\nabla \ell_i`. Then

.. math::
    g = \sum_r \frac{n_r}{N}\, g_r ,

one weighted sum over the ranks: an Allreduce. Every rank then holds the same :math:`g`, takes the same
optimizer step from the same weights, and stays identical to the others and to a single process that saw the
whole batch; only the order of the floating-point additions differs.

The pieces (mpi4py and an MPI library come with the extra: ``pip install -e ".[mpi]"``, which installs
``mpi4py`` and ``mpich``, whose ``mpiexec`` needs no system set-up):

* ``init()``: the communicator (``rank``, ``size``); size 1, without importing mpi4py, when the process was
  not started by ``mpiexec`` (so the same script runs alone, with or without the extra; under ``mpiexec``
  without mpi4py it refuses, rather than train K copies that write the same files). It also makes an uncaught exception
  on any rank end every rank (``MPI.Abort``) instead of leaving the others waiting, and gives each rank's
  compiled kernels its share of the node's CPUs (unless ``OMP_NUM_THREADS`` is set).
* ``broadcast_parameters(model, root=0)``: every rank takes ``root``'s weights and buffers.
* ``DistributedOptimizer(optimizer)``: ``step()`` sums ``weight x gradient`` over the ranks (by default the
  weight is ``1/size``: the mean) with one in-place Allreduce per bucket of a flat buffer (one bucket unless
  ``bucket_bytes`` is given), then runs the wrapped optimizer's step, so its gradient clipping, weight decay and
  state see the averaged gradients. Everything else (``lr``, ``state_dict``, ...) is the wrapped optimizer's,
  so checkpoints move between any numbers of ranks.
* ``Trainer.fit`` recognises a ``DistributedOptimizer`` (see ``scratchnet.training.trainer``): each rank trains
  on its slice of every global batch, evaluation is sharded and its sums reduced, rank 0 alone writes
  checkpoints, history files and the progress line.

What differs from one process, by design:

* BatchNorm normalises each rank's slice with that slice's statistics (as Horovod and PyTorch's DDP do
  without SyncBatchNorm); its running averages are averaged over the ranks at the end of every epoch, so all
  ranks evaluate and save the same model. Keep each rank's slice at 2 samples or more.
* Dropout (and any layer drawing from its ``rng``) draws its masks on each rank from a stream of its own,
  derived from the shared one at the start of every epoch (``rank_generators``), so the masks are as random
  as in one process but not the same masks.
* Metrics are summed as sample-weighted means of the slices: exact for per-sample means (accuracy, MAE,
  MSE, top-k), not for a metric that is not one.

The Trainer is exact (float64: within 1e-10 of one process after a short run, ``tests/test_distributed.py``)
for models without BatchNorm or dropout, with losses that are means over samples.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import time
import traceback
from collections.abc import Iterator
from typing import Any

import numpy as np

from scratchnet.layers.base import Layer

__all__ = [
    "Communicator",
    "DistributedOptimizer",
    "abort_on_error",
    "broadcast_parameters",
    "init",
    "is_available",
    "rank_generators",
    "shard",
]

#: environment variables that MPI launchers set in the processes they start (MPICH's Hydra and PMI-2/PMIx
#: launchers such as Slurm's srun: PMI_*/PMIX_*; Open MPI: OMPI_COMM_WORLD_*)
# before MPI.Abort after a rank's error message: the launcher forwards a rank's stderr asynchronously, and an
# abort right after the write lost the message once in a CI run (tests/test_distributed.py)
ABORT_GRACE_SECONDS = 0.2
_LAUNCHER_RANK = ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK")
_LAUNCHER_SIZE = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")

_world: Communicator | None = None


def is_available() -> bool:
    """True when mpi4py is installed (the ``[mpi]`` extra), so ``mpiexec -n K`` runs K ranks."""
    return importlib.util.find_spec("mpi4py") is not None


def launched_size() -> int | None:
    """The number of ranks an MPI launcher started this process among: 1 when none did, None when one did
    without saying how many."""
    for name in _LAUNCHER_SIZE:
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return None if any(os.environ.get(name) for name in _LAUNCHER_RANK) else 1


class Communicator:
    """``rank`` and ``size``, and the few collectives data-parallel training needs, over an mpi4py
    communicator (``mpi``), or over none for a single process (``rank`` 0, ``size`` 1, every collective a
    copy)."""

    def __init__(self, mpi: Any = None) -> None:
        self.mpi = mpi
        self.rank = 0 if mpi is None else int(mpi.Get_rank())
        self.size = 1 if mpi is None else int(mpi.Get_size())

    def __repr__(self) -> str:
        return f"Communicator(rank={self.rank}, size={self.size}{'' if self.mpi else ', no MPI'})"

    def allreduce_(self, buffer: np.ndarray) -> np.ndarray:
        """Sums ``buffer`` (a contiguous NumPy array) over the ranks, in place; returns it."""
        if self.mpi is not None and self.size > 1:
            from mpi4py import MPI

            self.mpi.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        return buffer

    def allreduce_max(self, value: float) -> float:
        """The largest of the ranks' ``value``."""
        if self.mpi is None or self.size == 1:
            return value
        from mpi4py import MPI

        return self.mpi.allreduce(value, op=MPI.MAX)

    def bcast(self, obj: Any, root: int = 0) -> Any:
        """``root``'s ``obj`` (any picklable object) on every rank."""
        return obj if self.mpi is None or self.size == 1 else self.mpi.bcast(obj, root=root)

    def Bcast(self, array: np.ndarray, root: int = 0) -> None:  # noqa: N802 (mpi4py's name)
        """Overwrites ``array`` (contiguous) with ``root``'s, in place."""
        if self.mpi is not None and self.size > 1:
            self.mpi.Bcast(array, root=root)

    def allgather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order."""
        return [obj] if self.mpi is None or self.size == 1 else self.mpi.allgather(obj)

    def barrier(self) -> None:
        if self.mpi is not None and self.size > 1:
            self.mpi.Barrier()

    def abort(self, code: int = 1) -> None:
        """Ends every rank now (``MPI_Abort``); a single process exits with ``code``."""
        sys.stderr.flush()
        sys.stdout.flush()
        if self.mpi is not None:
            self.mpi.Abort(code)
        os._exit(code)

    def local_size(self) -> int:
        """The number of ranks on this machine (sharing its memory)."""
        if self.mpi is None or self.size == 1:
            return 1
        from mpi4py import MPI

        node = self.mpi.Split_type(MPI.COMM_TYPE_SHARED)
        try:
            return int(node.Get_size())
        finally:
            node.Free()

    def agree(self, error: BaseException | None, what: str) -> None:
        """Collective check: when any rank passes an ``error``, every rank raises (the rank that failed its own
        exception, the others a RuntimeError naming it), so no rank goes on to wait for the others alone."""
        if self.size == 1:
            if error is not None:
                raise error
            return
        failures = self.allgather(None if error is None else f"{type(error).__name__}: {error}")
        if error is not None:
            raise error
        for rank, failure in enumerate(failures):
            if failure is not None:
                raise RuntimeError(f"{what}: rank {rank} of {self.size} failed: {failure}")


def init(comm: Any = None, *, abort_on_uncaught: bool = True, share_cpus: bool = True) -> Communicator:
    """The communicator of this job: ``mpi4py``'s ``COMM_WORLD`` when the process was started by an MPI
    launcher (``mpiexec``, ``srun``), else one of size 1, without importing mpi4py. ``comm``: an mpi4py
    communicator to use instead (a sub-communicator). Returns the same object on every call.

    Under a launcher with several ranks: ``abort_on_uncaught`` makes an exception that nothing catches print
    its traceback and end every rank (``MPI.Abort``), not only its own; ``share_cpus`` sets the compiled
    kernels' threads to this machine's usable CPUs divided by its ranks, unless ``OMP_NUM_THREADS`` is set.
    Started by a launcher with several ranks but without mpi4py, it raises RuntimeError: the ranks would
    each train the whole model alone and write the same files."""
    global _world
    if comm is not None:
        return _configure(Communicator(comm), abort_on_uncaught, share_cpus)
    if _world is not None:
        return _world
    size = launched_size()
    if size is None or size > 1:
        if not is_available():
            raise RuntimeError(
                f"scratchnet.distributed: started by an MPI launcher ({size or 'several'} ranks), but mpi4py is "
                'missing; install the extra: pip install -e ".[mpi]" (or pip install mpi4py mpich)'
            )
        from mpi4py import MPI

        _world = _configure(Communicator(MPI.COMM_WORLD), abort_on_uncaught, share_cpus)
    else:
        _world = Communicator()
    return _world


def _configure(comm: Communicator, abort_on_uncaught: bool, share_cpus: bool) -> Communicator:
    if comm.size > 1 and abort_on_uncaught and not getattr(sys.excepthook, "_scratchnet_abort", False):
        previous = sys.excepthook

        def hook(kind, value, tb):
            previous(kind, value, tb)
            print(
                f"scratchnet.distributed: rank {comm.rank} of {comm.size} raised {kind.__name__}; "
                "aborting every rank (MPI.Abort)",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(ABORT_GRACE_SECONDS)
            comm.abort(1)

        hook._scratchnet_abort = True  # type: ignore[attr-defined]
        sys.excepthook = hook
    if comm.size > 1 and share_cpus and not os.environ.get("OMP_NUM_THREADS", "").strip():
        from scratchnet import backend

        backend.set_num_threads(max(1, _usable_cpus() // comm.local_size()))
    return comm


def _usable_cpus() -> int:
    """The CPUs this process may run on (affinity mask and cgroup quota, as the kernels count them)."""
    try:
        from scratchnet._kernels import openmp_info

        return int(openmp_info.available_cpus())
    except (ImportError, AttributeError):
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:
            return os.cpu_count() or 1


@contextlib.contextmanager
def abort_on_error(comm: Communicator | None = None) -> Iterator[None]:
    """Inside it, an exception on one of several ranks prints its traceback and ends every rank
    (``MPI.Abort``): the other ranks may be waiting in a collective for this one, and would wait forever.
    On a single process exceptions propagate as usual."""
    comm = comm if comm is not None else init()
    try:
        yield
    except BaseException as exc:
        if comm.size == 1:
            raise
        print(
            f"scratchnet.distributed: rank {comm.rank} of {comm.size} raised {type(exc).__name__}: {exc}; "
            "aborting every rank (MPI.Abort)\n" + "".join(traceback.format_exception(exc)),
            file=sys.stderr,
            flush=True,
        )
        time.sleep(ABORT_GRACE_SECONDS)
        comm.abort(1)


def shard(n: int, rank: int, size: int) -> tuple[int, int]:
    """The rows ``[start, stop)`` of a batch of ``n`` that ``rank`` of ``size`` takes: contiguous slices,
    the first ``n % size`` ranks one row more (``np.array_split``'s rule); some are empty when ``n < size``."""
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def broadcast_parameters(model: Layer, root: int = 0, comm: Communicator | None = None) -> None:
    """Overwrites every rank's weights and buffers (running averages) with ``root``'s, in place. Call it after
    building the model, so that all ranks start from the same weights."""
    comm = comm if comm is not None else init()
    if comm.size == 1:
        return
    for _, layer in model.named_layers():
        for table in (layer.params, layer.buffers):
            for key, value in table.items():
                _check_host(value, "broadcast_parameters")
                if value.flags.c_contiguous and value.flags.writeable:
                    comm.Bcast(value, root=root)
                else:
                    staged = np.ascontiguousarray(value)
                    comm.Bcast(staged, root=root)
                    table[key] = staged


@contextlib.contextmanager
def rank_generators(model: Layer, comm: Communicator) -> Iterator[None]:
    """Inside it, every layer's random generator is one of this rank's own, seeded from one draw of the shared
    generator (the same draw on every rank) and the rank; the shared generators are put back on leaving.
    The shared ones therefore stay equal on all ranks and hold all that a checkpoint must (a resumed run on
    the same number of ranks draws the same masks), while the ranks' masks differ, as they must."""
    if comm.size == 1:
        yield
        return
    shared = {name: layer.rng for name, layer in model.named_layers() if layer.rng is not None}
    layers = dict(model.named_layers())
    for name, rng in shared.items():
        key = int(rng.integers(2**63))
        layers[name].rng = np.random.Generator(
            type(rng.bit_generator)(np.random.SeedSequence([key, comm.rank]))
        )
    try:
        yield
    finally:
        for name, rng in shared.items():
            layers[name].rng = rng


def _check_host(value: Any, who: str) -> None:
    if not isinstance(value, np.ndarray):
        raise TypeError(
            f"{who}: data parallelism over MPI works on NumPy (CPU) arrays, got {type(value).__module__}."
            f"{type(value).__name__}; move the model to the CPU (model.to('cpu'))"
        )


class _Bucket:
    """One flat buffer: the gradients of consecutive parameters of one dtype, and where each lies in it."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        self.refs: list[Any] = []
        self.offsets: list[int] = [0]
        self.buffer: np.ndarray | None = None

    @property
    def length(self) -> int:
        return self.offsets[-1]


class DistributedOptimizer:
    """Wraps an optimizer so that each ``step()`` first averages the gradients over all ranks.

    ``step()`` = ``synchronize()`` then the wrapped optimizer's ``step()`` (whose clipping and weight decay
    then act on the averaged gradients). ``synchronize(weight=None, extras=())`` copies every gradient,
    times ``weight`` (default ``1/size``), into a flat buffer, sums it over the ranks with one in-place
    ``Allreduce`` and copies the sums back; ``extras``, a few numbers of this rank (a loss, a count), ride in
    the same buffer and come back summed (then ``step(synchronize=False)`` updates). With ``bucket_bytes``, the buffer is cut into buckets of about that
    size (one Allreduce each; a parameter is never split); parameters of different dtypes always go in
    different buckets. On a single process ``step()`` is the wrapped optimizer's.

    Every other attribute (``lr``, ``params``, ``state_dict``, ``load_state_dict``, ...) reads and writes the
    wrapped optimizer's, so schedules and checkpoints work unchanged, and a checkpoint written on K ranks
    loads on any number. ``stats`` counts the steps, the seconds spent in Allreduce (which include waiting
    for the slowest rank) and the bytes each step sends.
    """

    _own = ("optimizer", "comm", "bucket_bytes", "stats", "_buckets")

    def __init__(
        self, optimizer: Any, comm: Communicator | None = None, bucket_bytes: int | None = None
    ) -> None:
        if isinstance(optimizer, DistributedOptimizer):
            raise TypeError("DistributedOptimizer: the optimizer is already distributed")
        if not callable(getattr(optimizer, "step", None)) or not hasattr(optimizer, "params"):
            raise TypeError(
                f"DistributedOptimizer: expected a scratchnet.optim optimizer, got {optimizer!r:.80}"
            )
        if bucket_bytes is not None and (not isinstance(bucket_bytes, int) or bucket_bytes < 1):
            raise ValueError(
                f"DistributedOptimizer: bucket_bytes must be a positive int, got {bucket_bytes!r}"
            )
        comm = comm if comm is not None else init()
        object.__setattr__(self, "optimizer", optimizer)
        object.__setattr__(self, "comm", comm)
        object.__setattr__(self, "bucket_bytes", bucket_bytes)
        object.__setattr__(self, "stats", {"steps": 0, "allreduce_seconds": 0.0, "bytes_per_step": 0})
        buckets: list[_Bucket] = []
        for ref in optimizer.params:
            value = ref.value
            _check_host(value, "DistributedOptimizer")
            last = buckets[-1] if buckets else None
            full = (
                last is not None
                and bucket_bytes is not None
                and last.length > 0
                and (last.length + value.size) * last.dtype.itemsize > bucket_bytes
            )
            if last is None or last.dtype != value.dtype or full:
                last = _Bucket(value.dtype)
                buckets.append(last)
            last.refs.append(ref)
            last.offsets.append(last.length + value.size)
        object.__setattr__(self, "_buckets", buckets)
        self.stats["bytes_per_step"] = sum(b.length * b.dtype.itemsize for b in buckets)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in DistributedOptimizer._own:
            raise AttributeError(name)
        return getattr(self.optimizer, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in DistributedOptimizer._own:
            object.__setattr__(self, name, value)
        else:
            setattr(self.optimizer, name, value)

    def __repr__(self) -> str:
        return f"DistributedOptimizer({self.optimizer!r}, rank={self.comm.rank}, size={self.comm.size})"

    def synchronize(self, weight: float | None = None, extras: Any = ()) -> np.ndarray:
        """Sets every gradient to the sum over the ranks of ``weight`` x that rank's gradient (``weight``
        defaults to ``1/size``: the mean), and returns the sums of ``extras`` (float64; they travel in the
        last bucket, in its dtype). A ``weight`` of 0 sends zeros without reading the gradients (a rank with
        no samples in this batch). Follow it with ``step(synchronize=False)``."""
        extras = np.asarray(extras, dtype=np.float64).reshape(-1)
        size = self.comm.size
        w = 1.0 / size if weight is None else float(weight)
        if size == 1 and w == 1.0:
            return extras.copy()
        spent = 0.0
        for i, bucket in enumerate(self._buckets):
            carry = len(extras) if i == len(self._buckets) - 1 else 0
            if bucket.buffer is None or len(bucket.buffer) != bucket.length + carry:
                bucket.buffer = np.empty(bucket.length + carry, dtype=bucket.dtype)
            buf = bucket.buffer
            if w == 0.0:
                buf[: bucket.length] = 0
            else:
                for ref, start, stop in zip(bucket.refs, bucket.offsets, bucket.offsets[1:]):
                    np.multiply(ref.grad.reshape(-1), w, out=buf[start:stop], casting="same_kind")
            if carry:
                buf[bucket.length :] = extras
            started = time.perf_counter()
            self.comm.allreduce_(buf)
            spent += time.perf_counter() - started
            for ref, start, stop in zip(bucket.refs, bucket.offsets, bucket.offsets[1:]):
                summed = buf[start:stop].reshape(ref.value.shape)
                grad = ref.layer.grads.get(ref.key)
                if (
                    isinstance(grad, np.ndarray)
                    and grad.shape == summed.shape
                    and grad.flags.writeable
                    and grad.base is None
                ):
                    np.copyto(grad, summed, casting="same_kind")
                else:
                    ref.layer.grads[ref.key] = summed.astype(ref.value.dtype, copy=True)
            if carry:
                extras = buf[bucket.length :].astype(np.float64)
        self.stats["steps"] += 1
        self.stats["allreduce_seconds"] += spent
        return extras

    def step(self, synchronize: bool = True) -> None:
        """The wrapped optimizer's step on the gradients averaged over the ranks; ``synchronize=False`` when
        ``synchronize()`` was just called (with a weight or extras of its own)."""
        if synchronize:
            self.synchronize()
        self.optimizer.step()

    # the wrapped optimizer's own methods, named here so that they are found without __getattr__
    def state_dict(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: Any) -> None:
        self.optimizer.load_state_dict(state)

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()
