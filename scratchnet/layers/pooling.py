r"""Pooling layers: max, average and global average pooling over NCHW images.

Max pooling keeps the largest value of each window and remembers where it was; backward sends each
upstream gradient to that one pixel (all other pixels of the window get zero):

.. math::
    y = \max_{(i,j)\in\Omega} x_{ij},\qquad \frac{\partial L}{\partial x_{ij}} = [\,(i,j) = \arg\max\,]\;g

Average pooling divides the window sum by its size, so backward spreads :math:`g / |\Omega|` evenly.
Global average pooling is the average over the whole (H, W) plane: (N, C, H, W) -> (N, C).

The window loops are ``scratchnet/maths/pooling.py`` (its module docstring derives them): that NumPy code is
what the reference runs, and by default ``backend.kernel("pooling")`` runs its compiled twin
(``pyx/pooling.pyx``, equal bit for bit).
Like the other parameter-free layers the pools keep their input's dtype: the kernels run in float32 or
float64 (native byte order), so float16 input is pooled in float32 and the result rounded back to float16
(a max is exact either way), and big-endian input comes back in native byte order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet import backend
from scratchnet.arguments import (
    check_kernel_size,
    check_padding,
    check_pool_padding,
    normalize_stride,
    prepare_pool,
    resolve_padding,
)
from scratchnet.backend import get_array_module
from scratchnet.layers.base import InputSpec, Layer


def _kernel_dtype(dtype: np.dtype, who: str) -> np.dtype:
    """The dtype the pooling kernels run in for input of ``dtype``: float16 is widened to float32 and
    any byte order becomes native (the kernels have loops for native float32 and float64 only)."""
    dtype = np.dtype(dtype)
    if dtype.itemsize < 4:
        return np.dtype(np.float32)
    if dtype.itemsize > 8:  # widening is exact, but narrowing long double would silently lose precision
        raise TypeError(f"{who}: pooling runs in float32 or float64, got {dtype}; cast the input first")
    return dtype.newbyteorder("=")


def _result_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype a pool returns for input of ``dtype``: the input's precision in native byte order."""
    return np.dtype(dtype).newbyteorder("=")


class _Pool2D(Layer):
    input_spec = InputSpec("(N, C, H, W)", ndim=4)
    saved_for_backward = ()  # the window indices or the shape only

    def __init__(self, kernel_size: int | tuple[int, int], stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        who = type(self).__name__
        self.kernel_size = check_kernel_size(kernel_size, who)
        self.stride = self.kernel_size if stride is None else normalize_stride(stride, who)
        self.padding = check_padding(padding, who)
        if not isinstance(self.padding, str):  # 'same' is checked per input size in forward
            check_pool_padding(*self.kernel_size, self.padding, who)
        self._cache: tuple | None = None

    def _args(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._args()})"

    def _pads(self, x_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        pad = resolve_padding(self.padding, x_shape[2], x_shape[3], *self.kernel_size, self.stride)
        prepare_pool(
            x_shape, *self.kernel_size, self.stride, pad, repr(self)
        )  # clear errors before the kernel
        return pad

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        oh, ow = prepare_pool(
            input_shape, *self.kernel_size, self.stride, self._pads(input_shape), repr(self)
        )[4]
        return (input_shape[0], input_shape[1], oh, ow)


class MaxPool2D(_Pool2D):
    """Max pooling; ``stride`` defaults to ``kernel_size``; ``padding`` as Conv2D (padding never wins)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        pad = self._pads(x.shape)
        y, argmax = backend.kernel("pooling", get_array_module(x)).maxpool_forward(
            x.astype(_kernel_dtype(x.dtype, repr(self)), copy=False), *self.kernel_size, self.stride, pad
        )
        self._cache = (x.shape, x.dtype, argmax)
        return y.astype(_result_dtype(x.dtype), copy=False)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_shape, dtype, argmax = self._cache
        dout = dout.astype(_kernel_dtype(dtype, repr(self)), copy=False)
        dx = backend.kernel("pooling", get_array_module(argmax)).maxpool_backward(dout, argmax, x_shape)
        return dx.astype(_result_dtype(dtype), copy=False)


class AvgPool2D(_Pool2D):
    """Average pooling. ``count_include_pad=False`` (default) averages over the real pixels only, as
    TensorFlow's 'same' pooling; ``True`` divides by ``kh*kw`` as PyTorch's default."""

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: Any = None,
        padding: Any = 0,
        count_include_pad: bool = False,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def _args(self) -> str:
        return super()._args() + (", count_include_pad=True" if self.count_include_pad else "")

    def forward(self, x: np.ndarray) -> np.ndarray:
        pad = self._pads(x.shape)
        y = backend.kernel("pooling", get_array_module(x)).avgpool_forward(
            x.astype(_kernel_dtype(x.dtype, repr(self)), copy=False),
            *self.kernel_size,
            self.stride,
            pad,
            self.count_include_pad,
        )
        self._cache = (x.shape, x.dtype, pad)
        return y.astype(_result_dtype(x.dtype), copy=False)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_shape, dtype, pad = self._cache
        dout = dout.astype(_kernel_dtype(dtype, repr(self)), copy=False)
        dx = backend.kernel("pooling", get_array_module(dout)).avgpool_backward(
            dout, x_shape, *self.kernel_size, self.stride, pad, self.count_include_pad
        )
        return dx.astype(_result_dtype(dtype), copy=False)


class GlobalAvgPool2D(Layer):
    r"""Mean over each channel's plane: :math:`y_{nc} = \frac{1}{HW}\sum_{h,w} x_{nchw}`, (N, C, H, W) -> (N, C).

    Backward: :math:`\partial L/\partial x_{nchw} = g_{nc} / (HW)`.
    """

    input_spec = InputSpec("(N, C, H, W)", ndim=4)
    saved_for_backward = ()  # the shape only

    def __init__(self) -> None:
        super().__init__()
        self._cache: tuple | None = None

    def __repr__(self) -> str:
        return "GlobalAvgPool2D()"

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (input_shape[0], input_shape[1])

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.shape[2] < 1 or x.shape[3] < 1:  # the mean of an empty plane is NaN
            raise ValueError(f"{self!r}: expected H and W >= 1, got shape {tuple(x.shape)}")
        self._cache = (x.shape, x.dtype)
        return x.mean(axis=(2, 3))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        (n, c, h, w), dtype = self._cache
        scale = (dout.astype(dtype, copy=False) / dtype.type(h * w)).reshape(n, c, 1, 1)
        return get_array_module(dout).broadcast_to(scale, (n, c, h, w)).copy()
