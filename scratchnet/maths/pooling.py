r"""Max and average pooling, forward and backward (readable NumPy twin of ``pyx/pooling.pyx``).

Pooling slides a ``kh x kw`` window with stride ``(sh, sw)`` over every channel separately:

.. math::
    \text{max:}\; out[n,c,y,x] = \max_{i,j} x_{pad}[n,c,y s_h+i,x s_w+j] \qquad
    \text{avg:}\; out[n,c,y,x] = \frac{1}{|\Omega_{yx}|}\sum_{(i,j)\in\Omega_{yx}} x_{pad}[n,c,y s_h+i,x s_w+j]

Padding never wins a max (it counts as :math:`-\infty`). For the average, ``count_include_pad=False``
divides by the number of real pixels in the window (TensorFlow's ``'same'`` pooling), ``True`` by
``kh*kw`` (PyTorch's default for integer padding).

Backward: the max routes each upstream gradient to the one input that won its window (``argmax``,
stored as the flat index ``h*W + w`` inside the channel plane); the average spreads it evenly,
:math:`dx \mathrel{+}= dout / |\Omega|` over the window. Overlapping windows add up.

Ties go to the first maximum in row-major window order (as ``np.argmax``), and so does a NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.arguments import (
    check_array,
    check_image_shape,
    check_plane_indices,
    check_pool_padding,
    check_x_shape,
    normalize_kernel,
    normalize_pad,
    normalize_stride,
    prepare_avgpool_backward,
    prepare_avgpool_forward,
    prepare_maxpool_backward,
    prepare_maxpool_forward,
    prepare_pool,
)
from scratchnet.backend import get_array_module
from scratchnet.maths.im2col import tap_slices

__all__ = [
    "maxpool_forward",
    "maxpool_backward",
    "maxpool_relu_backward",
    "avgpool_forward",
    "avgpool_backward",
    "live_taps",
    "live_tap_slices",
    "window_counts",
    # argument helpers, re-exported from scratchnet.arguments
    "check_array",
    "check_image_shape",
    "check_plane_indices",
    "check_pool_padding",
    "check_x_shape",
    "normalize_kernel",
    "normalize_pad",
    "normalize_stride",
    "prepare_avgpool_backward",
    "prepare_avgpool_forward",
    "prepare_maxpool_backward",
    "prepare_maxpool_forward",
    "prepare_pool",
]


# -- the geometry both implementations walk -----------------------------------------------------------
def live_taps(count: int, stride: int, pad: int, size: int, k: int) -> list[int]:
    """Kernel taps ``t`` in ``[0, k)``, ascending, that read a real pixel for some output position ``o``.

    Output position ``o`` reads ``o*stride + t - pad``, so its real taps are the run
    ``[pad - o*stride, pad - o*stride + size)``. Walking ``o`` downwards visits these runs in ascending
    order; their union has at most ``count * size`` taps however large the kernel is, so average pooling
    with a huge padded kernel does not loop over taps that only ever read padding.
    """
    taps: list[int] = []
    covered = 0  # every tap below this has been listed or reads only padding
    o = min(count - 1, (pad + size - 1) // stride)  # the last position whose run ends above tap 0
    while o >= 0 and covered < k:
        start = pad - o * stride
        lo, hi = max(start, covered), min(start + size, k)
        taps.extend(range(lo, hi))
        covered = max(covered, hi)
        o -= 1
    return taps


def live_tap_slices(o, s, p, h: int, w: int, kh: int, kw: int):
    """Yields ``(ys, xs, rows, cols)`` (see ``tap_slices``) for every kernel tap that reads a real pixel,
    in row-major window order: the order the compiled kernels add or compare taps in."""
    col_taps = live_taps(o[1], s[1], p[2], w, kw)
    for i in live_taps(o[0], s[0], p[0], h, kh):
        for j in col_taps:
            taps = tap_slices(i, j, o[0], o[1], h, w, s, p)
            if taps is not None:
                yield taps


def window_counts(
    x_shape: tuple[int, ...],
    kh: int,
    kw: int,
    s: tuple[int, int],
    p: tuple[int, int, int, int],
    o: tuple[int, int],
    count_include_pad: bool,
    dtype: Any,
) -> np.ndarray:
    r""":math:`|\Omega_{yx}|`, the number of pixels each output averages over, shape (OH, OW): ``kh*kw``
    when padding counts, else the real pixels of the window."""
    if count_include_pad:
        return np.full(o, kh * kw, dtype=dtype)
    h, w = x_shape[2], x_shape[3]
    # real pixels along each axis: the window rows that fall inside [0, H)
    y0 = np.arange(o[0]) * s[0] - p[0]
    x0 = np.arange(o[1]) * s[1] - p[2]
    rows = np.minimum(y0 + kh, h) - np.maximum(y0, 0)
    cols = np.minimum(x0 + kw, w) - np.maximum(x0, 0)
    return (rows[:, None] * cols[None, :]).astype(dtype)


# -- the kernels --------------------------------------------------------------------------------------
def maxpool_forward(
    x: np.ndarray, kh: int, kw: int, stride: Any = None, pad: Any = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling of ``x`` (N, C, H, W); ``stride`` defaults to the kernel size.

    Returns ``(out, argmax)``: ``out`` (N, C, OH, OW) and, for backward, the int32 flat index
    ``h*W + w`` of each window's winner inside its (H, W) plane.
    """
    x, kh, kw, s, p, o = prepare_maxpool_forward(x, kh, kw, stride, pad)
    xp = get_array_module(x)
    n, c, h, w = x.shape
    # Every window starts from its first real pixel, so padding never wins (not even against -inf) ...
    top = np.maximum(np.arange(o[0]) * s[0] - p[0], 0)
    left = np.maximum(np.arange(o[1]) * s[1] - p[2], 0)
    first = xp.asarray(top[:, None] * w + left[None, :])
    out = x.reshape(n, c, h * w)[:, :, first]
    argmax = xp.broadcast_to(first, out.shape).copy()
    # ... and then meets its real pixels tap by tap, in row-major window order (the compiled kernel's
    # order): a strictly greater value takes over, so ties keep the first maximum, and so does the first
    # NaN, as with np.argmax.  out[n, c, y, x] = max over (i, j) of x_pad[n, c, y*sh + i, x*sw + j]
    for ys, xs, rows, cols in live_tap_slices(o, s, p, h, w, kh, kw):
        v, best = x[:, :, rows, cols], out[:, :, ys, xs]
        wins = (v > best) | (xp.isnan(v) & ~xp.isnan(best))
        out[:, :, ys, xs] = xp.where(wins, v, best)
        pixel = np.arange(rows.start, rows.stop, rows.step)[:, None] * w + np.arange(
            cols.start, cols.stop, cols.step
        )
        argmax[:, :, ys, xs] = xp.where(wins, xp.asarray(pixel), argmax[:, :, ys, xs])
    return out, argmax.astype(np.int32)


def maxpool_backward(dout: np.ndarray, argmax: np.ndarray, x_shape: tuple[int, int, int, int]) -> np.ndarray:
    """Gradient of max pooling: ``dx[n, c].flat[argmax[n, c, y, x]] += dout[n, c, y, x]``."""
    dout, argmax, (n, c, h, w) = prepare_maxpool_backward(dout, argmax, x_shape)
    xp = get_array_module(dout)
    dx = xp.zeros((n * c, h * w), dtype=dout.dtype)
    plane = xp.arange(n * c).reshape(-1, 1)
    # add.at (not fancy-index assignment) so that overlapping windows that share a winner add up
    xp.add.at(dx, (plane, argmax.reshape(n * c, -1)), dout.reshape(n * c, -1))
    return dx.reshape(n, c, h, w)


def maxpool_relu_backward(dout: np.ndarray, argmax: np.ndarray, relu_x: np.ndarray) -> np.ndarray:
    """A ReLU's backward after max pooling's, for windows that do not overlap (what a CNN's fast backward
    fuses): ``maxpool_backward(dout, argmax, relu_x.shape) * (relu_x > 0)``, ``relu_x`` the ReLU's input."""
    return maxpool_backward(dout, argmax, relu_x.shape) * (relu_x > 0)


def avgpool_forward(
    x: np.ndarray, kh: int, kw: int, stride: Any = None, pad: Any = 0, count_include_pad: bool = False
) -> np.ndarray:
    """Average pooling of ``x`` (N, C, H, W); ``stride`` defaults to the kernel size."""
    x, kh, kw, s, p, o = prepare_avgpool_forward(x, kh, kw, stride, pad)
    xp = get_array_module(x)
    acc = xp.zeros(x.shape[:2] + o, dtype=x.dtype)
    h, w = x.shape[2:]
    # summed tap by tap, in the compiled kernel's (row-major window) order; padding adds nothing
    # acc[n, c, y, x] = sum over (i, j) of x_pad[n, c, y*sh + i, x*sw + j]
    for ys, xs, rows, cols in live_tap_slices(o, s, p, h, w, kh, kw):
        acc[:, :, ys, xs] += x[:, :, rows, cols]
    return acc / xp.asarray(window_counts(x.shape, kh, kw, s, p, o, count_include_pad, x.dtype))


def avgpool_backward(
    dout: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kh: int,
    kw: int,
    stride: Any = None,
    pad: Any = 0,
    count_include_pad: bool = False,
) -> np.ndarray:
    """Gradient of average pooling: each window's ``dout / count`` is added to all of its pixels."""
    dout, x_shape, kh, kw, s, p, o = prepare_avgpool_backward(dout, x_shape, kh, kw, stride, pad)
    xp = get_array_module(dout)
    h, w = x_shape[2:]
    g = dout / xp.asarray(window_counts(x_shape, kh, kw, s, p, o, count_include_pad, dout.dtype))
    dx = xp.zeros(x_shape, dtype=dout.dtype)
    # tap by tap, so every pixel sums its windows in the compiled kernel's order; padding is dropped
    # dx[n, c, y*sh + i - pt, x*sw + j - pl] += dout[n, c, y, x] / counts[y, x]
    for ys, xs, rows, cols in live_tap_slices(o, s, p, h, w, kh, kw):
        dx[:, :, rows, cols] += g[:, :, ys, xs]
    return dx
