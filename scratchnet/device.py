"""Where arrays live: the host (NumPy) or a CUDA GPU (CuPy), and moving arrays between them.

Layer code never names NumPy or CuPy directly for its arithmetic: it asks ``get_array_module(x)`` for the
module of its input (``xp``) and calls ``xp.exp``, ``xp.zeros`` and so on, so the same code runs on both
devices (the Chainer idiom). ``use_device("cuda")`` (or ``SCRATCHNET_DEVICE=cuda``) makes new layers put
their parameters on the GPU; ``Layer.to(device)`` moves a whole model. Without CuPy everything runs on
NumPy, and asking for the GPU raises an error that says what to install.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import numpy as np

CUPY_HINT = (
    "the GPU backend needs CuPy: install the wheel matching your CUDA toolkit, e.g. "
    "`pip install cupy-cuda12x` (CUDA 12) or `pip install cupy-cuda13x` (CUDA 13)"
)
_DEVICE_NAMES = {"cpu": "cpu", "numpy": "cpu", "cuda": "cuda", "gpu": "cuda"}
_default_device = "cpu"


def get_array_module(*arrays: Any) -> ModuleType:
    """The array module of ``arrays``: ``cupy`` if any of them is a CuPy array, else ``numpy``.

    Any other array type that names its module through the array-API method ``__array_namespace__``
    (the test suite's stand-in device does) gets that module."""
    for a in arrays:
        if type(a) is np.ndarray or isinstance(a, np.generic):
            continue
        if type(a).__module__.startswith("cupy"):
            import cupy

            return cupy
        namespace = getattr(a, "__array_namespace__", None)
        if namespace is not None:
            return namespace()
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
    """Where new layers allocate their parameters: 'cpu' or 'cuda'."""
    return _default_device


def device_of(a: Any) -> str:
    """'cpu' for NumPy arrays, 'cuda' for CuPy (and stand-in device) arrays."""
    return "cuda" if get_array_module(a) is not np else "cpu"


def to_device(a: Any, device: str) -> Any:
    """``a`` as an array on ``device`` (a no-op when it is already there)."""
    if normalize_device(device) == "cuda":
        return _cupy().asarray(a)
    return to_host(a)


def to_host(a: Any) -> np.ndarray:
    """A NumPy array with the contents of ``a`` (copies a GPU array to the host)."""
    if get_array_module(a) is not np:
        return a.get()
    return np.asarray(a)


if os.environ.get("SCRATCHNET_DEVICE"):
    use_device(os.environ["SCRATCHNET_DEVICE"])
