r"""im2col / col2im: turning a convolution into one matrix product (readable NumPy twin of ``pyx/im2col.pyx``).

A convolution layer computes, for every image ``n``, output channel ``f`` and output pixel ``(y, x)``,

.. math::
    out[n, f, y, x] = \sum_{c, i, j} W[f, c, i, j]\; x_{pad}[n, c, y s_h + i, x s_w + j].

If we copy every receptive field into a column, the triple sum becomes a matrix product.
``im2col`` builds the matrix ``cols`` of shape ``(C*kh*kw, N*OH*OW)``:

.. math::
    cols[(c, i, j),\ (n, y, x)] = x_{pad}[n, c, y s_h + i, x s_w + j]

so that ``out = W.reshape(F, C*kh*kw) @ cols`` (shape ``(F, N*OH*OW)``). The row index runs over the
receptive field in the same order as ``W``'s last three axes, so the weights need no reshuffling. Putting
the batch in the columns gives one big GEMM per layer instead of N small ones, and each row of ``cols``
is a run of contiguous image rows, which makes the copy cheap.

``col2im`` is the adjoint (the transpose) of ``im2col``: it adds every column entry back to the pixel it
came from. Pixels covered by several windows receive the sum, which is exactly the chain rule for
``dx`` given ``dcols = W^T @ dout``.

Both work kernel tap by kernel tap: for a fixed tap ``(i, j)`` the pixels read by all output positions
form a strided slice of ``x``, and the output positions that fall on the padding form a border that is
simply zero (im2col) or dropped (col2im). The padded image is never built, so a huge padding costs
nothing (see :func:`real_range`).

Both implementations take ``stride`` as an int or ``(sh, sw)`` and ``pad`` as an int, ``(ph, pw)`` or
``(top, bottom, left, right)``, and check their arguments with the same helpers
(:mod:`scratchnet.arguments`, re-exported here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.arguments import (
    INDEX_LIMIT,
    check_array,
    check_image_shape,
    check_out,
    check_x_shape,
    normalize_kernel,
    normalize_pad,
    normalize_stride,
    output_size,
    prepare_col2im,
    prepare_im2col,
    same_padding,
)
from scratchnet.backend import get_array_module

__all__ = [
    "im2col",
    "col2im",
    "real_range",
    "tap_slices",
    # argument helpers, re-exported from scratchnet.arguments
    "INDEX_LIMIT",
    "check_array",
    "check_image_shape",
    "check_out",
    "check_x_shape",
    "normalize_kernel",
    "normalize_pad",
    "normalize_stride",
    "output_size",
    "prepare_col2im",
    "prepare_im2col",
    "same_padding",
]


# -- the geometry both implementations walk -----------------------------------------------------------
def real_range(count: int, stride: int, tap: int, pad: int, size: int) -> tuple[int, int]:
    """Output positions ``[lo, hi)`` (within ``[0, count)``) at which kernel tap ``tap`` reads a real pixel.

    Along one axis, output position ``o`` reads input index ``o*stride + tap - pad``; that index lies in
    ``[0, size)`` for one contiguous run of ``o``. Everything outside the run reads padding (zero), so the
    kernels copy or add only this run and never build the padded image.
    """
    lo = min(count, max(0, -(-(pad - tap) // stride)))  # ceil((pad - tap) / stride), clipped
    hi = min(count, max(0, (size - 1 + pad - tap) // stride + 1))
    return lo, max(lo, hi)


def tap_slices(
    i: int, j: int, oh: int, ow: int, h: int, w: int, s: tuple[int, int], p: tuple[int, int, int, int]
):
    """For kernel tap (i, j): the output slices ``(ys, xs)`` that read real pixels and the matching input
    slices ``(rows, cols)``, or None when the tap reads only padding."""
    y0, y1 = real_range(oh, s[0], i, p[0], h)
    x0, x1 = real_range(ow, s[1], j, p[2], w)
    if y0 == y1 or x0 == x1:
        return None
    r0, c0 = y0 * s[0] + i - p[0], x0 * s[1] + j - p[2]  # the first real pixel this tap reads
    rows = slice(r0, r0 + (y1 - y0 - 1) * s[0] + 1, s[0])
    cols = slice(c0, c0 + (x1 - x0 - 1) * s[1] + 1, s[1])
    return slice(y0, y1), slice(x0, x1), rows, cols


# -- the kernels --------------------------------------------------------------------------------------
def im2col(
    x: np.ndarray, kh: int, kw: int, stride: Any = 1, pad: Any = 0, out: np.ndarray | None = None
) -> np.ndarray:
    """Receptive fields of ``x`` (N, C, H, W) as the columns of a ``(C*kh*kw, N*OH*OW)`` matrix.

    ``out``, if given, is a C-contiguous array of that shape and dtype to write into (a reusable workspace).
    """
    x, kh, kw, s, p, (oh, ow) = prepare_im2col(x, kh, kw, stride, pad, out=out)
    n, c, h, w = x.shape
    xp = get_array_module(x)
    if out is None:
        out = xp.empty((c * kh * kw, n * oh * ow), dtype=x.dtype)
    # cols[(c, i, j), (n, y, x)] = x_pad[n, c, y*sh + i, x*sw + j]: rows follow W's (in, kh, kw) axes
    cols = out.reshape(c, kh, kw, n, oh, ow)
    x_cn = x.transpose(1, 0, 2, 3)  # (C, N, H, W) view, to match the column order
    for i in range(kh):
        for j in range(kw):
            taps = tap_slices(i, j, oh, ow, h, w, s, p)
            cols[:, i, j] = 0  # padding; the real part is overwritten below
            if taps is not None:
                ys, xs, rows, cs = taps
                cols[:, i, j, :, ys, xs] = x_cn[:, :, rows, cs]
    return out


def col2im(
    cols: np.ndarray, x_shape: tuple[int, int, int, int], kh: int, kw: int, stride: Any = 1, pad: Any = 0
) -> np.ndarray:
    """Adjoint of :func:`im2col`: adds every entry of ``cols`` back onto the pixel it was copied from.

    Returns ``dx`` of shape ``x_shape``. Contributions to one pixel are added in kernel order (i, j), the
    same order the compiled kernel uses, so both give bit-identical results. Entries that im2col read from
    the padding have no pixel and are dropped.
    """
    cols, (n, c, h, w), kh, kw, s, p, (oh, ow) = prepare_col2im(cols, x_shape, kh, kw, stride, pad)
    xp = get_array_module(cols)
    dx = xp.zeros((n, c, h, w), dtype=cols.dtype)
    d = cols.reshape(c, kh, kw, n, oh, ow)
    # dx[n, c, y*sh + i - pt, x*sw + j - pl] += cols[(c, i, j), (n, y, x)], for the pixels that exist
    for i in range(kh):
        for j in range(kw):
            taps = tap_slices(i, j, oh, ow, h, w, s, p)
            if taps is not None:
                ys, xs, rows, cs = taps
                dx[:, :, rows, cs] += d[:, i, j, :, ys, xs].transpose(1, 0, 2, 3)
    return dx
