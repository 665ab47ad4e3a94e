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

Winograd is not exact: the transforms add and subtract values of different sizes, so float32 rounding
grows with :math:`\alpha`. Measured against a float64 direct convolution on the course's layer shapes
(``tests/ops/test_winograd.py``; He-initialised weights, unit-variance input), the largest float32 error
relative to the largest output, gradient or weight gradient is 8e-7 for F(2x2, 3x3), 9e-6 for
F(4x4, 3x3) and 1.6e-5 for F(2x2, 5x5) and F(4x4, 5x5) (im2col: 6e-7); the tests hold every variant
within :data:`ERROR_BOUND`.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from scratchnet import backend
from scratchnet.backend import get_array_module
from scratchnet.ops import batched_gemm as numpy_batched_gemm
from scratchnet.ops.arguments import (
    prepare_input_transform,
    prepare_input_transform_adjoint,
    prepare_output_transform,
    prepare_output_transform_adjoint,
)
from scratchnet.ops.relu import relu_in_place

# the kernel interface (compiled in pyx/winograd.pyx)
__all__ = [
    "transforms",
    "input_transform",
    "output_transform",
    "output_transform_adjoint",
    "input_transform_adjoint",
    "WinogradConv",
]

#: the largest |winograd - direct| / max|direct| the tests allow, by (m, r) and dtype
ERROR_BOUND = {
    (2, 3): {np.float32: 2e-6, np.float64: 1e-13},
    (4, 3): {np.float32: 2e-4, np.float64: 1e-12},
    (2, 5): {np.float32: 2e-4, np.float64: 1e-12},
    (4, 5): {np.float32: 2e-4, np.float64: 1e-12},
}

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
    (N, F, oh, ow), plus ``bias``; max(0, Y) when ``relu`` (a Conv2D -> ReLU pair, see ``ops/fusion.py``)."""
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


def _batched_gemm(xp: Any) -> Any:
    """The batched products' module: the compiled one (OpenMP threads, no handover to OpenBLAS's pool)
    when it runs for ``xp``, else NumPy's matmul."""
    return numpy_batched_gemm.threaded(xp) or numpy_batched_gemm


class WinogradConv:
    """One stride-1 convolution by F(m x m, r x r). ``forward`` keeps what ``backward`` needs; the large
    intermediates live in buffers reused from call to call (fresh arrays of this size cost more in page
    faults than the products themselves), so each forward allows one backward. The four transforms are the
    compiled kernels when built (``backend.kernel("winograd")``), which fuse each transform with the
    rearrangement between tiles and image."""

    def __init__(self, m: int, r: int) -> None:
        self.m, self.r, self.alpha = m, r, m + r - 1
        self.cache: tuple | None = None
        self._buffers: dict[str, np.ndarray] = {}

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
        self.cache = (x.shape, pad, u, v, (th, tw))
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
        x_shape, (pt, _, pl, _), u, v, (th, tw) = self.cache
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
