/* kernel_helpers.h: the C every compiled kernel shares (included through pyx/kernel_helpers.pxd, so once
 * into each kernel module's C file).
 *
 * What it computes: nothing numeric. The kernels' thread count (sn_max_threads, sn_threads_for,
 * sn_lockstep_threads_for), one-thread stand-ins for the OpenMP calls in a serial build, SN_FUSED (a
 * function whose multiply-adds may fuse, for the register-tile kernels) and sn_pick_* (c ? a : b as a bit
 * blend the compiler vectorises).
 * NumPy twin: none of its own; the thread setting is what scratchnet.backend.set_num_threads /
 * num_threads reach (pyx/openmp_info.pyx), and the blends are np.where's select.
 * Data layout: sn_thread_setting, four ints. Every module that includes this header has its own static
 * copy (sn_own_thread_setting) and a pointer sn_threads_shared; openmp_info's copy is the process-wide
 * setting, and every other module points its sn_threads_shared at it at import
 * (kernel_helpers.pxd: sn_share_thread_setting). Fields are read and written with relaxed atomics. */
#ifndef SN_KERNEL_HELPERS_H
#define SN_KERNEL_HELPERS_H

/* The kernels' thread count is one process-wide setting, not OpenMP's per-thread ICV (which
   omp_set_num_threads changes for the calling thread only). openmp_info owns the setting; every other
   kernel module points at it when it is imported (sn_share_thread_setting, kernel_helpers.pxd), so
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

#endif  /* SN_KERNEL_HELPERS_H */
