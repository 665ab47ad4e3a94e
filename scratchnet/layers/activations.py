r"""Element-wise activations (no parameters; they keep their input's dtype).

Each backward multiplies the upstream gradient by the local derivative, written next to the forward.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from scratchnet.arguments import check_float
from scratchnet.backend import get_array_module
from scratchnet.layers.base import InputSpec, Layer


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function: 1/(1+e^-x) = (1 + tanh(x/2))/2."""
    xp = get_array_module(x)
    return 0.5 * (1 + xp.tanh(0.5 * x))


class Activation(Layer):
    """Shared plumbing: ``forward`` caches x and y = f(x); ``backward`` applies the derivative ``_df``.
    Any real input shape is accepted (the base class checks it and dout)."""

    input_spec = InputSpec()

    def __init__(self) -> None:
        super().__init__()
        self._cache: tuple | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = self._f(x)
        self._cache = (x, y)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x, y = self._cache
        return self._df(x, y, dout)

    def _f(self, x):
        raise NotImplementedError

    def _df(self, x, y, dout):
        raise NotImplementedError


class Identity(Activation):
    """y = x; dy/dx = 1."""

    def _f(self, x):
        return x

    def _df(self, x, y, dout):
        return dout


class ReLU(Activation):
    """y = max(0, x); dy/dx = 1 where x > 0, else 0.

    Fast path (run by default, ``backend.FAST_PATHS``): ``scratchnet/fast/activations.py``, on all the
    kernels' threads; ``with scratchnet.backend.reference():`` runs this file's own code instead (so does
    calling ``forward``/``backward`` directly).
    """

    def _f(self, x):
        return np.maximum(x, 0)

    def _df(self, x, y, dout):
        return dout * (x > 0)


class LeakyReLU(Activation):
    """y = x for x > 0, a*x otherwise; dy/dx = 1 or a."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_float("LeakyReLU", "negative_slope", negative_slope)

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope})"

    def _f(self, x):
        xp = get_array_module(x)
        return xp.where(x > 0, x, x * x.dtype.type(self.negative_slope))

    def _df(self, x, y, dout):
        xp = get_array_module(x)
        return xp.where(x > 0, dout, dout * dout.dtype.type(self.negative_slope))


class Sigmoid(Activation):
    """y = 1/(1+e^-x); dy/dx = y(1-y)."""

    def _f(self, x):
        return sigmoid(x)

    def _df(self, x, y, dout):
        return dout * y * (1 - y)


class Tanh(Activation):
    """y = tanh(x); dy/dx = 1 - y^2."""

    def _f(self, x):
        return get_array_module(x).tanh(x)

    def _df(self, x, y, dout):
        return dout * (1 - y * y)


class ELU(Activation):
    """y = x for x > 0, a(e^x - 1) otherwise; dy/dx = 1 or y + a."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = check_float("ELU", "alpha", alpha)

    def __repr__(self) -> str:
        return f"ELU(alpha={self.alpha})"

    def _f(self, x):
        xp = get_array_module(x)
        a = x.dtype.type(self.alpha)
        return xp.where(x > 0, x, a * xp.expm1(xp.minimum(x, 0)))

    def _df(self, x, y, dout):
        xp = get_array_module(x)
        return xp.where(x > 0, dout, dout * (y + x.dtype.type(self.alpha)))


class Softplus(Activation):
    """y = log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|); dy/dx = sigmoid(x)."""

    def _f(self, x):
        xp = get_array_module(x)
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def _df(self, x, y, dout):
        return dout * sigmoid(x)


class Softmax(Activation):
    r"""Softmax over the last axis, shifted by the row maximum so exp never overflows.

    :math:`y_i = e^{x_i} / \sum_j e^{x_j}`; backward :math:`dx = y \odot (g - \sum_j g_j y_j)`.
    For classification prefer ``losses.SoftmaxCrossEntropy`` on logits (fused, more stable).
    """

    input_spec = InputSpec("(..., C)", min_ndim=1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.shape[-1] == 0:  # the row maximum of an empty row does not exist
            raise ValueError(f"{self!r}: expected at least one entry on the last axis, got shape {x.shape}")
        return super().forward(x)

    def _f(self, x):
        xp = get_array_module(x)
        e = xp.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def _df(self, x, y, dout):
        return y * (dout - (dout * y).sum(axis=-1, keepdims=True))


class Step(Activation):
    """Heaviside step (the perceptron's): y = 1 where x > 0, else 0.

    Its derivative is 0 everywhere it exists, so backward returns zeros: a network of steps cannot be
    trained by gradient descent, which is why the course moves to sigmoid units.
    """

    def _f(self, x):
        return (x > 0).astype(x.dtype)

    def _df(self, x, y, dout):
        return dout * 0


_ACTIVATIONS = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "softplus": Softplus,
    "softmax": Softmax,
    "identity": Identity,
    "linear": Identity,
}


def make_activation(spec: Any) -> Layer:
    """A fresh activation layer from a name ("sigmoid", "relu", "tanh", "identity"/"linear"/None, ...),
    an activation class, or an instance (copied, so every use gets its own cache): how models that take an
    ``activation=`` argument (the autoencoders, ``DBN.to_sequential``) build theirs."""
    if spec is None:
        return Identity()
    if isinstance(spec, str):
        try:
            return _ACTIVATIONS[spec.lower()]()
        except KeyError:
            raise ValueError(
                f"unknown activation {spec!r}; choose one of {sorted(_ACTIVATIONS)} or None"
            ) from None
    if isinstance(spec, type) and issubclass(spec, Layer):
        return spec()
    if isinstance(spec, Layer):
        return copy.deepcopy(spec)
    raise TypeError(f"activation must be a name, a Layer class or a Layer, got {type(spec).__name__}")
