r"""Adam's update of one parameter as a kernel: the readable NumPy twin of ``pyx/adam.pyx``.

.. math::
    m \leftarrow \beta_1 m + (1-\beta_1) g,\quad v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
    p \leftarrow p - \frac{\eta}{1-\beta_1^t}\,\frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}

``Adam.update_step``'s expressions (``scratchnet/optim.py``), with the scalars in the array's precision:
the compiled kernel does the same operations in one pass per element, bit for bit.
"""

from __future__ import annotations

import numpy as np

from scratchnet.backend import get_array_module

__all__ = ["adam_update"]


def adam_update(
    p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, b1: float, b2: float, step: float,
    bias2: float, eps: float,
) -> None:  # fmt: skip
    """Updates ``p``, ``m`` and ``v`` in place; ``step`` = lr / (1 - b1^t), ``bias2`` = sqrt(1 - b2^t)."""
    xp = get_array_module(p)
    t = p.dtype.type
    m *= t(b1)
    m += t(1 - b1) * g
    v *= t(b2)
    v += t(1 - b2) * g * g
    p -= t(step) * m / (xp.sqrt(v) / t(bias2) + t(eps))
