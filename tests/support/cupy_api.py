"""The part of the NumPy API that CuPy implements, as name lists the stand-in device polices.

The stand-in device (``stand_in_device.py``) runs scratchnet on a NumPy subclass. Without these lists a
layer could call a NumPy function or array method that CuPy lacks and still pass there, only to fail on a
real GPU; with them, any such call raises ``MissingOnCuPyError`` in the stand-in tests.

The lists are read off an installed CuPy and written to ``cupy_api.json``; regenerate them (no GPU needed,
CuPy imports without one) with::

    pip install cupy-cuda12x && python tests/support/cupy_api.py
"""

from __future__ import annotations

import json
from pathlib import Path

API_FILE = Path(__file__).with_name("cupy_api.json")
SUBMODULES = ("lib.stride_tricks", "linalg", "random", "fft")
UFUNC_METHODS = ("at", "reduce", "accumulate", "outer", "reduceat")


def _public(obj) -> list[str]:
    return sorted(n for n in dir(obj) if not n.startswith("_"))


def read_from_cupy() -> dict:
    import importlib

    import cupy

    namespace = set(_public(cupy))
    for sub in SUBMODULES:
        module = importlib.import_module(f"cupy.{sub}")
        namespace.update(f"{sub}.{n}" for n in _public(module))
    ufunc_methods = {m for m in UFUNC_METHODS if hasattr(cupy.add, m)}
    return {
        "cupy_version": cupy.__version__,
        "namespace": sorted(namespace),
        "submodules": list(SUBMODULES),
        "ndarray": _public(cupy.ndarray),
        "ufunc_methods": sorted(ufunc_methods),
    }


def load() -> dict:
    """The committed lists: ``namespace`` (dotted names), ``ndarray`` (methods), ``ufunc_methods``."""
    data = json.loads(API_FILE.read_text())
    data["namespace"] = frozenset(data["namespace"])
    data["ndarray"] = frozenset(data["ndarray"])
    data["ufunc_methods"] = frozenset(data["ufunc_methods"])
    return data


if __name__ == "__main__":
    api = read_from_cupy()
    API_FILE.write_text(json.dumps(api, indent=0) + "\n")
    print(f"wrote {API_FILE} from CuPy {api['cupy_version']}: {len(api['namespace'])} names")
