"""The compiled kernel modules for tests: ``compiled_or_skip(name)`` is the module this CPU runs
(``scratchnet.backend.compiled_kernel``), or skips the test when the kernels were not built."""

from __future__ import annotations

from types import ModuleType

import pytest

from scratchnet import backend


def compiled_or_skip(name: str) -> ModuleType:
    try:
        return backend.compiled_kernel(name)
    except ImportError:
        pytest.skip("the compiled kernels are not built")
