"""Reshaping layers."""

from __future__ import annotations

import math

import numpy as np

from scratchnet.layers.base import Layer


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...); backward reshapes the gradient back."""

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check_input(x, min_ndim=2, expected="(N, ...)")
        self._shape = x.shape
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))  # not -1: that is ambiguous when N = 0

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._require_forward(self._shape)
        n = self._shape[0]
        dout = self._check_dout(dout, (n, math.prod(self._shape[1:])))
        return dout.reshape(self._shape)
