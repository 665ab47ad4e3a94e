r"""Direct convolution, without im2col: for layers with few input channels (tier 2; the reference is
``scratchnet/layers/conv.py``).

The first layer of an MNIST CNN has one input channel: im2col copies every pixel ``kh * kw`` times into a
matrix with only ``kh * kw`` rows, and the products that follow are long and thin, so the layer is bound
by memory, not arithmetic. Summing the taps straight from the image does the same arithmetic without the
copy. With :math:`x_p` the zero-padded input, tap by tap:

.. math::
    y[n, f, o_y, o_x] &= b[f] + \sum_{c, i, j} W[f, c, i, j]\; x_p[n, c, o_y s_h + i, o_x s_w + j] \\
    \frac{\partial L}{\partial W}[f, c, i, j] &= \sum_{n, o_y, o_x} g[n, f, o_y, o_x]\;
        x_p[n, c, o_y s_h + i, o_x s_w + j] \\
    \frac{\partial L}{\partial x_p}[n, c, o_y s_h + i, o_x s_w + j] &\mathrel{+}= \sum_f W[f, c, i, j]\;
        g[n, f, o_y, o_x]

For one tap (i, j) the pixels read by all output positions form a strided slice of the image (the output
positions that would read padding are left out, see :func:`scratchnet.maths.im2col.tap_slices`), so each
line below is one multiply-add of whole planes. The compiled kernels (``pyx/direct_conv.pyx``) sum the
same terms along image rows, at stride 1 in register tiles (a block of filters, of dx rows, or of filters x
taps of dW) over zero-padded copies, with fused multiply-adds. The sums run in another order than im2col's
matrix products, so the two agree to rounding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.arguments import (
    prepare_direct_backward_input,
    prepare_direct_backward_weights,
    prepare_direct_forward,
)
from scratchnet.backend import get_array_module
from scratchnet.fast.relu import relu_in_place
from scratchnet.maths.im2col import tap_slices

__all__ = ["conv_forward", "conv_backward_weights", "conv_backward_params", "conv_backward_input"]


def conv_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Any = 1, pad: Any = 0, relu: bool = False
) -> np.ndarray:
    """y (N, F, OH, OW) for x (N, C, H, W), w (F, C, kh, kw), b (F,) or None; max(0, y) when ``relu`` (the
    epilogue of a Conv2D -> ReLU pair, see ``fast/fusion.py``)."""
    x, w, b, s, p, (oh, ow) = prepare_direct_forward(x, w, b, stride, pad)
    xp = get_array_module(x)
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    y = xp.zeros((n, f, oh, ow), dtype=x.dtype)
    if b is not None:
        y += b.reshape(1, f, 1, 1)
    for i in range(kh):
        for j in range(kw):
            taps = tap_slices(i, j, oh, ow, h, wd, s, p)
            if taps is not None:
                ys, xs, rows, cols = taps
                y[:, :, ys, xs] += xp.einsum("fc,nchw->nfhw", w[:, :, i, j], x[:, :, rows, cols])
    return relu_in_place(y) if relu else y


def conv_backward_weights(
    x: np.ndarray, dout: np.ndarray, kernel_size: tuple[int, int], stride: Any = 1, pad: Any = 0
) -> np.ndarray:
    """dW (F, C, kh, kw) for the input x and the upstream gradient dout (N, F, OH, OW)."""
    x, dout, (kh, kw), s, p = prepare_direct_backward_weights(x, dout, kernel_size, stride, pad)
    xp = get_array_module(x)
    n, c, h, wd = x.shape
    oh, ow = dout.shape[2:]
    dw = xp.zeros((dout.shape[1], c, kh, kw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            taps = tap_slices(i, j, oh, ow, h, wd, s, p)
            if taps is not None:
                ys, xs, rows, cols = taps
                dw[:, :, i, j] = xp.einsum("nfhw,nchw->fc", dout[:, :, ys, xs], x[:, :, rows, cols])
    return dw


def conv_backward_params(
    x: np.ndarray, dout: np.ndarray, kernel_size: tuple[int, int], stride: Any = 1, pad: Any = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(dW, db): dW as :func:`conv_backward_weights` and db (F,) = dout summed over images, rows and columns
    (the compiled kernel sums both in one pass over dout)."""
    dw = conv_backward_weights(x, dout, kernel_size, stride, pad)
    n, f = dout.shape[:2]
    return dw, dout.reshape(n, f, -1).sum(axis=2).sum(axis=0)


def conv_backward_input(
    dout: np.ndarray, w: np.ndarray, x_shape: tuple[int, int, int, int], stride: Any = 1, pad: Any = 0
) -> np.ndarray:
    """dx of ``x_shape`` for the upstream gradient dout (N, F, OH, OW) and the weights w."""
    dout, w, (n, c, h, wd), s, p = prepare_direct_backward_input(dout, w, x_shape, stride, pad)
    xp = get_array_module(dout)
    _, _, kh, kw = w.shape
    oh, ow = dout.shape[2:]
    dx = xp.zeros((n, c, h, wd), dtype=dout.dtype)
    for i in range(kh):
        for j in range(kw):
            taps = tap_slices(i, j, oh, ow, h, wd, s, p)
            if taps is not None:
                ys, xs, rows, cols = taps
                dx[:, :, rows, cols] += xp.einsum("fc,nfhw->nchw", w[:, :, i, j], dout[:, :, ys, xs])
    return dx
