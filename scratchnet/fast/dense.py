"""Dense's fast path: the reference's three products (``scratchnet/layers/dense.py``) run on the kernels'
own OpenMP threads (``pyx/batched_gemm.pyx``) instead of OpenBLAS's pool.

Why: after every NumPy matmul, OpenBLAS's threads keep spinning for about 0.2 s; in a CNN's training step
the dense layer's products would leave them spinning while the next step's convolution and pooling kernels
run, with half the cores. Where the threaded products are not available (or for an empty batch), this is
the reference's NumPy code. The products are the same BLAS calls, split into pieces: results agree with
the reference to rounding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.backend import get_array_module
from scratchnet.fast import batched_gemm as numpy_batched_gemm


def threaded_gemm(x: np.ndarray) -> Any:
    """The products' module on the kernels' own threads for ``x`` (see ``batched_gemm.threaded``), or None
    (NumPy's matmul; also for an empty batch, which the compiled products refuse)."""
    return None if x.size == 0 else numpy_batched_gemm.threaded(get_array_module(x))


def dense_forward(layer: Any, x: np.ndarray) -> np.ndarray:
    """``Dense.forward`` (x already validated by the layer base class)."""
    layer._x = x
    x2 = x.reshape(-1, layer.in_features)
    gemm = threaded_gemm(x2)
    y = x2 @ layer.params["W"] if gemm is None else gemm.matmul_split(x2, layer.params["W"])
    y += layer.params["b"]
    return y.reshape(*x.shape[:-1], layer.out_features)


def dense_backward(layer: Any, dout: np.ndarray, input_gradient: bool = True) -> np.ndarray | None:
    """``Dense.backward`` (dout already checked by the layer base class); without ``input_gradient``, the
    parameter gradients only."""
    x = layer._x
    x2 = x.reshape(-1, layer.in_features)
    g2 = dout.reshape(-1, layer.out_features)
    gemm = threaded_gemm(x2)
    if gemm is None:
        layer.grads["W"] = x2.T @ g2
        dx = g2 @ layer.params["W"].T if input_gradient else None
    else:
        layer.grads["W"] = gemm.matmul_split(x2, g2, transpose_a=True)
        dx = gemm.matmul_split(g2, layer.params["W"], transpose_b=True) if input_gradient else None
    layer.grads["b"] = g2.sum(axis=0)
    return None if dx is None else dx.reshape(x.shape)


def dense_backward_params(layer: Any, dout: np.ndarray) -> None:
    """``Dense.backward_params``: a network's first layer skips dx = dout W^T, the largest of its products
    (784 x 256 in the course MLP), which nothing upstream of the data needs."""
    dense_backward(layer, dout, input_gradient=False)
