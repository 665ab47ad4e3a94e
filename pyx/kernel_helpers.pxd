# cython: language_level=3
"""Helpers the compiled kernels share (inline, so no module of their own is built or imported).

The OpenMP calls live here once: ``_OPENMP`` is defined by the C compiler itself when ``-fopenmp`` is on,
so a serial build gets one-thread stand-ins. The thread count every parallel region uses is one
process-wide setting owned by ``openmp_info`` (which exposes it to Python); each kernel module binds to it
with ``sn_share_thread_setting()`` at import.

Index arithmetic is ``Py_ssize_t`` throughout; the Python wrappers have checked every size, padding and
stride against ``INDEX_LIMIT`` (``scratchnet/ops/arguments.py``) before these run, so the sums and
differences cannot overflow. ``_first_real`` / ``_end_real`` are the twins' ``real_range``.
"""

from cpython.pycapsule cimport PyCapsule_GetPointer


cdef extern from *:
    """
    /* The kernels' thread count is one process-wide setting, not OpenMP's per-thread ICV (which
       omp_set_num_threads changes for the calling thread only). openmp_info owns the setting; every other
       kernel module points at it when it is imported (sn_share_thread_setting below), so
       backend.set_num_threads from any Python thread reaches every kernel. */
    typedef struct {
        int threads;       /* what parallel regions use */
        int pool_started;  /* a region with more than one thread may have run: OpenMP's pool exists */
        int forked;        /* this is a child forked after that: its pool is unusable, run on one thread */
        int cpus;          /* CPUs this process may use (affinity mask, cgroup quota) */
    } sn_thread_setting;
    static sn_thread_setting sn_own_thread_setting = {1, 0, 0, 1};
    static sn_thread_setting *sn_threads_shared = &sn_own_thread_setting;
    #ifdef _OPENMP
    #include <omp.h>
    static inline int sn_openmp_enabled(void) { return 1; }
    static inline int sn_team_size(void) { return omp_get_num_threads(); }
    #else
    static inline int sn_openmp_enabled(void) { return 0; }
    static inline int sn_team_size(void) { return 1; }
    #endif
    /* the thread count for the next parallel region (read once per kernel call: sizes of per-thread
       scratch and the region's team must come from the same read) */
    static inline int sn_max_threads(void) {
        int n = sn_openmp_enabled() ? __atomic_load_n(&sn_threads_shared->threads, __ATOMIC_RELAXED) : 1;
        if (n > 1 && !__atomic_load_n(&sn_threads_shared->pool_started, __ATOMIC_RELAXED))
            __atomic_store_n(&sn_threads_shared->pool_started, 1, __ATOMIC_RELAXED);
        return n;
    }
    /* Small jobs run on one thread: waking a team costs more than it saves, and on a busy machine a
       descheduled team member can stall the closing barrier for a whole time slice. */
    static inline int sn_threads_for(Py_ssize_t work) { return work < 65536 ? 1 : sn_max_threads(); }
    /* For loops whose threads meet at a barrier every step (the LSTM's time loop): never more threads than
       CPUs, since a team member without a core stalls every barrier (the others sleep, it runs, they wake). */
    static inline int sn_lockstep_threads_for(Py_ssize_t work) {
        int n = sn_threads_for(work), cpus = __atomic_load_n(&sn_threads_shared->cpus, __ATOMIC_RELAXED);
        return n < cpus ? n : (cpus > 0 ? cpus : 1);
    }
    /* For the register-tile kernels: acc += a * b as one fused multiply-add in this function (the build's
       -ffp-contract=off keeps every multiply and add rounded separately for the bit-exact kernels) */
    #if defined(__GNUC__) && !defined(__clang__)
    #define SN_FUSED __attribute__((optimize("fp-contract=fast")))
    #else
    #define SN_FUSED
    #endif
    /* c ? a : b as a bit blend. GCC turns ?: into a branch where it will not speculate both sides, or does
       not vectorise a chain of ?: fed by float comparisons; a loop of blends it vectorises. */
    #include <stdint.h>
    #include <string.h>
    #define SN_PICK(NAME, T, BITS)                                                                         \
    static inline T NAME(int c, T a, T b) {                                                               \
        BITS ia, ib, m = -(BITS)(c != 0);                                                                 \
        memcpy(&ia, &a, sizeof ia);                                                                       \
        memcpy(&ib, &b, sizeof ib);                                                                       \
        ia = (ia & m) | (ib & ~m);                                                                        \
        memcpy(&a, &ia, sizeof a);                                                                        \
        return a;                                                                                         \
    }
    SN_PICK(sn_pick_f, float, int32_t)
    SN_PICK(sn_pick_d, double, int64_t)
    SN_PICK(sn_pick_i, int, int)
    """
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
