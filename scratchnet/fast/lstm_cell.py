r"""One LSTM time step's element-wise work, forward and backward: the NumPy twin of ``pyx/lstm_cell.pyx``.

The fast LSTM loop (``scratchnet/fast/recurrent.py``) does, per step, one matrix product ``h_{t-1} W_h`` and
then this: with the pre-activations :math:`a = x_t W_x + b + h_{t-1} W_h` split into four gates,

.. math::
    i, f, o = \sigma(a_i), \sigma(a_f), \sigma(a_o) \qquad g = \tanh(a_g) \\
    c_t = f \odot c_{t-1} + i \odot g \qquad h_t = o \odot \tanh(c_t)

and backward, from the gradients :math:`\delta h, \delta c` reaching step t,

.. math::
    \delta c \mathrel{+}= \delta h \odot o \odot (1 - \tanh^2 c_t) \qquad
    \delta a = [\delta c\, g,\; \delta c\, c_{t-1},\; \delta c\, i,\; \delta h \tanh c_t] \odot
        [i(1-i),\; f(1-f),\; 1-g^2,\; o(1-o)] \qquad \delta c_{t-1} = \delta c \odot f

(rows where ``mask`` is 0 are padded steps: the state passes through unchanged, and so does its gradient).
Here each line is a NumPy ufunc, one pass over the (N, 4H) or (N, H) arrays. The compiled kernel does the
whole step in one pass per row: the backward with the same operations in the same order (bit-identical),
the float32 forward with its own vectorised tanh (within ``TANH_ERROR`` of the exact value; float64 stays
here). The sigmoid is :math:`\sigma(a) = (1 + \tanh(a/2))/2`, which cannot overflow.
"""

from __future__ import annotations

import numpy as np

from scratchnet.backend import get_array_module

__all__ = ["forward_step", "backward_step", "forward_sequence", "backward_sequence", "TANH_ERROR"]

# bound on the compiled float32 tanh's absolute error against the exact value (measured 7.5e-8 on every 61st
# float32; tests/fast/test_lstm_cell.py); relative to |tanh x| it stays within 1.5e-7 (about 1.3 ulp)
TANH_ERROR = 1e-7


def sigmoid_(a: np.ndarray) -> np.ndarray:
    """In-place, overflow-free logistic sigmoid: sigma(a) = (1 + tanh(a/2)) / 2."""
    xp = get_array_module(a)
    a *= 0.5
    xp.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


def blend_(new: np.ndarray, old: np.ndarray, m: np.ndarray) -> None:
    """new <- m*new + (1-m)*old, in place: padded steps carry the old state forward unchanged."""
    new -= old
    new *= m
    new += old


def forward_step(g4, hw, c_prev, h_prev, c_new, tc, h_new, mask=None) -> None:
    """In place: g4 (N, 4H) pre-activations plus hw = h_prev W_h become the gates (i, f, g, o); c_new,
    tc = tanh(c_new) (before any padding blend) and h_new (N, H) are written. mask (N, 1) or None."""
    xp = get_array_module(g4)
    H = c_prev.shape[1]
    g4 += hw
    sigmoid_(g4[:, : 2 * H])
    xp.tanh(g4[:, 2 * H : 3 * H], out=g4[:, 2 * H : 3 * H])
    sigmoid_(g4[:, 3 * H :])
    i, f, g, o = g4[:, :H], g4[:, H : 2 * H], g4[:, 2 * H : 3 * H], g4[:, 3 * H :]
    xp.multiply(f, c_prev, out=c_new)
    xp.multiply(i, g, out=h_new)  # h_new as scratch for i*g
    c_new += h_new
    xp.tanh(c_new, out=tc)
    xp.multiply(o, tc, out=h_new)
    if mask is not None:
        blend_(c_new, c_prev, mask)
        blend_(h_new, h_prev, mask)


def backward_step(g4, tc, c_prev, dh, dc, d, mask=None, scratch=None) -> None:
    """In place: d (N, 4H) = the pre-activation gradients of the step; dc becomes the gradient reaching
    c_{t-1}; with a mask, dh keeps only the share that skips padded rows (the caller adds d W_h^T either
    way). g4 holds the gates, tc = tanh(c_t). scratch: an (N, 7H) buffer (or None: allocated here)."""
    xp = get_array_module(g4)
    n, H = dh.shape
    if scratch is None:
        scratch = xp.empty((n, 7 * H), dtype=g4.dtype)
    tmp, deriv = scratch[:, :H], scratch[:, H : 5 * H]
    i, f, g, o = g4[:, :H], g4[:, H : 2 * H], g4[:, 2 * H : 3 * H], g4[:, 3 * H :]
    if mask is not None:
        # split each gradient into the cell's share (m) and the share that skips a padded step
        gh, gc = scratch[:, 5 * H : 6 * H], scratch[:, 6 * H :]
        xp.multiply(dh, mask, out=gh)
        dh -= gh
        xp.multiply(dc, mask, out=gc)
        dc -= gc
    else:
        gh, gc = dh, dc
    d_i, d_f, d_g, d_o = d[:, :H], d[:, H : 2 * H], d[:, 2 * H : 3 * H], d[:, 3 * H :]
    xp.multiply(gh, tc, out=d_o)
    # gc <- gc + gh * o * (1 - tanh(c)^2): the gradient reaching c_t
    xp.multiply(tc, tc, out=tmp)
    xp.subtract(1, tmp, out=tmp)
    tmp *= o
    tmp *= gh
    gc += tmp
    xp.multiply(gc, g, out=d_i)
    xp.multiply(gc, c_prev, out=d_f)
    xp.multiply(gc, i, out=d_g)
    # local derivatives of all four gates at once: s - s^2 for the sigmoids, 1 - g^2 for tanh
    xp.multiply(g4, g4, out=deriv)
    dg = deriv[:, 2 * H : 3 * H]
    xp.subtract(g4, deriv, out=deriv)
    xp.multiply(g, g, out=dg)
    xp.subtract(1, dg, out=dg)
    d *= deriv
    if mask is not None:
        xp.multiply(gc, f, out=tmp)
        dc += tmp
    else:
        dc *= f  # gc is dc here


def forward_sequence(a, wh, hs, cs, tc) -> None:
    """The forward time loop without padding: for each step s, ``forward_step`` with hw = hs[s] @ wh.
    a (T, N, 4H) pre-activations (overwritten by the gates), hs, cs (T+1, N, H) with hs[0], cs[0] given,
    tc (T, N, H)."""
    hw = get_array_module(a).empty_like(a[0])
    for s in range(a.shape[0]):
        get_array_module(a).matmul(hs[s], wh, out=hw)
        forward_step(a[s], hw, cs[s], hs[s], cs[s + 1], tc[s], hs[s + 1])


def backward_sequence(act, tc, cs, dhs, dh, dc, da, wh_t) -> None:
    """The backward time loop without padding, steps T-1 .. 0: dh += dhs[s] (dhs (T, N, H) or None), then
    ``backward_step`` into da[s], then dh = da[s] @ wh_t. dh, dc (N, H) are updated in place."""
    xp = get_array_module(act)
    scratch = xp.empty((dh.shape[0], 7 * dh.shape[1]), dtype=act.dtype)
    for s in range(act.shape[0] - 1, -1, -1):
        if dhs is not None:
            dh += dhs[s]
        backward_step(act[s], tc[s], cs[s], dh, dc, da[s], None, scratch)
        xp.matmul(da[s], wh_t, out=dh)
