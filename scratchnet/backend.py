"""Where arrays live and which kernels run: the one place that decides.

* ``get_array_module(*arrays)`` returns the array module (NumPy, or CuPy for GPU arrays) that the given
  arrays belong to, so layer code stays backend-agnostic (the Chainer idiom).
* ``kernel(name)`` returns the compiled Cython module ``scratchnet._kernels.NAME`` when it was built and the
  compiled path is enabled, otherwise the readable NumPy twin ``scratchnet.ops.NAME``.
* ``info()`` reports at run time whether the compiled kernels and OpenMP are present.
* ``use_device("cuda")`` (or ``SCRATCHNET_DEVICE=cuda``) makes new layers allocate their parameters on the
  GPU through CuPy; ``to_device``/``to_host`` move arrays; ``Layer.to(device)`` moves a whole model.
  Without CuPy everything runs on NumPy exactly as before, and asking for the GPU raises a clear error.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import numpy as np

_use_compiled = os.environ.get("SCRATCHNET_PURE_NUMPY", "0") != "1"
_DEVICE_NAMES = {"cpu": "cpu", "numpy": "cpu", "cuda": "cuda", "gpu": "cuda"}
_default_device = "cpu"
CUPY_HINT = (
    "the GPU backend needs CuPy: install the wheel matching your CUDA toolkit, e.g. "
    "`pip install cupy-cuda12x` (CUDA 12) or `pip install cupy-cuda13x` (CUDA 13)"
)


_array_modules: dict[type, ModuleType] = {}


def register_array_module(array_type: type, module: ModuleType) -> None:
    """Declares that arrays of ``array_type`` are handled by ``module`` (used for stand-in devices in tests)."""
    _array_modules[array_type] = module


def get_array_module(*arrays: Any) -> ModuleType:
    """The array module of ``arrays``: ``cupy`` if any of them is a CuPy array, else ``numpy``."""
    for a in arrays:
        cls = type(a)
        if cls.__module__.startswith("cupy"):
            import cupy

            return cupy
        if _array_modules:
            for base in cls.__mro__:
                if base in _array_modules:
                    return _array_modules[base]
    return np


def _cupy() -> ModuleType:
    try:
        import cupy
    except ImportError as exc:
        raise RuntimeError(CUPY_HINT) from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CuPy present but no driver / no device
        raise RuntimeError(f"CuPy is installed but no CUDA device is usable: {exc}") from exc
    if count < 1:
        raise RuntimeError("CuPy is installed but reports no CUDA device")
    return cupy


def normalize_device(device: str) -> str:
    """'cpu'/'numpy' -> 'cpu'; 'cuda'/'gpu' -> 'cuda'; anything else is a ValueError."""
    try:
        return _DEVICE_NAMES[str(device).lower()]
    except KeyError:
        raise ValueError(f"unknown device {device!r}; use 'cpu' or 'cuda'") from None


def use_device(device: str) -> None:
    """Sets where new layers allocate their parameters ('cpu' or 'cuda')."""
    global _default_device
    device = normalize_device(device)
    if device == "cuda":
        _cupy()
    _default_device = device


def current_device() -> str:
    return _default_device


def device_of(a: Any) -> str:
    """'cpu' for NumPy arrays, 'cuda' for CuPy (and registered stand-in) arrays."""
    return "cuda" if get_array_module(a) is not np else "cpu"


def to_device(a: Any, device: str) -> Any:
    """``a`` as an array on ``device`` (a no-op when it is already there)."""
    device = normalize_device(device)
    if device == "cuda":
        return _cupy().asarray(a)
    return to_host(a)


def to_host(a: Any) -> np.ndarray:
    """A NumPy array with the contents of ``a`` (copies a GPU array to the host)."""
    if get_array_module(a) is not np:
        return a.get()
    return np.asarray(a)


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


def kernel(name: str, xp: ModuleType = np) -> ModuleType:
    """The module implementing kernel ``name`` for arrays of module ``xp``.

    NumPy arrays: the compiled kernel when available and enabled, else the NumPy twin. CuPy arrays: the GPU
    counterpart ``scratchnet.gpu.NAME`` when there is one, else the twin (written with ``xp`` calls).
    """
    if xp is not np:
        try:
            return importlib.import_module(f"scratchnet.gpu.{name}")
        except ImportError:
            return importlib.import_module(f"scratchnet.ops.{name}")
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
        "device": _default_device,
    }


if os.environ.get("SCRATCHNET_DEVICE"):
    use_device(os.environ["SCRATCHNET_DEVICE"])
