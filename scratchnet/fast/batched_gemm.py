"""Batched matrix products: the NumPy twin of ``pyx/batched_gemm.pyx`` (which runs the products of a batch
on the kernels' own OpenMP threads instead of OpenBLAS's pool).

``matmul(a, b, out, transpose_a, transpose_b)`` computes ``out[i] = op(a[i]) @ op(b[i])`` for stacks
a (B, M, K) and b (B, K, N), where ``op`` transposes the last two axes when asked; NumPy's ``matmul`` is
exactly that.
"""

from __future__ import annotations

import sys
from types import ModuleType

import numpy as np

from scratchnet import backend
from scratchnet.backend import get_array_module

__all__ = ["available", "matmul", "matmul_split", "threaded"]


def available() -> bool:
    """Always True: NumPy's (or CuPy's) matmul is there."""
    return True


def threaded(xp: ModuleType) -> ModuleType | None:
    """``scratchnet._kernels.batched_gemm`` where it runs the products of arrays of ``xp`` on the kernels'
    own threads (built, selected, and it found NumPy's OpenBLAS), else None: use NumPy's matmul."""
    if xp is not np:
        return None
    module = backend.kernel("batched_gemm")
    return module if module is not sys.modules[__name__] and module.available() else None


def matmul(
    a: np.ndarray,
    b: np.ndarray,
    out: np.ndarray | None = None,
    transpose_a: bool = False,
    transpose_b: bool = False,
) -> np.ndarray:
    """``out[i] = op(a[i]) @ op(b[i])`` for 3-D stacks (``op`` transposes the last two axes when asked)."""
    xp = get_array_module(a)
    a = xp.swapaxes(a, -1, -2) if transpose_a else a
    b = xp.swapaxes(b, -1, -2) if transpose_b else b
    return xp.matmul(a, b, out=out)


# 2-D operands: the same product (the compiled kernel cuts it into pieces for its threads)
matmul_split = matmul
