r"""Batch normalisation for dense features (N, D) and images (N, C, H, W); layer normalisation (``LayerNorm``,
at the end) over the last axis.

Training, per feature over the m values in the batch (for images: over N, H and W):

.. math::
    \mu = \tfrac1m\textstyle\sum x,\quad \sigma^2 = \tfrac1m\sum (x-\mu)^2,\quad
    \hat x = (x-\mu)/\sqrt{\sigma^2+\epsilon},\quad y = \gamma\hat x + \beta

Backward with :math:`g = \partial L/\partial y`: :math:`\partial L/\partial\gamma = \sum g\hat x`,
:math:`\partial L/\partial\beta = \sum g`, and, because :math:`\mu` and :math:`\sigma` depend on every x,
:math:`\partial L/\partial x = \frac{\gamma}{m\sqrt{\sigma^2+\epsilon}}\,(m g - \sum g - \hat x\sum g\hat x)`.

Running statistics follow PyTorch: ``running = (1 - momentum) * running + momentum * batch`` with the
unbiased batch variance; evaluation normalises with them, making the layer affine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.arguments import as_float_dtype, check_float, check_size
from scratchnet.backend import get_array_module
from scratchnet.layers.base import InputSpec, Layer


class _BatchNorm(Layer):
    """Shared by both batch norms; a subclass sets the statistics ``axes``, its ``ndim`` and ``input_spec``."""

    axes: tuple[int, ...] = (0,)
    ndim: int = 2
    input_spec = InputSpec("(N, D)", ndim=2, channels="num_features")
    saved_for_backward = ()  # its own normalised copy

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype: Any = np.float32):
        super().__init__()
        who = type(self).__name__
        self.num_features = check_size(who, "num_features", num_features)
        # eps > 0 keeps 1/sqrt(var + eps) finite for a constant feature
        self.eps = check_float(who, "eps", eps, low=0.0, low_inclusive=False)
        self.momentum = check_float(who, "momentum", momentum, low=0.0, high=1.0)
        dt = as_float_dtype(dtype, who)
        self.add_param("gamma", np.ones(self.num_features, dtype=dt))
        self.add_param("beta", np.zeros(self.num_features, dtype=dt))
        self.add_buffer("running_mean", np.zeros(self.num_features, dtype=dt))
        self.add_buffer("running_var", np.ones(self.num_features, dtype=dt))
        self._cache: tuple | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.num_features})"

    def _bshape(self) -> tuple[int, ...]:
        """Shape that broadcasts a per-feature vector against the input."""
        return (1, self.num_features) + (1,) * (self.ndim - 2)

    def forward(self, x: np.ndarray) -> np.ndarray:
        shape = self._bshape()
        gamma, beta = self.params["gamma"].reshape(shape), self.params["beta"].reshape(shape)
        if self.training:
            m = x.size // self.num_features
            if m < 2:
                raise ValueError(
                    f"{self!r}: training mode needs more than one value per feature, got input "
                    f"of shape {tuple(x.shape)} (use eval() for single samples)"
                )
            mean = x.mean(axis=self.axes, keepdims=True)
            centred = x - mean
            var = (centred * centred).mean(axis=self.axes, keepdims=True)
            inv_std = 1.0 / get_array_module(x).sqrt(var + x.dtype.type(self.eps))
            mom = self.momentum
            self.buffers["running_mean"] = (
                (1 - mom) * self.buffers["running_mean"] + mom * mean.reshape(-1)
            ).astype(x.dtype)
            self.buffers["running_var"] = (
                (1 - mom) * self.buffers["running_var"] + mom * var.reshape(-1) * (m / (m - 1))
            ).astype(x.dtype)
        else:
            centred = x - self.buffers["running_mean"].reshape(shape)
            inv_std = 1.0 / get_array_module(x).sqrt(self.buffers["running_var"].reshape(shape) + self.eps)
            inv_std = inv_std.astype(x.dtype)
        x_hat = centred * inv_std
        self._cache = (x_hat, inv_std, self.training)
        return gamma * x_hat + beta

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_hat, inv_std, training = self._cache
        gamma = self.params["gamma"].reshape(self._bshape())
        sum_g = dout.sum(axis=self.axes)
        sum_g_xhat = (dout * x_hat).sum(axis=self.axes)
        self.grads["gamma"] = sum_g_xhat
        self.grads["beta"] = sum_g
        if not training:
            return dout * (gamma * inv_std)
        m = x_hat.size // self.num_features
        shape = self._bshape()
        return (gamma * inv_std / m) * (m * dout - sum_g.reshape(shape) - x_hat * sum_g_xhat.reshape(shape))


class BatchNorm1D(_BatchNorm):
    """Batch normalisation of dense features: x (N, D), statistics over the batch axis."""

    axes = (0,)
    ndim = 2
    input_spec = InputSpec("(N, D)", ndim=2, channels="num_features")


class BatchNorm2D(_BatchNorm):
    """Batch normalisation of image channels: x (N, C, H, W), statistics over N, H and W per channel."""

    axes = (0, 2, 3)
    ndim = 4
    input_spec = InputSpec("(N, C, H, W)", ndim=4, channels="num_features")


class LayerNorm(Layer):
    r"""Layer normalisation (Ba, Kiros & Hinton 2016) over the last axis: each position's D features are
    normalised by their own mean and variance, so it works the same in training and evaluation, for any batch.

    For one row :math:`x \in \mathbb{R}^D` (x may be (N, D), (N, T, D), ...):

    .. math::
        \mu = \tfrac1D\textstyle\sum_i x_i,\quad \sigma^2 = \tfrac1D\sum_i (x_i-\mu)^2,\quad
        \hat x = (x-\mu)/\sqrt{\sigma^2+\epsilon},\quad y = \gamma\odot\hat x + \beta

    Backward with :math:`g = \partial L/\partial y` and :math:`\hat g = \gamma\odot g`: the parameters sum
    over all rows, :math:`\partial L/\partial\gamma = \sum_{rows} g\odot\hat x`,
    :math:`\partial L/\partial\beta = \sum_{rows} g`; within a row, since :math:`\mu` and :math:`\sigma` depend
    on every :math:`x_i` (the batch-norm formula with the sums over the row instead of the batch),

    .. math::
        \partial L/\partial x = \frac{1}{\sqrt{\sigma^2+\epsilon}}\Big(\hat g - \overline{\hat g}
        - \hat x\,\overline{\hat g\odot\hat x}\Big)

    with :math:`\overline{\,\cdot\,}` the mean over the row. Parameters ``gamma`` (ones) and ``beta`` (zeros),
    PyTorch's ``weight`` and ``bias``; ``normalized_shape`` is D (an int, or ``(D,)`` as PyTorch writes it).
    """

    input_spec = InputSpec("(..., {normalized_shape})", min_ndim=1, last_dim="normalized_shape")
    saved_for_backward = ()  # its own normalised copy

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, dtype: Any = np.float32) -> None:
        super().__init__()
        shape = normalized_shape
        if isinstance(shape, tuple | list):
            if len(shape) != 1:
                raise ValueError(
                    f"LayerNorm: normalizes over the last axis only, so normalized_shape must be an int D or "
                    f"(D,), got {normalized_shape!r}"
                )
            shape = shape[0]
        self.normalized_shape = check_size("LayerNorm", "normalized_shape", shape)
        self.eps = check_float("LayerNorm", "eps", eps, low=0.0, low_inclusive=False)
        dt = as_float_dtype(dtype, "LayerNorm")
        self.add_param("gamma", np.ones(self.normalized_shape, dtype=dt))
        self.add_param("beta", np.zeros(self.normalized_shape, dtype=dt))
        self._cache: tuple | None = None

    def __repr__(self) -> str:
        eps = "" if self.eps == 1e-5 else f", eps={self.eps:g}"
        return f"LayerNorm({self.normalized_shape}{eps})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        xp = get_array_module(x)
        mean = x.mean(axis=-1, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(axis=-1, keepdims=True)
        inv_std = 1.0 / xp.sqrt(var + x.dtype.type(self.eps))
        x_hat = centred * inv_std
        self._cache = (x_hat, inv_std)
        return x_hat * self.params["gamma"] + self.params["beta"]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_hat, inv_std = self._cache
        d = self.normalized_shape
        g2, x2 = dout.reshape(-1, d), x_hat.reshape(-1, d)  # rows: the sums over rows are one reduction
        self.grads["gamma"] = (g2 * x2).sum(axis=0)
        self.grads["beta"] = g2.sum(axis=0)
        gh = dout * self.params["gamma"]
        mean_gh = gh.mean(axis=-1, keepdims=True)
        mean_ghx = (gh * x_hat).mean(axis=-1, keepdims=True)
        return inv_std * (gh - mean_gh - x_hat * mean_ghx)
