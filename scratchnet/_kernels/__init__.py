"""Compiled Cython kernels (built from ``pyx/`` by setup.py); selected through ``scratchnet.backend.kernel``.

OpenMP threads in GNU libgomp busy-wait after each parallel region by default. On a machine with few cores
they then compete with the BLAS threads of the GEMM that follows every im2col, which measured 1.5x slower
whole conv layers on 2 cores. libgomp reads ``OMP_WAIT_POLICY`` once, when it is loaded by the first kernel
import below this package, so it is set to PASSIVE for that moment only (unless the user chose a policy) and
restored afterwards, leaving other OpenMP runtimes loaded later untouched.
"""

import os

_user_policy = os.environ.get("OMP_WAIT_POLICY")
if _user_policy is None:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
try:
    from scratchnet._kernels import openmp_info  # noqa: F401  (loads libgomp with the policy above)
except ImportError:  # not built: scratchnet.backend falls back to the NumPy twins
    pass
finally:
    if _user_policy is None:
        del os.environ["OMP_WAIT_POLICY"]
