"""The kernels among Python threads, forked processes and busy machines.

* OpenBLAS's thread count is process-wide; the batched products hold it at one thread while they run
  (``pyx/batched_gemm.pyx``), counted, so concurrent calls from Python threads always restore it.
* ``fork`` after the kernels ran in parallel: the child's kernels run serially (GNU OpenMP's pool does
  not exist in the child; a parallel region there used to wait for it forever).
* ``backend.set_num_threads`` is process-wide (OpenMP's own setting is per thread), and the default is
  capped at the CPUs the process may use.
* Results do not depend on the kernels' thread count, at a fixed BLAS thread count.
The speed side (oversubscribed and shared cores) is measured by ``benchmarks/compare_threads.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from scratchnet import backend
from scratchnet.layers import LSTM, Conv2D, Dense, Flatten, MaxPool2D, ReLU
from scratchnet.model import Sequential

REPO = Path(__file__).resolve().parents[1]
needs_openmp = pytest.mark.skipif(not backend.openmp_enabled(), reason="kernels built without OpenMP")


def _gemm():
    try:
        batched_gemm = backend.compiled_kernel("batched_gemm")
    except ImportError:
        return None
    return batched_gemm if batched_gemm.available() else None


needs_gemm = pytest.mark.skipif(_gemm() is None, reason="no compiled batched products (OpenBLAS not found)")


def _blas_threads() -> list[int]:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["internal_api"] == "openblas"]


def _run(script: str, timeout: float = 120, env: dict | None = None, unset: tuple = ()) -> str:
    """Runs ``script`` in a fresh interpreter (bounded: a hang fails the test instead of the run), with
    ``env`` added to this process's environment and the variables in ``unset`` removed."""
    full_env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in unset}
    try:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            env=full_env,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the script did not finish in {timeout} s (a hang): {exc.stdout}") from None
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def threads():
    """Restores the kernels' thread count after a test that changes it."""
    before = backend.num_threads()
    yield
    backend.set_num_threads(before)


# -- 1. OpenBLAS's thread count under concurrent products ------------------------------------------------
@needs_gemm
def test_concurrent_products_restore_the_blas_thread_count():
    before = _blas_threads()
    errors = []

    def train():
        try:
            rng = np.random.default_rng(threading.get_ident() % 1000)
            model = Sequential([Dense(64, 256), ReLU(), Dense(256, 32)])
            x = rng.standard_normal((128, 64)).astype(np.float32)
            for _ in range(300):
                y = model(x)
                model.backprop(np.ones_like(y))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=train) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    assert _blas_threads() == before
    assert _gemm().blas_serial_depth() == 0


@needs_gemm
def test_failing_and_interrupted_products_restore_the_blas_thread_count():
    gemm = _gemm()
    before = _blas_threads()
    a = np.ones((64, 64), np.float32)

    def bad_calls():
        for _ in range(200):
            gemm.matmul_split(a, a)
            with pytest.raises(ValueError):
                gemm.matmul_split(a, np.ones((3, 5), np.float32))
            with pytest.raises(ValueError):
                gemm.matmul(a[None], a[None], out=np.empty((1, 64, 64), np.float64))

    workers = [threading.Thread(target=bad_calls) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert _blas_threads() == before

    # a KeyboardInterrupt (SIGINT) arriving while products run in a loop: it surfaces between calls, and the
    # section is left as it was entered
    import signal

    big = np.ones((512, 512), np.float32)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
        with pytest.raises(KeyboardInterrupt):
            while True:
                gemm.matmul_split(big, big)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
    assert gemm.blas_serial_depth() == 0
    assert _blas_threads() == before


@needs_gemm
def test_a_blas_limit_set_by_the_user_meanwhile_is_kept():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    gemm = _gemm()
    before = _blas_threads()
    a = np.ones((256, 256), np.float32)
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        gemm.matmul_split(a, a)
        assert _blas_threads() == [1] * len(before)
    assert _blas_threads() == before


# -- 2. fork after the kernels ran -----------------------------------------------------------------------
@needs_openmp
def test_a_fork_pool_after_a_cnn_forward_runs_and_agrees():
    out = _run(
        """
        import multiprocessing as mp, warnings
        import numpy as np
        from scratchnet import backend
        from scratchnet.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU
        from scratchnet.model import Sequential

        backend.set_num_threads(2)
        rng = np.random.default_rng(0)
        model = Sequential([Conv2D(1, 8, 5, padding="same"), ReLU(), MaxPool2D(2), Conv2D(8, 32, 3, padding="same"),
                            ReLU(), MaxPool2D(2), Flatten(), Dense(32 * 7 * 7, 10)])
        x = rng.standard_normal((16, 1, 28, 28)).astype(np.float32)
        parent = model(x)
        model.backprop(np.ones_like(parent))
        grads = [g.copy() for _, layer in model.named_layers() for g in layer.grads.values()]

        def child(i):
            y = model(x)  # hung here: OpenMP's pool does not exist in a forked child
            model.backprop(np.ones_like(y))
            same = [np.array_equal(g, layer_g) for g, layer_g in
                    zip(grads, (g for _, layer in model.named_layers() for g in layer.grads.values()))]
            assert backend.num_threads() == 1
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                backend.set_num_threads(2)
            assert backend.num_threads() == 1 and caught, "a forked child must stay serial, and say so"
            return y.tobytes() == parent.tobytes() and all(same)

        with mp.get_context("fork").Pool(2) as pool:
            results = pool.map_async(child, range(4)).get(timeout=60)
        assert all(results), results
        # the parent keeps its threads
        assert backend.num_threads() == 2
        print("FORK-OK")
        """
    )
    assert "FORK-OK" in out


# -- 3. thread counts: the default, oversubscription --------------------------------------------------------
@needs_openmp
def test_the_default_thread_count_is_capped_at_the_usable_cpus():
    script = """
        import os
        from scratchnet import backend
        from scratchnet._kernels import openmp_info
        print(backend.num_threads(), openmp_info.available_cpus(), len(os.sched_getaffinity(0)))
        """
    done = _run(script, unset=("OMP_NUM_THREADS",))
    threads, usable, affinity = map(int, done.split())
    assert 1 <= threads <= usable <= affinity
    # an explicit OMP_NUM_THREADS is kept, even above the CPU count
    out = _run("from scratchnet import backend; print(backend.num_threads())", env={"OMP_NUM_THREADS": "3"})
    assert int(out) == 3


def test_cgroup_cpu_quotas_are_read(tmp_path):
    openmp_info = pytest.importorskip("scratchnet._kernels.openmp_info")
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert openmp_info._cgroup_cpu_limit(str(tmp_path)) == 2
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert openmp_info._cgroup_cpu_limit(str(tmp_path)) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert openmp_info._cgroup_cpu_limit(str(v1)) == 1
    assert openmp_info._cgroup_cpu_limit(str(tmp_path / "missing")) is None
    assert 1 <= openmp_info.available_cpus(str(v1)) <= 1


@needs_openmp
@pytest.mark.parametrize("hidden", [64, 200])
def test_an_oversubscribed_lstm_gives_the_same_bits(hidden, threads):
    """More threads than cores: the LSTM's time loop (threads meeting at a barrier every step) still
    finishes, on no more threads than CPUs, with the same bits as on one thread."""
    rng = np.random.default_rng(hidden)
    layer = LSTM(hidden, hidden, return_sequences=True)
    x = rng.standard_normal((20, 12, hidden)).astype(np.float32)
    results = []
    for n in (1, 8 * (os.cpu_count() or 1)):
        backend.set_num_threads(n)
        y = layer(x)
        dx = layer.backprop(np.ones_like(y))
        results.append([y, dx] + [g.copy() for g in layer.grads.values()])
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()


# -- 4. results independent of the thread count ------------------------------------------------------------
@needs_gemm
@needs_openmp
def test_split_products_are_bit_identical_at_every_thread_count(threads):
    gemm = _gemm()
    rng = np.random.default_rng(4)
    for _ in range(120):
        m, n, k = (int(v) for v in rng.integers(1, 300, size=3))
        ta, tb = (bool(v) for v in rng.integers(0, 2, size=2))
        dtype = np.float32 if rng.random() < 0.7 else np.float64
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        outs = []
        for t in (1, 2, 3):
            backend.set_num_threads(t)
            outs.append(gemm.matmul_split(a, b, transpose_a=ta, transpose_b=tb).tobytes())
        assert outs[0] == outs[1] == outs[2], (m, n, k, ta, tb, dtype)


@needs_openmp
def test_training_is_bit_identical_across_kernel_thread_counts(threads):
    from scratchnet.losses import SoftmaxCrossEntropy
    from scratchnet.optim import SGD

    finals = []
    for t in (1, 2, 3):
        backend.set_num_threads(t)
        rng = np.random.default_rng(0)
        model = Sequential(
            [
                Conv2D(1, 8, 5, padding="same"),
                ReLU(),
                MaxPool2D(2),
                Conv2D(8, 32, 3, padding="same"),
                ReLU(),
                MaxPool2D(2),
                Flatten(),
                Dense(32 * 7 * 7, 44),
                ReLU(),
                Dense(44, 10),
            ]
        )
        for _, layer in model.named_layers():
            for p in layer.params.values():
                p[...] = rng.standard_normal(p.shape).astype(p.dtype) * 0.1
        loss, opt = SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.05)
        for _ in range(4):
            x = rng.standard_normal((50, 1, 28, 28)).astype(np.float32)
            labels = rng.integers(0, 10, size=50)
            y = model(x)
            loss(y, labels)
            model.zero_grad()
            model.backprop(loss.backward())
            opt.step()
        finals.append([p.tobytes() for _, layer in model.named_layers() for p in layer.params.values()])
    assert finals[0] == finals[1] == finals[2]


# -- 5. set_num_threads is process-wide ----------------------------------------------------------------------
@needs_openmp
def test_set_num_threads_from_another_python_thread_reaches_every_thread(threads):
    backend.set_num_threads(2)
    seen = []
    setter = threading.Thread(target=backend.set_num_threads, args=(1,))
    setter.start()
    setter.join()
    reader = threading.Thread(target=lambda: seen.append(backend.num_threads()))
    reader.start()
    reader.join()
    assert backend.num_threads() == 1 and seen == [1]
