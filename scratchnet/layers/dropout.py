"""Inverted dropout."""

from __future__ import annotations

import numpy as np

from scratchnet.arguments import check_float, check_rng
from scratchnet.backend import get_array_module
from scratchnet.layers.base import InputSpec, Layer
from scratchnet.random import spawn_rng


class Dropout(Layer):
    r"""Inverted dropout with drop probability ``p``.

    Training: :math:`y = x \odot m / (1 - p)` with :math:`m_i \sim \mathrm{Bernoulli}(1 - p)`, so the
    expected activation is unchanged and evaluation needs no rescaling; backward :math:`dx = g \odot m/(1-p)`.
    Evaluation: identity.

    TensorFlow 1's ``dropout(x, keep_prob)`` is ``Dropout(p=1 - keep_prob)``: the course's keep_prob 0.7 is
    ``Dropout(0.3)``.
    """

    input_spec = InputSpec()
    saved_for_backward = ()  # its own mask

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        self.p = check_float(
            "Dropout", "p", p, low=0.0, high=1.0, high_inclusive=False, what="drop probability"
        )
        self.rng = spawn_rng() if check_rng("Dropout", rng) is None else rng
        self._mask: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        xp = get_array_module(x)
        keep = self.rng.random(x.shape) >= self.p
        self._mask = xp.asarray(keep).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self._mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout if self._mask is None else dout * self._mask
