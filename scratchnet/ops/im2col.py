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

Arguments shared by both implementations:

* ``stride``: an int or a pair ``(sh, sw)``;
* ``pad``: an int, a pair ``(ph, pw)`` (symmetric) or ``(top, bottom, left, right)`` -- the asymmetric
  form is what TensorFlow's ``'same'`` padding needs (see :func:`same_padding`).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from scratchnet.backend import get_array_module

__all__ = [
    "im2col",
    "col2im",
    "output_size",
    "same_padding",
    "normalize_stride",
    "normalize_pad",
    "INDEX_LIMIT",
]

# The compiled kernels add and subtract image sizes, paddings, kernel sizes and strides in Py_ssize_t.
# Keeping each of them, and each padded extent, at most a quarter of the Py_ssize_t range means no such
# sum can overflow; every product the kernels form is an offset inside an array that exists. No real
# input comes near the limit (2**61 on 64-bit machines).
INDEX_LIMIT = sys.maxsize // 4


# -- argument handling (shared with the compiled kernels, which import these helpers) -------------------
def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _check_limit(what: str, value: Any, values: tuple[int, ...], who: str) -> None:
    if max(values) > INDEX_LIMIT:
        raise ValueError(
            f"{who}: {what} must be at most {INDEX_LIMIT} (the kernels' index range), got {value!r}"
        )


def normalize_stride(stride: Any, who: str = "im2col") -> tuple[int, int]:
    """``stride`` as ``(sh, sw)``; raises ValueError unless both are ints in ``[1, INDEX_LIMIT]``."""
    pair = (
        (stride, stride) if _is_int(stride) else tuple(stride) if isinstance(stride, tuple | list) else None
    )
    if pair is None or len(pair) != 2 or not all(_is_int(s) for s in pair):
        raise ValueError(f"{who}: stride must be an int or a pair of ints, got {stride!r}")
    if min(pair) <= 0:
        raise ValueError(f"{who}: stride must be positive, got {stride!r}")
    _check_limit("stride", stride, pair, who)
    return int(pair[0]), int(pair[1])


def normalize_pad(pad: Any, who: str = "im2col") -> tuple[int, int, int, int]:
    """``pad`` as ``(top, bottom, left, right)``; raises ValueError unless all are ints in ``[0, INDEX_LIMIT]``."""
    if _is_int(pad):
        p = (pad,) * 4
    elif isinstance(pad, tuple | list) and len(pad) == 2:
        p = (pad[0], pad[0], pad[1], pad[1])
    elif isinstance(pad, tuple | list) and len(pad) == 4:
        p = tuple(pad)
    else:
        raise ValueError(f"{who}: pad must be an int, (ph, pw) or (top, bottom, left, right), got {pad!r}")
    if not all(_is_int(v) for v in p):
        raise ValueError(f"{who}: pad entries must be ints, got {pad!r}")
    if min(p) < 0:
        raise ValueError(f"{who}: pad must be >= 0, got {pad!r}")
    _check_limit("pad", pad, p, who)
    return int(p[0]), int(p[1]), int(p[2]), int(p[3])


def normalize_kernel(kh: Any, kw: Any, who: str = "im2col") -> tuple[int, int]:
    """``(kh, kw)`` as ints; raises ValueError unless both are in ``[1, INDEX_LIMIT]``."""
    if not (_is_int(kh) and _is_int(kw)) or kh <= 0 or kw <= 0:
        raise ValueError(f"{who}: kernel size must be positive ints, got ({kh!r}, {kw!r})")
    _check_limit("kernel size", (kh, kw), (kh, kw), who)
    return int(kh), int(kw)


def check_image_shape(shape: Any, who: str, name: str = "x") -> tuple[int, int, int, int]:
    """An (N, C, H, W) shape with every entry >= 1: the kernels have no loops for empty images or batches."""
    if not isinstance(shape, tuple | list) or len(shape) != 4 or not all(_is_int(s) for s in shape):
        raise ValueError(f"{who}: {name} must be a 4-tuple (N, C, H, W), got {shape!r}")
    if min(shape) <= 0:
        raise ValueError(
            f"{who}: {name} must not be empty (N, C, H and W all >= 1), got shape {tuple(shape)}"
        )
    return tuple(int(s) for s in shape)  # type: ignore[return-value]


def output_size(
    h: int, w: int, kh: int, kw: int, stride: Any = 1, pad: Any = 0, who: str = "im2col"
) -> tuple[int, int]:
    r"""Output height and width: :math:`OH = \lfloor (H + p_t + p_b - k_h) / s_h \rfloor + 1` (same for W).

    Raises ValueError for an empty input plane (``h`` or ``w`` < 1), for a padded extent beyond
    ``INDEX_LIMIT``, and when the kernel does not fit into the padded input.
    """
    if not (_is_int(h) and _is_int(w)) or h <= 0 or w <= 0:
        raise ValueError(f"{who}: input height and width must be positive ints, got ({h!r}, {w!r})")
    kh, kw = normalize_kernel(kh, kw, who)
    sh, sw = normalize_stride(stride, who)
    pt, pb, pl, pr = normalize_pad(pad, who)
    hp, wp = h + pt + pb, w + pl + pr
    _check_limit("the padded input size", (hp, wp), (hp, wp), who)
    if kh > hp or kw > wp:
        raise ValueError(
            f"{who}: kernel ({kh}, {kw}) is larger than the padded input ({hp}, {wp}) "
            f"(input ({h}, {w}), pad {(pt, pb, pl, pr)})"
        )
    return (hp - kh) // sh + 1, (wp - kw) // sw + 1


def same_padding(h: int, w: int, kh: int, kw: int, stride: Any = 1) -> tuple[int, int, int, int]:
    r"""TensorFlow's ``'same'`` padding ``(top, bottom, left, right)``.

    The output has :math:`\lceil n / s \rceil` pixels; the total padding
    :math:`\max((\lceil n/s \rceil - 1) s + k - n, 0)` is split with the odd pixel at the bottom/right.
    """
    sh, sw = normalize_stride(stride, "same_padding")
    pads = []
    for n, k, s in ((h, kh, sh), (w, kw, sw)):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return pads[0], pads[1], pads[2], pads[3]


def check_array(a: Any, ndim: int, name: str, who: str) -> np.ndarray:
    """Validates ndim and dtype (float32/float64) and returns a C-contiguous, aligned array in native byte
    order (the layout the compiled kernels read; other layouts are copied)."""
    if not hasattr(a, "dtype") or not hasattr(a, "ndim"):
        raise TypeError(f"{who}: {name} must be an array, got {type(a).__name__}")
    if a.ndim != ndim:
        raise ValueError(f"{who}: {name} must be {ndim}-D, got shape {tuple(a.shape)}")
    dtype = np.dtype(a.dtype)
    if dtype.kind != "f" or dtype.itemsize not in (4, 8):
        raise TypeError(f"{who}: {name} must be float32 or float64, got {a.dtype}")
    xp = get_array_module(a)
    if not dtype.isnative:  # e.g. '>f4' read from a file: same values, native layout
        a = a.astype(dtype.newbyteorder("="))
    a = xp.ascontiguousarray(a)
    if xp is np and not a.flags.aligned:  # a float view at an odd byte offset of some buffer
        a = a.copy()
    return a


def check_x_shape(x_shape: Any, who: str) -> tuple[int, int, int, int]:
    """A user-given (N, C, H, W) for a backward kernel: four ints, all >= 1."""
    if not isinstance(x_shape, tuple | list) or len(x_shape) != 4 or not all(_is_int(s) for s in x_shape):
        raise ValueError(f"{who}: x_shape must be a 4-tuple (N, C, H, W), got {x_shape!r}")
    if min(x_shape) <= 0:
        raise ValueError(f"{who}: x_shape entries must be positive, got {tuple(x_shape)}")
    return tuple(int(s) for s in x_shape)  # type: ignore[return-value]


def check_out(out: Any, shape: tuple[int, ...], x: Any, who: str) -> None:
    """``out`` (if given) must be a writable, C-contiguous, aligned array of ``shape`` and ``x``'s dtype
    that does not overlap ``x`` (the compiled kernel reads ``x`` while it writes ``out``)."""
    if out is None:
        return
    if (
        not hasattr(out, "flags")
        or tuple(out.shape) != shape
        or out.dtype != x.dtype
        or not out.flags.c_contiguous
    ):
        got = (getattr(out, "shape", None), getattr(out, "dtype", None))
        raise ValueError(f"{who}: out must be a C-contiguous {x.dtype} array of shape {shape}, got {got}")
    if get_array_module(out) is np:
        if not (out.flags.writeable and out.flags.aligned):
            raise ValueError(f"{who}: out must be a writable, aligned array")
        if np.may_share_memory(out, x):
            raise ValueError(f"{who}: out must not overlap the input x")


def prepare_im2col(x: Any, kh: Any, kw: Any, stride: Any, pad: Any, who: str = "im2col"):
    """Validated arguments of :func:`im2col`: (x, kh, kw, (sh, sw), (pt, pb, pl, pr), (oh, ow))."""
    x = check_array(x, 4, "x", who)
    kh, kw = normalize_kernel(kh, kw, who)
    s, p = normalize_stride(stride, who), normalize_pad(pad, who)
    check_image_shape(x.shape, who)
    oh, ow = output_size(x.shape[2], x.shape[3], kh, kw, s, p, who)
    return x, kh, kw, s, p, (oh, ow)


def prepare_col2im(cols: Any, x_shape: Any, kh: Any, kw: Any, stride: Any, pad: Any, who: str = "col2im"):
    """Validated arguments of :func:`col2im`; checks that ``cols`` has the shape im2col would give."""
    cols = check_array(cols, 2, "cols", who)
    n, c, h, w = check_x_shape(x_shape, who)
    kh, kw = normalize_kernel(kh, kw, who)
    s, p = normalize_stride(stride, who), normalize_pad(pad, who)
    oh, ow = output_size(h, w, kh, kw, s, p, who)
    expected = (c * kh * kw, n * oh * ow)
    if tuple(cols.shape) != expected:
        raise ValueError(
            f"{who}: cols must have shape {expected} for x_shape {(n, c, h, w)}, got {cols.shape}"
        )
    return cols, (n, c, h, w), kh, kw, s, p, (oh, ow)


# -- the kernels --------------------------------------------------------------------------------------
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


def im2col(
    x: np.ndarray, kh: int, kw: int, stride: Any = 1, pad: Any = 0, out: np.ndarray | None = None
) -> np.ndarray:
    """Receptive fields of ``x`` (N, C, H, W) as the columns of a ``(C*kh*kw, N*OH*OW)`` matrix.

    ``out``, if given, is a C-contiguous array of that shape and dtype to write into (a reusable workspace).
    """
    x, kh, kw, s, p, (oh, ow) = prepare_im2col(x, kh, kw, stride, pad)
    n, c, h, w = x.shape
    check_out(out, (c * kh * kw, n * oh * ow), x, "im2col")
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
    for i in range(kh):
        for j in range(kw):
            taps = tap_slices(i, j, oh, ow, h, w, s, p)
            if taps is not None:
                ys, xs, rows, cs = taps
                dx[:, :, rows, cs] += d[:, i, j, :, ys, xs].transpose(1, 0, 2, 3)
    return dx
