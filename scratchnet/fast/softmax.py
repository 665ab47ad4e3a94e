r"""Attention's softmax over the rows of its scores, and the softmax's Jacobian-vector product, as kernels:
the readable NumPy twin of ``pyx/softmax.pyx``.

.. math::
    P_{ts} = \frac{e^{S_{ts} - \max_{s'} S_{ts'}}}{\sum_{s'} e^{S_{ts'} - \max_{s''} S_{ts''}}},\qquad
    \partial S_{ts} = P_{ts}\Big(\partial P_{ts} - \sum_{s'} \partial P_{ts'} P_{ts'}\Big)

over the keys s a query t may read (all of them, or s <= t when ``causal``; the others get P = 0), the
expressions of ``masked_softmax`` and ``MultiHeadAttention.backward`` (``scratchnet/layers/attention.py``).
Both work in place on ``(..., T, T)`` stacks (``(..., n)`` rows when not causal). The compiled kernel's exp
is its own vectorised one in float32 and its row sums are in fixed lanes, so the two agree to rounding
(``tests/fast/test_softmax.py`` holds the bound).
"""

from __future__ import annotations

import numpy as np

from scratchnet.backend import get_array_module
from scratchnet.layers.attention import masked_softmax

__all__ = ["softmax_backward_in_place", "softmax_in_place"]


def softmax_in_place(s: np.ndarray, causal: bool) -> np.ndarray:
    """``s`` overwritten by its row softmax (a causal stack: key s > query t masked); returns ``s``."""
    xp = get_array_module(s)
    if s.dtype.kind != "f":
        raise TypeError(f"softmax: scores must be a floating-point array, got {s.dtype}")
    masked = None
    if causal:
        steps = xp.arange(s.shape[-1])
        masked = steps[None, :] > steps[:, None]
        s += xp.where(masked, s.dtype.type(-np.inf), s.dtype.type(0))
    s[...] = masked_softmax(s, masked is not None)
    return s


def softmax_backward_in_place(ds: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """``ds`` (dL/dP on entry) overwritten by dL/dS = P (dP - sum(dP P)) row by row; returns ``ds``."""
    ds -= (ds * prob).sum(axis=-1, keepdims=True)
    ds *= prob
    return ds
