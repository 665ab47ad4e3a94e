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

from scratchnet.backend import get_array_module
from scratchnet.ops.im2col import (
    check_array,
    check_image_shape,
    check_x_shape,
    normalize_kernel,
    normalize_pad,
    normalize_stride,
    tap_slices,
)
from scratchnet.ops.im2col import output_size as _output_size

__all__ = ["maxpool_forward", "maxpool_backward", "avgpool_forward", "avgpool_backward"]


def prepare_pool(x_shape: tuple[int, ...], kh: Any, kw: Any, stride: Any, pad: Any, who: str):
    """Validated pooling arguments: (kh, kw, (sh, sw), (pt, pb, pl, pr), (oh, ow)).

    Every window must contain at least one real pixel, so the input must not be empty and each side's
    padding must be smaller than the kernel along that axis.
    """
    check_image_shape(x_shape, who)
    kh, kw = normalize_kernel(kh, kw, who)
    s = normalize_stride(kh if stride is None else stride, who)
    p = normalize_pad(pad, who)
    check_pool_padding(kh, kw, p, who)
    oh, ow = _output_size(x_shape[2], x_shape[3], kh, kw, s, p, who)
    return kh, kw, s, p, (oh, ow)


def check_pool_padding(kh: int, kw: int, pad: tuple[int, int, int, int], who: str) -> None:
    """Each side's padding must be smaller than the kernel along that axis, so every window holds a real pixel."""
    if max(pad[0], pad[1]) >= kh or max(pad[2], pad[3]) >= kw:
        raise ValueError(
            f"{who}: padding {pad} must be smaller than the kernel ({kh}, {kw}) on every side "
            "(each window needs a real pixel)"
        )


def check_plane_indices(x_shape: tuple[int, ...], who: str) -> None:
    """``argmax`` holds int32 indices ``h*W + w`` inside a plane, so a plane must have fewer than 2**31 pixels."""
    if x_shape[2] * x_shape[3] >= 2**31:
        raise ValueError(f"{who}: planes of {x_shape[2] * x_shape[3]} pixels need int64 indices")


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


def maxpool_forward(
    x: np.ndarray, kh: int, kw: int, stride: Any = None, pad: Any = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling of ``x`` (N, C, H, W); ``stride`` defaults to the kernel size.

    Returns ``(out, argmax)``: ``out`` (N, C, OH, OW) and, for backward, the int32 flat index
    ``h*W + w`` of each window's winner inside its (H, W) plane.
    """
    x = check_array(x, 4, "x", "maxpool_forward")
    check_plane_indices(x.shape, "maxpool_forward")
    kh, kw, s, p, o = prepare_pool(x.shape, kh, kw, stride, pad, "maxpool_forward")
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
    # NaN, as with np.argmax.
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


def prepare_maxpool_backward(dout: Any, argmax: Any, x_shape: Any, who: str = "maxpool_backward"):
    dout = check_array(dout, 4, "dout", who)
    n, c, h, w = check_x_shape(x_shape, who)
    check_plane_indices((n, c, h, w), who)  # before dx (N, C, H, W) is allocated
    if not hasattr(argmax, "dtype") or argmax.dtype != np.int32:
        raise TypeError(
            f"{who}: argmax must be the int32 array maxpool_forward returned, got "
            f"{getattr(argmax, 'dtype', type(argmax).__name__)}"
        )
    if tuple(argmax.shape) != tuple(dout.shape) or dout.shape[:2] != (n, c):
        raise ValueError(
            f"{who}: dout {tuple(dout.shape)} and argmax {tuple(argmax.shape)} must have the same "
            f"shape (N, C, OH, OW) matching x_shape {(n, c, h, w)}"
        )
    xp = get_array_module(argmax)
    argmax = xp.ascontiguousarray(argmax)
    if xp is np and not argmax.flags.aligned:
        argmax = argmax.copy()
    if argmax.size and (int(argmax.min()) < 0 or int(argmax.max()) >= h * w):
        raise ValueError(f"{who}: argmax holds indices outside the {h}x{w} plane")
    return dout, argmax, (n, c, h, w)


def _window_counts(x_shape, kh, kw, s, p, o, count_include_pad: bool, dtype) -> np.ndarray:
    """How many pixels each output averages over, shape (OH, OW)."""
    if count_include_pad:
        return np.full(o, kh * kw, dtype=dtype)
    h, w = x_shape[2], x_shape[3]
    # real pixels along each axis: the window rows that fall inside [0, H)
    y0 = np.arange(o[0]) * s[0] - p[0]
    x0 = np.arange(o[1]) * s[1] - p[2]
    rows = np.minimum(y0 + kh, h) - np.maximum(y0, 0)
    cols = np.minimum(x0 + kw, w) - np.maximum(x0, 0)
    return (rows[:, None] * cols[None, :]).astype(dtype)


def avgpool_forward(
    x: np.ndarray, kh: int, kw: int, stride: Any = None, pad: Any = 0, count_include_pad: bool = False
) -> np.ndarray:
    """Average pooling of ``x`` (N, C, H, W); ``stride`` defaults to the kernel size."""
    x = check_array(x, 4, "x", "avgpool_forward")
    kh, kw, s, p, o = prepare_pool(x.shape, kh, kw, stride, pad, "avgpool_forward")
    xp = get_array_module(x)
    acc = xp.zeros(x.shape[:2] + o, dtype=x.dtype)
    h, w = x.shape[2:]
    # summed tap by tap, in the compiled kernel's (row-major window) order; padding adds nothing
    for ys, xs, rows, cols in live_tap_slices(o, s, p, h, w, kh, kw):
        acc[:, :, ys, xs] += x[:, :, rows, cols]
    return acc / xp.asarray(_window_counts(x.shape, kh, kw, s, p, o, count_include_pad, x.dtype))


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
    who = "avgpool_backward"
    dout = check_array(dout, 4, "dout", who)
    x_shape = check_x_shape(x_shape, who)
    kh, kw, s, p, o = prepare_pool(x_shape, kh, kw, stride, pad, who)
    if tuple(dout.shape) != x_shape[:2] + o:
        raise ValueError(f"{who}: dout must have shape {x_shape[:2] + o}, got {tuple(dout.shape)}")
    xp = get_array_module(dout)
    h, w = x_shape[2:]
    g = dout / xp.asarray(_window_counts(x_shape, kh, kw, s, p, o, count_include_pad, dout.dtype))
    dx = xp.zeros(x_shape, dtype=dout.dtype)
    # tap by tap, so every pixel sums its windows in the compiled kernel's order; padding is dropped
    for ys, xs, rows, cols in live_tap_slices(o, s, p, h, w, kh, kw):
        dx[:, :, rows, cols] += g[:, :, ys, xs]
    return dx
