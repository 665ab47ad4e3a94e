# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Batched matrix products run by the kernels' own OpenMP threads (see ``scratchnet/ops/batched_gemm.py``
for the twin, NumPy's ``matmul``).

NumPy's matmul hands each product to OpenBLAS's thread pool, whose threads keep spinning for about 0.2 s
after the call; an OpenMP kernel that runs next gets half the cores. Here the products of a batch are
shared out over OpenMP threads instead, each calling OpenBLAS's single-threaded ``gemm`` (the library's
thread count is set to 1 for the duration of the call and then restored), so a chain of kernels and
products stays on one set of threads. OpenBLAS is the one NumPy loaded, found through the process's
memory map; where it cannot be found, ``available()`` is False and callers use the twin.
"""

import ctypes
import numpy as np

from cython.parallel cimport prange
from cython cimport floating
from libc.stdint cimport int64_t, uintptr_t

from kernel_helpers cimport sn_threads_for

__all__ = ["available", "matmul", "matmul_split"]

ctypedef void (*sgemm64_t)(int, int, int, int64_t, int64_t, int64_t, float, const float*, int64_t,
                           const float*, int64_t, float, float*, int64_t) noexcept nogil
ctypedef void (*dgemm64_t)(int, int, int, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t) noexcept nogil

cdef sgemm64_t _sgemm = NULL
cdef dgemm64_t _dgemm = NULL
_set_threads = None
_get_threads = None

cdef enum:
    ROW_MAJOR = 101
    NO_TRANS = 111
    TRANS = 112


def _find_openblas():
    """The ILP64 CBLAS entry points of the OpenBLAS NumPy uses (scipy-openblas wheels), or None."""
    global _sgemm, _dgemm, _set_threads, _get_threads
    try:
        paths = set()
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split()
                if "openblas" in line.lower() and fields[len(fields) - 1].startswith("/"):
                    paths.add(fields[len(fields) - 1])
        paths = sorted(paths)
        for path in paths:
            lib = ctypes.CDLL(path)
            try:
                sgemm, dgemm = lib.scipy_cblas_sgemm64_, lib.scipy_cblas_dgemm64_
                set_threads, get_threads = lib.scipy_openblas_set_num_threads64_, lib.scipy_openblas_get_num_threads64_
            except AttributeError:
                continue
            set_threads.argtypes, set_threads.restype = [ctypes.c_int], None
            get_threads.argtypes, get_threads.restype = [], ctypes.c_int
            _sgemm = <sgemm64_t><uintptr_t>ctypes.cast(sgemm, ctypes.c_void_p).value
            _dgemm = <dgemm64_t><uintptr_t>ctypes.cast(dgemm, ctypes.c_void_p).value
            _set_threads, _get_threads = set_threads, get_threads
            return path
    except OSError:
        pass
    return None


_LIBRARY = _find_openblas()


def available():
    """True when OpenBLAS's ILP64 ``gemm`` was found (else use ``scratchnet.ops.batched_gemm``)."""
    return _LIBRARY is not None


cdef inline void _gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, const floating* a, int64_t lda,
                       const floating* b, int64_t ldb, floating* c, int64_t ldc) noexcept nogil:
    """c = op(a) @ op(b), row-major, by OpenBLAS's (single-threaded) sgemm or dgemm."""
    if floating is float:
        _sgemm(ROW_MAJOR, ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc)
    else:
        _dgemm(ROW_MAJOR, ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc)


cdef void _split(const floating* a, const floating* b, floating* c, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                 int ta, int tb, Py_ssize_t pieces, bint by_columns, int threads) noexcept nogil:
    cdef Py_ssize_t i, lo, hi, size = (n if by_columns else m)
    cdef int64_t lda = m if ta == TRANS else k, ldb = k if tb == TRANS else n
    for i in prange(pieces, schedule="static", num_threads=threads):
        lo = size * i // pieces
        hi = size * (i + 1) // pieces
        if by_columns:  # out[:, lo:hi] = op(a) @ op(b)[:, lo:hi]
            _gemm(ta, tb, m, hi - lo, k, a, lda, b + (lo * k if tb == TRANS else lo), ldb, c + lo, n)
        else:  # out[lo:hi] = op(a)[lo:hi] @ op(b)
            _gemm(ta, tb, hi - lo, n, k, a + (lo if ta == TRANS else lo * k), lda, b, ldb, c + lo * n, n)


def _split_into(const floating[:, ::1] a, const floating[:, ::1] b, floating[:, ::1] out, bint transpose_a,
                bint transpose_b):
    """Runs ``_split`` for the arrays' dtype; ``matmul_split`` has checked the shapes."""
    cdef Py_ssize_t m = out.shape[0], n = out.shape[1], k = a.shape[0] if transpose_a else a.shape[1]
    cdef bint by_columns = n >= m
    cdef int threads = sn_threads_for(m * n * k)
    with nogil:
        _split(&a[0, 0], &b[0, 0], &out[0, 0], m, n, k, TRANS if transpose_a else NO_TRANS,
               TRANS if transpose_b else NO_TRANS, min(threads, n if by_columns else m), by_columns, threads)


cdef void _batch(const floating* a, const floating* b, floating* c, Py_ssize_t batch, Py_ssize_t m,
                 Py_ssize_t n, Py_ssize_t k, int ta, int tb, int threads) noexcept nogil:
    cdef Py_ssize_t i
    cdef int64_t lda = m if ta == TRANS else k, ldb = k if tb == TRANS else n
    for i in prange(batch, schedule="static", num_threads=threads):  # out[i] = op(a[i]) @ op(b[i])
        _gemm(ta, tb, m, n, k, a + i * m * k, lda, b + i * k * n, ldb, c + i * m * n, n)


def _batch_into(const floating[:, :, ::1] a, const floating[:, :, ::1] b, floating[:, :, ::1] out,
                bint transpose_a, bint transpose_b):
    """Runs ``_batch`` for the arrays' dtype; ``matmul`` has checked the shapes."""
    cdef Py_ssize_t batch = out.shape[0], m = out.shape[1], n = out.shape[2]
    cdef Py_ssize_t k = a.shape[1] if transpose_a else a.shape[2]
    cdef int threads = sn_threads_for(batch * m * n * k)
    with nogil:
        _batch(&a[0, 0, 0], &b[0, 0, 0], &out[0, 0, 0], batch, m, n, k, TRANS if transpose_a else NO_TRANS,
               TRANS if transpose_b else NO_TRANS, threads)


def matmul_split(a, b, out=None, transpose_a=False, transpose_b=False):
    """``out = op(a) @ op(b)`` for 2-D C-contiguous operands, cut into pieces along the longer side of
    ``out`` (whole columns or whole rows), one single-threaded product per piece on the OpenMP threads.
    Each entry of ``out`` is one product's dot product over all of K, whatever the piece count."""
    if _LIBRARY is None:
        raise RuntimeError("batched_gemm: OpenBLAS's gemm was not found; use scratchnet.ops.batched_gemm")
    if a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        raise ValueError(f"batched_gemm: need 2-D float32/float64 matrices of one dtype, got {a.shape} {a.dtype}, {b.shape} {b.dtype}")
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    cdef Py_ssize_t m, n, k, k2
    m, k = (a.shape[1], a.shape[0]) if transpose_a else (a.shape[0], a.shape[1])
    k2, n = (b.shape[1], b.shape[0]) if transpose_b else (b.shape[0], b.shape[1])
    if k2 != k or min(m, n, k) < 1:
        raise ValueError(f"batched_gemm: shapes {a.shape} and {b.shape} do not multiply")
    if out is None:
        out = np.empty((m, n), dtype=a.dtype)
    elif out.shape != (m, n) or out.dtype != a.dtype or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"batched_gemm: out must be a C-contiguous {a.dtype} array of shape {(m, n)}")
    if np.may_share_memory(out, a) or np.may_share_memory(out, b):
        raise ValueError("batched_gemm: out must not overlap the operands")
    previous = _get_threads()
    _set_threads(1)  # each piece on the calling OpenMP thread
    try:
        _split_into(a, b, out, transpose_a, transpose_b)
    finally:
        _set_threads(previous)
    return out


def matmul(a, b, out=None, transpose_a=False, transpose_b=False):
    """``out[i] = op(a[i]) @ op(b[i])`` for stacks a (B, M, K) and b (B, K, N) (or their transposes when
    ``transpose_a`` / ``transpose_b``: a (B, K, M), b (B, N, K)), all C-contiguous float32 or float64."""
    if _LIBRARY is None:
        raise RuntimeError("batched_gemm: OpenBLAS's gemm was not found; use scratchnet.ops.batched_gemm")
    if a.ndim != 3 or b.ndim != 3 or a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        raise ValueError(f"batched_gemm: need 3-D float32/float64 stacks of one dtype, got {a.shape} {a.dtype}, {b.shape} {b.dtype}")
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    cdef Py_ssize_t batch = a.shape[0], m, n, k, k2
    m, k = (a.shape[2], a.shape[1]) if transpose_a else (a.shape[1], a.shape[2])
    k2, n = (b.shape[2], b.shape[1]) if transpose_b else (b.shape[1], b.shape[2])
    if b.shape[0] != batch or k2 != k or min(batch, m, n, k) < 1:
        raise ValueError(f"batched_gemm: shapes {a.shape} and {b.shape} do not multiply")
    if out is None:
        out = np.empty((batch, m, n), dtype=a.dtype)
    elif out.shape != (batch, m, n) or out.dtype != a.dtype or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"batched_gemm: out must be a C-contiguous {a.dtype} array of shape {(batch, m, n)}")
    if np.may_share_memory(out, a) or np.may_share_memory(out, b):
        raise ValueError("batched_gemm: out must not overlap the operands")
    previous = _get_threads()
    _set_threads(1)  # each product on the calling OpenMP thread; the batch is the parallel axis
    try:
        _batch_into(a, b, out, transpose_a, transpose_b)
    finally:
        _set_threads(previous)
    return out
