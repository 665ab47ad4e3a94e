# cython: language_level=3
"""Helpers the compiled kernels share (inline, so no module of their own is built or imported).

Index arithmetic is ``Py_ssize_t`` throughout; the Python wrappers have checked every size, padding and
stride against ``INDEX_LIMIT`` before these run, so the sums and differences cannot overflow.
"""

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    /* Small jobs run on one thread: waking a team costs more than it saves, and on a busy machine a
       descheduled team member can stall the closing barrier for a whole time slice. */
    static int sn_threads_for(Py_ssize_t work) { return work < 65536 ? 1 : omp_get_max_threads(); }
    #else
    static int sn_threads_for(Py_ssize_t work) { (void)work; return 1; }
    #endif
    """
    int sn_threads_for(Py_ssize_t work) noexcept nogil


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
