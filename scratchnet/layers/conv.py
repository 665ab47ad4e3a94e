r"""2-D convolution (cross-correlation, as in every deep-learning library) via im2col and one matrix product.

Forward, with :math:`K = C k_h k_w` and :math:`P = N \cdot OH \cdot OW`:

.. math::
    \mathrm{cols} = \mathrm{im2col}(x) \in \mathbb{R}^{K \times P},\qquad
    Y = W_{(F \times K)}\,\mathrm{cols} + b \in \mathbb{R}^{F \times P} \;\to\; y\ (N, F, OH, OW)

Backward, with :math:`G` = ``dout`` rearranged to :math:`(F, P)`:

.. math::
    \frac{\partial L}{\partial W} = G\,\mathrm{cols}^\top,\qquad
    \frac{\partial L}{\partial b} = \textstyle\sum_{P} G,\qquad
    \frac{\partial L}{\partial x} = \mathrm{col2im}(W^\top G)

``im2col`` copies every receptive field into a column, so the whole batch is one matrix product; its
adjoint ``col2im`` adds the column gradients back onto the pixels they came from (see
``scratchnet/maths/im2col.py``). This file is the reference; the fast path that runs by default
(``scratchnet/fast/conv.py``) computes the same products with compiled im2col/col2im and reused buffers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.arguments import (
    as_float_dtype,
    check_algorithm,
    check_image_shape,
    check_kernel_size,
    check_padding,
    check_size,
    init_array,
    normalize_stride,
    output_size,
    resolve_padding,
)
from scratchnet.layers.base import InputSpec, Layer
from scratchnet.maths.im2col import col2im, im2col


class Conv2D(Layer):
    r"""2-D convolution ``y[n, f] = b[f] + sum_c W[f, c] \star x[n, c]`` on NCHW images.

    Parameters ``W`` (out_channels, in_channels, kh, kw) and ``b`` (out_channels,). ``padding`` is an int,
    a pair ``(ph, pw)``, ``(top, bottom, left, right)``, ``'valid'`` (none) or ``'same'`` (TensorFlow:
    output ``ceil(n / stride)``, the odd pixel of padding at the bottom/right). Input (N, in_channels, H,
    W) of the layer's dtype; output (N, out_channels, OH, OW).

    ``algorithm`` picks how the fast path computes the same convolution: ``"im2col"`` (exact to rounding),
    ``"winograd"`` (fewer multiplications, for stride-1 3x3 and 5x5 kernels; its rounding is relative to
    the largest value of each input tile, not to each output's own window: see "Accuracy" in
    ``scratchnet/fast/winograd.py``), ``"direct"`` (taps summed straight from the image, for few input
    channels, see ``scratchnet/fast/direct_conv.py``) or ``"auto"`` (the one measured fastest: direct for
    layers with at most 3 input channels, Winograd for stride-1 3x3 and 5x5 layers with at least 32 channels
    in and out, else im2col; see ``scratchnet/fast/conv.py``). ``"auto"`` keeps every output within
    ``1e-4 (sum |w| |x| + |b|)`` and every input gradient within ``1e-4 sum |w| |dout|`` of the exact
    value, and finite wherever im2col's are: a call whose input (or dout) Winograd cannot hold to that runs
    by im2col, checked in one pass per call.
    The reference (``backend.use_reference``) always runs the im2col maths below.

    Fast path (run by default, ``backend.FAST_PATHS``): ``scratchnet/fast/conv.py`` runs ``forward``,
    ``backward`` and ``backward_params`` by the algorithm above; ``with scratchnet.backend.reference():`` runs
    this file's own code instead (so does calling ``forward``/``backward`` directly).
    """

    input_spec = InputSpec("(N, C, H, W)", ndim=4, channels="in_channels")
    saved_for_backward = ("input",)  # the direct and Winograd paths keep x

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: Any = 0,
        weight_init: Any = "he",
        bias: bool = True,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
        algorithm: str = "auto",
    ) -> None:
        super().__init__()
        self.in_channels = check_size("Conv2D", "in_channels", in_channels)
        self.out_channels = check_size("Conv2D", "out_channels", out_channels)
        self.kernel_size = check_kernel_size(kernel_size, "Conv2D")
        self.stride = normalize_stride(stride, "Conv2D")
        self.padding = check_padding(padding, "Conv2D")
        self.algorithm = check_algorithm(algorithm, self.kernel_size, self.stride, "Conv2D")
        self.use_bias = bool(bias)
        dt = as_float_dtype(dtype)
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        self.add_param("W", init_array("Conv2D", "W", weight_init, shape, rng=rng, dtype=dt))
        if self.use_bias:
            self.add_param("b", np.zeros(self.out_channels, dtype=dt))
        self._cache: tuple | None = None

    def __repr__(self) -> str:
        extra = ("" if self.use_bias else ", bias=False") + (
            "" if self.algorithm == "auto" else f", algorithm={self.algorithm!r}"
        )
        return (
            f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding!r}{extra})"
        )

    def pad_for(self, h: int, w: int) -> tuple[int, int, int, int]:
        """The (top, bottom, left, right) padding for an input of height ``h`` and width ``w``."""
        return resolve_padding(self.padding, h, w, *self.kernel_size, self.stride)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """(N, out_channels, OH, OW) for an (N, C, H, W) input."""
        n, _, h, w = check_image_shape(input_shape, repr(self))
        oh, ow = output_size(h, w, *self.kernel_size, self.stride, self.pad_for(h, w), who=repr(self))
        return (n, self.out_channels, oh, ow)

    def forward(self, x: np.ndarray) -> np.ndarray:
        n, f, oh, ow = self.output_shape(x.shape)
        pad = self.pad_for(*x.shape[2:])
        cols = im2col(x, *self.kernel_size, self.stride, pad)  # (C*kh*kw, N*OH*OW)
        y = self.params["W"].reshape(f, -1) @ cols  # (F, N*OH*OW)
        if self.use_bias:
            y += self.params["b"][:, None]
        self._cache = (x.shape, pad, cols)
        return y.reshape(f, n, oh, ow).transpose(1, 0, 2, 3).copy()  # as a C-ordered (N, F, OH, OW)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_shape, pad, cols = self._cache
        W = self.params["W"]
        g = dout.transpose(1, 0, 2, 3).reshape(self.out_channels, -1)  # G: (F, N*OH*OW)
        self.grads["W"] = (g @ cols.T).reshape(W.shape)
        if self.use_bias:
            self.grads["b"] = g.sum(axis=1)
        dcols = W.reshape(self.out_channels, -1).T @ g
        return col2im(dcols, x_shape, *self.kernel_size, self.stride, pad)
