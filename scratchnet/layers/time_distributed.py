"""Apply one layer to every time step of a sequence."""

from __future__ import annotations

import numpy as np

from scratchnet.layers.base import InputSpec, Layer


class TimeDistributed(Layer):
    r"""Wraps a per-sample layer so it runs on each step of (N, T, ...) with the same weights.

    Forward folds time into the batch, :math:`(N, T, \dots) \to (N T, \dots)`, calls the layer and unfolds
    the result back to (N, T, ...); backward does the same with the gradient. Because the weights are shared
    by every step, their gradients are the sums over steps, which the wrapped layer's backward already forms
    when it sums over its (N*T)-row batch.

    ``Dense`` accepts (N, ..., in) input by itself, so ``TimeDistributed(Dense(...))`` computes exactly what
    ``Dense`` alone does; the wrapper states the intent and also works for layers that need a 2-D batch.
    Parameters appear under the wrapped layer's name: ``"0.W"``, ``"0.b"``.
    """

    input_spec = InputSpec("(N, T, ...)", min_ndim=3, cast=False)  # the wrapped layer casts (or takes ids)

    def __init__(self, layer: Layer) -> None:
        super().__init__()
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed: expected a Layer, got {type(layer).__name__}")
        self.layer = layer
        self._out_shape: tuple[int, ...] | None = None

    def children(self) -> list[Layer]:
        return [self.layer]

    def __repr__(self) -> str:
        return f"TimeDistributed({self.layer!r})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        n, t = x.shape[:2]
        y = self.layer(x.reshape(n * t, *x.shape[2:]))
        self._out_shape = (n, t, *y.shape[1:])
        return y.reshape(self._out_shape)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        n, t = self._out_shape[:2]
        dx = self.layer.backprop(dout.reshape(n * t, *dout.shape[2:]))
        return None if dx is None else dx.reshape(n, t, *dx.shape[1:])
