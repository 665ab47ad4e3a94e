"""Reshaping layers."""

from __future__ import annotations

import math

import numpy as np

from scratchnet.layers.base import InputSpec, Layer


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...); backward reshapes the gradient back."""

    input_spec = InputSpec("(N, ...)", min_ndim=2)
    saved_for_backward = ()  # the shape only

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))  # not -1: that is ambiguous when N = 0

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.reshape(self._shape)
