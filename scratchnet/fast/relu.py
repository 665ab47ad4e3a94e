r"""ReLU forward and backward as kernels: the readable NumPy twin of ``pyx/relu.pyx``.

.. math::
    y = \max(0, x) \qquad \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}\,[x > 0]

A NaN input stays NaN (``np.maximum`` propagates it) and gets no gradient (NaN > 0 is false); the compiled
kernel gives the same bits, including the sign of zeros and the NaN of ``inf * 0``. It runs the same
element-wise expressions on the kernels' OpenMP threads, where NumPy's ufuncs use one core.
"""

from __future__ import annotations

import numpy as np

from scratchnet.backend import get_array_module

__all__ = ["relu", "relu_backward", "relu_in_place"]


def relu(x: np.ndarray) -> np.ndarray:
    """y = max(0, x), elementwise."""
    return get_array_module(x).maximum(x, 0)


def relu_in_place(x: np.ndarray) -> np.ndarray:
    """x = max(0, x), elementwise, overwriting x (a conv layer's fresh output, see ``fast/fusion.py``);
    returns x."""
    return get_array_module(x).maximum(x, 0, out=x)


def relu_backward(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dx = dout where x > 0, else 0 (``dout * (x > 0)``)."""
    return dout * (x > 0)
