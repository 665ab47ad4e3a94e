/* openmp_info.h: the C behind pyx/openmp_info.pyx, which owns the kernels' process-wide thread setting.
 *
 * What it computes: whether the build is -march=native (sn_native_build), OpenMP's default thread count,
 * and a fork handler: a child forked after a parallel region ran (OpenMP's pool is unusable there) runs
 * its kernels on one thread.
 * NumPy twin: none (scratchnet.backend reports and sets these).
 * Data layout: sn_own_thread_setting (kernel_helpers.h), this module's copy, which is the process-wide
 * one. Needs kernel_helpers.h included first (as kernel_helpers.pxd is cimported first). */
#ifndef SN_OPENMP_INFO_H
#define SN_OPENMP_INFO_H

#ifndef SCRATCHNET_NATIVE
#define SCRATCHNET_NATIVE 0
#endif
static const int sn_native_build = SCRATCHNET_NATIVE;
#ifdef _OPENMP
static int sn_openmp_default(void) { return omp_get_max_threads(); }
#else
static int sn_openmp_default(void) { return 1; }
#endif
#include <pthread.h>
/* runs in the child of a fork, before anything else */
static void sn_after_fork_in_child(void) {
    if (sn_own_thread_setting.pool_started) {
        sn_own_thread_setting.forked = 1;
        sn_own_thread_setting.threads = 1;
    }
}
static int sn_register_fork_handler(void) { return pthread_atfork(NULL, NULL, sn_after_fork_in_child); }

#endif  /* SN_OPENMP_INFO_H */
