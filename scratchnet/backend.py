"""Which code runs: the one place that chooses between the readable reference and the fast paths.

scratchnet has two tiers. Tier 1 is the reference: every layer's ``forward``/``backward`` written as its
maths in plain NumPy, in ``scratchnet/layers/``. Tier 2 is what runs by default: compiled Cython kernels
(``pyx/``, built into ``scratchnet._kernels``) and fused, in-place NumPy variants (``scratchnet/fast/``),
each held equal to its reference by the tests. This module decides, for every call, which tier runs:

* ``kernel(name)``: the compiled module ``scratchnet._kernels.LEVEL.NAME`` (``LEVEL``: the instruction-set
  level this CPU runs, ``cpu_level()``) when it was built and compiled code is enabled (``use_compiled``; ``SCRATCHNET_PURE_NUMPY=1`` disables it), else its NumPy twin (the table
  ``TWINS``: tier-1 maths in ``scratchnet/maths/`` for the kernels layers call, ``scratchnet/fast/`` for
  the kernels only the fast paths call);
* ``fast_path(layer, method)``: the tier-2 function that replaces a layer method (the table
  ``FAST_PATHS``), or None to run the layer's own code. ``Layer.dispatch`` (``layers/base.py``) asks this
  for every method it runs on the fast tier;
* ``use_reference(True)`` (or ``with reference():``) makes every layer run its tier-1 code and every
  kernel its NumPy twin (``SCRATCHNET_REFERENCE=1`` sets it at import): the path to step through in a
  debugger. Results agree with the fast path to
  rounding (the tests hold each pair to a stated bound).

Device handling (NumPy or CuPy arrays) lives in ``scratchnet.device``; its functions are re-exported here.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np

from scratchnet.device import (  # noqa: F401  (re-exported: the public device API)
    CUPY_HINT,
    _cupy,
    current_device,
    device_of,
    get_array_module,
    normalize_device,
    to_device,
    to_host,
    use_device,
)

_use_compiled = os.environ.get("SCRATCHNET_PURE_NUMPY", "0") != "1"
_use_reference = os.environ.get("SCRATCHNET_REFERENCE", "0") == "1"

# Layer methods with a tier-2 implementation: "module.Class.method" -> "module:function". The function
# takes the layer as its first argument and the method's own arguments after it.
FAST_PATHS = {
    "scratchnet.model.Sequential.forward": "scratchnet.fast.fusion:sequential_forward",
    "scratchnet.model.Sequential.backward": "scratchnet.fast.fusion:sequential_backward",
    "scratchnet.model.Sequential.backward_params": "scratchnet.fast.fusion:sequential_backward_params",
    "scratchnet.layers.pooling.MaxPool2D.backward": "scratchnet.fast.fusion:maxpool_backward",
    "scratchnet.layers.dense.Dense.forward": "scratchnet.fast.dense:dense_forward",
    "scratchnet.layers.dense.Dense.backward": "scratchnet.fast.dense:dense_backward",
    "scratchnet.layers.dense.Dense.backward_params": "scratchnet.fast.dense:dense_backward_params",
    "scratchnet.layers.activations.ReLU.forward": "scratchnet.fast.activations:relu_forward",
    "scratchnet.layers.activations.ReLU.backward": "scratchnet.fast.activations:relu_backward",
    "scratchnet.layers.activations.GELU.forward": "scratchnet.fast.activations:gelu_forward",
    "scratchnet.layers.activations.GELU.backward": "scratchnet.fast.activations:gelu_backward",
    "scratchnet.layers.attention.MultiHeadAttention.forward": "scratchnet.fast.attention:attention_forward",
    "scratchnet.layers.attention.MultiHeadAttention.backward": "scratchnet.fast.attention:attention_backward",
    "scratchnet.layers.normalization.LayerNorm.forward": "scratchnet.fast.normalization:layernorm_forward",
    "scratchnet.layers.normalization.LayerNorm.backward": "scratchnet.fast.normalization:layernorm_backward",
    "scratchnet.layers.conv.Conv2D.forward": "scratchnet.fast.conv:conv2d_forward",
    "scratchnet.layers.conv.Conv2D.backward": "scratchnet.fast.conv:conv2d_backward",
    "scratchnet.layers.conv.Conv2D.backward_params": "scratchnet.fast.conv:conv2d_backward_params",
    "scratchnet.layers.recurrent.RNN.forward_loop": "scratchnet.fast.recurrent:rnn_forward_loop",
    "scratchnet.layers.recurrent.RNN.backward_loop": "scratchnet.fast.recurrent:rnn_backward_loop",
    "scratchnet.layers.recurrent.LSTM.forward_loop": "scratchnet.fast.recurrent:lstm_forward_loop",
    "scratchnet.layers.recurrent.LSTM.backward_loop": "scratchnet.fast.recurrent:lstm_backward_loop",
    "scratchnet.layers.recurrent.LSTM.forward_projection": "scratchnet.fast.recurrent:lstm_forward_projection",
    "scratchnet.layers.recurrent.LSTM.backward_products": "scratchnet.fast.recurrent:lstm_backward_products",
    "scratchnet.layers.recurrent.GRU.forward_loop": "scratchnet.fast.recurrent:gru_forward_loop",
    "scratchnet.layers.recurrent.GRU.backward_loop": "scratchnet.fast.recurrent:gru_backward_loop",
    "scratchnet.optim.Adam.update_step": "scratchnet.fast.optim:adam_update_step",
}
_resolved: dict[str, Callable[..., Any]] = {}
_keys: dict[tuple[type, str], str] = {}

# The NumPy twin of each compiled kernel ``scratchnet._kernels.NAME``.
TWINS = {
    "adam": "scratchnet.fast.adam",
    "im2col": "scratchnet.maths.im2col",
    "pooling": "scratchnet.maths.pooling",
    "batched_gemm": "scratchnet.fast.batched_gemm",
    "direct_conv": "scratchnet.fast.direct_conv",
    "fingerprint": "scratchnet.fast.fingerprint",
    "gelu": "scratchnet.fast.gelu",
    "layernorm": "scratchnet.fast.layernorm",
    "lstm_cell": "scratchnet.fast.lstm_cell",
    "relu": "scratchnet.fast.relu",
    "softmax": "scratchnet.fast.softmax",
    "winograd": "scratchnet.fast.winograd",
}


def use_compiled(enabled: bool) -> None:
    """Switches every ``kernel(name)`` lookup between the compiled kernels and the NumPy twins."""
    global _use_compiled
    _use_compiled = bool(enabled)


def use_reference(enabled: bool = True) -> None:
    """True: every layer runs its tier-1 (reference) code and every kernel its NumPy twin."""
    global _use_reference
    _use_reference = bool(enabled)


def reference_mode() -> bool:
    """Whether the tier-1 reference code is selected (see ``use_reference``)."""
    return _use_reference


@contextmanager
def reference(enabled: bool = True) -> Iterator[None]:
    """``with reference():`` runs the block on the tier-1 reference code, then restores the setting."""
    previous = _use_reference
    use_reference(enabled)
    try:
        yield
    finally:
        use_reference(previous)


def fast_path(layer: Any, method: str) -> Callable[..., Any] | None:
    """The tier-2 function that replaces ``method`` of ``layer`` (the table ``FAST_PATHS``), or None.

    The layer's classes are looked up in MRO order, up to the first that defines ``method`` itself: a
    subclass of a listed class inherits its fast path, one that overrides the method runs its own code.
    ``Layer.dispatch`` asks this on the fast tier only (reference mode is decided when the forward starts).
    """
    cls = type(layer)
    key = _keys.get((cls, method))
    if key is None:
        key = ""
        for c in cls.__mro__:
            if f"{c.__module__}.{c.__qualname__}.{method}" in FAST_PATHS:
                key = f"{c.__module__}.{c.__qualname__}.{method}"
                break
            if method in c.__dict__:
                break
        _keys[(cls, method)] = key
    if key not in FAST_PATHS:
        return None
    if key not in _resolved:
        module, name = FAST_PATHS[key].split(":")
        _resolved[key] = getattr(importlib.import_module(module), name)
    return _resolved[key]


# The instruction-set levels the kernels are built for (setup.py), lowest first: x86-64-v2, -v3 (AVX2, FMA),
# -v4 (AVX-512) on x86-64; one "generic" build elsewhere.
KERNEL_LEVELS = ("baseline", "avx2", "avx512", "generic")
_level: str | None = None


def built_levels() -> list[str]:
    """The kernel levels this installation has, lowest first (empty when the kernels were not built)."""
    return [
        level
        for level in KERNEL_LEVELS
        if importlib.util.find_spec(f"scratchnet._kernels.{level}") is not None
        and importlib.util.find_spec(f"scratchnet._kernels.{level}.relu") is not None
    ]


def cpu_level() -> str | None:
    """The instruction-set level whose compiled kernels run, chosen once: the highest built level this CPU
    runs, or the one ``SCRATCHNET_CPU`` names (``baseline``, ``avx2``, ``avx512``; for testing: a level the
    CPU lacks, or one not built, is an error rather than an illegal instruction). None without kernels."""
    global _level
    if _level is None:
        if not compiled_kernels_available():
            return None
        from scratchnet._kernels import openmp_info

        built = built_levels()
        forced = os.environ.get("SCRATCHNET_CPU", "").strip()
        if forced:
            if forced not in built:
                raise RuntimeError(f"SCRATCHNET_CPU={forced!r}: this installation has kernels for {built}")
            if not openmp_info.cpu_runs(forced):
                raise RuntimeError(f"SCRATCHNET_CPU={forced!r}: this CPU does not run that level")
            _level = forced
        else:
            runnable = [level for level in built if openmp_info.cpu_runs(level)]
            if not runnable:
                return None
            _level = runnable[-1]
    return _level


def compiled_kernel(name: str) -> ModuleType:
    """The compiled module of kernel ``name`` at ``cpu_level()`` (``scratchnet._kernels.LEVEL.NAME``);
    ImportError when it was not built or no level runs here."""
    level = cpu_level()
    if level is None:
        raise ImportError(f"scratchnet: no compiled kernels for this CPU (kernel {name!r})")
    return importlib.import_module(f"scratchnet._kernels.{level}.{name}")


def kernel(name: str, xp: ModuleType = np) -> ModuleType:
    """The module implementing kernel ``name`` for arrays of module ``xp``: the compiled one for NumPy
    arrays when it is available and selected, else the NumPy twin (written with ``xp`` calls, so it
    also runs on CuPy arrays)."""
    if xp is np and _use_compiled and not _use_reference:
        try:
            return compiled_kernel(name)
        except ImportError:
            pass
    return importlib.import_module(TWINS[name])


def fingerprint(a: Any) -> int:
    """A fingerprint of ``a``'s contents (``scratchnet/fast/fingerprint.py``), by the compiled kernel where
    there is one, in reference mode too: it checks arrays for the layer base class, it is not a layer's maths."""
    module = None
    if _use_compiled and isinstance(a, np.ndarray):
        try:
            module = compiled_kernel("fingerprint")
        except ImportError:
            pass
    return (module or importlib.import_module(TWINS["fingerprint"])).fingerprint(a)


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


def info() -> dict[str, Any]:
    """What this installation runs with: compiled kernels, OpenMP, the kernels' instruction-set level (and the
    levels built), thread count, tier, NumPy version."""
    return {
        "compiled_kernels": compiled_kernels_available(),
        "compiled_kernels_in_use": compiled_kernels_available() and _use_compiled and not _use_reference,
        "reference": _use_reference,
        "openmp": openmp_enabled(),
        "cpu_level": cpu_level(),
        "built_levels": built_levels(),
        "num_threads": num_threads(),
        "numpy": np.__version__,
        "device": current_device(),
    }
