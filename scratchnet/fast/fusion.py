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
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import numpy as np

from scratchnet.layers.activations import ReLU
from scratchnet.layers.conv import Conv2D

__all__ = ["sequential_forward", "rectify_output", "already_rectified"]

# [the conv layer asked to rectify its output, whether it agreed]
_request: ContextVar[list | None] = ContextVar("scratchnet_rectify_request", default=None)
# the conv output that is already rectified, on its way into the ReLU
_rectified: ContextVar[Any] = ContextVar("scratchnet_rectified_output", default=None)


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
