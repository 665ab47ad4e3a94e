r"""Conv2D -> ReLU in one pass (tier 2): ``Sequential``'s fast forward has the convolution write
:math:`\max(0,\ \mathrm{conv}(x) + b)` straight into its output, instead of a second pass over the
largest activations of a CNN (the ReLU's read and write of the whole conv output).

The ReLU layer still runs, so its state and its backward are those of the reference: it receives the
rectified output and passes it on unchanged. That is exact, bit for bit, because

.. math::
    \max(0, \max(0, v)) = \max(0, v) \qquad [\max(0, v) > 0] = [v > 0]

so the cached "input" gives the backward the reference's mask (NaN stays NaN and gets no gradient, -0
becomes +0, as ``np.maximum(v, 0)``). Each conv path applies the maximum where it writes its output
(the direct kernel's register tiles, Winograd's output transform) or, where it has no such step (im2col,
CuPy), in place on its fresh output.

Only a ``Conv2D`` directly followed by a ``ReLU`` in the same ``Sequential`` is fused, and only those
exact classes (a subclass may change either method). ``backend.reference()`` runs the layers one by one.

Backward, a ``ReLU`` followed by a ``MaxPool2D`` whose windows do not overlap (stride >= kernel size) is one
pass too: the pooling's backward routes each gradient to its window's winner and applies the ReLU's mask
there (the ``pooling`` kernel's ``maxpool_relu_backward``), so the ReLU makes no pass over the largest
gradient of the network. With one winner per input pixel, the winner's gradient is the reference's
:math:`(0 + g)\,[x > 0]` and every other pixel :math:`0 \cdot [x > 0] = +0`, bit for bit; the ReLU still
runs its ``backprop`` (its state and guards), receives the masked gradient and passes it on unchanged.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import numpy as np

from scratchnet import backend
from scratchnet.layers.activations import ReLU
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.pooling import MaxPool2D

__all__ = [
    "already_masked",
    "already_rectified",
    "maxpool_backward",
    "rectify_output",
    "sequential_backward",
    "sequential_backward_params",
    "sequential_forward",
]

# [the conv layer asked to rectify its output, whether it agreed]
_request: ContextVar[list | None] = ContextVar("scratchnet_rectify_request", default=None)
# the conv output that is already rectified, on its way into the ReLU
_rectified: ContextVar[Any] = ContextVar("scratchnet_rectified_output", default=None)
# [the max-pool asked to apply the ReLU's mask too, that ReLU, whether it did]
_mask_request: ContextVar[list | None] = ContextVar("scratchnet_mask_request", default=None)
# the pooling's gradient that is already masked, on its way into the ReLU's backward
_masked: ContextVar[Any] = ContextVar("scratchnet_masked_gradient", default=None)


def sequential_forward(model: Any, x: np.ndarray) -> np.ndarray:
    """``Sequential.forward``: the layers in order, each Conv2D -> ReLU pair as one pass."""
    layers = model.layers
    i = 0
    while i < len(layers):
        if i + 1 < len(layers) and _fusable(layers[i], layers[i + 1]):
            x = _conv_relu(layers[i], layers[i + 1], x)
            i += 2
        else:
            x = layers[i](x)
            i += 1
    return x


def _fusable(first: Any, second: Any) -> bool:
    return type(first) is Conv2D and type(second) is ReLU


def _conv_relu(conv: Any, relu: Any, x: np.ndarray) -> np.ndarray:
    request = [conv, False]
    token = _request.set(request)
    try:
        y = conv(x)
    finally:
        _request.reset(token)
    token = _rectified.set(y if request[1] else None)
    try:
        return relu(y)
    finally:
        _rectified.reset(token)


def rectify_output(layer: Any) -> bool:
    """For a conv fast path: whether to return max(0, output) for ``layer`` (True commits it to do so)."""
    request = _request.get()
    if request is None or request[0] is not layer:
        return False
    request[1] = True
    return True


def already_rectified(x: Any) -> bool:
    """For the ReLU fast path: whether ``x`` is a conv output that is already max(0, .)."""
    return x is not None and _rectified.get() is x


def sequential_backward(model: Any, dout: np.ndarray) -> np.ndarray:
    """``Sequential.backward``: the layers in reverse order, each ReLU -> MaxPool2D pair as one pass."""
    return _backward(model, dout, params_only=False)


def sequential_backward_params(model: Any, dout: np.ndarray) -> None:
    """``Sequential.backward_params``: as ``sequential_backward``, the first layer's parameters only."""
    _backward(model, dout, params_only=True)


def _backward(model: Any, dout: np.ndarray, params_only: bool) -> np.ndarray | None:
    layers = model.layers
    i = len(layers) - 1
    while i >= 0:
        if i >= 1 and _mask_fusable(layers[i - 1], layers[i]):
            dout = _pool_relu_backward(layers[i], layers[i - 1], dout, params_only and i == 1)
            i -= 2
        else:
            dout = layers[i].backprop(dout, params_only=params_only and i == 0)
            i -= 1
    return dout


def _mask_fusable(relu: Any, pool: Any) -> bool:
    return (
        type(relu) is ReLU
        and type(pool) is MaxPool2D
        and all(s >= k for s, k in zip(pool.stride, pool.kernel_size))  # one winner per input pixel
    )


def _pool_relu_backward(pool: Any, relu: Any, dout: np.ndarray, params_only: bool) -> np.ndarray | None:
    request = [pool, relu, False]
    token = _mask_request.set(request)
    try:
        dx = pool.backprop(dout)
    finally:
        _mask_request.reset(token)
    token = _masked.set(dx if request[2] else None)
    try:
        return relu.backprop(dx, params_only=params_only)
    finally:
        _masked.reset(token)


def maxpool_backward(layer: Any, dout: np.ndarray) -> np.ndarray:
    """``MaxPool2D.backward``; asked by ``sequential_backward`` for a ReLU -> MaxPool2D pair, it also applies
    the ReLU's mask (from the ReLU's cached input) where it writes each gradient."""
    request = _mask_request.get()
    x_shape, dtype, argmax = layer._cache
    relu_x = None
    if request is not None and request[0] is layer and getattr(request[1], "_cache", None) is not None:
        relu_x = request[1]._cache[0]
    usable = (
        relu_x is not None
        and type(relu_x) is np.ndarray
        and type(dout) is np.ndarray
        and dtype in (np.float32, np.float64)
        and relu_x.dtype == dtype
        and tuple(relu_x.shape) == tuple(x_shape)
    )
    if not usable:
        return MaxPool2D.backward(layer, dout)
    dx = backend.kernel("pooling").maxpool_relu_backward(dout.astype(dtype, copy=False), argmax, relu_x)
    request[2] = True
    return dx


def already_masked(dout: Any) -> bool:
    """For the ReLU fast path: whether ``dout`` is a pooling gradient that already carries its mask."""
    return dout is not None and _masked.get() is dout
