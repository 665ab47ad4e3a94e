# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Batched matrix products run by the kernels' own OpenMP threads (see ``scratchnet/fast/batched_gemm.py``
for the twin, NumPy's ``matmul``).

NumPy's matmul hands each product to OpenBLAS's thread pool, whose threads keep spinning for about 0.2 s
after the call; an OpenMP kernel that runs next gets half the cores. Here the products of a batch are
shared out over OpenMP threads instead, each calling OpenBLAS's single-threaded ``gemm``, so a chain of
kernels and products stays on one set of threads. OpenBLAS is the one NumPy loaded, found through the
process's memory map; where it cannot be found, ``available()`` is False and callers use the twin.

OpenBLAS's thread count is process-wide, so it is set to 1 by a counted section (``_blas_serial_enter`` /
``_blas_serial_exit``): the first of any number of concurrent calls saves the count and sets 1, the last
one out restores it. The count and the saved value change only in C code that holds the GIL and calls no
Python, so neither another Python thread nor a KeyboardInterrupt can come between the steps.

``matmul_split`` cuts a product into pieces that depend on its shape only (``_pieces``), never on the
thread count: OpenBLAS may round a narrow piece differently from a wide one (its small-matrix kernels),
so a partition by thread count would make results depend on it.
"""

import ctypes
import numpy as np

from cython.parallel cimport prange
from cython cimport floating
from libc.stdint cimport int64_t, uintptr_t

from kernel_helpers cimport sn_share_thread_setting, sn_threads_for

sn_share_thread_setting()  # the process-wide thread count (kernel_helpers.pxd)

__all__ = ["available", "matmul", "matmul_split"]

ctypedef void (*sgemm64_t)(int, int, int, int64_t, int64_t, int64_t, float, const float*, int64_t,
                           const float*, int64_t, float, float*, int64_t) noexcept nogil
ctypedef void (*dgemm64_t)(int, int, int, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t) noexcept nogil

ctypedef void (*set_threads_t)(int) noexcept nogil
ctypedef int (*get_threads_t)() noexcept nogil

cdef sgemm64_t _sgemm = NULL
cdef dgemm64_t _dgemm = NULL
cdef set_threads_t _set_threads = NULL
cdef get_threads_t _get_threads = NULL
# the counted section that keeps OpenBLAS on one thread while any product here runs
cdef Py_ssize_t _serial_depth = 0
cdef int _saved_threads = 0

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
            _sgemm = <sgemm64_t><uintptr_t>ctypes.cast(sgemm, ctypes.c_void_p).value
            _dgemm = <dgemm64_t><uintptr_t>ctypes.cast(dgemm, ctypes.c_void_p).value
            _set_threads = <set_threads_t><uintptr_t>ctypes.cast(set_threads, ctypes.c_void_p).value
            _get_threads = <get_threads_t><uintptr_t>ctypes.cast(get_threads, ctypes.c_void_p).value
            return path
    except OSError:
        pass
    return None


_LIBRARY = _find_openblas()


cdef void _blas_serial_enter() noexcept:
    """Enters the section: the first caller saves OpenBLAS's thread count and sets 1 (GIL held, no Python)."""
    global _serial_depth, _saved_threads
    if _serial_depth == 0:
        _saved_threads = _get_threads()
        _set_threads(1)
    _serial_depth += 1


cdef void _blas_serial_exit() noexcept:
    """Leaves it: the last caller restores the saved count, unless someone else changed it meanwhile
    (threadpoolctl, numpy users): then theirs stays."""
    global _serial_depth
    _serial_depth -= 1
    if _serial_depth == 0 and _get_threads() == 1:
        _set_threads(_saved_threads)


def blas_serial_depth():
    """How many products are inside the section that holds OpenBLAS at one thread now (0 when idle)."""
    return _serial_depth


def available():
    """True when OpenBLAS's ILP64 ``gemm`` was found (else use ``scratchnet.fast.batched_gemm``)."""
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
    for i in prange(pieces, schedule="dynamic", num_threads=threads):  # a thread slowed by others takes fewer
        lo = size * i // pieces
        hi = size * (i + 1) // pieces
        if by_columns:  # out[:, lo:hi] = op(a) @ op(b)[:, lo:hi]
            _gemm(ta, tb, m, hi - lo, k, a, lda, b + (lo * k if tb == TRANS else lo), ldb, c + lo, n)
        else:  # out[lo:hi] = op(a)[lo:hi] @ op(b)
            _gemm(ta, tb, hi - lo, n, k, a + (lo if ta == TRANS else lo * k), lda, b, ldb, c + lo * n, n)


cdef enum:
    PIECE_MIN = 128  # the narrowest piece (rows or columns) a product is cut into: narrower ones repack the
    # other operand once more each (16 pieces of 50 columns made the LSTM(200) products 40% slower)
    PIECES_MAX = 8  # and the most pieces


cdef inline Py_ssize_t _pieces(Py_ssize_t size) noexcept nogil:
    """Pieces ``matmul_split`` cuts a side of ``size`` into: a function of the shape alone, so every entry
    is the same product call's, and rounds the same, at any thread count."""
    cdef Py_ssize_t pieces = size // PIECE_MIN
    return 1 if pieces < 1 else (PIECES_MAX if pieces > PIECES_MAX else pieces)


def _split_into(const floating[:, ::1] a, const floating[:, ::1] b, floating[:, ::1] out, bint transpose_a,
                bint transpose_b):
    """Runs ``_split`` for the arrays' dtype; ``matmul_split`` has checked the shapes."""
    cdef Py_ssize_t m = out.shape[0], n = out.shape[1], k = a.shape[0] if transpose_a else a.shape[1]
    cdef bint by_columns = n >= m
    cdef int threads = sn_threads_for(m * n * k)
    with nogil:
        _split(&a[0, 0], &b[0, 0], &out[0, 0], m, n, k, TRANS if transpose_a else NO_TRANS,
               TRANS if transpose_b else NO_TRANS, _pieces(n if by_columns else m), by_columns, threads)


cdef void _batch(const floating* a, const floating* b, floating* c, Py_ssize_t batch, Py_ssize_t m,
                 Py_ssize_t n, Py_ssize_t k, int ta, int tb, int threads) noexcept nogil:
    cdef Py_ssize_t i
    cdef int64_t lda = m if ta == TRANS else k, ldb = k if tb == TRANS else n
    for i in prange(batch, schedule="dynamic", num_threads=threads):  # out[i] = op(a[i]) @ op(b[i])
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
    The pieces depend on the shape only (``_pieces``), so ``out`` is bit-identical at every thread count."""
    if _LIBRARY is None:
        raise RuntimeError("batched_gemm: OpenBLAS's gemm was not found; use scratchnet.fast.batched_gemm")
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
    _blas_serial_enter()  # each piece on the calling OpenMP thread
    try:
        _split_into(a, b, out, transpose_a, transpose_b)
    finally:
        _blas_serial_exit()
    return out


def matmul(a, b, out=None, transpose_a=False, transpose_b=False):
    """``out[i] = op(a[i]) @ op(b[i])`` for stacks a (B, M, K) and b (B, K, N) (or their transposes when
    ``transpose_a`` / ``transpose_b``: a (B, K, M), b (B, N, K)), all C-contiguous float32 or float64."""
    if _LIBRARY is None:
        raise RuntimeError("batched_gemm: OpenBLAS's gemm was not found; use scratchnet.fast.batched_gemm")
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
    _blas_serial_enter()  # each product on the calling OpenMP thread; the batch is the parallel axis
    try:
        _batch_into(a, b, out, transpose_a, transpose_b)
    finally:
        _blas_serial_exit()
    return out
