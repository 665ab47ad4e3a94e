r"""Winograd convolution: fewer multiplications for small stride-1 kernels (tier 2; Lavin and Gray,
"Fast Algorithms for Convolutional Neural Networks", 2015).

A 1-D correlation of ``m`` outputs with an ``r``-tap filter, :math:`y_i = \sum_k g_k d_{i+k}`, needs ``m r``
multiplications done directly. Winograd's minimal filtering algorithm F(m, r) needs only
:math:`\alpha = m + r - 1`:

.. math::  y = A^\top \big[(G g) \odot (B^\top d)\big]

where :math:`d` is a tile of :math:`\alpha` inputs. For F(2, 3) (:math:`\alpha = 4`):

.. math::
    B^\top = \begin{pmatrix} 1&0&-1&0\\ 0&1&1&0\\ 0&-1&1&0\\ 0&1&0&-1 \end{pmatrix},\quad
    G = \begin{pmatrix} 1&0&0\\ \tfrac12&\tfrac12&\tfrac12\\ \tfrac12&-\tfrac12&\tfrac12\\ 0&0&1 \end{pmatrix},\quad
    A^\top = \begin{pmatrix} 1&1&1&0\\ 0&1&-1&-1 \end{pmatrix}

(four multiplications instead of six; e.g. with :math:`d = (1, 2, 3, 4)`, :math:`g = (1, 0, -1)` it gives
:math:`y = (1 - 3, 2 - 4) = (-2, -2)`). The 2-D algorithm F(m x m, r x r) nests the 1-D one in both
directions: for an :math:`\alpha \times \alpha` input tile :math:`d` and an :math:`r \times r` filter :math:`g`,

.. math::  Y = A^\top \big[(G g G^\top) \odot (B^\top d B)\big] A

gives an :math:`m \times m` output tile with :math:`\alpha^2` multiplications instead of :math:`m^2 r^2`.
F(2x2, 3x3) saves 2.25x, F(4x4, 3x3) 4x, F(2x2, 5x5) 2.8x, F(4x4, 5x5) 6.25x. Over channels the
element-wise products become, for each of the :math:`\alpha^2` positions :math:`(\xi, \nu)` of a tile,
one matrix product

.. math::  M_{\xi\nu} = U_{\xi\nu} V_{\xi\nu}, \quad U = G g G^\top\ (F \times C),\quad
           V = B^\top d B\ (C \times \text{tiles})

so a convolution layer is: transform the filters and the input tiles, run :math:`\alpha^2` matrix products,
transform back. Each transform is written as one product with a Kronecker matrix: in row-major order
:math:`\mathrm{vec}(B^\top d B) = (B^\top \otimes B^\top)\,\mathrm{vec}(d)`.

Backward is the adjoint of the same steps: with :math:`dM = (A \otimes A)\,\mathrm{vec}(dY)` per tile,
:math:`dU_{\xi\nu} = dM_{\xi\nu} V_{\xi\nu}^\top`, :math:`dV_{\xi\nu} = U_{\xi\nu}^\top dM_{\xi\nu}`, then
:math:`dg = (G \otimes G)^\top dU` and :math:`dd = (B \otimes B)\,dV`, whose overlapping tiles are added back
onto the image (tiles overlap by ``r - 1`` pixels, like im2col's windows).

The matrices come from the Toom-Cook construction: evaluate the filter and the data polynomials at the
points 0, 1, -1, 2, -2, ... and infinity, multiply, interpolate (:func:`transforms`). For F(2, 3) it gives
the paper's matrices above up to signs that cancel: the first rows of :math:`B^\top` and :math:`G` are both
negated, and so are the last row of :math:`B^\top` and the last column of :math:`A^\top`.

Accuracy
--------
Winograd is not exact, and its rounding is not local: the transforms add and subtract the values of a whole
input tile, so each output's error is relative to the largest value of its *tile*, not to the values its own
window reads. On the course's layer shapes (He-initialised weights, unit-variance input) the largest float32
error relative to the largest output, gradient or weight gradient is 8e-7 for F(2x2, 3x3), 9e-6 for
F(4x4, 3x3) and 1.6e-5 for F(2x2, 5x5) and F(4x4, 5x5) (im2col: 6e-7); ``tests/fast/test_winograd.py`` holds
every variant within :data:`ERROR_BOUND`.

*The tile bound* (explicit ``algorithm="winograd"``; ``tests/fast/test_winograd_accuracy.py``). An output of
filter f whose alpha x alpha input tile holds values of at most M in absolute value (over all channels), or
an input gradient of channel c whose output tiles hold ``|dout|`` of at most M, is within

.. math::  |\text{error}| \le E\, u\, M\, \|w\|_1

with u the unit roundoff (2**-24 in float32, 2**-53 in float64) and :math:`\|w\|_1` the sum of ``|w|`` of
filter f (of input channel c over all filters). :data:`TILE_ERROR` gives E (outputs / input gradients) for
layers with at least 32 channels in and out: F(2x2, 3x3) 6 / 4, F(4x4, 3x3) 36 / 24, F(2x2, 5x5) 16 / 12,
F(4x4, 5x5) 36 / 24, each 1.5 times the largest ratio measured (normal, ReLU'd, +-1, uniform, sparse,
half-scaled by 1e4 / 1e-4, per-channel-scaled, spiky and block-scaled inputs, both dtypes: at most 24, 16
for F(4x4, .)). With fewer channels the ratios are up to 4x larger (89 at one channel, F(4x4, 3x3)). The
constants are measured, not proved: a worst-case analysis multiplies u by the growth
:math:`\max_{i,k} \sum_{l,j} |A^\top_{ij}| |G_{jk}| |B^\top_{jl}|` squared (860 for F(4x4, 3x3), 1565 for
F(4x4, 5x5)) and by the number of rounding steps, more than 1e-4 / u = 1678 before any data is seen; real
rounding errors add up like random ones. F(2x2, r x r) is local: the points 0 and infinity tie the first and
last input of a tile to the first and last output only, so each output's error depends on its own window
alone (M may be read as the largest value of the window).

So an output's error relative to its own sum of ``|w| |x|`` is E u times how much larger the largest value of its
tile is than its window's mean: 1e4 next to 1e-4 (issue #25) made F(4x4, 5x5) 45x its true value wrong.

*What "auto" guarantees.* ``Conv2D(algorithm="auto")`` runs a call by Winograd only when every output is
within :data:`AUTO_ACCURACY` (1e-4) of its own sum of ``|w| |x|`` plus ``|b|``, every input gradient within 1e-4 of its
own sum of ``|w| |dout|``, and all of them finite wherever im2col's are; otherwise that forward (or backward) runs
by im2col. :meth:`WinogradConv.certify` and :meth:`WinogradConv.certify_backward` check, with one compiled pass
over x (dout), :func:`tile_contrast`:

1. x, W, b (dout) finite, and no step able to overflow: bounds from the largest ``|x|``, ``|w|`` and ``|dout|`` and the
   matrices' row and column sums (``_growth``), each below a quarter of the dtype's largest value;
2. the tile contrast rho -- the largest ratio, over all tiles, of a tile's largest ``|x|`` to the smallest mean ``|x|``
   (over all channels and the r x r taps, padding as zeros) of the windows of its outputs; for dout, of an
   output tile's largest ``|dout|`` to the smallest mean ``|dout|`` in the windows of the input pixels it adds onto --
   at most :func:`contrast_limit` = AUTO_ACCURACY / (E u): 47 (outputs) and 70 (input gradients) for
   F(4x4, .) in float32, 2.5e10 and 3.8e10 in float64.

Since M <= rho times the window's mean ``|x|``, the tile bound gives ``|error| <= E u rho ||w||_1 mean|x| <= 1e-4
||w||_1 mean|x|``, and ``||w||_1 mean|x|`` is the window's sum of ``|w| |x|`` when the window's ``|x|`` (or the filter's
``|w|``) is spread over the taps: the assumption under the guarantee. A window whose values sit on the taps where
its filter is nearly zero can be off by more than 1e-4 of its exact sum (never by more than 1e-4 of
``||w||_1 mean|x|``); the tests check the exact sums, with He-initialised weights. Corner cases:

* A window that reads only zeros next to nonzero values in its tile (rho = inf) has the exact output b, which
  only im2col reproduces: images with empty regions (ReLU'd backgrounds) run by im2col. The course CNN's second
  conv on real MNIST digits falls back on every batch (its background windows are zero, or relu(b), next to
  the strokes: a training step 49 ms instead of 39 ms forced Winograd on the project's VM), while on the
  benchmark's random images it keeps Winograd (rho about 16, dout about 48). Padding alone never empties a
  window.
* The weight gradient is not certified on its own: it sums over every tile, and measured within 2e-6 of its
  sum of ``|dout| |x|`` on the course's layer shapes (normal, ReLU'd and +-1 data). An image whose contrast lines
  up with the edge taps -- 1e4 left of a column and 1e-4 right of it with 'same' padding, so that one tap
  only ever reads the dark side, next to the bright side in the same tiles -- can leave that tap's gradient
  off by more than its own sum; im2col mixes nothing.
* The bounds are relative: products below the dtype's smallest normal number lose precision in every
  algorithm.

Explicit ``algorithm="winograd"`` always runs Winograd: its outputs and gradients are within the tile bound
(relative to the tile's largest value), a NaN or inf spreads over whole tiles, and values near the top of the
range can overflow in the transforms (F(4x4, 5x5)'s input transform grows a tile's largest value up to
225-fold).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from scratchnet import backend
from scratchnet.arguments import (
    MAX_WINOGRAD_TILE,
    _check_counts,
    check_array,
    check_image_shape,
    prepare_input_transform,
    prepare_input_transform_adjoint,
    prepare_output_transform,
    prepare_output_transform_adjoint,
)
from scratchnet.backend import get_array_module
from scratchnet.fast import batched_gemm as numpy_batched_gemm
from scratchnet.fast.relu import relu_in_place

# the kernel interface (compiled in pyx/winograd.pyx)
__all__ = [
    "transforms",
    "input_transform",
    "output_transform",
    "output_transform_adjoint",
    "input_transform_adjoint",
    "tile_contrast",
    "contrast_limit",
    "WinogradConv",
]

#: the largest ``|winograd - direct|`` / max|direct| the tests allow, by (m, r) and dtype
ERROR_BOUND = {
    (2, 3): {np.float32: 2e-6, np.float64: 1e-13},
    (4, 3): {np.float32: 2e-4, np.float64: 1e-12},
    (2, 5): {np.float32: 2e-4, np.float64: 1e-12},
    (4, 5): {np.float32: 2e-4, np.float64: 1e-12},
}

#: the accuracy ``Conv2D(algorithm="auto")`` holds Winograd to, entry by entry: the error of each output
#: (input gradient) at most AUTO_ACCURACY times the sum of ``|w| |x|`` (``|w| |dout|``) that the entry adds up
AUTO_ACCURACY = 1e-4

#: E in the tile bound  ``|error| <= E u M ||w||_1``  of F(m x m, r x r), as (forward output, input gradient),
#: in units of the dtype's unit roundoff u (2**-24 float32, 2**-53 float64): M is the largest ``|x|`` (over all
#: channels) in the output's input tile, or for an input gradient the largest ``|dout|`` in the output tiles it
#: is built from; ``||w||_1`` is the sum of ``|w|`` of the output's filter (of the pixel's input channel). Measured
#: for layers with at least 32 channels in and out, the ones "auto" considers: 1.5 times the largest ratio
#: seen (module docstring; tests/fast/test_winograd.py holds every variant to it)
TILE_ERROR = {(2, 3): (6.0, 4.0), (4, 3): (36.0, 24.0), (2, 5): (16.0, 12.0), (4, 5): (36.0, 24.0)}

_POINTS = (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5)


@functools.cache
def transforms(m: int, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``(AT, G, BT)`` of F(m, r), in float64: shapes (m, alpha), (alpha, r), (alpha, alpha).

    With finite points :math:`p_0..p_{\alpha-2}` and the point at infinity (which picks the leading
    coefficient): :math:`A^\top_{ij} = p_j^i`, :math:`G_{jk} = p_j^k / f_j` with
    :math:`f_j = \prod_{l \ne j}(p_j - p_l)`, and :math:`B^\top = \mathrm{diag}(f)\, V^{-\top}` with
    :math:`V_{jt} = p_j^t` the evaluation matrix of a degree-(alpha-1) polynomial. That is the transpose of
    Toom-Cook's linear convolution, which gives the correlation a convolution layer computes.
    """
    alpha = m + r - 1
    if alpha - 1 > len(_POINTS):
        raise ValueError(f"winograd: F({m}, {r}) needs more interpolation points than are defined")
    p = np.array(_POINTS[: alpha - 1])
    f = np.array([np.prod([pj - pl for pl in p if pl != pj]) for pj in p] + [1.0])

    def evaluation(n: int) -> np.ndarray:  # (alpha, n): a degree-(n-1) polynomial at every point
        e = np.zeros((alpha, n))
        e[:-1] = p[:, None] ** np.arange(n)
        e[-1, -1] = 1.0  # infinity: the leading coefficient
        return e

    AT = evaluation(m).T
    G = evaluation(r) / f[:, None]
    BT = f[:, None] * np.linalg.inv(evaluation(alpha)).T
    return AT, G, BT


@functools.cache
def _kron(m: int, r: int, dtype: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(AT x AT, G x G, BT x BT) in ``dtype``: the 2-D transforms as single matrices."""
    AT, G, BT = transforms(m, r)
    return tuple(np.kron(t, t).astype(dtype) for t in (AT, G, BT))  # type: ignore[return-value]


# -- the parts of the twins: tiles cut from and laid back onto images (arguments checked by the callers) --
def _gather_tiles(x: np.ndarray, m: int, alpha: int, pt: int, pl: int, th: int, tw: int) -> np.ndarray:
    """The overlapping alpha x alpha input tiles of ``x`` (N, C, H, W), every m pixels, as
    ``D[i, j, c, n, ty, tx] = x_pad[n, c, ty*m + i, tx*m + j]`` (zero where the tile reads padding)."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    hp, wp = th * m + alpha - m, tw * m + alpha - m  # the padded extent the tiles span
    x_pad = xp.zeros((n, c, hp, wp), dtype=x.dtype)
    rows, cols = max(0, min(h, hp - pt)), max(0, min(w, wp - pl))
    x_pad[:, :, pt : pt + rows, pl : pl + cols] = x[:, :, :rows, :cols]
    sn, sc, sh, sw = x_pad.strides
    view = xp.lib.stride_tricks.as_strided(
        x_pad, (alpha, alpha, c, n, th, tw), (sh, sw, sc, sn, m * sh, m * sw), writeable=False
    )
    return xp.ascontiguousarray(view)


def _scatter_tiles(
    dd: np.ndarray, x_shape: tuple[int, int, int, int], m: int, pt: int, pl: int
) -> np.ndarray:
    """Adjoint of :func:`_gather_tiles`: adds every tile entry ``dd[i, j, c, n, ty, tx]`` back onto its pixel
    (overlapping tiles add up; entries on the padding are dropped). Returns dx of ``x_shape``."""
    xp = get_array_module(dd)
    n, c, h, w = x_shape
    alpha, th, tw = dd.shape[0], dd.shape[4], dd.shape[5]
    dx_pad = xp.zeros(
        (n, c, max(th * m + alpha - m, pt + h), max(tw * m + alpha - m, pl + w)), dtype=dd.dtype
    )
    for i in range(alpha):
        for j in range(alpha):
            dx_pad[:, :, i : i + th * m : m, j : j + tw * m : m] += dd[i, j].transpose(1, 0, 2, 3)
    return xp.ascontiguousarray(dx_pad[:, :, pt : pt + h, pl : pl + w])


def _tiles_to_image(yt: np.ndarray, oh: int, ow: int, bias: np.ndarray | None) -> np.ndarray:
    """The output tiles ``yt[a, b, f, n, ty, tx]`` laid out as the image ``y[n, f, ty*m + a, tx*m + b]``,
    cut to (oh, ow), plus ``bias[f]``."""
    m, _, f, n, th, tw = yt.shape
    y = yt.transpose(3, 2, 4, 0, 5, 1).reshape(n, f, th * m, tw * m)[:, :, :oh, :ow]
    return get_array_module(yt).ascontiguousarray(y) if bias is None else y + bias.reshape(1, f, 1, 1)


def _image_to_tiles(dout: np.ndarray, m: int, th: int, tw: int) -> np.ndarray:
    """Adjoint of :func:`_tiles_to_image` (without the bias): ``dyt[a, b, f, n, ty, tx] =
    dout[n, f, ty*m + a, tx*m + b]``, zero past the image's edge."""
    xp = get_array_module(dout)
    n, f, oh, ow = dout.shape
    padded = xp.zeros((n, f, th * m, tw * m), dtype=dout.dtype)
    padded[:, :, :oh, :ow] = dout
    return xp.ascontiguousarray(padded.reshape(n, f, th, m, tw, m).transpose(3, 5, 1, 0, 2, 4))


# -- the kernel interface ------------------------------------------------------------------------------
def input_transform(
    x: np.ndarray,
    m: int,
    r: int,
    pad_top: int,
    pad_left: int,
    th: int,
    tw: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """:math:`V = B^\\top d B` for every input tile ``d``, as (alpha^2, C, N*th*tw) (into ``out`` if given)."""
    x, m, r, alpha, pt, pl, th, tw = prepare_input_transform(x, m, r, pad_top, pad_left, th, tw, out)
    xp = get_array_module(x)
    k_bt = xp.asarray(_kron(m, r, x.dtype)[2])
    d = _gather_tiles(x, m, alpha, pt, pl, th, tw).reshape(alpha * alpha, -1)
    v = xp.matmul(k_bt, d, out=None if out is None else out.reshape(alpha * alpha, -1))
    return v.reshape(alpha * alpha, x.shape[1], -1)


def output_transform(
    mm: np.ndarray,
    m: int,
    r: int,
    n: int,
    th: int,
    tw: int,
    oh: int,
    ow: int,
    bias: np.ndarray | None = None,
    relu: bool = False,
) -> np.ndarray:
    """:math:`Y = A^\\top M A` for every tile of ``mm`` (alpha^2, F, N*th*tw), laid out as the image
    (N, F, oh, ow), plus ``bias``; max(0, Y) when ``relu`` (a Conv2D -> ReLU pair, see ``fast/fusion.py``)."""
    mm, m, r, alpha, n, th, tw, oh, ow, bias = prepare_output_transform(mm, m, r, n, th, tw, oh, ow, bias)
    k_at = get_array_module(mm).asarray(_kron(m, r, mm.dtype)[0])
    yt = (k_at @ mm.reshape(alpha * alpha, -1)).reshape(m, m, mm.shape[1], n, th, tw)
    y = _tiles_to_image(yt, oh, ow, bias)
    return relu_in_place(y) if relu else y


def output_transform_adjoint(
    dout: np.ndarray, m: int, r: int, th: int, tw: int, out: np.ndarray | None = None
) -> np.ndarray:
    """Adjoint of :func:`output_transform`: :math:`dM = A\\, dY A^\\top` for every tile of ``dout``, as
    (alpha^2, F, N*th*tw)."""
    dout, m, r, alpha, th, tw = prepare_output_transform_adjoint(dout, m, r, th, tw, out)
    xp = get_array_module(dout)
    k_at = xp.asarray(_kron(m, r, dout.dtype)[0])
    dyt = _image_to_tiles(dout, m, th, tw).reshape(m * m, -1)
    dmm = xp.matmul(k_at.T, dyt, out=None if out is None else out.reshape(alpha * alpha, -1))
    return dmm.reshape(alpha * alpha, dout.shape[1], -1)


def input_transform_adjoint(
    dv: np.ndarray,
    x_shape: tuple[int, int, int, int],
    m: int,
    r: int,
    pad_top: int,
    pad_left: int,
    th: int,
    tw: int,
) -> np.ndarray:
    """Adjoint of :func:`input_transform`: :math:`dd = B\\, dV B^\\top` for every tile, added back onto
    the image (overlapping tiles add up); returns dx of ``x_shape``."""
    dv, x_shape, m, r, alpha, pt, pl, th, tw = prepare_input_transform_adjoint(
        dv, x_shape, m, r, pad_top, pad_left, th, tw
    )
    k_bt = get_array_module(dv).asarray(_kron(m, r, dv.dtype)[2])
    dd = (k_bt.T @ dv.reshape(alpha * alpha, -1)).reshape(alpha, alpha, x_shape[1], x_shape[0], th, tw)
    return _scatter_tiles(dd, x_shape, m, pt, pl)


# -- the accuracy guard of "auto" -----------------------------------------------------------------------
def contrast_limit(m: int, r: int, dtype: Any, adjoint: bool = False) -> float:
    """The largest tile contrast (:func:`tile_contrast`) at which F(m x m, r x r) keeps every output (every
    input gradient when ``adjoint``) within AUTO_ACCURACY of its sum of ``|w| |x|``: with the tile bound
    ``|error| <= E u M ||w||_1`` (TILE_ERROR) and ``M <= rho * ||window||_1 / (C r^2)``, the error is at most
    ``E u rho`` times ``||w||_1 ||window||_1 / (C r^2)``, so rho may reach ``AUTO_ACCURACY / (E u)``:
    about 47 (forward) and 70 (input gradient) in float32 for the F(4x4, .) variants."""
    u = float(np.finfo(dtype).eps) / 2
    return AUTO_ACCURACY / (TILE_ERROR[(m, r)][1 if adjoint else 0] * u)


def prepare_tile_contrast(z: Any, m: Any, r: Any, pad_top: Any, pad_left: Any, size_h: Any, size_w: Any):
    """Validated arguments of :func:`tile_contrast`: (z, m, r, alpha, pad_top, pad_left, size_h, size_w)."""
    who = "tile_contrast"
    z = check_array(z, 4, "z", who)
    check_image_shape(z.shape, who, "z")
    m, r, pt, pl, sh, sw = _check_counts(
        who, m=m, r=r, pad_top=pad_top, pad_left=pad_left, size_h=size_h, size_w=size_w
    )
    alpha = m + r - 1
    if alpha > MAX_WINOGRAD_TILE:
        raise ValueError(f"{who}: m + r - 1 must be at most {MAX_WINOGRAD_TILE}, got m={m}, r={r}")
    return z, m, r, alpha, pt, pl, sh, sw


def contrast_geometry(
    shape: tuple[int, int, int, int], m: int, r: int, pt: int, pl: int, sh: int, sw: int, adjoint: bool
) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """The tiles :func:`tile_contrast` visits and the grid it works on, per axis (rows, then columns):
    ``(t0, t1, g0, size)``: tiles t0 <= t < t1 (the others read only padding), the grid covering padded
    coordinates g0 .. g0 + size. Shared by the compiled kernel and the twin."""
    oh, ow = (shape[2], shape[3]) if adjoint else (sh, sw)
    extent = (sh, sw) if adjoint else (shape[2], shape[3])  # the input plane: x's, or dx's for the adjoint
    alpha = m + r - 1
    out = []
    for o, pad, size in ((oh, pt, extent[0]), (ow, pl, extent[1])):
        # tile t spans padded rows [t m, t m + alpha); it matters when that meets the input's [pad, pad + size)
        t0 = max(0, -(-(pad - alpha + 1) // m))
        t1 = max(t0, min(-(-o // m), (pad + size - 1) // m + 1))
        # peak regions end by (t1 - 1) m + alpha, windows by (t1 - 1) m + alpha + r - 1 (adjoint origins)
        out.append((t0, t1, t0 * m, (t1 - t0 - 1) * m + alpha + r - 1 if t1 > t0 else 0))
    return out[0], out[1]


def tile_contrast(
    z: np.ndarray,
    m: int,
    r: int,
    pad_top: int,
    pad_left: int,
    size_h: int,
    size_w: int,
    adjoint: bool = False,
) -> tuple[float, float]:
    r"""``(rho, max|z|)``: how far F(m x m, r x r)'s rounding, which is relative to the largest value of a
    tile, can exceed the sum each output (input gradient) adds up. ``max|z|`` is NaN when z holds a NaN
    (and rho is then inf).

    Forward (``z`` = x (N, C, H, W), ``size`` = the output's (OH, OW)): for every tile, its largest ``|x|`` over
    all channels of its alpha x alpha input tile, times C r^2, over the smallest sum of ``|x|`` over all channels
    of the r x r window of any of its m x m outputs. Adjoint (``z`` = dout (N, F, OH, OW), ``size`` = the
    input's (H, W)): for every output tile, its largest ``|dout|``, times F r^2, over the smallest sum of ``|dout|``
    in the r x r window (of the transposed convolution) of any input pixel it adds onto. Padding counts as
    zeros; rho is the largest ratio over all tiles (0 for a tile of zeros, inf for a window of zeros in a
    tile that is not). A window's sum is C r^2 times its mean ``|z|``, so rho bounds max / mean."""
    z, m, r, alpha, pt, pl, sh, sw = prepare_tile_contrast(z, m, r, pad_top, pad_left, size_h, size_w)
    xp = get_array_module(z)
    n, c, h, w = z.shape
    a = xp.abs(z.astype(xp.float64))
    z_max = float(a.max())
    if not np.isfinite(z_max):
        return float("inf"), z_max
    channel_sums = a.sum(axis=1)
    if float(channel_sums.max()) > float(np.finfo(z.dtype).max):
        return float("inf"), z_max  # sums beyond z's type (the compiled kernel adds in it): no certificate
    (ty0, ty1, gy0, gh), (tx0, tx1, gx0, gw) = contrast_geometry(z.shape, m, r, pt, pl, sh, sw, adjoint)
    if ty0 >= ty1 or tx0 >= tx1:
        return 0.0, z_max
    # |z| summed and maximised over channels, on the grid (padded coordinates minus g0)
    top, left = (r - 1, r - 1) if adjoint else (pt, pl)
    sums, maxes = xp.zeros((n, gh, gw)), xp.zeros((n, gh, gw))
    rows = slice(max(0, top - gy0), max(0, min(gh, top - gy0 + h)))
    cols = slice(max(0, left - gx0), max(0, min(gw, left - gx0 + w)))
    src_rows = slice(rows.start - (top - gy0), rows.stop - (top - gy0))
    src_cols = slice(cols.start - (left - gx0), cols.stop - (left - gx0))
    sums[:, rows, cols] = channel_sums[:, src_rows, src_cols]
    maxes[:, rows, cols] = a[:, :, src_rows, src_cols].max(axis=1)
    # window sums: box[q, p] = sum over [q, q + r) x [p, p + r), for every origin the grid holds whole
    line = sum(sums[:, :, j : gw - r + 1 + j] for j in range(r))
    box = sum(line[:, i : gh - r + 1 + i] for i in range(r))
    # origins outside the outputs (inputs, for the adjoint) have no window: +inf never is the minimum
    if adjoint:  # the input pixels: (size_h, size_w) at (pad_top, pad_left)
        lo, hi = (pt - gy0, pl - gx0), (pt + sh - gy0, pl + sw - gx0)
    else:  # the outputs: (size_h, size_w) at 0
        lo, hi = (-gy0, -gx0), (sh - gy0, sw - gx0)
    q = xp.arange(box.shape[1])[:, None]
    p = xp.arange(box.shape[2])[None, :]
    box = xp.where((q >= lo[0]) & (q < hi[0]) & (p >= lo[1]) & (p < hi[1]), box, xp.inf)
    max_off, max_len = (r - 1, m) if adjoint else (0, alpha)
    org_len = alpha if adjoint else m
    rho = 0.0
    for ty in range(ty1 - ty0):
        for tx in range(tx1 - tx0):
            y0, x0 = ty * m, tx * m
            peak = maxes[:, y0 + max_off : y0 + max_off + max_len, x0 + max_off : x0 + max_off + max_len]
            peak = peak.max(axis=(1, 2))
            least = box[:, y0 : y0 + org_len, x0 : x0 + org_len].min(axis=(1, 2))
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = xp.where(peak > 0, peak * (c * r * r) / least, 0.0)
            rho = max(rho, float(ratio.max()))
    return rho, z_max


@functools.cache
def _growth(m: int, r: int) -> tuple[float, ...]:
    """How much each step of F(m x m, r x r) can grow the largest magnitude it is given (sums of ``|.|`` over
    the rows or columns of the 1-D matrices, squared for 2-D): (V/x, U/w, Y/M, dM/dY, dW/dU, dx/dV), the
    last with the number of tiles that add onto one input pixel. Every intermediate of a separable step is
    within its step's bound (each factor is at least 1)."""
    AT, G, BT = transforms(m, r)

    def rows(t: np.ndarray) -> float:
        return float(np.abs(t).sum(axis=1).max()) ** 2

    def cols(t: np.ndarray) -> float:
        return float(np.abs(t).sum(axis=0).max()) ** 2

    overlap = (-(-(m + r - 1) // m)) ** 2
    return rows(BT), rows(G), rows(AT), cols(AT), cols(G), cols(BT) * overlap


def _within_range(dtype: Any, *bounds: float) -> bool:
    """Every bound (finite, or inf/NaN when the bound itself overflowed) below a quarter of the dtype's
    largest value: no step can overflow, with room for the rounding of every sum."""
    limit = float(np.finfo(dtype).max) / 4
    return all(b <= limit for b in bounds)


def _batched_gemm(xp: Any) -> Any:
    """The batched products' module: the compiled one (OpenMP threads, no handover to OpenBLAS's pool)
    when it runs for ``xp``, else NumPy's matmul."""
    return numpy_batched_gemm.threaded(xp) or numpy_batched_gemm


class WinogradConv:
    """One stride-1 convolution by F(m x m, r x r). ``forward`` keeps what ``backward`` needs; the large
    intermediates live in buffers reused from call to call (fresh arrays of this size cost more in page
    faults than the products themselves), so each forward allows one backward. The four transforms are the
    compiled kernels when built (``backend.kernel("winograd")``), which fuse each transform with the
    rearrangement between tiles and image.

    ``certify`` / ``certify_backward`` are the accuracy guard of ``Conv2D(algorithm="auto")``: whether this
    call by Winograd keeps every entry within AUTO_ACCURACY of its sum of ``|w| |x|`` and finite wherever
    im2col's is (module docstring). ``forward`` keeps a reference to its input (no copy) so that a backward
    the guard refuses can run by im2col instead (``release``)."""

    def __init__(self, m: int, r: int) -> None:
        self.m, self.r, self.alpha = m, r, m + r - 1
        self.cache: tuple | None = None
        self._buffers: dict[str, np.ndarray] = {}
        self._scales: tuple[float, float] | None = None  # (max|x|, max|w|) of a certified forward

    def certify(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, pad: tuple[int, int, int, int]
    ) -> bool:
        """Whether the forward of x by this algorithm is within AUTO_ACCURACY on every output and finite
        wherever im2col's is: x, w and b finite, no step able to overflow (``_growth``), and x's tile
        contrast at most :func:`contrast_limit`. One pass over x (``tile_contrast``) and one over w."""
        xp = get_array_module(x)
        m, r = self.m, self.r
        n, c, h, wd = x.shape
        pt, pb, pl, pr = pad
        self._scales = None
        w_max = float(xp.abs(w).max())
        b_max = 0.0 if b is None else float(xp.abs(b).max())
        if not (np.isfinite(w_max) and np.isfinite(b_max)):
            return False
        oh, ow = h + pt + pb - r + 1, wd + pl + pr - r + 1
        rho, x_max = backend.kernel("winograd", xp).tile_contrast(x, m, r, pt, pl, oh, ow)
        if not np.isfinite(x_max) or rho > contrast_limit(m, r, x.dtype):
            return False
        g_v, g_u, g_y = _growth(m, r)[:3]
        v_max, u_max = g_v * x_max, g_u * w_max
        if not _within_range(x.dtype, v_max, u_max, c * u_max * v_max, g_y * c * u_max * v_max + b_max):
            return False
        self._scales = (x_max, w_max)
        return True

    def certify_backward(self, dout: np.ndarray, input_grad: bool = True) -> bool:
        """Whether the backward of the last (certified) forward for ``dout`` is within AUTO_ACCURACY on every
        input gradient (when ``input_grad``) and finite wherever im2col's is: dout finite, no step able to
        overflow, and dout's tile contrast (``tile_contrast(..., adjoint=True)``) at most
        ``contrast_limit(..., adjoint=True)``. The weight gradient's accuracy is not checked on its own (it
        sums over every tile; see the module docstring, "Accuracy"), only that it cannot overflow."""
        if self.cache is None or self.cache[-1] is None:
            return False
        xp = get_array_module(dout)
        m, r = self.m, self.r
        x, (pt, _, pl, _), u, _, (th, tw), (x_max, w_max) = self.cache
        n, c, h, wd = x.shape
        f = u.shape[1]
        rho, d_max = backend.kernel("winograd", xp).tile_contrast(dout, m, r, pt, pl, h, wd, adjoint=True)
        if not np.isfinite(d_max) or (input_grad and rho > contrast_limit(m, r, dout.dtype, adjoint=True)):
            return False
        g_v, g_u, _, g_dm, g_dw, g_dx = _growth(m, r)
        dm_max, v_max, u_max = g_dm * d_max, g_v * x_max, g_u * w_max
        du_max = n * th * tw * dm_max * v_max
        bounds = [dm_max, du_max, g_dw * du_max]
        if input_grad:
            bounds += [f * u_max * dm_max, g_dx * f * u_max * dm_max]
        return _within_range(dout.dtype, *bounds)

    def release(self) -> np.ndarray:
        """Drops what the last forward kept, and returns its input: for a backward run another way."""
        if self.cache is None:
            raise RuntimeError("WinogradConv.release called without a matching forward")
        x = self.cache[0]
        self.cache = None
        return x

    def _buffer(self, xp: Any, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype or get_array_module(buf) is not xp:
            buf = self._buffers[name] = xp.empty(shape, dtype=dtype)
        return buf

    def forward(
        self,
        x: np.ndarray,
        w: np.ndarray,
        b: np.ndarray | None,
        pad: tuple[int, int, int, int],
        relu: bool = False,
    ):
        """y (N, F, OH, OW) for x (N, C, H, W), w (F, C, r, r), pad (top, bottom, left, right); max(0, y)
        when ``relu``."""
        xp = get_array_module(x)
        kernels = backend.kernel("winograd", xp)
        m, r, a2 = self.m, self.r, self.alpha**2
        n, c, h, wd = x.shape
        f = w.shape[0]
        pt, pb, pl, pr = pad
        oh, ow = h + pt + pb - r + 1, wd + pl + pr - r + 1
        th, tw = -(-oh // m), -(-ow // m)  # tiles per column / row (the last may hang over the edge)
        p = n * th * tw
        v = kernels.input_transform(x, m, r, pt, pl, th, tw, out=self._buffer(xp, "v", (a2, c, p), x.dtype))
        gemm = _batched_gemm(xp)
        k_g = xp.asarray(_kron(m, r, x.dtype)[1])[None]
        u = gemm.matmul(k_g, w.reshape(1, f * c, r * r), transpose_b=True).reshape(a2, f, c)  # U = G g G^T
        mm = gemm.matmul(u, v, out=self._buffer(xp, "mm", (a2, f, p), x.dtype))  # the alpha^2 products
        scales, self._scales = self._scales, None  # certify's, for this call only
        self.cache = (x, pad, u, v, (th, tw), scales)
        return kernels.output_transform(mm, m, r, n, th, tw, oh, ow, b, relu)

    def backward(
        self, dout: np.ndarray, input_grad: bool = True
    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """(dx, dW, db) for the upstream gradient dout (N, F, OH, OW); dx is None unless ``input_grad``."""
        if self.cache is None:
            raise RuntimeError("WinogradConv.backward called without a matching forward")
        xp = get_array_module(dout)
        kernels = backend.kernel("winograd", xp)
        m, r, a2 = self.m, self.r, self.alpha**2
        x, (pt, _, pl, _), u, v, (th, tw), _ = self.cache
        x_shape = x.shape
        f, c = u.shape[1], u.shape[2]
        dmm = kernels.output_transform_adjoint(dout, m, r, th, tw, out=self._buffers["mm"])  # A dY A^T
        gemm = _batched_gemm(xp)
        du = gemm.matmul(dmm, v, transpose_b=True)  # dU = dM V^T: (alpha^2, F, C)
        k_g = xp.asarray(_kron(m, r, dout.dtype)[1])[None]
        dw = gemm.matmul(k_g, du.reshape(1, a2, f * c), transpose_a=True).reshape(r * r, f * c).T  # G^T dU G
        dw = dw.reshape(f, c, r, r)
        self.cache = None
        if not input_grad:
            return None, dw, dout.sum(axis=(0, 2, 3))
        dv = gemm.matmul(u, dmm, out=v, transpose_a=True)  # dV = U^T dM, into v (no longer needed)
        dx = kernels.input_transform_adjoint(dv, x_shape, m, r, pt, pl, th, tw)  # B dV B^T, added back
        return dx, dw, dout.sum(axis=(0, 2, 3))
