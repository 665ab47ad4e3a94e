"""Batched products on the kernels' own OpenMP threads (pyx/batched_gemm.pyx) against NumPy's matmul."""

import numpy as np
import pytest
from compiled import compiled_or_skip

from scratchnet.fast import batched_gemm as twin

compiled = compiled_or_skip("batched_gemm")
needs_blas = pytest.mark.skipif(not compiled.available(), reason="NumPy's OpenBLAS gemm was not found")


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_equals_numpy_matmul(dtype, transpose_a, transpose_b):
    rng = np.random.default_rng(0)
    for _ in range(10):
        batch, m, n, k = (int(v) for v in rng.integers(1, 40, 4))
        a = rng.standard_normal((batch, k, m) if transpose_a else (batch, m, k)).astype(dtype)
        b = rng.standard_normal((batch, n, k) if transpose_b else (batch, k, n)).astype(dtype)
        ref = twin.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
        got = compiled.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
        assert got.shape == ref.shape == (batch, m, n) and got.dtype == dtype
        np.testing.assert_allclose(got, ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


@needs_blas
def test_results_do_not_depend_on_the_thread_count_and_restore_blas_threads():
    from scratchnet import backend

    rng = np.random.default_rng(1)
    a, b = (
        rng.standard_normal((36, 64, 32), dtype=np.float32),
        rng.standard_normal((36, 32, 512), dtype=np.float32),
    )
    runs = []
    for threads in (1, 2):
        backend.set_num_threads(threads)
        runs.append(compiled.matmul(a, b))
    backend.set_num_threads(2)
    np.testing.assert_array_equal(*runs)
    assert compiled.blas_serial_depth() == 0  # the section holding OpenBLAS at one thread was left
    # (tests/test_threads_and_processes.py checks OpenBLAS's own count under concurrent calls)


@needs_blas
def test_bad_arguments_are_refused():
    a = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="do not multiply"):
        compiled.matmul(a, np.zeros((2, 5, 6), np.float32))
    with pytest.raises(ValueError, match="one dtype"):
        compiled.matmul(a, np.zeros((2, 4, 6)))
    with pytest.raises(ValueError, match="out must be"):
        compiled.matmul(a, np.zeros((2, 4, 6), np.float32), out=np.zeros((2, 3, 5), np.float32))
    square = np.zeros((2, 4, 4), np.float32)
    with pytest.raises(ValueError, match="must not overlap"):
        compiled.matmul(square, square.copy(), out=square)
    with pytest.raises(ValueError, match="must not overlap"):
        compiled.matmul_split(square[0], square[1].copy(), out=square[0])
    with pytest.raises(ValueError, match="do not multiply"):
        compiled.matmul_split(np.zeros((3, 4), np.float32), np.zeros((5, 6), np.float32))


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_split_product_equals_numpy_matmul(dtype, transpose_a, transpose_b):
    rng = np.random.default_rng(2)
    for m, n, k in [(3, 700, 25), (800, 64, 700), (64, 64, 64), (1, 1, 1), (5, 2, 9)]:
        a = rng.standard_normal((k, m) if transpose_a else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(dtype)
        ref = twin.matmul_split(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
        got = compiled.matmul_split(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
        assert got.shape == ref.shape == (m, n)
        np.testing.assert_allclose(got, ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-4)


@needs_blas
def test_split_product_does_not_depend_on_the_thread_count():
    from scratchnet import backend

    rng = np.random.default_rng(3)
    a, b = (
        rng.standard_normal((32, 800), dtype=np.float32),
        rng.standard_normal((800, 6272), dtype=np.float32),
    )
    runs = []
    for threads in (1, 2):
        backend.set_num_threads(threads)
        runs.append((compiled.matmul_split(a, b), compiled.matmul_split(b.T.copy(), a.T.copy())))
    backend.set_num_threads(2)
    for one, two in zip(*runs):
        np.testing.assert_array_equal(one, two)
