"""Batched matrix products: the NumPy twin of ``pyx/batched_gemm.pyx`` (which runs the products of a batch
on the kernels' own OpenMP threads instead of OpenBLAS's pool).

``matmul(a, b, out, transpose_a, transpose_b)`` computes ``out[i] = op(a[i]) @ op(b[i])`` for stacks
a (B, M, K) and b (B, K, N), where ``op`` transposes the last two axes when asked; NumPy's ``matmul`` is
exactly that.
"""

from __future__ import annotations

import numpy as np

from scratchnet.backend import get_array_module

__all__ = ["available", "matmul", "matmul_split"]


def available() -> bool:
    """Always True: NumPy's (or CuPy's) matmul is there."""
    return True


def matmul(
    a: np.ndarray,
    b: np.ndarray,
    out: np.ndarray | None = None,
    transpose_a: bool = False,
    transpose_b: bool = False,
) -> np.ndarray:
    """``out[i] = op(a[i]) @ op(b[i])`` for 3-D stacks (``op`` transposes the last two axes when asked)."""
    xp = get_array_module(a)
    a = a.transpose(0, 2, 1) if transpose_a else a
    b = b.transpose(0, 2, 1) if transpose_b else b
    return xp.matmul(a, b, out=out)


def matmul_split(
    a: np.ndarray,
    b: np.ndarray,
    out: np.ndarray | None = None,
    transpose_a: bool = False,
    transpose_b: bool = False,
) -> np.ndarray:
    """``out = op(a) @ op(b)`` for 2-D operands (the compiled kernel cuts it into pieces for its threads)."""
    xp = get_array_module(a)
    return xp.matmul(a.T if transpose_a else a, b.T if transpose_b else b, out=out)
