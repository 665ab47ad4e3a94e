"""LayerNorm's fast path: the layer's maths (``scratchnet/layers/normalization.py``) on the ``layernorm``
kernel (``pyx/layernorm.pyx``), one pass per row for the sums and one for the outputs on the kernels'
threads where the layer's NumPy code makes some ten whole-array passes on one core. The cache is the layer's
own (x_hat, inv_std), so either tier's backward can follow. Results agree with the layer's code to rounding
(row sums in another order).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet import backend
from scratchnet.backend import get_array_module


def layernorm_forward(layer: Any, x: np.ndarray) -> np.ndarray:
    """``LayerNorm.forward`` (x already validated by the layer base class)."""
    p = layer.params
    y, x_hat, inv_std = backend.kernel("layernorm", get_array_module(x)).layer_norm(
        x, p["gamma"], p["beta"], layer.eps
    )
    layer._cache = (x_hat, inv_std)
    return y


def layernorm_backward(layer: Any, dout: np.ndarray) -> np.ndarray:
    """``LayerNorm.backward`` from forward's cache (dout already checked by the base class)."""
    x_hat, inv_std = layer._cache
    dx, layer.grads["gamma"], layer.grads["beta"] = backend.kernel(
        "layernorm", get_array_module(dout)
    ).layer_norm_backward(dout, x_hat, inv_std, layer.params["gamma"])
    return dx
