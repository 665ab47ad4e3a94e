r"""1-D convolution (cross-correlation, as PyTorch's ``nn.Conv1d``) on sequences (N, C, L), via im2col.

For every sample n, output channel f and output position o (stride s, left padding :math:`p_l`):

.. math::
    y[n, f, o] = b[f] + \sum_{c, j} W[f, c, j]\; x_{pad}[n, c, o s + j]

A sequence is an image of height 1, so ``im2col`` (``scratchnet/maths/im2col.py``) with a (1, k) kernel copies
every window into a column: :math:`\mathrm{cols} \in \mathbb{R}^{Ck \times N\cdot OL}` with
:math:`OL = \lfloor (L + p_l + p_r - k)/s \rfloor + 1`, and the convolution is one matrix product,

.. math::
    Y = W_{(F \times Ck)}\,\mathrm{cols} + b \;\to\; y\ (N, F, OL)

Backward, with :math:`G` = ``dout`` rearranged to :math:`(F, N\cdot OL)` (as Conv2D's):

.. math::
    \frac{\partial L}{\partial W} = G\,\mathrm{cols}^\top,\qquad
    \frac{\partial L}{\partial b} = \textstyle\sum_{N\cdot OL} G,\qquad
    \frac{\partial L}{\partial x} = \mathrm{col2im}(W^\top G)

where ``col2im`` adds each column entry back onto the position it was copied from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.arguments import (
    as_float_dtype,
    check_rng,
    check_size,
    init_array,
    output_size,
    same_padding,
)
from scratchnet.backend import get_array_module
from scratchnet.layers.base import InputSpec, Layer
from scratchnet.maths.im2col import col2im, im2col
from scratchnet.random import get_rng


def _check_padding(padding: Any) -> Any:
    """'valid', 'same', an int or a (left, right) pair of non-negative ints."""
    if isinstance(padding, str):
        if padding.lower() not in ("valid", "same"):
            raise ValueError(f"Conv1D: padding must be 'valid', 'same' or ints, got {padding!r}")
        return padding.lower()

    def count(v: Any) -> bool:
        return isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_) and v >= 0

    if count(padding):
        return (int(padding), int(padding))
    if isinstance(padding, tuple | list) and len(padding) == 2 and all(count(v) for v in padding):
        return (int(padding[0]), int(padding[1]))
    raise ValueError(
        f"Conv1D: padding must be 'valid', 'same', a non-negative int or a (left, right) pair of them, "
        f"got {padding!r}"
    )


class Conv1D(Layer):
    r"""1-D convolution ``y[n, f] = b[f] + sum_c W[f, c] \star x[n, c]`` on (N, C, L) sequences, PyTorch's
    layout: parameters ``W`` (out_channels, in_channels, kernel_size) and ``b`` (out_channels,).

    ``padding``: an int (both ends), a (left, right) pair, ``'valid'`` (none) or ``'same'`` (TensorFlow's:
    output ``ceil(L / stride)``, the odd position of padding on the right). Input (N, in_channels, L);
    output (N, out_channels, OL).
    """

    input_spec = InputSpec("(N, {in_channels}, L)", ndim=3, channels="in_channels")
    saved_for_backward = ()  # its own copy of the windows (cols)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: Any = 0,
        weight_init: Any = "he",
        bias: bool = True,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = check_size("Conv1D", "in_channels", in_channels)
        self.out_channels = check_size("Conv1D", "out_channels", out_channels)
        self.kernel_size = check_size("Conv1D", "kernel_size", kernel_size)
        self.stride = check_size("Conv1D", "stride", stride)
        self.padding = _check_padding(padding)
        if not isinstance(bias, bool | np.bool_):
            raise TypeError(f"Conv1D: bias must be True or False, got {bias!r} ({type(bias).__name__})")
        self.use_bias = bool(bias)
        dt = as_float_dtype(dtype, "Conv1D")
        rng = get_rng() if check_rng("Conv1D", rng) is None else rng
        shape = (self.out_channels, self.in_channels, self.kernel_size)
        self.add_param("W", init_array("Conv1D", "W", weight_init, shape, rng=rng, dtype=dt))
        if self.use_bias:
            self.add_param("b", np.zeros(self.out_channels, dtype=dt))
        self._cache: tuple | None = None

    def __repr__(self) -> str:
        return (
            f"Conv1D({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding!r}{'' if self.use_bias else ', bias=False'})"
        )

    def pad_for(self, length: int) -> tuple[int, int]:
        """The (left, right) padding for an input of ``length`` positions."""
        if self.padding == "valid":
            return (0, 0)
        if self.padding == "same":
            return same_padding(1, length, 1, self.kernel_size, (1, self.stride))[2:]
        return self.padding

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
        """(N, out_channels, OL) for an (N, C, L) input."""
        n, _, length = input_shape
        if length < 1:
            raise ValueError(
                f"{self!r}: expected at least one position (L >= 1), got shape {tuple(input_shape)}"
            )
        left, right = self.pad_for(length)
        if length + left + right < self.kernel_size:
            raise ValueError(
                f"{self!r}: kernel_size {self.kernel_size} is longer than the padded input: L = {length} "
                f"positions + padding ({left}, {right})"
            )
        pad = (0, 0, left, right)
        _, ol = output_size(1, length, 1, self.kernel_size, (1, self.stride), pad, who=repr(self))
        return (n, self.out_channels, ol)

    def forward(self, x: np.ndarray) -> np.ndarray:
        n, f, ol = self.output_shape(x.shape)
        pad = (0, 0, *self.pad_for(x.shape[2]))
        x4 = x[:, :, None, :]  # (N, C, 1, L): a sequence is an image one pixel high
        if n == 0:  # an empty batch: nothing to convolve
            self._cache = (x4.shape, pad, None)
            return get_array_module(x).zeros((0, f, ol), dtype=x.dtype)
        cols = im2col(x4, 1, self.kernel_size, (1, self.stride), pad)  # (C*k, N*OL)
        y = self.params["W"].reshape(f, -1) @ cols  # (F, N*OL)
        if self.use_bias:
            y += self.params["b"][:, None]
        self._cache = (x4.shape, pad, cols)
        return y.reshape(f, n, ol).transpose(1, 0, 2).copy()  # as a C-ordered (N, F, OL)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x4_shape, pad, cols = self._cache
        W = self.params["W"]
        if cols is None:  # the empty batch
            xp = get_array_module(dout)
            self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}
            return xp.zeros((0, x4_shape[1], x4_shape[3]), dtype=dout.dtype)
        g = dout.transpose(1, 0, 2).reshape(self.out_channels, -1)  # G: (F, N*OL)
        self.grads["W"] = (g @ cols.T).reshape(W.shape)
        if self.use_bias:
            self.grads["b"] = g.sum(axis=1)
        dcols = W.reshape(self.out_channels, -1).T @ g
        dx = col2im(dcols, x4_shape, 1, self.kernel_size, (1, self.stride), pad)
        return dx.reshape(x4_shape[0], x4_shape[1], x4_shape[3])
