r"""Autoencoders: networks trained to reproduce their input through a narrow code.

An encoder maps :math:`x \in \mathbb{R}^D` to a code :math:`z = f(x)` and a decoder maps it back,
:math:`\hat x = g(z)`; training minimises a reconstruction loss between :math:`\hat x` and :math:`x`
(``MeanSquaredError`` as in the course lab, or ``BinaryCrossEntropy`` for [0, 1] pixels with a sigmoid
output). The models here are ordinary layers: ``forward(x) = x̂``, ``backward(dx̂) -> dx``, parameters
and gradients through ``children()``, so ``Trainer(model, loss, opt).fit(x, x, ...)`` trains them.

* ``Autoencoder``: untied Dense layers (the course's 784-256-128-256-784 sigmoid network).
* ``TiedAutoencoder``: each decoder layer reuses its encoder layer's weights transposed.
* ``DenoisingAutoencoder``: corrupts the input during training only (``Corruption``) and is still scored
  against the clean input, so it must learn to undo the noise.

``encode``/``decode``/``reconstruct`` reuse the layers' forward passes and so overwrite what ``forward``
cached: call ``backward`` straight after the ``forward`` it belongs to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from scratchnet.arguments import as_float_dtype, check_float, check_rng, check_sizes, init_array
from scratchnet.backend import get_array_module
from scratchnet.layers.activations import make_activation
from scratchnet.layers.base import InputSpec, Layer
from scratchnet.layers.dense import Dense
from scratchnet.random import get_rng, spawn_rng


def _check_sizes(owner: str, sizes: Sequence[int]) -> list[int]:
    sizes = check_sizes(owner, "layer sizes", sizes)
    if len(sizes) < 2:
        raise ValueError(f"{owner}: layer sizes need at least an input and a code size, got {sizes}")
    return sizes


def _check_corruption(owner: str, corruption: str | None, corruption_level: Any) -> None:
    """A corruption level without a corruption kind would be ignored silently: refuse it instead."""
    if corruption is None and corruption_level != 0:
        raise ValueError(
            f"{owner}: corruption_level={corruption_level!r} needs a corruption kind "
            f"(corruption='mask' or 'gaussian'), got corruption=None"
        )


def _spec_name(spec: Any) -> str:
    if spec is None or isinstance(spec, str):
        return repr(spec)
    return getattr(spec, "__name__", type(spec).__name__)


class Corruption(Layer):
    r"""Input corruption for denoising autoencoders; the identity in evaluation mode.

    ``kind="mask"`` (masking noise): :math:`\tilde x = x \odot m`, :math:`m_i \sim \mathrm{Bernoulli}(1 -
    \text{level})`, so a fraction ``level`` of the inputs is set to 0 (no rescaling, unlike dropout: the
    network has to fill the holes in); :math:`dx = g \odot m`.
    ``kind="gaussian"``: :math:`\tilde x = x + \text{level}\cdot\epsilon`, :math:`\epsilon \sim N(0, 1)`;
    :math:`dx = g`. Draws come from the layer's own generator ``self.rng``.
    """

    KINDS = ("mask", "gaussian")
    input_spec = InputSpec("(N, ...)", min_ndim=1)
    saved_for_backward = ()  # the mask only

    def __init__(
        self, kind: str = "mask", level: float = 0.3, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"Corruption: kind must be one of {self.KINDS}, got {kind!r}")
        if kind == "mask":
            level = check_float(
                "Corruption", "level", level, low=0.0, high=1.0, high_inclusive=False, what="fraction zeroed"
            )
        else:
            level = check_float("Corruption", "level", level, low=0.0, what="noise std")
        self.kind, self.level = kind, level
        self.rng = spawn_rng() if check_rng("Corruption", rng) is None else rng
        self._mask: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"Corruption(kind={self.kind!r}, level={self.level})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._mask = None
        if not self.training or self.level == 0.0:
            return x
        xp = get_array_module(x)
        if self.kind == "mask":
            self._mask = xp.asarray(self.rng.random(x.shape) >= self.level).astype(x.dtype)
            return x * self._mask
        return x + xp.asarray(self.level * self.rng.standard_normal(x.shape)).astype(x.dtype)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout if self._mask is None else dout * self._mask


class Autoencoder(Layer):
    r"""Untied autoencoder built from Dense layers.

    ``encoder_sizes=[D, h_1, ..., h_L]`` gives the encoder :math:`a_{i+1} = f(a_i W_i + b_i)` down to the
    code :math:`z = a_L`; ``decoder_sizes`` (default: the reverse, ``[h_L, ..., h_1, D]``) gives the decoder
    with its own weights, ``output_activation`` on the last layer. Hidden layers use ``activation``; the
    code layer uses ``code_activation`` (default: ``activation``; "linear" suits a 2-D code for plots).

    Shapes: x (N, D) -> x̂ (N, D); code (N, h_L). Backward runs the Dense/activation backwards in reverse
    (each derived in its own layer), so dW of every layer is :math:`a_i^\top \delta_i`.
    The course lab: ``Autoencoder([784, 256, 128], weight_init=init.get("normal", std=1.0),
    bias_init=init.get("normal", std=1.0))``, MSE, Adam(lr=0.01), 20 epochs, batch 256.
    """

    input_spec = InputSpec("(N, {input_size}) inputs", ndim=2, last_dim="input_size")
    #: what ``decode`` accepts
    code_spec = InputSpec("(N, {code_size}) codes", ndim=2, last_dim="code_size")

    def __init__(
        self,
        encoder_sizes: Sequence[int] = (784, 256, 128),
        decoder_sizes: Sequence[int] | None = None,
        activation: Any = "sigmoid",
        output_activation: Any = "sigmoid",
        code_activation: Any = "same",
        weight_init: Any = "xavier",
        bias_init: Any = "zeros",
        corruption: str | None = None,
        corruption_level: float = 0.0,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        _check_corruption(name, corruption, corruption_level)
        enc = _check_sizes(name, encoder_sizes)
        dec = _check_sizes(name, list(reversed(enc)) if decoder_sizes is None else decoder_sizes)
        if dec[0] != enc[-1] or dec[-1] != enc[0]:
            raise ValueError(
                f"{name}: decoder_sizes must run from the code size {enc[-1]} back to the input "
                f"size {enc[0]}, got {dec}"
            )
        self.encoder_sizes, self.decoder_sizes = enc, dec
        self._config = (activation, output_activation, code_activation, corruption, corruption_level)
        dt = as_float_dtype(dtype, name)
        rng = get_rng() if check_rng(name, rng) is None else rng
        code_act = activation if code_activation == "same" else code_activation
        self.encoder: list[Layer] = []
        for i, (n_in, n_out) in enumerate(zip(enc[:-1], enc[1:])):
            last = i == len(enc) - 2
            self.encoder += self._pair(
                f"enc{i}", n_in, n_out, code_act if last else activation, weight_init, bias_init, dt, rng
            )
        self.decoder: list[Layer] = []
        for i, (n_in, n_out) in enumerate(zip(dec[:-1], dec[1:])):
            last = i == len(dec) - 2
            self.decoder += self._pair(
                f"dec{i}",
                n_in,
                n_out,
                output_activation if last else activation,
                weight_init,
                bias_init,
                dt,
                rng,
            )
        self.corrupt: Corruption | None = None
        if corruption is not None:
            self.corrupt = Corruption(corruption, corruption_level)
            self.corrupt.name = "corrupt"

    @staticmethod
    def _pair(name, n_in, n_out, act, weight_init, bias_init, dt, rng) -> list[Layer]:
        dense = Dense(n_in, n_out, weight_init=weight_init, bias_init=bias_init, dtype=dt, rng=rng)
        dense.name = name
        act_layer = make_activation(act)
        act_layer.name = f"{name}_act"
        return [dense, act_layer]

    def children(self) -> list[Layer]:
        return ([self.corrupt] if self.corrupt is not None else []) + self.encoder + self.decoder

    def __repr__(self) -> str:
        act, out, code, corruption, level = self._config
        extra = f", corruption={corruption!r}, corruption_level={level}" if corruption else ""
        code_txt = "" if code == "same" else f", code_activation={_spec_name(code)}"
        return (
            f"{type(self).__name__}(encoder_sizes={self.encoder_sizes}, decoder_sizes={self.decoder_sizes}, "
            f"activation={_spec_name(act)}, output_activation={_spec_name(out)}{code_txt}{extra})"
        )

    @property
    def code_size(self) -> int:
        return self.encoder_sizes[-1]

    @property
    def input_size(self) -> int:
        return self.encoder_sizes[0]

    @staticmethod
    def _run(layers: list[Layer], x: np.ndarray) -> np.ndarray:
        for layer in layers:
            x = layer(x)
        return x

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.corrupt is not None:
            x = self.corrupt(x)
        return self._run(self.decoder, self._run(self.encoder, x))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self.encoder + self.decoder):
            dout = layer.backprop(dout)
        return dout if self.corrupt is None else self.corrupt.backprop(dout)

    def encode(self, x: Any) -> np.ndarray:
        """The code of clean (uncorrupted) inputs, (N, code_size)."""
        return self._run(self.encoder, self.input_spec.check(self, x))

    transform = encode

    def decode(self, z: Any) -> np.ndarray:
        """Reconstructions from codes (N, code_size) -> (N, D)."""
        return self._run(self.decoder, self.code_spec.check(self, z))

    def reconstruct(self, x: Any) -> np.ndarray:
        """decode(encode(x)): no corruption, whatever the mode."""
        return self.decode(self.encode(x))


class DenoisingAutoencoder(Autoencoder):
    """An ``Autoencoder`` that corrupts its input in training mode (default: 30% masking noise).

    Train it with the clean input as the target: ``Trainer(dae, loss, opt).fit(x, x, ...)``. For tied
    weights use ``TiedAutoencoder(..., corruption="mask", corruption_level=0.3)``.
    """

    def __init__(
        self,
        encoder_sizes: Sequence[int] = (784, 256, 128),
        decoder_sizes: Sequence[int] | None = None,
        corruption: str = "mask",
        corruption_level: float = 0.3,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            encoder_sizes, decoder_sizes, corruption=corruption, corruption_level=corruption_level, **kwargs
        )


class TiedAutoencoder(Layer):
    r"""Autoencoder whose decoder reuses the encoder weights transposed.

    Params for sizes ``[d_0, ..., d_L]``: ``W{i}`` (d_i, d_{i+1}), encoder biases ``b{i}`` (d_{i+1},),
    decoder biases ``c{i}`` (d_i,). Forward:

    .. math::

        a_0 = \tilde x,\quad a_{i+1} = f(a_i W_i + b_i)\ (i = 0..L-1);\qquad
        g_L = a_L,\quad g_i = f_i'(g_{i+1} W_i^\top + c_i)\ (i = L-1..0),\quad \hat x = g_0

    (``f_0'`` is the output activation). Backward: with :math:`\delta'_i = \partial L/\partial(g_{i+1}W_i^\top
    + c_i)` from the decoder and :math:`\delta_i = \partial L/\partial(a_i W_i + b_i)` from the encoder, W_i
    is used twice, so its gradient is the sum of both uses:

    .. math::

        \frac{\partial L}{\partial W_i} = a_i^\top \delta_i + (\delta_i')^\top g_{i+1},\qquad
        \frac{\partial L}{\partial b_i} = \textstyle\sum_n \delta_i,\qquad
        \frac{\partial L}{\partial c_i} = \textstyle\sum_n \delta'_i

    (the decoder term is :math:`(g_{i+1}^\top \delta'_i)^\top`, the gradient with respect to
    :math:`W_i^\top` transposed back). Half the weights of the untied model; a common regulariser.
    """

    input_spec = InputSpec("(N, {input_size}) inputs", ndim=2, last_dim="input_size")
    #: what ``decode`` accepts
    code_spec = InputSpec("(N, {code_size}) codes", ndim=2, last_dim="code_size")

    def __init__(
        self,
        sizes: Sequence[int] = (784, 256, 128),
        activation: Any = "sigmoid",
        output_activation: Any = "sigmoid",
        code_activation: Any = "same",
        weight_init: Any = "xavier",
        corruption: str | None = None,
        corruption_level: float = 0.0,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        _check_corruption("TiedAutoencoder", corruption, corruption_level)
        self.sizes = _check_sizes("TiedAutoencoder", sizes)
        self._config = (activation, output_activation, code_activation, corruption, corruption_level)
        dt = as_float_dtype(dtype, "TiedAutoencoder")
        rng = get_rng() if check_rng("TiedAutoencoder", rng) is None else rng
        n = len(self.sizes) - 1
        for i in range(n):
            d_in, d_out = self.sizes[i], self.sizes[i + 1]
            self.add_param(
                f"W{i}", init_array("TiedAutoencoder", f"W{i}", weight_init, (d_in, d_out), rng=rng, dtype=dt)
            )
            self.add_param(f"b{i}", np.zeros(d_out, dtype=dt))
            self.add_param(f"c{i}", np.zeros(d_in, dtype=dt))
        code_act = activation if code_activation == "same" else code_activation
        self._enc_acts = [make_activation(code_act if i == n - 1 else activation) for i in range(n)]
        self._dec_acts = [make_activation(output_activation if i == 0 else activation) for i in range(n)]
        self.corrupt: Corruption | None = None
        if corruption is not None:
            self.corrupt = Corruption(corruption, corruption_level)
            self.corrupt.name = "corrupt"
        self._enc_in: list[np.ndarray] | None = None
        self._dec_in: list[np.ndarray | None] | None = None

    def children(self) -> list[Layer]:
        return [self.corrupt] if self.corrupt is not None else []

    def __repr__(self) -> str:
        act, out, code, corruption, level = self._config
        extra = f", corruption={corruption!r}, corruption_level={level}" if corruption else ""
        code_txt = "" if code == "same" else f", code_activation={_spec_name(code)}"
        return (
            f"TiedAutoencoder(sizes={self.sizes}, activation={_spec_name(act)}, "
            f"output_activation={_spec_name(out)}{code_txt}{extra})"
        )

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def input_size(self) -> int:
        return self.sizes[0]

    @property
    def code_size(self) -> int:
        return self.sizes[-1]

    def _encode(self, a: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        inputs = []
        for i in range(self.n_layers):
            inputs.append(a)
            a = self._enc_acts[i](a @ self.params[f"W{i}"] + self.params[f"b{i}"])
        return a, inputs

    def _decode(self, g: np.ndarray) -> tuple[np.ndarray, list[np.ndarray | None]]:
        inputs: list[np.ndarray | None] = [None] * self.n_layers
        for i in reversed(range(self.n_layers)):
            inputs[i] = g
            g = self._dec_acts[i](g @ self.params[f"W{i}"].T + self.params[f"c{i}"])
        return g, inputs

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.corrupt is not None:
            x = self.corrupt(x)
        code, self._enc_in = self._encode(x)
        out, self._dec_in = self._decode(code)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        enc_in, dec_in = self._enc_in, self._dec_in
        grad_w = {}
        d = dout
        for i in range(self.n_layers):  # decoder layers, output side first
            dz = self._dec_acts[i].backprop(d)
            self.grads[f"c{i}"] = dz.sum(axis=0)
            grad_w[i] = dz.T @ dec_in[i]  # the use of W_i^T, transposed back to W_i's shape
            d = dz @ self.params[f"W{i}"]
        for i in reversed(range(self.n_layers)):  # encoder layers, code side first
            dz = self._enc_acts[i].backprop(d)
            self.grads[f"b{i}"] = dz.sum(axis=0)
            self.grads[f"W{i}"] = grad_w[i] + enc_in[i].T @ dz  # both uses of the tied weight
            d = dz @ self.params[f"W{i}"].T
        return d if self.corrupt is None else self.corrupt.backprop(d)

    def encode(self, x: Any) -> np.ndarray:
        """The code of clean inputs, (N, code_size)."""
        return self._encode(self.input_spec.check(self, x))[0]

    transform = encode

    def decode(self, z: Any) -> np.ndarray:
        """Reconstructions from codes (N, code_size) -> (N, D)."""
        return self._decode(self.code_spec.check(self, z))[0]

    def reconstruct(self, x: Any) -> np.ndarray:
        """decode(encode(x)) without corruption."""
        return self.decode(self.encode(x))
