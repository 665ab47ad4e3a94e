r"""2-D convolution (cross-correlation, as in every deep-learning library) via im2col and one GEMM.

Forward, with :math:`K = C k_h k_w` and :math:`P = N \cdot OH \cdot OW`:

.. math::
    \mathrm{cols} = \mathrm{im2col}(x) \in \mathbb{R}^{K \times P},\qquad
    Y = W_{(F \times K)}\,\mathrm{cols} + b \in \mathbb{R}^{F \times P} \;\to\; y\ (N, F, OH, OW)

Backward, with :math:`G` = ``dout`` rearranged to :math:`(F, P)`:

.. math::
    \frac{\partial L}{\partial W} = G\,\mathrm{cols}^\top,\qquad
    \frac{\partial L}{\partial b} = \textstyle\sum_{P} G,\qquad
    \frac{\partial L}{\partial x} = \mathrm{col2im}(W^\top G)

The batch lives in the columns of ``cols`` so each pass is a single large matrix product that BLAS runs on
all threads; the only rearrangements are the (F, N) <-> (N, F) swaps of output-sized arrays. ``cols`` is
kept in a per-layer workspace that is reused across calls (no page-faulting a fresh buffer every batch),
and backward writes ``W^T G`` into that same buffer once ``dW`` is done -- so a conv call needs about one
im2col buffer of extra memory, and each forward supports one backward.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet import backend, init
from scratchnet.backend import get_array_module
from scratchnet.layers.base import Layer, as_float_dtype
from scratchnet.ops.im2col import (
    check_image_shape,
    normalize_kernel,
    normalize_pad,
    normalize_stride,
    output_size,
    same_padding,
)


def _pair(v: Any, what: str, who: str) -> tuple[int, int]:
    if isinstance(v, int | np.integer) and not isinstance(v, bool):
        v = (v, v)
    if (
        not isinstance(v, tuple | list)
        or len(v) != 2
        or not all(isinstance(e, int | np.integer) and not isinstance(e, bool) for e in v)
        or min(v) < 1
    ):
        raise ValueError(f"{who}: {what} must be a positive int or a pair of them, got {v!r}")
    return int(v[0]), int(v[1])


def check_kernel_size(kernel_size: Any, who: str) -> tuple[int, int]:
    """``kernel_size`` (an int or a pair) as ``(kh, kw)``, each in ``[1, INDEX_LIMIT]``."""
    return normalize_kernel(*_pair(kernel_size, "kernel_size", who), who)


def check_padding(padding: Any, who: str) -> Any:
    """Validates a padding spec: 'valid', 'same', an int, (ph, pw) or (top, bottom, left, right)."""
    if isinstance(padding, str):
        if padding.lower() not in ("valid", "same"):
            raise ValueError(f"{who}: padding must be 'valid', 'same' or ints, got {padding!r}")
        return padding.lower()
    return normalize_pad(padding, who)


def resolve_padding(
    padding: Any, h: int, w: int, kh: int, kw: int, stride: tuple[int, int]
) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) for an input of size (h, w); 'same' follows TensorFlow."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        return same_padding(h, w, kh, kw, stride)
    return padding


# OpenBLAS runs a GEMM on one thread when m*n*k is below 4 * 65536. For layers with few weights (the first
# layer of an MNIST CNN: F*K = 32*25) the three products are long and thin, and OpenBLAS's threaded path
# for such shapes can stall for hundreds of milliseconds on a busy machine. There we cut the long P axis
# into pieces small enough to run serially and hand them to BLAS as one batched matmul call.
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


class Conv2D(Layer):
    r"""2-D convolution ``y[n, f] = b[f] + sum_c W[f, c] \star x[n, c]`` on NCHW images.

    Parameters ``W`` (out_channels, in_channels, kh, kw) and ``b`` (out_channels,). ``padding`` is an int,
    a pair ``(ph, pw)``, ``(top, bottom, left, right)``, ``'valid'`` (none) or ``'same'`` (TensorFlow:
    output ``ceil(n / stride)``, the odd pixel of padding at the bottom/right).
    """

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
    ) -> None:
        super().__init__()
        who = "Conv2D"
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{who}: {name} must be a positive int, got {v!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = check_kernel_size(kernel_size, who)
        self.stride = normalize_stride(stride, who)
        self.padding = check_padding(padding, who)
        self.use_bias = bool(bias)
        dt = as_float_dtype(dtype)
        kh, kw = self.kernel_size
        shape = (self.out_channels, self.in_channels, kh, kw)
        self.add_param("W", np.asarray(init.get(weight_init)(shape, rng=rng, dtype=dt), dtype=dt))
        if tuple(self.params["W"].shape) != shape:
            raise ValueError(f"{who}: weight_init returned shape {self.params['W'].shape}, expected {shape}")
        if self.use_bias:
            self.add_param("b", np.zeros(self.out_channels, dtype=dt))
        self._cache: tuple | None = None
        self._workspace: np.ndarray | None = None

    def __repr__(self) -> str:
        pad = self.padding
        extra = "" if self.use_bias else ", bias=False"
        return (
            f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={pad!r}{extra})"
        )

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """(N, out_channels, OH, OW) for an (N, C, H, W) input."""
        n, _, h, w = input_shape
        pad = resolve_padding(self.padding, h, w, *self.kernel_size, self.stride)
        oh, ow = output_size(h, w, *self.kernel_size, self.stride, pad, who=repr(self))
        return (n, self.out_channels, oh, ow)

    def _cols_buffer(self, xp: Any, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
        ws = self._workspace
        if ws is None or tuple(ws.shape) != shape or ws.dtype != dtype or get_array_module(ws) is not xp:
            ws = self._workspace = xp.empty(shape, dtype=dtype)
        return ws

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check_input(x, ndim=4, channels=self.in_channels, expected="(N, C, H, W)")
        n, c, h, w = check_image_shape(x.shape, repr(self))
        xp = get_array_module(x)
        kh, kw = self.kernel_size
        pad = resolve_padding(self.padding, h, w, kh, kw, self.stride)
        oh, ow = output_size(h, w, kh, kw, self.stride, pad, who=repr(self))
        f = self.out_channels
        cols = backend.kernel("im2col", xp).im2col(
            x, kh, kw, self.stride, pad, out=self._cols_buffer(xp, (c * kh * kw, n * oh * ow), x.dtype)
        )
        w2 = self.params["W"].reshape(f, -1)
        piece = _column_piece(xp, w2.size, cols.shape[1])
        # (F, N*OH*OW): one GEMM for the whole batch
        y_fn = _matmul_columns(xp, w2, cols, xp.empty((f, cols.shape[1]), dtype=x.dtype), piece)
        y = xp.empty((n, f, oh, ow), dtype=x.dtype)
        y_nf = y_fn.reshape(f, n, oh, ow).transpose(1, 0, 2, 3)
        if self.use_bias:  # the bias is added during the (F, N) -> (N, F) copy, not in a separate pass
            xp.add(y_nf, self.params["b"].reshape(1, f, 1, 1), out=y)
        else:
            y[...] = y_nf
        self._cache = (x.shape, pad, cols)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError(
                f"{self!r}.backward called without a matching forward (each forward allows one backward)"
            )
        x_shape, pad, cols = self._cache
        n, _, h, w = x_shape
        f = self.out_channels
        kh, kw = self.kernel_size
        oh, ow = output_size(h, w, kh, kw, self.stride, pad)
        dout = self._check_dout(dout, (n, f, oh, ow))
        xp = get_array_module(cols)
        # G^T = dout as (N*OH*OW, F): with F fastest, both GEMMs below run at full BLAS speed (a (F, P)
        # operand with a long inner dimension makes OpenBLAS far slower for dW)
        g_t = xp.empty((n, oh, ow, f), dtype=cols.dtype)
        g_t[...] = dout.transpose(0, 2, 3, 1)
        g_t = g_t.reshape(n * oh * ow, f)
        W = self.params["W"]
        if self.use_bias:
            # summed from dout itself: contiguous (pairwise) reductions, accurate for long sums
            self.grads["b"] = dout.reshape(n, f, oh * ow).sum(axis=2, dtype=cols.dtype).sum(axis=0)
        piece = _column_piece(xp, W.size, cols.shape[1])
        # (K, P) @ (P, F) is the fastest of the equivalent BLAS calls for dW here; the transpose is tiny
        if piece:
            m = cols.shape[1] // piece
            dw_t = xp.matmul(_pieces(cols, piece), g_t[: m * piece].reshape(m, piece, f)).sum(axis=0)
            if m * piece < cols.shape[1]:
                dw_t += cols[:, m * piece :] @ g_t[m * piece :]
        else:
            dw_t = cols @ g_t
        self.grads["W"] = xp.ascontiguousarray(dw_t.T).reshape(W.shape)
        # dcols = W^T G overwrites cols, which is no longer needed
        dcols = _matmul_columns(xp, W.reshape(f, -1).T, g_t.T, cols, piece)
        self._cache = None
        return backend.kernel("im2col", xp).col2im(dcols, x_shape, kh, kw, self.stride, pad)
