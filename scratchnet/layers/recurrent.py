r"""Recurrent layers: a vanilla tanh RNN, the LSTM and the GRU, with backpropagation through time by hand.

Shapes: input x (N, T, D) -> output (N, T, H), the hidden state of every step (or (N, H), the last state,
with ``return_sequences=False``). Every layer keeps its last state in ``h_last`` (and ``c_last``).

How the work is split (the same for the three cells):

* The input projection does not depend on the recurrence, so it is ONE matrix product over all time
  steps: the time-major input (T*N, D) times ``Wx`` (D, G*H), plus the bias. Only ``h_{t-1} Wh`` and the
  gate nonlinearities run in the Python loop over t.
* Backward walks t = T-1 ... 0 carrying ``dh`` (and ``dc``) and stores every step's gate gradient in one
  (T, N, G*H) buffer ``dA``. Afterwards the weight gradients are again single products over all steps:
  :math:`\partial L/\partial W_x = X^\top dA`, :math:`\partial L/\partial W_h = H_{prev}^\top dA`,
  :math:`\partial L/\partial x = dA\, W_x^\top`. Only :math:`dh_{t-1} = dA_t W_h^\top` is in the loop.
* Everything is kept time-major, (T, N, ...), so each step's slice is contiguous for the matrix product.

Options shared by all three layers:

* ``forward(x, h0=None, c0=None, lengths=None)``: an initial state (zeros by default); its gradient is
  ``dh0`` (``dc0``) after ``backward``.
* ``lengths`` (N,) integers in [0, T]: sample n only runs for its first ``lengths[n]`` steps. Outputs
  past that are zero and pass no gradient; the state is carried unchanged over the padded steps, so
  ``h_last`` is each sample's state at its own last step.
* ``stateful=True``: the last state of one call is the initial state of the next (truncated BPTT: the
  gradient stops at the batch boundary); ``reset_state()`` starts again from zeros.
* ``backward(dout, dh_last=None, dc_last=None)``: an extra gradient on the last state, for encoders
  whose final state feeds something else.

The sigmoid is computed as :math:`\sigma(a) = (1 + \tanh(a/2))/2`, which never overflows.

Speed notes (measured with benchmarks/compare_rnn.py): at H=650 the matrix products are ~85% of the time,
so the loop only avoids allocations (``out=`` buffers) and hands BLAS a contiguous copy of ``Wh.T`` (a
transposed view made each step's product ~1.7x slower). The gate nonlinearities stay NumPy ufuncs:
NumPy's SIMD ``tanh`` is faster than a fused Cython loop calling scalar ``tanhf``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.backend import get_array_module
from scratchnet.layers.base import (
    Layer,
    as_array,
    as_float_dtype,
    check_bool,
    check_float,
    check_rng,
    check_size,
    init_array,
)
from scratchnet.random import get_rng


def _sigmoid_(a: np.ndarray) -> np.ndarray:
    """In-place, overflow-free logistic sigmoid: sigma(a) = (1 + tanh(a/2)) / 2."""
    xp = get_array_module(a)
    a *= 0.5
    xp.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


def orthogonal(shape: tuple[int, ...], *, rng: np.random.Generator | None = None, dtype: Any = np.float32):
    """A random (semi-)orthogonal matrix (QR of a Gaussian, signs fixed so the draw is uniform)."""
    rng = get_rng() if rng is None else rng
    rows, cols = shape
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    q = q if rows >= cols else q.T
    return q.astype(dtype)


class _Recurrent(Layer):
    """Shared machinery: parameters, input/state/lengths validation, the two big GEMMs, stateful mode."""

    n_gates = 1
    has_cell = False

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        stateful: bool = False,
        return_sequences: bool = True,
        weight_init: Any = "xavier",
        recurrent_init: Any = "orthogonal",
        bias_init: Any = "zeros",
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = check_size(name, "input_size", input_size)
        self.hidden_size = check_size(name, "hidden_size", hidden_size)
        self.stateful = check_bool(name, "stateful", stateful)
        self.return_sequences = check_bool(name, "return_sequences", return_sequences)
        dt = as_float_dtype(dtype, name)
        rng = get_rng() if check_rng(name, rng) is None else rng
        D, H, G = self.input_size, self.hidden_size, self.n_gates
        # each gate block gets its own initialisation, as if it were a separate (D, H) / (H, H) matrix
        wh_init = orthogonal if recurrent_init == "orthogonal" else recurrent_init
        wx = np.concatenate(
            [init_array(name, "Wx", weight_init, (D, H), rng=rng, dtype=dt) for _ in range(G)], axis=1
        )
        wh = np.concatenate(
            [init_array(name, "Wh", wh_init, (H, H), rng=rng, dtype=dt) for _ in range(G)], axis=1
        )
        self.add_param("Wx", np.ascontiguousarray(wx, dtype=dt))
        self.add_param("Wh", np.ascontiguousarray(wh, dtype=dt))
        self.add_param("b", init_array(name, "b", bias_init, (G * H,), rng=rng, dtype=dt))
        self.h_last: np.ndarray | None = None
        self.c_last: np.ndarray | None = None
        self.dh0: np.ndarray | None = None
        self.dc0: np.ndarray | None = None
        self._state: tuple[np.ndarray, np.ndarray | None] | None = None
        self._cache: dict[str, Any] | None = None

    def __repr__(self) -> str:
        extra = ""
        if self.stateful:
            extra += ", stateful=True"
        if not self.return_sequences:
            extra += ", return_sequences=False"
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra})"

    def __call__(self, x: np.ndarray, h0: Any = None, c0: Any = None, lengths: Any = None) -> np.ndarray:
        return self.forward(x, h0=h0, c0=c0, lengths=lengths)

    def reset_state(self) -> None:
        """Forgets the carried state of a stateful layer (the next call starts from zeros)."""
        self._state = None

    # -- validation ----------------------------------------------------------------------------------
    def _check_state(self, s: Any, which: str, n: int, xp: Any, kinds: str = "fiu") -> np.ndarray:
        """An (N, hidden_size) state (``kinds`` "fiu") or state gradient (``kinds`` "f") as a contiguous
        array of the layer's dtype."""
        s = as_array(repr(self), which, s)
        if s.dtype.kind not in kinds:
            wanted = "a floating-point" if kinds == "f" else "a real"
            raise TypeError(f"{self!r}: {which} must be {wanted} array, got dtype {s.dtype}")
        if tuple(s.shape) != (n, self.hidden_size):
            raise ValueError(
                f"{self!r}: expected {which} of shape (N, hidden_size) = {(n, self.hidden_size)}, "
                f"got {tuple(s.shape)}"
            )
        self._check_device(s, which)
        return xp.ascontiguousarray(s, dtype=self.dtype)

    def _initial_state(self, xp: Any, n: int, h0: Any, c0: Any) -> tuple[np.ndarray, np.ndarray | None]:
        if c0 is not None and not self.has_cell:
            raise ValueError(f"{self!r}: c0 is only for LSTM layers")
        carried = self._state if self.stateful else None
        if carried is not None and carried[0].shape[0] != n:
            raise ValueError(
                f"{self!r}: the carried state has batch size {carried[0].shape[0]} but the input has "
                f"{n}; call reset_state() before changing the batch size"
            )
        if h0 is not None:
            h = self._check_state(h0, "h0", n, xp)
        elif carried is not None:
            h = carried[0]
        else:
            h = xp.zeros((n, self.hidden_size), dtype=self.dtype)
        c = None
        if self.has_cell:
            if c0 is not None:
                c = self._check_state(c0, "c0", n, xp)
            elif carried is not None and h0 is None:
                c = carried[1]
            else:
                c = xp.zeros((n, self.hidden_size), dtype=self.dtype)
        return h, c

    def _check_lengths(self, lengths: Any, n: int, t: int, xp: Any) -> np.ndarray | None:
        """(T, N, 1) mask with 1 where step t < lengths[n], or None when every sequence is full length."""
        if lengths is None:
            return None
        lengths = as_array(repr(self), "lengths", lengths.get() if hasattr(lengths, "get") else lengths)
        if lengths.dtype.kind not in "iu":
            raise TypeError(f"{self!r}: lengths must be integers, got dtype {lengths.dtype}")
        if lengths.shape != (n,):
            raise ValueError(f"{self!r}: expected lengths of shape (N,) = ({n},), got {lengths.shape}")
        if n and (lengths.min() < 0 or lengths.max() > t):
            raise ValueError(
                f"{self!r}: lengths must lie in [0, T] = [0, {t}], "
                f"got range [{lengths.min()}, {lengths.max()}]"
            )
        if np.all(lengths == t):
            return None
        mask = (np.arange(t)[:, None] < lengths[None, :]).astype(self.dtype)[:, :, None]
        return xp.asarray(mask)

    # -- the template: projection, loop, gradients ----------------------------------------------------
    def forward(self, x: np.ndarray, h0: Any = None, c0: Any = None, lengths: Any = None) -> np.ndarray:
        x = self._check_input(x, ndim=3, last_dim=self.input_size, expected=f"(N, T, {self.input_size})")
        xp = get_array_module(x)
        n, t, d = x.shape
        if t == 0:
            raise ValueError(f"{self!r}: expected at least one time step, got shape {tuple(x.shape)}")
        h, c = self._initial_state(xp, n, h0, c0)
        mask = self._check_lengths(lengths, n, t, xp)
        # time-major copy of the input; one GEMM projects every step at once
        xt = xp.ascontiguousarray(x.transpose(1, 0, 2)).reshape(t * n, d)
        a = (xt @ self.params["Wx"]).reshape(t, n, self.n_gates * self.hidden_size)
        a += self.params["b"]
        hs = xp.empty((t + 1, n, self.hidden_size), dtype=self.dtype)  # hs[0] = h0, hs[s+1] = state after s
        hs[0] = h
        cache = self._loop_forward(a, hs, c, mask)
        cache.update(xt=xt, hs=hs, mask=mask, shape=x.shape)
        self._cache = cache
        self.h_last = hs[t]
        self.c_last = cache["cs"][t] if self.has_cell else None
        if self.stateful:
            self._state = (self.h_last.copy(), None if self.c_last is None else self.c_last.copy())
        if not self.return_sequences:
            return self.h_last.copy()
        out = hs[1:] if mask is None else hs[1:] * mask  # padded steps output zero
        return xp.ascontiguousarray(out.transpose(1, 0, 2))

    def backward(self, dout: np.ndarray, dh_last: Any = None, dc_last: Any = None) -> np.ndarray:
        self._require_forward(self._cache)
        cache = self._cache
        n, t, d = cache["shape"]
        H = self.hidden_size
        xp = get_array_module(cache["xt"])
        mask = cache["mask"]
        if self.return_sequences:
            dout = self._check_dout(dout, (n, t, H))
            dhs = xp.ascontiguousarray(xp.asarray(dout, dtype=self.dtype).transpose(1, 0, 2))
            if mask is not None:
                dhs *= mask
        else:
            dout = self._check_dout(dout, (n, H))
            dhs = None
        dh = xp.zeros((n, H), dtype=self.dtype)
        if not self.return_sequences:
            dh += dout
        if dh_last is not None:
            dh += self._check_state(dh_last, "dh_last", n, xp, kinds="f")
        dc = None
        if self.has_cell:
            dc = xp.zeros((n, H), dtype=self.dtype)
            if dc_last is not None:
                dc += self._check_state(dc_last, "dc_last", n, xp, kinds="f")
        elif dc_last is not None:
            raise ValueError(f"{self!r}: dc_last is only for LSTM layers")
        da, dah, dh, dc = self._loop_backward(cache, dhs, dh, dc)
        self.dh0, self.dc0 = dh, dc
        da2 = da.reshape(t * n, self.n_gates * H)
        dah2 = da2 if dah is None else dah.reshape(t * n, self.n_gates * H)
        self.grads["Wx"] = cache["xt"].T @ da2
        self.grads["Wh"] = cache["hs"][:-1].reshape(t * n, H).T @ dah2
        self.grads["b"] = da2.sum(axis=0)
        # the transposed view goes to BLAS as is: copying Wx.T first cost more than the GEMM saved
        dx = (da2 @ self.params["Wx"].T).reshape(t, n, d)
        return xp.ascontiguousarray(dx.transpose(1, 0, 2))

    def _loop_forward(self, a, hs, c, mask) -> dict[str, Any]:
        raise NotImplementedError

    def _loop_backward(self, cache, dhs, dh, dc):
        raise NotImplementedError


def _blend(new: np.ndarray, old: np.ndarray, m: np.ndarray) -> None:
    """new <- m*new + (1-m)*old, in place: padded steps carry the old state forward unchanged."""
    new -= old
    new *= m
    new += old


class RNN(_Recurrent):
    r"""Vanilla (Elman) recurrent layer with a tanh cell.

    .. math::  h_t = \tanh(x_t W_x + h_{t-1} W_h + b)

    Params: ``Wx`` (D, H), ``Wh`` (H, H), ``b`` (H,). Backward, with :math:`g_t` the gradient arriving at
    :math:`h_t` (from the output and from step t+1): :math:`da_t = g_t \odot (1 - h_t^2)`,
    :math:`dh_{t-1} = da_t W_h^\top`. Weight gradients are summed over all steps (one GEMM each).
    """

    n_gates = 1

    def _loop_forward(self, a, hs, c, mask):
        xp = get_array_module(a)
        wh = self.params["Wh"]
        tmp = xp.empty_like(hs[0])
        for s in range(a.shape[0]):
            h = a[s]  # pre-activation, overwritten by the new state's tanh (backward only needs h_t)
            xp.matmul(hs[s], wh, out=tmp)
            h += tmp
            xp.tanh(h, out=h)
            hs[s + 1] = h
            if mask is not None:
                _blend(hs[s + 1], hs[s], mask[s])
        return {"act": a}

    def _loop_backward(self, cache, dhs, dh, dc):
        xp = get_array_module(dh)
        act, mask = cache["act"], cache["mask"]
        wh_t = xp.ascontiguousarray(self.params["Wh"].T)  # contiguous: ~1.7x faster GEMMs than a .T view
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
        return da, None, dh, None


class LSTM(_Recurrent):
    r"""Long short-term memory layer (gate order i, f, g, o as in PyTorch).

    .. math::
        [a_i, a_f, a_g, a_o] &= x_t W_x + h_{t-1} W_h + b \\
        i, f, o &= \sigma(a_i), \sigma(a_f), \sigma(a_o), \quad g = \tanh(a_g) \\
        c_t &= f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t)

    Params: ``Wx`` (D, 4H), ``Wh`` (H, 4H), ``b`` (4H,) (PyTorch's ``b_ih + b_hh``; ``forget_bias`` is added
    to the f block at initialisation). Backward, with :math:`g^h_t, g^c_t` the gradients at
    :math:`h_t, c_t`: :math:`dc = g^c_t + g^h_t \odot o \odot (1 - \tanh^2 c_t)`,
    :math:`da_o = g^h_t \tanh(c_t)\, o(1-o)`, :math:`da_i = dc\, g\, i(1-i)`,
    :math:`da_f = dc\, c_{t-1} f(1-f)`, :math:`da_g = dc\, i (1-g^2)`; then
    :math:`g^c_{t-1} = dc \odot f` and :math:`g^h_{t-1} = da_t W_h^\top` (+ the output gradient at t-1).
    """

    n_gates = 4
    has_cell = True

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 0.0, **kwargs: Any) -> None:
        forget_bias = check_float("LSTM", "forget_bias", forget_bias)
        super().__init__(input_size, hidden_size, **kwargs)
        self.forget_bias = forget_bias
        if self.forget_bias:
            H = self.hidden_size
            self.params["b"][H : 2 * H] += self.forget_bias

    def __repr__(self) -> str:
        base = super().__repr__()
        return base if not self.forget_bias else base[:-1] + f", forget_bias={self.forget_bias})"

    def _loop_forward(self, a, hs, c, mask):
        xp = get_array_module(a)
        t, n, _ = a.shape
        H = self.hidden_size
        wh = self.params["Wh"]
        cs = xp.empty((t + 1, n, H), dtype=a.dtype)
        cs[0] = c
        tc = xp.empty((t, n, H), dtype=a.dtype)  # tanh(c_t) of the cell (before any padding blend)
        tmp4 = xp.empty((n, 4 * H), dtype=a.dtype)
        tmp = xp.empty((n, H), dtype=a.dtype)
        for s in range(t):
            g4 = a[s]  # pre-activations, overwritten by the gate values
            xp.matmul(hs[s], wh, out=tmp4)
            g4 += tmp4
            _sigmoid_(g4[:, : 2 * H])
            xp.tanh(g4[:, 2 * H : 3 * H], out=g4[:, 2 * H : 3 * H])
            _sigmoid_(g4[:, 3 * H :])
            i, f, g, o = g4[:, :H], g4[:, H : 2 * H], g4[:, 2 * H : 3 * H], g4[:, 3 * H :]
            c_new, h_new = cs[s + 1], hs[s + 1]
            xp.multiply(f, cs[s], out=c_new)
            xp.multiply(i, g, out=tmp)
            c_new += tmp
            xp.tanh(c_new, out=tc[s])
            xp.multiply(o, tc[s], out=h_new)
            if mask is not None:
                _blend(c_new, cs[s], mask[s])
                _blend(h_new, hs[s], mask[s])
        return {"act": a, "cs": cs, "tc": tc}

    def _loop_backward(self, cache, dhs, dh, dc):
        xp = get_array_module(dh)
        act, cs, tc, mask = cache["act"], cache["cs"], cache["tc"], cache["mask"]
        t, n, _ = act.shape
        H = self.hidden_size
        wh_t = xp.ascontiguousarray(self.params["Wh"].T)  # contiguous: ~1.7x faster GEMMs than a .T view
        da = xp.empty_like(act)
        deriv = xp.empty((n, 4 * H), dtype=act.dtype)
        tmp = xp.empty((n, H), dtype=act.dtype)
        dh_cell = xp.empty((n, H), dtype=act.dtype) if mask is not None else None
        dc_cell = xp.empty((n, H), dtype=act.dtype) if mask is not None else None
        for s in range(t - 1, -1, -1):
            if dhs is not None:
                dh += dhs[s]
            g4 = act[s]
            i, f, g, o = g4[:, :H], g4[:, H : 2 * H], g4[:, 2 * H : 3 * H], g4[:, 3 * H :]
            tcs = tc[s]
            if mask is not None:
                # split each gradient into the cell's share (m) and the share that skips a padded step
                xp.multiply(dh, mask[s], out=dh_cell)
                dh -= dh_cell
                xp.multiply(dc, mask[s], out=dc_cell)
                dc -= dc_cell
                gh, gc = dh_cell, dc_cell
            else:
                gh, gc = dh, dc
            d = da[s]
            d_i, d_f, d_g, d_o = d[:, :H], d[:, H : 2 * H], d[:, 2 * H : 3 * H], d[:, 3 * H :]
            xp.multiply(gh, tcs, out=d_o)
            # gc <- gc + gh * o * (1 - tanh(c)^2): the gradient reaching c_t
            xp.multiply(tcs, tcs, out=tmp)
            xp.subtract(1, tmp, out=tmp)
            tmp *= o
            tmp *= gh
            gc += tmp
            xp.multiply(gc, g, out=d_i)
            xp.multiply(gc, cs[s], out=d_f)
            xp.multiply(gc, i, out=d_g)
            # local derivatives of all four gates at once: s(1-s) for the sigmoids, 1-g^2 for tanh
            xp.multiply(g4, g4, out=deriv)
            dg = deriv[:, 2 * H : 3 * H]
            xp.subtract(g4, deriv, out=deriv)
            xp.multiply(g, g, out=dg)
            xp.subtract(1, dg, out=dg)
            d *= deriv
            if mask is not None:
                dc += gc * f
                dh += d @ wh_t
            else:
                dc *= f  # gc is dc here
                xp.matmul(d, wh_t, out=dh)
        return da, None, dh, dc


class GRU(_Recurrent):
    r"""Gated recurrent unit with PyTorch's equations (gate order r, z, n).

    .. math::
        r &= \sigma(x_t W_{xr} + h_{t-1} W_{hr} + b_r), \quad z = \sigma(x_t W_{xz} + h_{t-1} W_{hz} + b_z) \\
        n &= \tanh(x_t W_{xn} + b_n + r \odot (h_{t-1} W_{hn} + b_{hn})) \\
        h_t &= (1 - z) \odot n + z \odot h_{t-1}

    Params: ``Wx`` (D, 3H), ``Wh`` (H, 3H), ``b`` (3H,) and ``bhn`` (H,). The reset gate multiplies the
    recurrent part of the candidate *including its bias*, so that bias cannot be merged into ``b``:
    ``b`` holds PyTorch's ``b_ih + b_hh`` for r and z but only ``b_in`` for n, and ``bhn`` is ``b_hn``.

    Backward, with :math:`g` the gradient at :math:`h_t` and :math:`u = h_{t-1} W_{hn} + b_{hn}`:
    :math:`da_n = g (1-z)(1-n^2)`, :math:`da_z = g (h_{t-1} - n) z(1-z)`, :math:`da_r = da_n u\, r(1-r)`;
    the input path gets :math:`[da_r, da_z, da_n]`, the recurrent path :math:`[da_r, da_z, r\,da_n]`, and
    :math:`dh_{t-1} = g z + [da_r, da_z, r\,da_n] W_h^\top`.
    """

    n_gates = 3

    def __init__(self, input_size: int, hidden_size: int, **kwargs: Any) -> None:
        super().__init__(input_size, hidden_size, **kwargs)
        bias_init = kwargs.get("bias_init", "zeros")
        rng = kwargs.get("rng") or get_rng()
        self.add_param(
            "bhn", init_array("GRU", "bhn", bias_init, (self.hidden_size,), rng=rng, dtype=self.dtype)
        )

    def _loop_forward(self, a, hs, c, mask):
        xp = get_array_module(a)
        t, n, _ = a.shape
        H = self.hidden_size
        wh, bhn = self.params["Wh"], self.params["bhn"]
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
        return {"act": a, "u": u}

    def _loop_backward(self, cache, dhs, dh, dc):
        xp = get_array_module(dh)
        act, u, hs, mask = cache["act"], cache["u"], cache["hs"], cache["mask"]
        t, n, _ = act.shape
        H = self.hidden_size
        wh_t = xp.ascontiguousarray(self.params["Wh"].T)  # contiguous: ~1.7x faster GEMMs than a .T view
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
        # b_hn enters as r * (. + b_hn): its gradient is the recurrent-path n block summed over steps
        self.grads["bhn"] = dah[:, :, 2 * H :].sum(axis=(0, 1))
        return da, dah, dh, None
