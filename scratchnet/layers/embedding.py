"""Embedding lookup: integer token ids -> learned vectors."""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.arguments import as_float_dtype, check_rng, check_size, init_array
from scratchnet.backend import get_array_module
from scratchnet.layers.base import InputSpec, Layer
from scratchnet.random import get_rng


class Embedding(Layer):
    r"""A table of ``num_embeddings`` learned vectors of size ``dim``; row ``k`` is token ``k``'s vector.

    Forward is indexing, :math:`y_{n,t} = W[x_{n,t}]`: ids (N, T) -> (N, T, dim), or (N,) -> (N, dim).
    It equals multiplying a one-hot row by ``W`` without building the one-hot matrix.

    Backward is the matching scatter-add: every occurrence of token k adds its upstream gradient to row k,
    :math:`\partial L/\partial W_k = \sum_{(n,t):\,x_{n,t}=k} \partial L/\partial y_{n,t}` (a token seen twice
    gets both contributions; unseen rows get zero). The ids are discrete, so there is no input gradient:
    ``backward`` returns ``None``, which makes Embedding the first layer of a model.
    """

    input_spec = InputSpec("(N, T) or (N,)", ndim=(1, 2), ids_below="num_embeddings")
    saved_for_backward = ("input",)

    def __init__(
        self,
        num_embeddings: int,
        dim: int,
        weight_init: Any = "uniform",
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = check_size("Embedding", "num_embeddings", num_embeddings)
        self.dim = check_size("Embedding", "dim", dim)
        dt = as_float_dtype(dtype, "Embedding")
        rng = get_rng() if check_rng("Embedding", rng) is None else rng
        shape = (self.num_embeddings, self.dim)
        self.add_param("W", init_array("Embedding", "W", weight_init, shape, rng=rng, dtype=dt))
        self._ids: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"Embedding({self.num_embeddings}, {self.dim})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._ids = x
        return self.params["W"][x]

    def backward(self, dout: np.ndarray) -> None:
        ids = self._ids
        xp = get_array_module(dout)
        dw = xp.zeros_like(self.params["W"])
        # np.add.at, unlike dw[ids] += g, adds every repeated id instead of keeping only the last one
        xp.add.at(dw, ids.reshape(-1), xp.asarray(dout, dtype=dw.dtype).reshape(-1, self.dim))
        self.grads["W"] = dw
        return None
