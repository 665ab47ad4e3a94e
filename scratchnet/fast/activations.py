"""ReLU's and GELU's fast paths. ReLU's: the reference's element-wise maths (``scratchnet/layers/activations.py``) as the
``relu`` kernel (``pyx/relu.pyx``), which runs on all the kernels' threads where NumPy's ufuncs use one.
A CNN's first ReLU touches its largest activations (N x 32 x 28 x 28 in the course's MNIST net), so the
single-threaded passes were about a tenth of a training step. Results are bit-identical to the reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet import backend
from scratchnet.backend import get_array_module
from scratchnet.fast.fusion import already_masked, already_rectified
from scratchnet.layers.activations import GELU


def relu_forward(layer: Any, x: np.ndarray) -> np.ndarray:
    """``ReLU.forward`` (x already validated by the layer base class). An x that the Conv2D before it
    already rectified (a fused pair, ``fast/fusion.py``) is its own output: max(0, x) = x bit for bit."""
    y = x if already_rectified(x) else backend.kernel("relu", get_array_module(x)).relu(x)
    layer._cache = (x, y)
    return y


def relu_backward(layer: Any, dout: np.ndarray) -> np.ndarray:
    """``ReLU.backward`` (dout already checked by the layer base class). A gradient the max-pool after it
    already masked (a fused pair, ``fast/fusion.py``) is its own result: dout [x > 0] is dout bit for bit."""
    if already_masked(dout):
        return dout
    x, _ = layer._cache
    return backend.kernel("relu", get_array_module(dout)).relu_backward(dout, x)


def gelu_forward(layer: Any, x: np.ndarray) -> np.ndarray:
    """``GELU.forward`` of the exact form on the ``gelu`` kernel (``pyx/gelu.pyx``: one vectorised loop on
    all the kernels' threads, where the layer's own code evaluates Cody's approximation in a dozen passes on
    one core); the tanh form and other dtypes run the layer's own code. The cache is the layer's own
    (x, Phi(x)), so either tier's backward can follow."""
    if layer.approximate != "none" or x.dtype not in (np.float32, np.float64):
        return GELU.forward(layer, x)
    y, phi = backend.kernel("gelu", get_array_module(x)).gelu(x)
    layer._cache = (x, phi)
    return y


def gelu_backward(layer: Any, dout: np.ndarray) -> np.ndarray:
    """``GELU.backward`` of the exact form on the ``gelu`` kernel, from forward's cache."""
    z, phi = layer._cache
    if layer.approximate != "none" or isinstance(phi, tuple):
        return GELU.backward(layer, dout)
    dx = backend.kernel("gelu", get_array_module(dout)).gelu_backward(dout, z, phi)
    return dx.astype(dout.dtype, copy=False)
