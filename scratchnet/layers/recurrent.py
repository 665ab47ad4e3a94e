r"""Recurrent layers: a vanilla tanh RNN, the LSTM and the GRU, with backpropagation through time by hand.

Shapes: input x (N, T, D) -> output (N, T, H), the hidden state of every step (or (N, H), the last state,
with ``return_sequences=False``). Every layer keeps its last state in ``h_last`` (and ``c_last``).

Each cell is two short methods, its equations: ``step_forward`` computes one time step from the step's
input projection :math:`a_t = x_t W_x + b` and the previous state, and ``step_backward`` turns the gradients
at the new state into the gradients of the step's pre-activations and of the previous state. Everything
around them is written once, in ``_Recurrent``:

* The input projection does not depend on the recurrence, so it is ONE matrix product over all time
  steps (time-major input (T*N, D) times ``Wx``), and so are the weight gradients after the backward
  loop: :math:`\partial L/\partial W_x = X^\top dA`, :math:`\partial L/\partial W_h = H_{prev}^\top dA_h`,
  :math:`\partial L/\partial x = dA\, W_x^\top`, with :math:`dA` the pre-activation gradients of all steps.
* The time loop, the initial and carried (stateful) state and the length masking.

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

The sigmoid is computed as :math:`\sigma(a) = (1 + \tanh(a/2))/2`, which never overflows. This file is
the reference; the time loops that run by default (``scratchnet/fast/recurrent.py``) compute the same
steps in place, in preallocated buffers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.arguments import (
    as_array,
    as_float_dtype,
    check_bool,
    check_float,
    check_rng,
    check_size,
    init_array,
)
from scratchnet.backend import get_array_module
from scratchnet.layers.base import InputSpec, Layer
from scratchnet.random import get_rng


def sigmoid(a: np.ndarray) -> np.ndarray:
    """The logistic sigmoid, overflow-free: sigma(a) = (1 + tanh(a/2)) / 2."""
    return 0.5 + 0.5 * np.tanh(0.5 * a)


class _Recurrent(Layer):
    """What the three layers share: parameters, state and lengths, the input projection, the time loop
    and the weight gradients. A cell supplies ``step_forward`` and ``step_backward``."""

    n_gates = 1
    has_cell = False
    input_spec = InputSpec("(N, T, {input_size})", ndim=3, last_dim="input_size")

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
        wx = np.concatenate(
            [init_array(name, "Wx", weight_init, (D, H), rng=rng, dtype=dt) for _ in range(G)], axis=1
        )
        wh = np.concatenate(
            [init_array(name, "Wh", recurrent_init, (H, H), rng=rng, dtype=dt) for _ in range(G)], axis=1
        )
        self.add_param("Wx", np.ascontiguousarray(wx, dtype=dt))
        self.add_param("Wh", np.ascontiguousarray(wh, dtype=dt))
        self.add_param("b", init_array(name, "b", bias_init, (G * H,), rng=rng, dtype=dt))
        self.h_last: np.ndarray | None = None
        self.c_last: np.ndarray | None = None
        self.dh0: np.ndarray | None = None
        self.dc0: np.ndarray | None = None
        self._state: tuple[np.ndarray, np.ndarray | None] | None = None
        self._cache: tuple | None = None

    def __repr__(self) -> str:
        extra = ""
        if self.stateful:
            extra += ", stateful=True"
        if not self.return_sequences:
            extra += ", return_sequences=False"
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra})"

    def reset_state(self) -> None:
        """Forgets the carried state of a stateful layer (the next call starts from zeros)."""
        self._state = None

    # -- the template: projection, time loop, gradients ------------------------------------------------
    def forward(self, x: np.ndarray, h0: Any = None, c0: Any = None, lengths: Any = None) -> np.ndarray:
        xp = get_array_module(x)
        n, t, d = x.shape
        if t == 0:
            raise ValueError(f"{self!r}: expected at least one time step, got shape {tuple(x.shape)}")
        h, c = initial_state(self, xp, n, h0, c0)
        mask = lengths_mask(self, lengths, n, t, xp)
        xt = xp.ascontiguousarray(x.transpose(1, 0, 2)).reshape(t * n, d)  # time-major rows
        gates = self.n_gates * self.hidden_size
        a = self.dispatch("forward_projection")(xt).reshape(t, n, gates)  # a_t = x_t Wx + b, all t
        hs, cs, steps = self.dispatch("forward_loop")(a, h, c, mask)
        self._cache = (xt, hs, steps, mask)
        self.h_last, self.c_last = hs[t], None if cs is None else cs[t]
        if self.stateful:
            self._state = (self.h_last.copy(), None if cs is None else self.c_last.copy())
        if not self.return_sequences:
            return self.h_last.copy()
        y = hs[1:] if mask is None else hs[1:] * mask  # padded steps output zero
        return xp.ascontiguousarray(y.transpose(1, 0, 2))

    def backward(self, dout: np.ndarray, dh_last: Any = None, dc_last: Any = None) -> np.ndarray:
        xt, hs, steps, mask = self._cache
        t, n, H = hs.shape[0] - 1, hs.shape[1], self.hidden_size
        xp = get_array_module(xt)
        dh = xp.zeros((n, H), dtype=self.dtype)
        dhs = None  # the gradient arriving at each step's output, (T, N, H)
        if self.return_sequences:
            dhs = dout.transpose(1, 0, 2) if mask is None else dout.transpose(1, 0, 2) * mask
        else:
            dh += dout
        if dh_last is not None:
            dh += check_state(self, dh_last, "dh_last", n, xp, kinds="f")
        dc = xp.zeros((n, H), dtype=self.dtype) if self.has_cell else None
        if dc_last is not None:
            if not self.has_cell:
                raise ValueError(f"{self!r}: dc_last is only for LSTM layers")
            dc += check_state(self, dc_last, "dc_last", n, xp, kinds="f")
        da, dah, self.dh0, self.dc0 = self.dispatch("backward_loop")(steps, dhs, dh, dc, mask)
        da, dah = da.reshape(t * n, self.n_gates * H), dah.reshape(t * n, self.n_gates * H)
        self.grads["Wx"], self.grads["Wh"], dx = self.dispatch("backward_products")(
            xt, hs[:-1].reshape(t * n, H), da, dah
        )
        self.grads.update(self.bias_grads(da, dah))
        dx = dx.reshape(t, n, self.input_size)
        return xp.ascontiguousarray(dx.transpose(1, 0, 2))

    def forward_projection(self, xt: np.ndarray) -> np.ndarray:
        """The input path of every step in one product: A = X W_x + b for the time-major rows X (T*N, D)."""
        return xt @ self.params["Wx"] + self.params["b"]

    def backward_products(self, xt, h_prev, da, dah) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The whole-sequence products of backward, from the time-major rows X (T*N, D), H_prev (T*N, H) and
        the pre-activation gradients dA, dA_h (T*N, G*H): dW_x = X^T dA, dW_h = H_prev^T dA_h, dX = dA W_x^T."""
        return xt.T @ da, h_prev.T @ dah, da @ self.params["Wx"].T

    def forward_loop(self, a, h, c, mask) -> tuple[np.ndarray, np.ndarray | None, Any]:
        """Runs the cell over t = 0..T-1 from state (h, c). Returns the states hs, cs (T+1, N, H), hs[0] = h,
        and what ``backward_loop`` needs. Where ``mask`` (T, N, 1) is 0 the state is carried unchanged."""
        xp = get_array_module(a)
        hs, cs, steps = [h], [c], []
        for t in range(a.shape[0]):
            h, c, step = self.step_forward(a[t], hs[-1], cs[-1])
            if mask is not None:
                h = mask[t] * h + (1 - mask[t]) * hs[-1]
                c = None if c is None else mask[t] * c + (1 - mask[t]) * cs[-1]
            hs.append(h)
            cs.append(c)
            steps.append(step)
        return xp.stack(hs), (xp.stack(cs) if self.has_cell else None), steps

    def backward_loop(self, steps, dhs, dh, dc, mask) -> tuple[np.ndarray, np.ndarray, Any, Any]:
        """Walks t = T-1..0 carrying dh (and dc). Returns the pre-activation gradients of the input path dA
        and of the recurrent path dA_h (T, N, G*H), and the gradients at the initial state. A padded step
        passes its share (1 - mask) of the gradient straight to the step before."""
        xp = get_array_module(dh)
        da, dah = [], []
        for t in reversed(range(len(steps))):
            if dhs is not None:
                dh = dh + dhs[t]
            m = 1 if mask is None else mask[t]
            da_t, dah_t, dh_prev, dc_prev = self.step_backward(
                m * dh, None if dc is None else m * dc, steps[t]
            )
            dh = dh_prev + (1 - m) * dh
            dc = None if dc is None else dc_prev + (1 - m) * dc
            da.append(da_t)
            dah.append(dah_t)
        return xp.stack(da[::-1]), xp.stack(dah[::-1]), dh, dc

    def bias_grads(self, da: np.ndarray, dah: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the biases from the (T*N, G*H) pre-activation gradients."""
        return {"b": da.sum(axis=0)}


class RNN(_Recurrent):
    r"""Vanilla (Elman) recurrent layer with a tanh cell.

    .. math::  h_t = \tanh(a_t + h_{t-1} W_h), \qquad a_t = x_t W_x + b

    Params: ``Wx`` (D, H), ``Wh`` (H, H), ``b`` (H,). Backward, with :math:`g` the gradient arriving at
    :math:`h_t`: :math:`da_t = g \odot (1 - h_t^2)`, :math:`dh_{t-1} = da_t W_h^\top`.

    Fast path (run by default, ``backend.FAST_PATHS``): ``scratchnet/fast/recurrent.py`` runs the time loops
    (``forward_loop``, ``backward_loop``); ``with scratchnet.backend.reference():`` runs this file's own code
    instead (so does calling ``forward``/``backward`` directly).
    """

    n_gates = 1

    def step_forward(self, a, h_prev, c_prev):
        h = np.tanh(a + h_prev @ self.params["Wh"])
        return h, None, h

    def step_backward(self, dh, dc, h):
        da = dh * (1 - h**2)
        return da, da, da @ self.params["Wh"].T, None


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

    Fast path (run by default, ``backend.FAST_PATHS``): ``scratchnet/fast/recurrent.py`` runs the time loops
    and the whole-sequence products; ``with scratchnet.backend.reference():`` runs this file's own code
    instead (so does calling ``forward``/``backward`` directly).
    """

    n_gates = 4
    has_cell = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        forget_bias: float = 0.0,
        *,
        stateful: bool = False,
        return_sequences: bool = True,
        weight_init: Any = "xavier",
        recurrent_init: Any = "orthogonal",
        bias_init: Any = "zeros",
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        forget_bias = check_float("LSTM", "forget_bias", forget_bias)
        super().__init__(
            input_size,
            hidden_size,
            stateful=stateful,
            return_sequences=return_sequences,
            weight_init=weight_init,
            recurrent_init=recurrent_init,
            bias_init=bias_init,
            dtype=dtype,
            rng=rng,
        )
        self.forget_bias = forget_bias
        if self.forget_bias:
            H = self.hidden_size
            self.params["b"][H : 2 * H] += self.forget_bias

    def __repr__(self) -> str:
        base = super().__repr__()
        return base if not self.forget_bias else base[:-1] + f", forget_bias={self.forget_bias})"

    def step_forward(self, a, h_prev, c_prev):
        H = self.hidden_size
        a = a + h_prev @ self.params["Wh"]
        i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H]), sigmoid(a[:, 3 * H :])
        g = np.tanh(a[:, 2 * H : 3 * H])
        c = f * c_prev + i * g
        tc = np.tanh(c)
        return o * tc, c, (i, f, g, o, c_prev, tc)

    def step_backward(self, dh, dc, step):
        i, f, g, o, c_prev, tc = step
        dc = dc + dh * o * (1 - tc**2)
        da = np.concatenate(
            [dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g**2), dh * tc * o * (1 - o)],
            axis=1,
        )
        return da, da, da @ self.params["Wh"].T, dc * f


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

    Fast path (run by default, ``backend.FAST_PATHS``): ``scratchnet/fast/recurrent.py`` runs the time loops
    (``forward_loop``, ``backward_loop``); ``with scratchnet.backend.reference():`` runs this file's own code
    instead (so does calling ``forward``/``backward`` directly).
    """

    n_gates = 3

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
        super().__init__(
            input_size,
            hidden_size,
            stateful=stateful,
            return_sequences=return_sequences,
            weight_init=weight_init,
            recurrent_init=recurrent_init,
            bias_init=bias_init,
            dtype=dtype,
            rng=rng,
        )
        rng = rng or get_rng()
        self.add_param(
            "bhn", init_array("GRU", "bhn", bias_init, (self.hidden_size,), rng=rng, dtype=self.dtype)
        )

    def step_forward(self, a, h_prev, c_prev):
        H = self.hidden_size
        ah = h_prev @ self.params["Wh"]
        r, z = sigmoid(a[:, :H] + ah[:, :H]), sigmoid(a[:, H : 2 * H] + ah[:, H : 2 * H])
        u = ah[:, 2 * H :] + self.params["bhn"]  # the recurrent part of the candidate, with its bias
        n = np.tanh(a[:, 2 * H :] + r * u)
        return (1 - z) * n + z * h_prev, None, (h_prev, r, z, n, u)

    def step_backward(self, dh, dc, step):
        h_prev, r, z, n, u = step
        dan = dh * (1 - z) * (1 - n**2)
        daz = dh * (h_prev - n) * z * (1 - z)
        dar = dan * u * r * (1 - r)
        da, dah = np.concatenate([dar, daz, dan], axis=1), np.concatenate([dar, daz, r * dan], axis=1)
        return da, dah, dh * z + dah @ self.params["Wh"].T, None

    def bias_grads(self, da: np.ndarray, dah: np.ndarray) -> dict[str, np.ndarray]:
        # b_hn enters as r * (. + b_hn): its gradient is the recurrent-path n block
        H = self.hidden_size
        return {"b": da.sum(axis=0), "bhn": dah[:, 2 * H :].sum(axis=0)}


# -- argument checks shared by the three layers ------------------------------------------------------------
def check_state(layer: _Recurrent, s: Any, which: str, n: int, xp: Any, kinds: str = "fiu") -> np.ndarray:
    """An (N, hidden_size) state (``kinds`` "fiu") or state gradient (``kinds`` "f") as a contiguous
    array of the layer's dtype."""
    s = as_array(repr(layer), which, s)
    if s.dtype.kind not in kinds:
        wanted = "a floating-point" if kinds == "f" else "a real"
        raise TypeError(f"{layer!r}: {which} must be {wanted} array, got dtype {s.dtype}")
    if tuple(s.shape) != (n, layer.hidden_size):
        raise ValueError(
            f"{layer!r}: expected {which} of shape (N, hidden_size) = {(n, layer.hidden_size)}, "
            f"got {tuple(s.shape)}"
        )
    layer._check_device(s, which)
    return xp.ascontiguousarray(s, dtype=layer.dtype)


def initial_state(
    layer: _Recurrent, xp: Any, n: int, h0: Any, c0: Any
) -> tuple[np.ndarray, np.ndarray | None]:
    """The state (h, c) a forward starts from: ``h0``/``c0`` if given, else the carried state of a stateful
    layer, else zeros."""
    if c0 is not None and not layer.has_cell:
        raise ValueError(f"{layer!r}: c0 is only for LSTM layers")
    carried = layer._state if layer.stateful else None
    if carried is not None and carried[0].shape[0] != n:
        raise ValueError(
            f"{layer!r}: the carried state has batch size {carried[0].shape[0]} but the input has "
            f"{n}; call reset_state() before changing the batch size"
        )
    if h0 is not None:
        h = check_state(layer, h0, "h0", n, xp)
    elif carried is not None:
        h = carried[0]
    else:
        h = xp.zeros((n, layer.hidden_size), dtype=layer.dtype)
    c = None
    if layer.has_cell:
        if c0 is not None:
            c = check_state(layer, c0, "c0", n, xp)
        elif carried is not None and h0 is None:
            c = carried[1]
        else:
            c = xp.zeros((n, layer.hidden_size), dtype=layer.dtype)
    return h, c


def lengths_mask(layer: _Recurrent, lengths: Any, n: int, t: int, xp: Any) -> np.ndarray | None:
    """(T, N, 1) mask with 1 where step t < lengths[n], or None when every sequence is full length."""
    if lengths is None:
        return None
    lengths = as_array(repr(layer), "lengths", lengths.get() if hasattr(lengths, "get") else lengths)
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"{layer!r}: lengths must be integers, got dtype {lengths.dtype}")
    if lengths.shape != (n,):
        raise ValueError(f"{layer!r}: expected lengths of shape (N,) = ({n},), got {lengths.shape}")
    if n and (lengths.min() < 0 or lengths.max() > t):
        raise ValueError(
            f"{layer!r}: lengths must lie in [0, T] = [0, {t}], got range [{lengths.min()}, {lengths.max()}]"
        )
    if np.all(lengths == t):
        return None
    mask = (np.arange(t)[:, None] < lengths[None, :]).astype(layer.dtype)[:, :, None]
    return xp.asarray(mask)
