"""Reports how the kernels were built (OpenMP, instruction set), and controls the OpenMP thread count.

The OpenMP calls (and their serial stand-ins) are in ``kernel_helpers.pxd``, shared with the kernels.
"""

import operator
import os

from kernel_helpers cimport sn_max_threads, sn_openmp_enabled, sn_set_num_threads

cdef extern from *:
    """
    #ifndef SCRATCHNET_NATIVE
    #define SCRATCHNET_NATIVE 0
    #endif
    static const int sn_native_build = SCRATCHNET_NATIVE;
    """
    const int sn_native_build


def native_build() -> bool:
    """True when the kernels were compiled for the building machine's instruction set (-march=native)."""
    return bool(sn_native_build)


def openmp_enabled() -> bool:
    """True when the extension modules were compiled with OpenMP."""
    return bool(sn_openmp_enabled())


def max_threads() -> int:
    """Threads an OpenMP parallel region uses now (1 for a serial build)."""
    return sn_max_threads()


def thread_limit() -> int:
    """The most threads ``set_num_threads`` accepts: 64 per processor. The kernels are memory-bound, so
    more buys nothing, and a team of millions of threads would make the OpenMP runtime abort the process
    when thread creation fails."""
    return 64 * (os.cpu_count() or 1)


def set_num_threads(n) -> None:
    """Sets the OpenMP thread count for later parallel regions (ignored by a serial build)."""
    try:
        count = operator.index(n)
    except TypeError:
        raise ValueError(f"set_num_threads: n must be an int, got {n!r}") from None
    if isinstance(n, bool) or not 1 <= count <= thread_limit():
        raise ValueError(f"set_num_threads: n must be between 1 and {thread_limit()}, got {n!r}")
    sn_set_num_threads(count)
