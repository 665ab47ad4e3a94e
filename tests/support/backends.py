"""The array backends the layer suite runs on, as one pytest parameter.

* ``numpy``: host arrays, the compiled kernels where they exist (the reference every other backend is held to);
* ``stand-in``: the stand-in device of ``stand_in_device.py`` (NumPy underneath, but it refuses host
  arrays and anything CuPy lacks), so the device code path runs on every machine, CI included;
* ``cupy``: a real GPU through CuPy; skipped, with the reason, where CuPy or a CUDA device is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import stand_in_device

from scratchnet import backend


def cupy_unavailable_reason() -> str | None:
    """None when CuPy imports and sees a CUDA device, else why not."""
    try:
        backend._cupy()
    except RuntimeError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class Backend:
    name: str

    @property
    def on_device(self) -> bool:
        return self.name != "numpy"

    def array(self, a: Any) -> Any:
        """A host array's contents on this backend."""
        if self.name == "numpy":
            return a
        if self.name == "stand-in":
            return stand_in_device.asarray(a)
        return backend.to_device(a, "cuda")

    def move(self, layer: Any) -> Any:
        """``layer`` (a layer or a whole model) with its params, grads and buffers on this backend."""
        if self.name == "stand-in":
            return stand_in_device.to_device(layer)
        if self.name == "cupy":
            return layer.to("cuda")
        return layer

    def holds(self, a: Any) -> bool:
        """True when ``a`` is an array of this backend (not a silent copy on another one)."""
        if self.name == "stand-in":
            return isinstance(a, stand_in_device.DeviceArray)
        return backend.device_of(a) == ("cuda" if self.name == "cupy" else "cpu")


def params() -> list:
    reason = cupy_unavailable_reason()
    return [
        pytest.param(Backend("numpy"), id="numpy"),
        pytest.param(Backend("stand-in"), id="stand-in"),
        pytest.param(
            Backend("cupy"), id="cupy", marks=pytest.mark.skipif(reason is not None, reason=str(reason))
        ),
    ]
