# cython: language_level=3
"""Helpers the compiled kernels share (inline, so no module of their own is built or imported).

The OpenMP calls live here once: ``_OPENMP`` is defined by the C compiler itself when ``-fopenmp`` is on,
so a serial build gets one-thread stand-ins. The thread count every parallel region uses is one
process-wide setting owned by ``openmp_info`` (which exposes it to Python); each kernel module binds to it
with ``sn_share_thread_setting()`` at import.

Index arithmetic is ``Py_ssize_t`` throughout; the Python wrappers have checked every size, padding and
stride against ``INDEX_LIMIT`` (``scratchnet/arguments.py``) before these run, so the sums and
differences cannot overflow. ``_first_real`` / ``_end_real`` are the twins' ``real_range``.
"""

from cpython.pycapsule cimport PyCapsule_GetPointer


cdef extern from "kernel_helpers.h":
    ctypedef struct sn_thread_setting:
        int threads
        int pool_started
        int forked
        int cpus
    sn_thread_setting sn_own_thread_setting
    sn_thread_setting* sn_threads_shared
    int sn_openmp_enabled() noexcept nogil
    int sn_max_threads() noexcept nogil
    int sn_team_size() noexcept nogil
    int sn_threads_for(Py_ssize_t work) noexcept nogil
    int sn_lockstep_threads_for(Py_ssize_t work) noexcept nogil
    float sn_pick_f(int c, float a, float b) noexcept nogil
    double sn_pick_d(int c, double a, double b) noexcept nogil
    int sn_pick_i(int c, int a, int b) noexcept nogil


cdef inline int sn_share_thread_setting() except -1:
    """Points this module's kernels at the process-wide thread setting that ``openmp_info`` owns (called once,
    at the import of every kernel module but that one)."""
    global sn_threads_shared
    from scratchnet._kernels import openmp_info

    sn_threads_shared = <sn_thread_setting*>PyCapsule_GetPointer(openmp_info.THREAD_SETTING, "scratchnet.threads")
    return 0


cdef inline Py_ssize_t _first_real(Py_ssize_t pad, Py_ssize_t tap, Py_ssize_t stride,
                                   Py_ssize_t count) noexcept nogil:
    """Smallest output position o (at most ``count``) with ``o*stride + tap - pad >= 0``."""
    cdef Py_ssize_t o = 0
    if pad > tap:
        o = (pad - tap + stride - 1) // stride
    return o if o < count else count


cdef inline Py_ssize_t _end_real(Py_ssize_t size, Py_ssize_t pad, Py_ssize_t tap, Py_ssize_t stride,
                                 Py_ssize_t count) noexcept nogil:
    """Smallest output position o (at most ``count``) with ``o*stride + tap - pad >= size``."""
    cdef Py_ssize_t o = 0
    if size - 1 + pad - tap >= 0:
        o = (size - 1 + pad - tap) // stride + 1
    return o if o < count else count


cdef inline Py_ssize_t _window_start(Py_ssize_t o, Py_ssize_t stride, Py_ssize_t pad) noexcept nogil:
    """First real input index of output position o's pooling window: ``max(o*stride - pad, 0)``."""
    cdef Py_ssize_t start = o * stride - pad
    return start if start > 0 else 0


cdef inline Py_ssize_t _window_end(Py_ssize_t o, Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t k,
                                   Py_ssize_t size) noexcept nogil:
    """One past the last real input index of that window: ``min(o*stride - pad + k, size)``."""
    cdef Py_ssize_t end = o * stride - pad + k
    return end if end < size else size
