r"""Local response normalisation across channels (AlexNet's "NORM" layer), PyTorch semantics.

Each activation is divided by a power of the energy of its ``size`` neighbouring channels:

.. math::
    s_c = k + \frac{\alpha}{n}\sum_{j = c - \lfloor n/2 \rfloor}^{c + \lfloor (n-1)/2 \rfloor} x_j^2,
    \qquad y_c = x_c\, s_c^{-\beta}

(channels outside ``[0, C)`` count as zero; ``n`` = ``size``). Backward, with :math:`g = \partial L/\partial y`:
:math:`x_i` appears in its own output and inside :math:`s_c` for every :math:`c` whose window holds
:math:`i`, so

.. math::
    \frac{\partial L}{\partial x_i} = g_i s_i^{-\beta}
      - \frac{2\alpha\beta}{n}\, x_i \sum_{c:\, i \in \mathrm{win}(c)} g_c\, x_c\, s_c^{-\beta-1}.

The second sum runs over the mirrored window (``(n-1)//2`` channels below, ``n//2`` above).
"""

from __future__ import annotations

import numpy as np

from scratchnet.arguments import check_float, check_size
from scratchnet.backend import get_array_module
from scratchnet.layers.base import InputSpec, Layer


def _window_sum(a: np.ndarray, below: int, above: int) -> np.ndarray:
    """``total[:, c] = sum(a[:, c - below : c + above + 1])`` along the channel axis, zeros outside."""
    total = a.copy()
    c = a.shape[1]
    for d in range(1, below + 1):  # neighbours below: channel c - d
        if d < c:
            total[:, d:] += a[:, : c - d]
    for d in range(1, above + 1):  # neighbours above: channel c + d
        if d < c:
            total[:, : c - d] += a[:, d:]
    return total


class LocalResponseNorm(Layer):
    """LRN over channels of (N, C, ...) input; defaults as ``torch.nn.LocalResponseNorm``."""

    input_spec = InputSpec("(N, C, H, W)", min_ndim=3)

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        who = "LocalResponseNorm"
        self.size = check_size(who, "size", size)
        # alpha >= 0 and k > 0 keep s_c positive, so s_c^-beta is real
        self.alpha = check_float(who, "alpha", alpha, low=0.0)
        self.beta = check_float(who, "beta", beta)
        self.k = check_float(who, "k", k, low=0.0, low_inclusive=False)
        self._cache: tuple | None = None

    def __repr__(self) -> str:
        return f"LocalResponseNorm(size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k})"

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(input_shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        n = self.size
        s = self.k + (self.alpha / n) * _window_sum(x * x, n // 2, (n - 1) // 2)
        s_pow = get_array_module(x).power(s, -self.beta)
        self._cache = (x, s, s_pow)
        return x * s_pow

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x, s, s_pow = self._cache
        dout = dout.astype(x.dtype, copy=False)  # a parameter-free layer answers in its input's precision
        n = self.size
        t = dout * x * s_pow / s  # g_c x_c s_c^(-beta-1)
        back = _window_sum(t, (n - 1) // 2, n // 2)
        return dout * s_pow - (2.0 * self.alpha * self.beta / n) * x * back
