r"""The plain signal-processing operations behind convolutional layers, written out for reading.

True convolution flips the kernel, cross-correlation does not:

.. math::
    (x * k)[n] = \sum_m x[m]\, k[n - m] \qquad\qquad (x \star k)[n] = \sum_m x[n + m]\, k[m]

so ``correlate(x, k) == convolve(x, k[::-1])``. What deep-learning libraries call "convolution" (and what
:class:`scratchnet.layers.conv.Conv2D` computes) is the cross-correlation; since the kernel is learned,
the flip makes no difference to what a network can represent.

Output modes, for a signal of length ``N`` and a kernel of length ``M``:

* ``'full'``: every overlap, length ``N + M - 1`` (zero padding on both sides);
* ``'same'``: the centre ``max(N, M)`` entries of ``'full'`` (1-D, as ``numpy.convolve``) or the input's
  shape (2-D, as ``scipy.signal.convolve2d``), starting at offset ``(min(N, M) - 1) // 2``;
* ``'valid'``: only positions where the kernel lies wholly inside the signal, length ``N - M + 1``.

:func:`tf_conv2d` is TensorFlow's ``conv2d`` on one channel: a cross-correlation whose ``'same'`` padding
gives ``ceil(n / stride)`` outputs and puts the odd padding pixel at the bottom/right.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.maths.im2col import normalize_stride, same_padding

__all__ = ["convolve1d", "correlate1d", "convolve2d", "correlate2d", "tf_conv2d"]

_MODES = ("full", "same", "valid")


def _as_1d(a: Any, name: str, who: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1 or a.size == 0 or a.dtype.kind not in "biuf":
        raise ValueError(
            f"{who}: {name} must be a non-empty 1-D real array, got shape {a.shape} dtype {a.dtype}"
        )
    return a


def _as_2d(a: Any, name: str, who: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2 or a.size == 0 or a.dtype.kind not in "biuf":
        raise ValueError(
            f"{who}: {name} must be a non-empty 2-D real array, got shape {a.shape} dtype {a.dtype}"
        )
    return a


def _check_mode(mode: str, who: str) -> str:
    if mode not in _MODES:
        raise ValueError(f"{who}: mode must be one of {_MODES}, got {mode!r}")
    return mode


def convolve1d(x: Any, k: Any, mode: str = "full") -> np.ndarray:
    """1-D true convolution; same results as ``numpy.convolve(x, k, mode)``."""
    who = "convolve1d"
    x, k, mode = _as_1d(x, "x", who), _as_1d(k, "k", who), _check_mode(mode, who)
    n, m = len(x), len(k)
    full = np.zeros(n + m - 1, dtype=np.result_type(x, k))
    for j in range(m):  # kernel tap j shifts the whole signal right by j: full[i + j] += x[i] k[j]
        full[j : j + n] += k[j] * x
    if mode == "full":
        return full
    short, long_ = min(n, m), max(n, m)
    if mode == "same":
        start = (short - 1) // 2
        return full[start : start + long_]
    return full[short - 1 : long_]  # valid


def correlate1d(x: Any, k: Any, mode: str = "valid") -> np.ndarray:
    """1-D cross-correlation ``sum_m x[n + m] k[m]`` = convolution with the flipped kernel.

    Matches ``numpy.correlate(x, k, mode)`` whenever ``len(x) >= len(k)``.
    """
    who = "correlate1d"
    return convolve1d(_as_1d(x, "x", who), _as_1d(k, "k", who)[::-1], _check_mode(mode, who))


def convolve2d(x: Any, k: Any, mode: str = "full") -> np.ndarray:
    """2-D true convolution; same results as ``scipy.signal.convolve2d(x, k, mode)``.

    ``'valid'`` needs the kernel to fit inside ``x``; ``'same'`` returns ``x``'s shape.
    """
    who = "convolve2d"
    x, k, mode = _as_2d(x, "x", who), _as_2d(k, "k", who), _check_mode(mode, who)
    (h, w), (kh, kw) = x.shape, k.shape
    full = np.zeros((h + kh - 1, w + kw - 1), dtype=np.result_type(x, k))
    for i in range(kh):
        for j in range(kw):
            full[i : i + h, j : j + w] += k[i, j] * x
    if mode == "full":
        return full
    if mode == "same":
        top, left = (kh - 1) // 2, (kw - 1) // 2
        return full[top : top + h, left : left + w]
    if kh > h or kw > w:
        raise ValueError(f"{who}: 'valid' needs the kernel {k.shape} to fit inside x {x.shape}")
    return full[kh - 1 : h, kw - 1 : w]


def correlate2d(x: Any, k: Any, mode: str = "full") -> np.ndarray:
    """2-D cross-correlation ``sum_{i,j} x[r + i, c + j] k[i, j]`` = :func:`convolve2d` with ``k`` flipped."""
    who = "correlate2d"
    return convolve2d(_as_2d(x, "x", who), _as_2d(k, "k", who)[::-1, ::-1], _check_mode(mode, who))


def tf_conv2d(x: Any, k: Any, stride: int | tuple[int, int] = 1, padding: str = "valid") -> np.ndarray:
    """TensorFlow-style single-channel ``conv2d`` (a cross-correlation) with ``'valid'`` or ``'same'`` padding.

    ``'same'`` pads ``max((ceil(n/s) - 1) s + k - n, 0)`` zeros per axis, the odd one at the bottom/right.
    """
    who = "tf_conv2d"
    x, k = _as_2d(x, "x", who), _as_2d(k, "k", who)
    sh, sw = normalize_stride(stride, who)
    (h, w), (kh, kw) = x.shape, k.shape
    if padding == "valid":
        top = bottom = left = right = 0
    elif padding == "same":
        top, bottom, left, right = same_padding(h, w, kh, kw, (sh, sw))
    else:
        raise ValueError(f"{who}: padding must be 'valid' or 'same', got {padding!r}")
    xp = np.pad(x, ((top, bottom), (left, right)))
    if kh > xp.shape[0] or kw > xp.shape[1]:
        raise ValueError(f"{who}: kernel {k.shape} is larger than the padded input {xp.shape}")
    oh, ow = (xp.shape[0] - kh) // sh + 1, (xp.shape[1] - kw) // sw + 1
    out = np.zeros((oh, ow), dtype=np.result_type(x, k))
    for i in range(kh):
        for j in range(kw):
            out += k[i, j] * xp[i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw]
    return out
