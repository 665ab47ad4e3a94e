"""Conv2D's fast path: the reference's three matrix products with a compiled im2col/col2im, reused buffers
and BLAS-friendly operand layouts (tier 2; the maths and the reference are in ``scratchnet/layers/conv.py``).

What differs from the reference, and why:

* ``cols`` goes into a per-layer workspace that is reused across calls (no page-faulting a fresh buffer
  every batch), and backward writes ``W^T G`` into that same buffer once ``dW`` is done: a conv call needs
  about one im2col buffer of extra memory, and each forward allows one backward.
* The bias is added while the (F, N) result is copied to (N, F) order, not in a separate pass.
* Backward takes ``G^T`` = dout as (N*OH*OW, F): with F fastest, both products run at full BLAS speed
  (a (F, P) operand with a long inner dimension makes OpenBLAS far slower for dW).
* OpenBLAS runs a product on one thread when m*n*k is below 4 * 65536. For layers with few weights (the
  first layer of an MNIST CNN: F*K = 32*25) the three products are long and thin, and OpenBLAS's threaded
  path for such shapes can stall for hundreds of milliseconds on a busy machine. There the long P axis is
  cut into pieces small enough to run serially, handed to BLAS as one batched matmul call.

The results equal the reference's to rounding: the same sums, blocked differently by BLAS.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet import backend
from scratchnet.backend import get_array_module
from scratchnet.fast import batched_gemm as numpy_batched_gemm
from scratchnet.fast import direct_conv as direct_conv_twin
from scratchnet.fast.fusion import rectify_output
from scratchnet.fast.winograd import WinogradConv

# F(m x m, r x r) per kernel size: 4x4 output tiles (alpha = 6 for 3x3, 8 for 5x5), whose float32 error
# stays near 1e-5 of the largest output on the course's layers (tests/fast/test_winograd.py). Its rounding is
# relative to the largest value of each tile, so "auto" checks every call (WinogradConv.certify and
# certify_backward, scratchnet/fast/winograd.py "Accuracy") and runs that forward or backward by im2col when
# an output or input gradient could be off by more than 1e-4 of its own sum of |w| |x|
WINOGRAD_TILES = {3: 4, 5: 4}
# "auto" runs stride-1 3x3 and 5x5 layers with at least this many channels in and out by Winograd (when the
# check above certifies the call), where it measured faster than im2col in settled blocks (2 cores, float32,
# forward + backward: conv 32->64 5x5 31 vs 67 ms, 64->128 3x3 83 vs 168 ms; a one-channel first layer stays
# faster by im2col). It needs the batched
# products on the kernels' own threads (pyx/batched_gemm.pyx): with NumPy's matmul, OpenBLAS's threads kept
# spinning after every product and halved the cores left to the transforms, and Winograd lost everywhere.
AUTO_WINOGRAD_CHANNELS = 32
# ... and layers with at most this many input channels (an image's first layer) by the direct kernel, when
# compiled: it skips im2col's copy of every pixel kh*kw times and the long, thin products. Measured in
# settled blocks (2 cores, float32, 'same' padding, forward + backward_params as a training step runs a
# first layer / forward + backward with dx): 1->32 3x3 N=100 28x28 4.4 / 5.7 ms vs im2col 12.3 / 15.3,
# 1->32 5x5 N=64 3.3 / 4.8 vs 8.5 / 8.7, 3->32 3x3 N=100 32x32 7.4 / 10.3 vs 29.3 / 34.7, 3->32 5x5 N=64
# 9.7 / 14.3 vs 23.7 / 31.1. It wins up to 8-16 channels on wide images, but loses on small ones (LeNet's
# 6->16 5x5 on 14x14: 4.3 vs 2.9 ms, a 32-column tile holding 10 columns) and to Winograd from 16 channels
# on, so the rule stays at an image's channels.
AUTO_DIRECT_CHANNELS = 3

_SERIAL_GEMM_MNK = 262_144


def _column_piece(xp: Any, weights: int, total: int) -> int:
    """Width of the P-axis pieces for a layer with ``weights`` = F*K, or 0 for one big GEMM.

    Only host arrays are cut: the stall is OpenBLAS's, and a GPU wants the one big product."""
    if xp is not np:
        return 0
    c = _SERIAL_GEMM_MNK // weights
    return c if c >= 64 and total >= 2 * c else 0


def _pieces(a: np.ndarray, c: int) -> np.ndarray:
    """View of the first ``(P // c) * c`` columns of ``a`` (R, P) as a stack (P // c, R, c)."""
    m = a.shape[1] // c
    return a[:, : m * c].reshape(a.shape[0], m, c).transpose(1, 0, 2)


def _matmul_columns(xp, a: np.ndarray, b: np.ndarray, out: np.ndarray, c: int) -> np.ndarray:
    """``out = a @ b`` for a long (K, P) ``b``, computed in column pieces of width ``c`` (0: at once)."""
    if not c:
        return xp.matmul(a, b, out=out)
    xp.matmul(a, _pieces(b, c), out=_pieces(out, c))
    tail = (b.shape[1] // c) * c
    if tail < b.shape[1]:
        out[:, tail:] = a @ b[:, tail:]
    return out


def _cols_buffer(layer: Any, xp: Any, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """The layer's reusable im2col workspace, (re)allocated when shape, dtype or device change."""
    ws = getattr(layer, "_workspace", None)
    if ws is None or tuple(ws.shape) != shape or ws.dtype != dtype or get_array_module(ws) is not xp:
        ws = layer._workspace = xp.empty(shape, dtype=dtype)
    return ws


def _direct_forward(layer: Any, x: np.ndarray, relu: bool) -> np.ndarray:
    pad = layer.pad_for(*x.shape[2:])
    kernels = backend.kernel("direct_conv", get_array_module(x))
    y = kernels.conv_forward(x, layer.params["W"], layer.params.get("b"), layer.stride, pad, relu)
    layer._cache = (x.shape, pad, DirectInput(x))
    return y


def _direct_backward(layer: Any, dout: np.ndarray, input_grad: bool) -> np.ndarray | None:
    x_shape, pad, state = layer._cache
    kernels = backend.kernel("direct_conv", get_array_module(dout))
    W = layer.params["W"]
    if layer.use_bias:
        layer.grads["W"], layer.grads["b"] = kernels.conv_backward_params(
            state.x, dout, W.shape[2:], layer.stride, pad
        )
    else:
        layer.grads["W"] = kernels.conv_backward_weights(state.x, dout, W.shape[2:], layer.stride, pad)
    layer._cache = None
    return kernels.conv_backward_input(dout, W, x_shape, layer.stride, pad) if input_grad else None


class DirectInput:
    """What the direct path keeps for backward: the input itself (no im2col matrix)."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x


def uses_direct(layer: Any, xp: Any) -> bool:
    """Whether the fast path runs ``layer`` by the direct kernel (``layer.algorithm``, or the "auto" rule)."""
    if layer.algorithm != "auto":
        return layer.algorithm == "direct"
    return (
        xp is np
        and layer.in_channels <= AUTO_DIRECT_CHANNELS
        and backend.kernel("direct_conv") is not direct_conv_twin
    )


def uses_winograd(layer: Any, xp: Any) -> bool:
    """Whether the fast path runs ``layer`` by Winograd (``layer.algorithm``, or the "auto" rule above)."""
    if layer.algorithm != "auto":
        return layer.algorithm == "winograd"
    kh, kw = layer.kernel_size
    return (
        xp is np
        and layer.stride == (1, 1)
        and kh == kw
        and kh in WINOGRAD_TILES
        and min(layer.in_channels, layer.out_channels) >= AUTO_WINOGRAD_CHANNELS
        and backend.kernel("batched_gemm").available()
    )


def _winograd_forward(layer: Any, x: np.ndarray, relu: bool) -> np.ndarray | None:
    """The forward by Winograd; None when "auto" finds this x beyond Winograd's accuracy (run im2col)."""
    r = layer.kernel_size[0]
    conv = getattr(layer, "_winograd", None)
    if conv is None or conv.r != r:
        conv = layer._winograd = WinogradConv(WINOGRAD_TILES[r], r)
    pad = layer.pad_for(*x.shape[2:])
    W, b = layer.params["W"], layer.params.get("b")
    if layer.algorithm == "auto" and not conv.certify(x, W, b, pad):
        return None
    y = conv.forward(x, W, b, pad, relu)
    layer._cache = (x.shape, pad, conv)
    return y


def _im2col(layer: Any, x: np.ndarray, pad: tuple[int, int, int, int]) -> np.ndarray:
    """im2col of x into the layer's reusable workspace."""
    xp = get_array_module(x)
    n, _, oh, ow = layer.output_shape(x.shape)
    kh, kw = layer.kernel_size
    workspace = _cols_buffer(layer, xp, (x.shape[1] * kh * kw, n * oh * ow), x.dtype)
    return backend.kernel("im2col", xp).im2col(x, kh, kw, layer.stride, pad, out=workspace)


def conv2d_forward(layer: Any, x: np.ndarray) -> np.ndarray:
    """``Conv2D.forward`` (x already validated by the layer base class); max(0, y) when it is the first of a
    fused Conv2D -> ReLU pair (``fast/fusion.py``)."""
    xp = get_array_module(x)
    layer.output_shape(x.shape)  # the layer's own checks of the image and geometry, naming it
    relu = rectify_output(layer)
    if uses_direct(layer, xp):
        return _direct_forward(layer, x, relu)
    if uses_winograd(layer, xp):
        y = _winograd_forward(layer, x, relu)
        if y is not None:
            return y
    n, f, oh, ow = layer.output_shape(x.shape)
    pad = layer.pad_for(*x.shape[2:])
    cols = _im2col(layer, x, pad)
    w2 = layer.params["W"].reshape(f, -1)
    gemm = numpy_batched_gemm.threaded(xp)
    if gemm is not None:
        y_fn = gemm.matmul_split(w2, cols, out=xp.empty((f, cols.shape[1]), dtype=x.dtype))
    else:
        piece = _column_piece(xp, w2.size, cols.shape[1])
        y_fn = _matmul_columns(xp, w2, cols, xp.empty((f, cols.shape[1]), dtype=x.dtype), piece)
    y = xp.empty((n, f, oh, ow), dtype=x.dtype)
    y_nf = y_fn.reshape(f, n, oh, ow).transpose(1, 0, 2, 3)
    if layer.use_bias:
        xp.add(y_nf, layer.params["b"].reshape(1, f, 1, 1), out=y)
    else:
        y[...] = y_nf
    if relu:
        backend.kernel("relu", xp).relu_in_place(y)
    layer._cache = (x.shape, pad, cols)
    return y


def _numpy_gemms_backward(
    layer: Any, xp: Any, cols: np.ndarray, g_t: np.ndarray, input_grad: bool
) -> np.ndarray | None:
    """dW (into ``layer.grads``) and, when ``input_grad``, dcols = W^T G (into ``cols``) with NumPy's matmul."""
    W = layer.params["W"]
    f = W.shape[0]
    piece = _column_piece(xp, W.size, cols.shape[1])
    # (K, P) @ (P, F) is the fastest of the equivalent BLAS calls for dW here; the transpose is tiny
    if piece:
        m = cols.shape[1] // piece
        dw_t = xp.matmul(_pieces(cols, piece), g_t[: m * piece].reshape(m, piece, f)).sum(axis=0)
        if m * piece < cols.shape[1]:
            dw_t += cols[:, m * piece :] @ g_t[m * piece :]
    else:
        dw_t = cols @ g_t
    layer.grads["W"] = xp.ascontiguousarray(dw_t.T).reshape(W.shape)
    if not input_grad:
        return None
    # dcols = W^T G overwrites cols, which is no longer needed
    return _matmul_columns(xp, W.reshape(f, -1).T, g_t.T, cols, piece)


def conv2d_backward(layer: Any, dout: np.ndarray) -> np.ndarray:
    """``Conv2D.backward`` (dout already checked by the layer base class)."""
    return _backward(layer, dout, input_grad=True)


def conv2d_backward_params(layer: Any, dout: np.ndarray) -> None:
    """``Conv2D.backward_params``: dW and db only, skipping the work that only dx needs (the ``W^T G``
    product and col2im, or Winograd's dV product and input adjoint, or the direct kernel's dx pass)."""
    _backward(layer, dout, input_grad=False)


def _backward(layer: Any, dout: np.ndarray, input_grad: bool) -> np.ndarray | None:
    if layer._cache is None:
        raise RuntimeError(
            f"{layer!r}.backward called without a matching forward (each forward allows one backward)"
        )
    x_shape, pad, cols = layer._cache
    if isinstance(cols, DirectInput):
        return _direct_backward(layer, dout, input_grad)
    if isinstance(cols, WinogradConv):
        if layer.algorithm != "auto" or cols.certify_backward(dout, input_grad):
            dx, layer.grads["W"], db = cols.backward(dout, input_grad)
            if layer.use_bias:
                layer.grads["b"] = db
            layer._cache = None
            return dx
        # "auto", and this dout is beyond Winograd's accuracy: im2col's backward, from the forward's input
        cols = _im2col(layer, cols.release(), pad)
    n, f, oh, ow = dout.shape
    kh, kw = layer.kernel_size
    xp = get_array_module(cols)
    g_t = xp.empty((n, oh, ow, f), dtype=cols.dtype)
    g_t[...] = dout.transpose(0, 2, 3, 1)
    g_t = g_t.reshape(n * oh * ow, f)
    W = layer.params["W"]
    if layer.use_bias:
        # summed from dout itself: contiguous (pairwise) reductions, accurate for long sums
        layer.grads["b"] = dout.reshape(n, f, oh * ow).sum(axis=2, dtype=cols.dtype).sum(axis=0)
    gemm = numpy_batched_gemm.threaded(xp)
    layer._cache = None
    if gemm is not None:
        dw_t = gemm.matmul_split(cols, g_t)
        layer.grads["W"] = xp.ascontiguousarray(dw_t.T).reshape(W.shape)
        if not input_grad:
            return None
        dcols = gemm.matmul_split(W.reshape(f, -1), g_t, out=cols, transpose_a=True, transpose_b=True)
    else:
        dcols = _numpy_gemms_backward(layer, xp, cols, g_t, input_grad)
        if dcols is None:
            return None
    return backend.kernel("im2col", xp).col2im(dcols, x_shape, kh, kw, layer.stride, pad)
