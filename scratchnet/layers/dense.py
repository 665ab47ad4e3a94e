"""Fully connected layer."""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.arguments import as_float_dtype, check_rng, check_size, init_array
from scratchnet.layers.base import InputSpec, Layer
from scratchnet.random import get_rng


class Dense(Layer):
    r"""Affine map :math:`y = xW + b`.

    Shapes: x (N, in) or (N, ..., in) -> y (N, ..., out); W (in, out), b (out,).

    Backward, with :math:`G = \partial L/\partial y` flattened to rows:
    :math:`\partial L/\partial W = x^\top G`, :math:`\partial L/\partial b = \sum_{rows} G`,
    :math:`\partial L/\partial x = G W^\top`.

    Fast path (run by default, ``backend.FAST_PATHS``): ``scratchnet/fast/dense.py`` computes ``forward`` and
    ``backward`` with the products on the kernels' own threads; ``with scratchnet.backend.reference():`` runs
    this file's own code instead (so does calling ``forward``/``backward`` directly).
    """

    input_spec = InputSpec("(N, {in_features})", min_ndim=2, last_dim="in_features")
    saved_for_backward = ("input",)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        weight_init: Any = "xavier",
        bias_init: Any = "zeros",
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_size("Dense", "in_features", in_features)
        self.out_features = check_size("Dense", "out_features", out_features)
        dt = as_float_dtype(dtype, "Dense")
        rng = get_rng() if check_rng("Dense", rng) is None else rng
        shape = (self.in_features, self.out_features)
        self.add_param("W", init_array("Dense", "W", weight_init, shape, rng=rng, dtype=dt))
        self.add_param("b", init_array("Dense", "b", bias_init, (self.out_features,), rng=rng, dtype=dt))
        self._x: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"Dense({self.in_features}, {self.out_features})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        # one 2-D GEMM: matmul on (N, T, D) stacks would broadcast into many small, slow products
        y = x.reshape(-1, self.in_features) @ self.params["W"] + self.params["b"]
        return y.reshape(*x.shape[:-1], self.out_features)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x = self._x
        x2 = x.reshape(-1, self.in_features)
        g2 = dout.reshape(-1, self.out_features)
        self.grads["W"] = x2.T @ g2
        self.grads["b"] = g2.sum(axis=0)
        return (g2 @ self.params["W"].T).reshape(x.shape)
