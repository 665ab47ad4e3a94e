"""Argument checking, written once: every argument a user gives scratchnet is checked here.

* Constructor arguments of layers, losses, optimizers and models (``check_size``, ``check_sizes``,
  ``check_float``, ``check_bool``, ``check_rng``, ``as_float_dtype``, ``init_array``, ``as_array``): a bad
  argument is refused when it is given, with a message naming the owner, the argument, what was expected
  and what was found.
* Convolution and pooling geometry (``check_kernel_size``, ``check_padding``, ``check_algorithm``,
  ``resolve_padding``), for the layers.
* The kernels' arguments, below.

Argument checking and normalisation for the im2col and pooling kernels:

The NumPy twins (``scratchnet/maths/im2col.py``, ``scratchnet/maths/pooling.py``), the compiled kernels
(``pyx/``) and the conv/pool layers all call these helpers, so every implementation accepts the same
arguments and refuses bad ones with the same message. After a ``prepare_*`` helper returns, every size,
padding and stride is an int in ``[0, INDEX_LIMIT]`` and arrays are C-contiguous, aligned and in native
byte order: what the ``nogil`` loops assume.

* ``stride``: an int or a pair ``(sh, sw)``;
* ``pad``: an int, a pair ``(ph, pw)`` (symmetric) or ``(top, bottom, left, right)`` -- the asymmetric
  form is what TensorFlow's ``'same'`` padding needs (see :func:`same_padding`).
"""

from __future__ import annotations

import math
import numbers
import sys
from typing import Any

import numpy as np

from scratchnet import init
from scratchnet.backend import get_array_module

__all__ = [
    "INDEX_LIMIT",
    "kernel_takes_elementwise",
    "normalize_stride",
    "normalize_pad",
    "normalize_kernel",
    "check_image_shape",
    "check_x_shape",
    "check_array",
    "check_out",
    "output_size",
    "same_padding",
    "prepare_im2col",
    "prepare_col2im",
    "check_pool_padding",
    "check_plane_indices",
    "prepare_pool",
    "prepare_maxpool_forward",
    "prepare_maxpool_backward",
    "prepare_avgpool_forward",
    "prepare_avgpool_backward",
    "pool_work",
    "FLOAT_DTYPES",
    "as_float_dtype",
    "as_array",
    "check_size",
    "check_sizes",
    "check_float",
    "check_bool",
    "check_rng",
    "init_array",
    "check_kernel_size",
    "check_padding",
    "check_algorithm",
    "resolve_padding",
    "ALGORITHMS",
    "WINOGRAD_KERNELS",
]

# The compiled kernels add and subtract image sizes, paddings, kernel sizes and strides in Py_ssize_t.
# Keeping each of them, and each padded extent, at most a quarter of the Py_ssize_t range means no such
# sum can overflow; every product the kernels form is an offset inside an array that exists. No real
# input comes near the limit (2**61 on 64-bit machines).
INDEX_LIMIT = sys.maxsize // 4


def kernel_takes(arrays: tuple[Any, ...], dtypes: tuple[Any, ...] = (np.float32, np.float64)) -> bool:
    """Whether a compiled kernel that falls back to its twin takes ``arrays`` as they are: NumPy arrays,
    C-contiguous, all of one dtype among ``dtypes`` (the relu and lstm_cell kernels)."""
    return all(type(a) is np.ndarray for a in arrays) and (
        arrays[0].dtype in dtypes and all(a.dtype == arrays[0].dtype and a.flags.c_contiguous for a in arrays)
    )


def kernel_takes_elementwise(arrays: tuple[Any, ...]) -> bool:
    """``kernel_takes``, and all of one shape and non-empty: what the element-wise kernels (relu, gelu) take."""
    return kernel_takes(arrays) and all(a.shape == arrays[0].shape for a in arrays) and arrays[0].size > 0


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _check_limit(what: str, value: Any, values: tuple[int, ...], who: str) -> None:
    if max(values) > INDEX_LIMIT:
        raise ValueError(
            f"{who}: {what} must be at most {INDEX_LIMIT} (the kernels' index range), got {value!r}"
        )


# -- sizes, strides, paddings ---------------------------------------------------------------------------
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


def check_x_shape(x_shape: Any, who: str) -> tuple[int, int, int, int]:
    """A user-given (N, C, H, W) for a backward kernel: four ints, all >= 1."""
    if not isinstance(x_shape, tuple | list) or len(x_shape) != 4 or not all(_is_int(s) for s in x_shape):
        raise ValueError(f"{who}: x_shape must be a 4-tuple (N, C, H, W), got {x_shape!r}")
    if min(x_shape) <= 0:
        raise ValueError(f"{who}: x_shape entries must be positive, got {tuple(x_shape)}")
    return tuple(int(s) for s in x_shape)  # type: ignore[return-value]


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


# -- arrays ---------------------------------------------------------------------------------------------
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


# -- im2col / col2im ------------------------------------------------------------------------------------
def prepare_im2col(x: Any, kh: Any, kw: Any, stride: Any, pad: Any, who: str = "im2col", *, out: Any = None):
    """Validated arguments of ``im2col``: (x, kh, kw, (sh, sw), (pt, pb, pl, pr), (oh, ow)).

    ``out``, if given, is checked to be a workspace im2col may write (see :func:`check_out`).
    """
    x = check_array(x, 4, "x", who)
    kh, kw = normalize_kernel(kh, kw, who)
    s, p = normalize_stride(stride, who), normalize_pad(pad, who)
    check_image_shape(x.shape, who)
    oh, ow = output_size(x.shape[2], x.shape[3], kh, kw, s, p, who)
    n, c = x.shape[:2]
    check_out(out, (c * kh * kw, n * oh * ow), x, who)
    return x, kh, kw, s, p, (oh, ow)


def prepare_col2im(cols: Any, x_shape: Any, kh: Any, kw: Any, stride: Any, pad: Any, who: str = "col2im"):
    """Validated arguments of ``col2im``; checks that ``cols`` has the shape im2col would give."""
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


# -- pooling --------------------------------------------------------------------------------------------
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


def prepare_pool(x_shape: tuple[int, ...], kh: Any, kw: Any, stride: Any, pad: Any, who: str):
    """Validated pooling arguments: (kh, kw, (sh, sw), (pt, pb, pl, pr), (oh, ow)).

    Every window must contain at least one real pixel, so the input must not be empty and each side's
    padding must be smaller than the kernel along that axis. ``stride=None`` means the kernel size.
    """
    check_image_shape(x_shape, who)
    kh, kw = normalize_kernel(kh, kw, who)
    s = normalize_stride(kh if stride is None else stride, who)
    p = normalize_pad(pad, who)
    check_pool_padding(kh, kw, p, who)
    oh, ow = output_size(x_shape[2], x_shape[3], kh, kw, s, p, who)
    return kh, kw, s, p, (oh, ow)


def prepare_maxpool_forward(x: Any, kh: Any, kw: Any, stride: Any, pad: Any, who: str = "maxpool_forward"):
    """Validated arguments of ``maxpool_forward``: (x, kh, kw, (sh, sw), (pt, pb, pl, pr), (oh, ow))."""
    x = check_array(x, 4, "x", who)
    check_plane_indices(x.shape, who)
    return (x, *prepare_pool(x.shape, kh, kw, stride, pad, who))


def prepare_maxpool_backward(dout: Any, argmax: Any, x_shape: Any, who: str = "maxpool_backward"):
    """Validated arguments of ``maxpool_backward``: (dout, argmax, (n, c, h, w)); every ``argmax`` entry
    is an int32 index inside its plane, so the kernels may scatter through it unchecked."""
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


def prepare_avgpool_forward(x: Any, kh: Any, kw: Any, stride: Any, pad: Any, who: str = "avgpool_forward"):
    """Validated arguments of ``avgpool_forward``: (x, kh, kw, (sh, sw), (pt, pb, pl, pr), (oh, ow))."""
    x = check_array(x, 4, "x", who)
    return (x, *prepare_pool(x.shape, kh, kw, stride, pad, who))


def prepare_avgpool_backward(
    dout: Any, x_shape: Any, kh: Any, kw: Any, stride: Any, pad: Any, who: str = "avgpool_backward"
):
    """Validated arguments of ``avgpool_backward``: (dout, (n, c, h, w), kh, kw, (sh, sw), (pt, pb, pl, pr),
    (oh, ow)); ``dout`` has the shape avgpool_forward gives for ``x_shape``."""
    dout = check_array(dout, 4, "dout", who)
    x_shape = check_x_shape(x_shape, who)
    kh, kw, s, p, o = prepare_pool(x_shape, kh, kw, stride, pad, who)
    if tuple(dout.shape) != x_shape[:2] + o:
        raise ValueError(f"{who}: dout must have shape {x_shape[:2] + o}, got {tuple(dout.shape)}")
    return dout, x_shape, kh, kw, s, p, o


def pool_work(nc: int, h: int, w: int, oh: int, ow: int, kh: int, kw: int) -> int:
    """Work estimate of a pooling kernel, for its thread count: a window visits at most
    ``min(kh, H) * min(kw, W)`` pixels.

    Python ints, capped so that no product of huge kernel sizes can overflow on its way into C."""
    return min(nc * (h * w + oh * ow * min(kh, h) * min(kw, w)), 2**62)


# -- Winograd tile kernels (scratchnet/fast/winograd.py and pyx/winograd.pyx) ----------------------------------
def _check_counts(who: str, **values: Any) -> tuple[int, ...]:
    """Each value an int in [1, INDEX_LIMIT]; a name starting with ``pad_`` may also be 0."""
    checked = []
    for name, v in values.items():
        low = 0 if name.startswith("pad_") else 1
        if not _is_int(v) or v < low or v > INDEX_LIMIT:
            raise ValueError(f"{who}: {name} must be an int in [{low}, {INDEX_LIMIT}], got {v!r}")
        checked.append(int(v))
    return tuple(checked)


MAX_WINOGRAD_TILE = 8  # alpha = m + r - 1 at most: the compiled kernels keep one tile on the stack


def _winograd_geometry(who: str, m: Any, r: Any, th: Any, tw: Any) -> tuple[int, int, int, int, int]:
    m, r, th, tw = _check_counts(who, m=m, r=r, th=th, tw=tw)
    alpha = m + r - 1
    if alpha > MAX_WINOGRAD_TILE or th * m + alpha > INDEX_LIMIT or tw * m + alpha > INDEX_LIMIT:
        raise ValueError(f"{who}: m + r - 1 must be at most {MAX_WINOGRAD_TILE}, got m={m}, r={r}")
    return m, r, alpha, th, tw


def prepare_input_transform(
    x: Any, m: Any, r: Any, pad_top: Any, pad_left: Any, th: Any, tw: Any, out: Any = None
):
    """Validated arguments of ``input_transform``: (x, m, r, alpha, pad_top, pad_left, th, tw); ``out``,
    if given, must be a C-contiguous (alpha^2, C, N*th*tw) array of x's dtype."""
    who = "input_transform"
    x = check_array(x, 4, "x", who)
    n, c = check_image_shape(x.shape, who)[:2]
    m, r, alpha, th, tw = _winograd_geometry(who, m, r, th, tw)
    pt, pl = _check_counts(who, pad_top=pad_top, pad_left=pad_left)
    check_out(out, (alpha * alpha, c, n * th * tw), x, who)
    return x, m, r, alpha, pt, pl, th, tw


def prepare_output_transform(mm: Any, m: Any, r: Any, n: Any, th: Any, tw: Any, oh: Any, ow: Any, bias: Any):
    """Validated arguments of ``output_transform``: ``mm`` (alpha^2, F, n*th*tw) whose tiles cover (oh, ow)."""
    who = "output_transform"
    mm = check_array(mm, 3, "mm", who)
    m, r, alpha, th, tw = _winograd_geometry(who, m, r, th, tw)
    n, oh, ow = _check_counts(who, n=n, oh=oh, ow=ow)
    f = mm.shape[1]
    if mm.shape[0] != alpha * alpha or mm.shape[2] != n * th * tw or f < 1:
        raise ValueError(
            f"{who}: mm must have shape (alpha^2, F, N*th*tw) = ({alpha * alpha}, F, {n * th * tw}), "
            f"got {tuple(mm.shape)}"
        )
    if oh > th * m or ow > tw * m:
        raise ValueError(f"{who}: {th}x{tw} tiles of {m} do not cover an output of {(oh, ow)}")
    if bias is not None:
        bias = check_array(bias, 1, "bias", who)
        if bias.shape != (f,) or bias.dtype != mm.dtype:
            raise ValueError(
                f"{who}: bias must be a {mm.dtype} array of shape ({f},), got {bias.shape} {bias.dtype}"
            )
    return mm, m, r, alpha, n, th, tw, oh, ow, bias


def prepare_output_transform_adjoint(dout: Any, m: Any, r: Any, th: Any, tw: Any, out: Any = None):
    """Validated arguments of ``output_transform_adjoint``: the tiles must cover ``dout``'s planes; ``out``
    as in :func:`prepare_input_transform`, of shape (alpha^2, F, N*th*tw)."""
    who = "output_transform_adjoint"
    dout = check_array(dout, 4, "dout", who)
    n, f, oh, ow = check_image_shape(dout.shape, who, "dout")
    m, r, alpha, th, tw = _winograd_geometry(who, m, r, th, tw)
    if oh > th * m or ow > tw * m:
        raise ValueError(f"{who}: {th}x{tw} tiles of {m} do not cover dout of shape {tuple(dout.shape)}")
    check_out(out, (alpha * alpha, f, n * th * tw), dout, who)
    return dout, m, r, alpha, th, tw


def prepare_input_transform_adjoint(
    dv: Any, x_shape: Any, m: Any, r: Any, pad_top: Any, pad_left: Any, th: Any, tw: Any
):
    """Validated arguments of ``input_transform_adjoint``: ``dv`` (alpha^2, C, N*th*tw) for ``x_shape``."""
    who = "input_transform_adjoint"
    dv = check_array(dv, 3, "dv", who)
    n, c, h, w = check_x_shape(x_shape, who)
    m, r, alpha, th, tw = _winograd_geometry(who, m, r, th, tw)
    pt, pl = _check_counts(who, pad_top=pad_top, pad_left=pad_left)
    if tuple(dv.shape) != (alpha * alpha, c, n * th * tw):
        raise ValueError(
            f"{who}: dv must have shape (alpha^2, C, N*th*tw) = {(alpha * alpha, c, n * th * tw)}, "
            f"got {tuple(dv.shape)}"
        )
    return dv, (n, c, h, w), m, r, alpha, pt, pl, th, tw


# -- direct convolution (scratchnet/fast/direct_conv.py and pyx/direct_conv.pyx) -------------------------------
def _check_weights(w: Any, c: int, who: str) -> np.ndarray:
    w = check_array(w, 4, "w", who)
    if w.shape[1] != c or min(w.shape) < 1:
        raise ValueError(
            f"{who}: w must have shape (F, {c}, kh, kw) for input with {c} channels, got {w.shape}"
        )
    return w


def prepare_direct_forward(x: Any, w: Any, b: Any, stride: Any, pad: Any):
    """Validated arguments of ``conv_forward``: (x, w, b, (sh, sw), (pt, pb, pl, pr), (oh, ow))."""
    who = "direct conv_forward"
    x = check_array(x, 4, "x", who)
    n, c, h, wd = check_image_shape(x.shape, who)
    w = _check_weights(w, c, who)
    if w.dtype != x.dtype:
        raise TypeError(f"{who}: w must have x's dtype {x.dtype}, got {w.dtype}")
    if b is not None:
        b = check_array(b, 1, "b", who)
        if b.shape != (w.shape[0],) or b.dtype != x.dtype:
            raise ValueError(
                f"{who}: b must be a {x.dtype} array of shape ({w.shape[0]},), got {b.shape} {b.dtype}"
            )
    s, p = normalize_stride(stride, who), normalize_pad(pad, who)
    oh, ow = output_size(h, wd, w.shape[2], w.shape[3], s, p, who)
    return x, w, b, s, p, (oh, ow)


def prepare_direct_backward_weights(x: Any, dout: Any, kernel_size: Any, stride: Any, pad: Any):
    """Validated arguments of ``conv_backward_weights``: (x, dout, (kh, kw), (sh, sw), pad)."""
    who = "direct conv_backward_weights"
    x = check_array(x, 4, "x", who)
    n, c, h, wd = check_image_shape(x.shape, who)
    dout = check_array(dout, 4, "dout", who)
    if not isinstance(kernel_size, tuple | list) or len(kernel_size) != 2:
        raise ValueError(f"{who}: kernel_size must be (kh, kw), got {kernel_size!r}")
    kh, kw = normalize_kernel(*kernel_size, who)
    s, p = normalize_stride(stride, who), normalize_pad(pad, who)
    oh, ow = output_size(h, wd, kh, kw, s, p, who)
    if dout.dtype != x.dtype or dout.shape[0] != n or tuple(dout.shape[2:]) != (oh, ow) or dout.shape[1] < 1:
        raise ValueError(
            f"{who}: dout must be a {x.dtype} array of shape ({n}, F, {oh}, {ow}), got {dout.shape} {dout.dtype}"
        )
    return x, dout, (kh, kw), s, p


def prepare_direct_backward_input(dout: Any, w: Any, x_shape: Any, stride: Any, pad: Any):
    """Validated arguments of ``conv_backward_input``: (dout, w, x_shape, (sh, sw), pad)."""
    who = "direct conv_backward_input"
    dout = check_array(dout, 4, "dout", who)
    n, c, h, wd = check_x_shape(x_shape, who)
    w = _check_weights(w, c, who)
    s, p = normalize_stride(stride, who), normalize_pad(pad, who)
    oh, ow = output_size(h, wd, w.shape[2], w.shape[3], s, p, who)
    if dout.dtype != w.dtype or tuple(dout.shape) != (n, w.shape[0], oh, ow):
        raise ValueError(
            f"{who}: dout must be a {w.dtype} array of shape {(n, w.shape[0], oh, ow)}, got {dout.shape} {dout.dtype}"
        )
    return dout, w, (n, c, h, wd), s, p


# -- constructor arguments of layers, losses, optimizers and models ----------------------------------------
FLOAT_DTYPES = (np.float32, np.float64)


def as_float_dtype(dtype: Any, owner: str = "") -> np.dtype:
    """Validates a layer dtype: float32 or float64 (``owner`` names the layer in the message)."""
    where = f"{owner}: " if owner else ""
    if dtype is None:  # np.dtype(None) is float64: a silent default is not a choice
        raise TypeError(f"{where}dtype must be float32 or float64, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{where}dtype must be float32 or float64, got {dtype!r}") from None
    if dt.type not in FLOAT_DTYPES:
        raise TypeError(f"{where}dtype must be float32 or float64, got {dt}")
    return dt


def as_array(owner: str, what: str, a: Any) -> Any:
    """``a`` itself if it is an array (NumPy or device), else ``np.asarray(a)``; a list NumPy cannot make
    an array of (ragged rows) is a TypeError naming ``owner`` and ``what``."""
    if hasattr(a, "dtype") and hasattr(a, "shape"):
        return a
    try:
        return np.asarray(a)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{owner}: {what} must be an array, got {type(a).__name__} ({exc})") from None


# -- constructor-argument validators shared by every layer, loss and model ---------------------------------
def check_size(owner: str, name: str, value: Any, *, minimum: int = 1) -> int:
    """A count (features, units, steps...): an int, not a bool or a float, at least ``minimum``.

    Raises TypeError for a value of the wrong type and ValueError for one out of range, naming ``owner``
    (the layer or model) and the argument; returns the value as a Python int.
    """
    wanted = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError(f"{owner}: {name} must be {wanted}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be {wanted}, got {value!r}")
    return int(value)


def check_sizes(owner: str, name: str, values: Any) -> list[int]:
    """A sequence of counts (layer widths), each as ``check_size``; returns them as a list of ints."""
    try:
        sizes = list(values)
    except TypeError:
        raise TypeError(f"{owner}: {name} must be a sequence of positive ints, got {values!r}") from None
    for s in sizes:
        if isinstance(s, bool | np.bool_) or not isinstance(s, int | np.integer):
            raise TypeError(f"{owner}: {name} must be positive ints, got {sizes} ({type(s).__name__} {s!r})")
        if s < 1:
            raise ValueError(f"{owner}: {name} must be positive ints, got {sizes}")
    return [int(s) for s in sizes]


def check_float(
    owner: str,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    what: str = "",
) -> float:
    """A finite real hyperparameter (not a bool or a string, not NaN or infinite) within optional bounds.

    ``low``/``high`` bound the value (inclusive unless told otherwise); ``what`` says what the value
    means, for the message. Raises TypeError for the wrong type and ValueError for NaN, infinity or a value
    out of range, naming ``owner`` and the argument; returns the value as a Python float.
    """
    label = f"{name} ({what})" if what else name
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {label} must be a real number, got {value!r} ({type(value).__name__})")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        number = math.inf
    lo = "" if low is None else ("[" if low_inclusive else "(") + f"{low:g}"
    hi = "" if high is None else f"{high:g}" + ("]" if high_inclusive else ")")
    if low is not None and high is not None:
        wanted = f"a finite number in {lo}, {hi}"
    elif low is not None:
        wanted = f"a finite number {'>=' if low_inclusive else '>'} {low:g}"
    elif high is not None:
        wanted = f"a finite number {'<=' if high_inclusive else '<'} {high:g}"
    else:
        wanted = "a finite number"
    below = low is not None and (number < low or (number == low and not low_inclusive))
    above = high is not None and (number > high or (number == high and not high_inclusive))
    if not math.isfinite(number) or below or above:
        raise ValueError(f"{owner}: {label} must be {wanted}, got {value!r}")
    return number


def check_bool(owner: str, name: str, value: Any) -> bool:
    """A flag: True or False (a string such as "False" would otherwise read as True)."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{owner}: {name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def check_rng(owner: str, rng: Any) -> np.random.Generator | None:
    """A NumPy generator or None (the library's seeded one); an int seed would only fail at first use."""
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{owner}: rng must be a numpy.random.Generator (np.random.default_rng(seed)) or None, "
            f"got {rng!r} ({type(rng).__name__})"
        )
    return rng


def init_array(
    owner: str, name: str, initializer: Any, shape: tuple[int, ...], *, rng: Any, dtype: np.dtype
) -> np.ndarray:
    """Runs an initialiser (a name or a callable, see ``scratchnet.init.get``) for parameter ``name`` and
    checks what a user-supplied one returns: a real array of ``shape``, which is cast to ``dtype``."""
    try:
        make = init.get(initializer)
    except ValueError as exc:
        raise ValueError(f"{owner}: {name}: {exc}") from None
    value = make(shape, rng=rng, dtype=dtype)
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if kind not in ("f", "i", "u") or tuple(value.shape) != tuple(shape):
        got = f"shape {tuple(value.shape)} dtype {value.dtype}" if kind else type(value).__name__
        raise ValueError(
            f"{owner}: the initialiser of {name} must return a real array of shape {shape}, got {got}"
        )
    return value.astype(dtype, copy=False)


# -- convolution and pooling geometry, for the layers -------------------------------------------------------
def _pair(v: Any, what: str, who: str) -> tuple[int, int]:
    if isinstance(v, int | np.integer) and not isinstance(v, bool):
        v = (v, v)
    if (
        not isinstance(v, tuple | list)
        or len(v) != 2
        or not all(isinstance(e, int | np.integer) and not isinstance(e, bool) for e in v)
        or min(v) < 1
    ):
        raise ValueError(f"{who}: {what} must be a positive int or a pair of them, got {v!r}")
    return int(v[0]), int(v[1])


def check_kernel_size(kernel_size: Any, who: str) -> tuple[int, int]:
    """``kernel_size`` (an int or a pair) as ``(kh, kw)``, each in ``[1, INDEX_LIMIT]``."""
    return normalize_kernel(*_pair(kernel_size, "kernel_size", who), who)


def check_padding(padding: Any, who: str) -> Any:
    """Validates a padding spec: 'valid', 'same', an int, (ph, pw) or (top, bottom, left, right)."""
    if isinstance(padding, str):
        if padding.lower() not in ("valid", "same"):
            raise ValueError(f"{who}: padding must be 'valid', 'same' or ints, got {padding!r}")
        return padding.lower()
    return normalize_pad(padding, who)


ALGORITHMS = ("auto", "im2col", "winograd", "direct")
WINOGRAD_KERNELS = (3, 5)


def check_algorithm(algorithm: Any, kernel_size: tuple[int, int], stride: tuple[int, int], who: str) -> str:
    """One of ``ALGORITHMS``; ``"winograd"`` only for stride 1 and a square 3x3 or 5x5 kernel."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"{who}: algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if algorithm == "winograd" and (
        stride != (1, 1) or kernel_size[0] != kernel_size[1] or kernel_size[0] not in WINOGRAD_KERNELS
    ):
        raise ValueError(
            f"{who}: algorithm='winograd' needs stride 1 and a square kernel of size {WINOGRAD_KERNELS}, "
            f"got kernel_size={kernel_size}, stride={stride}"
        )
    return algorithm


def resolve_padding(
    padding: Any, h: int, w: int, kh: int, kw: int, stride: tuple[int, int]
) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) for an input of size (h, w); 'same' follows TensorFlow."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        return same_padding(h, w, kh, kw, stride)
    return padding
