"""MultiHeadAttention's fast path: the reference's products (``scratchnet/layers/attention.py``) run on the
kernels' own OpenMP threads (``pyx/batched_gemm.pyx``) instead of OpenBLAS's pool, and the per-head
products as one batch of N*H small products with the transposes left to the GEMM (no transposed copies);
the softmax and its Jacobian-vector product on the ``softmax`` kernel (``pyx/softmax.pyx``: one pass per
row on the kernels' threads, a causal row only up to its query).

Why: in a transformer block, the attention's products alternate with the Dense layers' and the GELU
kernel, which run on the kernels' threads; NumPy's matmul would wake OpenBLAS's pool in between, and on a
small machine the two pools then fight for the cores (the block's training step was a quarter slower). Where the
threaded products are not available (another array library, an empty batch) the products are NumPy's
matmul (``scratchnet.fast.batched_gemm``). Results agree with the reference to rounding (the products are
the same BLAS kernels, cut into other pieces).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scratchnet import backend
from scratchnet.backend import get_array_module
from scratchnet.fast import batched_gemm as numpy_products
from scratchnet.fast.dense import threaded_gemm
from scratchnet.layers.attention import attention_mask, masked_softmax


def products(x: np.ndarray) -> Any:
    """``matmul`` (3-D stacks) and ``matmul_split`` (2-D) on the kernels' threads, or NumPy's."""
    return threaded_gemm(x) or numpy_products


def softmax_in_place(s: np.ndarray, masked: Any, causal_only: bool) -> np.ndarray:
    """``masked_softmax`` of the layer module for the scores ``s`` (T >= 1): in place on the ``softmax``
    kernel when nothing or only the future is masked, else the layer module's own function."""
    xp = get_array_module(s)
    if masked is None or causal_only:
        return backend.kernel("softmax", xp).softmax_in_place(s, masked is not None)
    s += xp.where(masked, s.dtype.type(-np.inf), s.dtype.type(0))
    return masked_softmax(s, True)


def attention_forward(layer: Any, x: np.ndarray, key_padding_mask: Any = None) -> np.ndarray:
    """``MultiHeadAttention.forward`` (x already validated by the layer base class)."""
    xp = get_array_module(x)
    n, t, D = x.shape
    H, d = layer.num_heads, layer.head_dim
    if n * t == 0:
        return type(layer).forward(layer, x, key_padding_mask=key_padding_mask)
    mm = products(x)
    masked = attention_mask(layer, key_padding_mask, n, t, xp)
    p = layer.params
    x2 = x.reshape(n * t, D)
    w_qkv = xp.concatenate([p["Wq"], p["Wk"], p["Wv"]], axis=1)
    qkv = mm.matmul_split(x2, w_qkv)
    if layer.use_bias:
        qkv[:, :D] += p["bq"]
        qkv[:, 2 * D :] += p["bv"]
    qkv = xp.ascontiguousarray(qkv.reshape(n, t, 3, H, d).transpose(2, 0, 3, 1, 4))
    q, k, v = qkv[0] * x.dtype.type(1.0 / math.sqrt(d)), qkv[1], qkv[2]
    stack = (n * H, t, d)
    s = mm.matmul(q.reshape(stack), k.reshape(stack), transpose_b=True).reshape(n, H, t, t)
    prob = softmax_in_place(s, masked, key_padding_mask is None)
    layer.attention = prob
    keep = None
    if layer.training and layer.dropout > 0:
        keep = xp.asarray(layer.rng.random(prob.shape) >= layer.dropout).astype(x.dtype)
        keep *= x.dtype.type(1.0 / (1.0 - layer.dropout))
        prob = prob * keep
    o = mm.matmul(prob.reshape(n * H, t, t), v.reshape(stack)).reshape(n, H, t, d)
    o2 = xp.ascontiguousarray(o.transpose(0, 2, 1, 3)).reshape(n * t, D)
    y = mm.matmul_split(o2, p["Wo"])
    if layer.use_bias:
        y += p["bo"]
    layer._cache = (x2, w_qkv, q, k, v, layer.attention, keep, o2)
    return y.reshape(n, t, D)


def attention_backward(layer: Any, dout: np.ndarray) -> np.ndarray:
    """``MultiHeadAttention.backward`` from forward's cache (dout already checked by the base class)."""
    x2, w_qkv, q, k, v, prob, keep, o2 = layer._cache
    xp = get_array_module(dout)
    n, H, t, d = q.shape
    D = layer.embed_dim
    if n * t == 0:
        return type(layer).backward(layer, dout)
    mm = products(dout)
    stack = (n * H, t, d)
    g2 = dout.reshape(n * t, D)
    layer.grads["Wo"] = mm.matmul_split(o2, g2, transpose_a=True)
    do = mm.matmul_split(g2, layer.params["Wo"], transpose_b=True)
    do = xp.ascontiguousarray(do.reshape(n, t, H, d).transpose(0, 2, 1, 3)).reshape(stack)
    dropped = prob if keep is None else prob * keep
    dv = mm.matmul(dropped.reshape(n * H, t, t), do, transpose_a=True)  # dV = P~^T dO
    ds = mm.matmul(do, v.reshape(stack), transpose_b=True).reshape(prob.shape)  # dP~ = dO V^T
    if keep is not None:
        ds *= keep
    backend.kernel("softmax", xp).softmax_backward_in_place(ds, prob)  # dS = P (dP - sum(dP P)) by rows
    ds = ds.reshape(n * H, t, t)
    dq = mm.matmul(ds, k.reshape(stack))
    dq *= dout.dtype.type(1.0 / math.sqrt(d))
    dk = mm.matmul(ds, q.reshape(stack), transpose_a=True)
    dqkv = xp.empty((n, t, 3, H, d), dtype=dq.dtype)
    for i, grad in enumerate((dq, dk, dv)):
        dqkv[:, :, i] = grad.reshape(n, H, t, d).transpose(0, 2, 1, 3)
    dqkv = dqkv.reshape(n * t, 3 * D)
    dw = mm.matmul_split(x2, dqkv, transpose_a=True)
    for i, name in enumerate("qkv"):
        layer.grads[f"W{name}"] = xp.ascontiguousarray(dw[:, i * D : (i + 1) * D])
    if layer.use_bias:
        db = dqkv.sum(axis=0)
        for i, name in enumerate("qkv"):
            layer.grads[f"b{name}"] = db[i * D : (i + 1) * D].copy()
        layer.grads["bk"] = xp.zeros_like(layer.params["bk"])
        layer.grads["bo"] = g2.sum(axis=0)
    return mm.matmul_split(dqkv, w_qkv, transpose_b=True).reshape(n, t, D)
