"""Where arrays live and which kernels run: the one place that decides.

* ``get_array_module(*arrays)`` returns the array module (NumPy, or CuPy for GPU arrays) that the given
  arrays belong to, so layer code stays backend-agnostic (the Chainer idiom).
* ``kernel(name)`` returns the compiled Cython module ``scratchnet._kernels.NAME`` when it was built and the
  compiled path is enabled, otherwise the readable NumPy twin ``scratchnet.ops.NAME``.
* ``info()`` reports at run time whether the compiled kernels and OpenMP are present.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import numpy as np

_use_compiled = os.environ.get("SCRATCHNET_PURE_NUMPY", "0") != "1"


def get_array_module(*arrays: Any) -> ModuleType:
    """The array module of ``arrays``: ``cupy`` if any of them is a CuPy array, else ``numpy``."""
    for a in arrays:
        module = type(a).__module__
        if module.startswith("cupy"):
            import cupy

            return cupy
    return np


def compiled_kernels_available() -> bool:
    """True when the Cython extension modules were built and import."""
    try:
        importlib.import_module("scratchnet._kernels.openmp_info")
    except ImportError:
        return False
    return True


def openmp_enabled() -> bool:
    """True when the compiled kernels were built with OpenMP."""
    if not compiled_kernels_available():
        return False
    from scratchnet._kernels import openmp_info

    return openmp_info.openmp_enabled()


def num_threads() -> int:
    """Threads the compiled kernels' parallel loops use (1 without OpenMP)."""
    if not openmp_enabled():
        return 1
    from scratchnet._kernels import openmp_info

    return openmp_info.max_threads()


def set_num_threads(n: int) -> None:
    """Sets the OpenMP thread count of the compiled kernels (BLAS threads are not touched)."""
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    if openmp_enabled():
        from scratchnet._kernels import openmp_info

        openmp_info.set_num_threads(int(n))


def use_compiled(enabled: bool) -> None:
    """Switches every ``kernel(name)`` lookup between the compiled kernels and the NumPy twins."""
    global _use_compiled
    _use_compiled = bool(enabled)


def kernel(name: str) -> ModuleType:
    """The module implementing kernel ``name``: compiled when available and enabled, else the NumPy twin."""
    if _use_compiled:
        try:
            return importlib.import_module(f"scratchnet._kernels.{name}")
        except ImportError:
            pass
    return importlib.import_module(f"scratchnet.ops.{name}")


def info() -> dict[str, Any]:
    """What this installation runs with: compiled kernels, OpenMP, thread count, NumPy version."""
    return {
        "compiled_kernels": compiled_kernels_available(),
        "compiled_kernels_in_use": compiled_kernels_available() and _use_compiled,
        "openmp": openmp_enabled(),
        "num_threads": num_threads(),
        "numpy": np.__version__,
    }
