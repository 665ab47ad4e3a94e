"""The recurrent layers' fast time loops (tier 2; the equations and the reference loops are in
``scratchnet/layers/recurrent.py``).

Each function replaces ``forward_loop`` or ``backward_loop`` of one cell type, with the same arguments and
results (the cache passed from forward to backward is this module's own). The arithmetic is the
reference's, step for step; what differs is where the numbers live:

* the gate pre-activations ``a`` (T, N, G*H) are overwritten in place by the gate values, and every
  intermediate goes into a buffer allocated once per call (``out=`` arguments), so the loop allocates
  nothing per step;
* ``dh_{t-1} = dA_t W_h^T`` uses a contiguous copy of ``Wh.T``: BLAS ran a transposed view about 1.7x
  slower at H=650 (benchmarks/compare_rnn.py).

* the LSTM's element-wise work of a step (gates, cell update, their derivatives) is one call of the
  ``lstm_cell`` kernel (``scratchnet/fast/lstm_cell.py``, compiled in ``pyx/lstm_cell.pyx``): one pass per row
  instead of a dozen NumPy passes, which were about a third of the layer's time at H=650;
* without a padding mask, the LSTM's whole time loop is one call (``forward_sequence`` /
  ``backward_sequence``: compiled, all steps in one parallel region), and its whole-sequence products
  (``forward_projection``, ``backward_products``) run on the kernels' OpenMP threads, not OpenBLAS's pool,
  whose threads would spin through the loop (LSTM N=20 T=35 H=650: 1.3x -> 1.1x PyTorch's time).

Results agree with the reference to rounding (the sigmoid derivative is formed as s - s^2 here, s(1 - s)
there; the compiled float32 forward uses its own tanh, see ``lstm_cell.TANH_ERROR``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet import backend
from scratchnet.backend import get_array_module
from scratchnet.fast.dense import threaded_gemm
from scratchnet.fast.lstm_cell import blend_ as _blend
from scratchnet.fast.lstm_cell import sigmoid_ as _sigmoid_


def _states(a: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The (T+1, N, H) state buffer with hs[0] = h."""
    hs = get_array_module(a).empty((a.shape[0] + 1, *h.shape), dtype=a.dtype)
    hs[0] = h
    return hs


def _contiguous(dhs: np.ndarray | None) -> np.ndarray | None:
    return None if dhs is None else get_array_module(dhs).ascontiguousarray(dhs)


def rnn_forward_loop(layer: Any, a, h, c, mask):
    xp = get_array_module(a)
    hs = _states(a, h)
    wh = layer.params["Wh"]
    tmp = xp.empty_like(hs[0])
    for s in range(a.shape[0]):
        h = a[s]  # pre-activation, overwritten by the new state's tanh (backward only needs h_t)
        xp.matmul(hs[s], wh, out=tmp)
        h += tmp
        xp.tanh(h, out=h)
        hs[s + 1] = h
        if mask is not None:
            _blend(hs[s + 1], hs[s], mask[s])
    return hs, None, a


def rnn_backward_loop(layer: Any, act, dhs, dh, dc, mask):
    xp = get_array_module(dh)
    dhs = _contiguous(dhs)
    wh_t = xp.ascontiguousarray(layer.params["Wh"].T)
    da = xp.empty_like(act)
    tmp = xp.empty_like(dh)
    for s in range(act.shape[0] - 1, -1, -1):
        if dhs is not None:
            dh += dhs[s]
        h = act[s]
        d = da[s]
        if mask is not None:
            xp.multiply(dh, mask[s], out=d)  # the cell's share; the rest skips the padded step
            dh -= d
        else:
            d[...] = dh
        xp.multiply(h, h, out=tmp)
        xp.subtract(1, tmp, out=tmp)
        d *= tmp
        if mask is not None:
            dh += d @ wh_t
        else:
            xp.matmul(d, wh_t, out=dh)
    return da, da, dh, None


def lstm_forward_projection(layer: Any, xt: np.ndarray) -> np.ndarray:
    """``LSTM.forward_projection`` on the kernels' OpenMP threads (pyx/batched_gemm.pyx), where the compiled
    time loops run next: a product on OpenBLAS's pool left its threads spinning through the whole loop."""
    gemm = threaded_gemm(xt)
    if gemm is None:
        return xt @ layer.params["Wx"] + layer.params["b"]
    a = gemm.matmul_split(xt, layer.params["Wx"])
    a += layer.params["b"]
    return a


def lstm_backward_products(layer: Any, xt, h_prev, da, dah):
    """``LSTM.backward_products`` on the kernels' OpenMP threads, for the same reason."""
    gemm = threaded_gemm(xt)
    if gemm is None or da.size == 0:
        return xt.T @ da, h_prev.T @ dah, da @ layer.params["Wx"].T
    return (
        gemm.matmul_split(xt, da, transpose_a=True),
        gemm.matmul_split(h_prev, dah, transpose_a=True),
        gemm.matmul_split(da, layer.params["Wx"], transpose_b=True),
    )


def lstm_forward_loop(layer: Any, a, h, c, mask):
    xp = get_array_module(a)
    t, n, _ = a.shape
    cell = backend.kernel("lstm_cell", xp)
    hs, cs = _states(a, h), _states(a, c)
    wh = layer.params["Wh"]
    tc = xp.empty(
        (t, n, layer.hidden_size), dtype=a.dtype
    )  # tanh(c_t) of the cell (before any padding blend)
    if mask is None:  # the whole loop in one call: compiled, one parallel region for all the steps
        cell.forward_sequence(a, wh, hs, cs, tc)
        return hs, cs, (a, cs, tc)
    hw = xp.empty_like(a[0])
    for s in range(t):
        xp.matmul(hs[s], wh, out=hw)
        # a[s]: pre-activations, overwritten by the gate values
        cell.forward_step(a[s], hw, cs[s], hs[s], cs[s + 1], tc[s], hs[s + 1], mask[s])
    return hs, cs, (a, cs, tc)


def lstm_backward_loop(layer: Any, cache, dhs, dh, dc, mask):
    xp = get_array_module(dh)
    act, cs, tc = cache
    dhs = _contiguous(dhs)
    t, n, _ = act.shape
    cell = backend.kernel("lstm_cell", xp)
    wh_t = xp.ascontiguousarray(layer.params["Wh"].T)
    da = xp.empty_like(act)
    if mask is None:  # the whole loop in one call: compiled, one parallel region for all the steps
        cell.backward_sequence(act, tc, cs, dhs, dh, dc, da, wh_t)
        return da, da, dh, dc
    scratch = xp.empty((n, 7 * layer.hidden_size), dtype=act.dtype)  # the twin's temporaries
    for s in range(t - 1, -1, -1):
        if dhs is not None:
            dh += dhs[s]
        cell.backward_step(act[s], tc[s], cs[s], dh, dc, da[s], None if mask is None else mask[s], scratch)
        if mask is not None:
            dh += da[s] @ wh_t  # dh kept the share that skips padded rows
        else:
            xp.matmul(da[s], wh_t, out=dh)
    return da, da, dh, dc


def gru_forward_loop(layer: Any, a, h, c, mask):
    xp = get_array_module(a)
    t, n, _ = a.shape
    H = layer.hidden_size
    hs = _states(a, h)
    wh, bhn = layer.params["Wh"], layer.params["bhn"]
    u = xp.empty((t, n, H), dtype=a.dtype)  # h_{t-1} W_hn + b_hn, needed for dr
    tmp3 = xp.empty((n, 3 * H), dtype=a.dtype)
    for s in range(t):
        g3 = a[s]
        xp.matmul(hs[s], wh, out=tmp3)
        rz = g3[:, : 2 * H]
        rz += tmp3[:, : 2 * H]
        _sigmoid_(rz)
        r, z, nn = g3[:, :H], g3[:, H : 2 * H], g3[:, 2 * H :]
        xp.add(tmp3[:, 2 * H :], bhn, out=u[s])
        xp.multiply(r, u[s], out=tmp3[:, :H])
        nn += tmp3[:, :H]
        xp.tanh(nn, out=nn)
        h_new = hs[s + 1]
        # h = n + z * (h_prev - n)
        xp.subtract(hs[s], nn, out=h_new)
        h_new *= z
        h_new += nn
        if mask is not None:
            _blend(h_new, hs[s], mask[s])
    return hs, None, (a, u, hs)


def gru_backward_loop(layer: Any, cache, dhs, dh, dc, mask):
    xp = get_array_module(dh)
    act, u, hs = cache
    dhs = _contiguous(dhs)
    t, n, _ = act.shape
    H = layer.hidden_size
    wh_t = xp.ascontiguousarray(layer.params["Wh"].T)
    da = xp.empty_like(act)  # gradient of the input-path pre-activations
    dah = xp.empty_like(act)  # ... and of the recurrent-path ones (differs in the n block)
    tmp = xp.empty((n, H), dtype=act.dtype)
    gh = xp.empty((n, H), dtype=act.dtype)
    for s in range(t - 1, -1, -1):
        if dhs is not None:
            dh += dhs[s]
        g3 = act[s]
        r, z, nn = g3[:, :H], g3[:, H : 2 * H], g3[:, 2 * H :]
        d, dr = da[s], dah[s]
        d_r, d_z, d_n = d[:, :H], d[:, H : 2 * H], d[:, 2 * H :]
        if mask is not None:
            xp.multiply(dh, mask[s], out=gh)
            dh -= gh
        else:
            gh[...] = dh
        # d_n = gh * (1 - z) * (1 - n^2)
        xp.multiply(nn, nn, out=tmp)
        xp.subtract(1, tmp, out=tmp)
        xp.multiply(gh, tmp, out=d_n)
        xp.subtract(1, z, out=tmp)
        d_n *= tmp
        # d_z = gh * (h_prev - n) * z(1-z)
        xp.subtract(hs[s], nn, out=d_z)
        d_z *= gh
        xp.multiply(z, tmp, out=tmp)
        d_z *= tmp
        # d_r = d_n * u * r(1-r)
        xp.multiply(d_n, u[s], out=d_r)
        xp.subtract(1, r, out=tmp)
        tmp *= r
        d_r *= tmp
        dr[:, : 2 * H] = d[:, : 2 * H]
        xp.multiply(d_n, r, out=dr[:, 2 * H :])
        gh *= z
        if mask is not None:
            dh += gh
            dh += dr @ wh_t
        else:
            xp.matmul(dr, wh_t, out=dh)
            dh += gh
    return da, dah, dh, None
