"""Reports how the kernels were built (OpenMP) and which instruction-set levels this CPU runs, and owns the
kernels' thread count. Built once, at the lowest level, so it imports on any CPU of the platform.

The thread count is one process-wide setting (``kernel_helpers.pxd``: every kernel module points at the
one defined here), so ``set_num_threads`` from any Python thread reaches every kernel. Its default is
``OMP_NUM_THREADS`` when that is set, else the CPUs this process may run on: the affinity mask and a
cgroup CPU quota (a container limited to 2 CPUs on a 64-core host gets 2 threads, not 64).

A child forked after a parallel region ran cannot use OpenMP's thread pool (GNU OpenMP's pool threads do
not exist in the child, and the next parallel region would wait for them forever), so a fork handler sets
the child's count to 1: the child's kernels run serially, with the same results.
"""

import math
import operator
import os
import warnings

from cpython.pycapsule cimport PyCapsule_New

from kernel_helpers cimport sn_openmp_enabled, sn_own_thread_setting, sn_thread_setting

cdef extern from "openmp_info.h":
    int sn_cpu_runs_level(int level) noexcept nogil
    int sn_openmp_default() noexcept nogil
    int sn_register_fork_handler() noexcept nogil


#: the process-wide setting, for the other kernel modules (``kernel_helpers.sn_share_thread_setting``)
THREAD_SETTING = PyCapsule_New(<void*>&sn_own_thread_setting, "scratchnet.threads", NULL)


def cpu_runs(level) -> bool:
    """Whether this CPU runs kernels built for ``level`` ("baseline": x86-64-v2, "avx2": x86-64-v3, "avx512":
    x86-64-v4; "generic", the one build off x86-64, runs everywhere it was built for)."""
    if level == "generic":
        return True
    return bool(sn_cpu_runs_level({"baseline": 2, "avx2": 3, "avx512": 4}.get(level, 0)))


def openmp_enabled() -> bool:
    """True when the extension modules were compiled with OpenMP."""
    return bool(sn_openmp_enabled())


def _cgroup_cpu_limit(root="/sys/fs/cgroup"):
    """CPUs allowed by this process's cgroup quota (v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), rounded up,
    or None when there is no quota or it cannot be read."""
    try:
        quota, period = open(os.path.join(root, "cpu.max")).read().split()[:2]
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int(open(os.path.join(root, "cpu", "cpu.cfs_quota_us")).read())
        period = int(open(os.path.join(root, "cpu", "cpu.cfs_period_us")).read())
        if quota > 0 and period > 0:
            return max(1, math.ceil(quota / period))
    except (OSError, ValueError):
        pass
    return None


def available_cpus(cgroup_root="/sys/fs/cgroup") -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    limit = _cgroup_cpu_limit(cgroup_root)
    return max(1, min(cpus, limit) if limit else cpus)


def default_threads() -> int:
    """The starting thread count: ``OMP_NUM_THREADS`` when it is set (an explicit choice, kept even above
    the CPU count), else OpenMP's default capped at ``available_cpus()``; 1 for a serial build."""
    if not sn_openmp_enabled():
        return 1
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return max(1, min(sn_openmp_default(), thread_limit()))
    return max(1, min(sn_openmp_default(), available_cpus()))


def max_threads() -> int:
    """Threads a kernel's parallel region uses now (1 for a serial build or in a forked child)."""
    return sn_own_thread_setting.threads if sn_openmp_enabled() else 1


def forked_child() -> bool:
    """True in a child forked after the kernels ran in parallel: its kernels run on one thread."""
    return bool(sn_own_thread_setting.forked)


def thread_limit() -> int:
    """The most threads ``set_num_threads`` accepts: 64 per processor. The kernels are memory-bound, so
    more buys nothing, and a team of millions of threads would make the OpenMP runtime abort the process
    when thread creation fails."""
    return 64 * (os.cpu_count() or 1)


def set_num_threads(n) -> None:
    """Sets the kernels' thread count for every later parallel region, from whichever Python thread calls
    it (ignored by a serial build; kept at 1 in a forked child, with a warning)."""
    try:
        count = operator.index(n)
    except TypeError:
        raise ValueError(f"set_num_threads: n must be an int, got {n!r}") from None
    if isinstance(n, bool) or not 1 <= count <= thread_limit():
        raise ValueError(f"set_num_threads: n must be between 1 and {thread_limit()}, got {n!r}")
    if not sn_openmp_enabled():
        return
    if sn_own_thread_setting.forked and count > 1:
        warnings.warn(
            "set_num_threads: this process was forked after the kernels ran in parallel; OpenMP cannot start "
            "threads in it, so its kernels stay on one thread (use the 'spawn' or 'forkserver' start method "
            "for parallel kernels in workers)",
            RuntimeWarning,
            stacklevel=2,
        )
        return
    sn_own_thread_setting.threads = count


if sn_register_fork_handler() != 0:
    raise ImportError("scratchnet._kernels.openmp_info: could not register the fork handler")
sn_own_thread_setting.cpus = available_cpus()
sn_own_thread_setting.threads = default_threads()
