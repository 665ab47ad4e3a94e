/* openmp_info.h: the C behind pyx/openmp_info.pyx, which owns the kernels' process-wide thread setting.
 *
 * What it computes: which instruction-set levels this CPU runs (sn_cpu_runs_level: x86-64-v2, -v3, -v4,
 * read with the compiler's __builtin_cpu_supports, which also checks that the OS saves the wide registers),
 * OpenMP's default thread count, and a fork handler: a child forked after a parallel region ran (OpenMP's
 * pool is unusable there) runs its kernels on one thread.
 * NumPy twin: none (scratchnet.backend reports and sets these).
 * Data layout: sn_own_thread_setting (kernel_helpers.h), this module's copy, which is the process-wide
 * one. Needs kernel_helpers.h included first (as kernel_helpers.pxd is cimported first). */
#ifndef SN_OPENMP_INFO_H
#define SN_OPENMP_INFO_H

/* 1 when this CPU runs code built for x86-64 level `level` (2, 3 or 4), the feature sets GCC's
 * -march=x86-64-vN assumes; 0 for other levels and off x86-64 (where one generic build runs). */
static int sn_cpu_runs_level(int level) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    int v2 = __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("ssse3") &&
             __builtin_cpu_supports("popcnt");
    int v3 = v2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
    int v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl");
    return level == 2 ? v2 : level == 3 ? v3 : level == 4 ? v4 : 0;
#else
    (void)level;
    return 0;
#endif
}
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
