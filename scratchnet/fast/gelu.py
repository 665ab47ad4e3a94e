r"""GELU's exact form as kernels: the readable NumPy twin of ``pyx/gelu.pyx``.

.. math::
    \Phi(x) = \tfrac12\bigl(1 + \mathrm{erf}(x/\sqrt2)\bigr) \qquad y = x\,\Phi(x) \qquad
    \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}\,\bigl(\Phi(x) + x\,\varphi(x)\bigr),
    \quad \varphi(x) = e^{-x^2/2}/\sqrt{2\pi}

the same expressions as ``GELU.forward``/``backward`` (``scratchnet/layers/activations.py``). In float32 the
compiled kernel evaluates this twin's own erf (Cody's rational pieces, the same float32 operations) with an
exp of its own (``pyx/gelu.h``: a polynomial the compiler can vectorise, within about an ulp of NumPy's); in
float64 it calls the C library's ``erf`` and ``exp``. Either way the kernel and the twin agree within
``BOUND`` times ``1 + |x|`` (absolute: both compute 1 + erf, whose relative precision both lose for
negative x, so neither is closer to the truth than that), the bound the tests hold.
"""

from __future__ import annotations

import math

import numpy as np

from scratchnet.backend import get_array_module
from scratchnet.layers.activations import erf

__all__ = ["BOUND", "gelu", "gelu_backward"]

#: kernel vs twin, by dtype: ``|a - b| <= BOUND * (1 + |x|)`` for y, Phi and dx (2 units of float32's epsilon,
#: 4 of float64's; measured on 400,001 points in [-12, 12]: 7.8e-8 for float32 y (0.66 eps), 8.9e-16 for float64)
BOUND = {
    np.dtype(np.float32): 2 * float(np.finfo(np.float32).eps),
    np.dtype(np.float64): 4 * float(np.finfo(np.float64).eps),
}


def gelu(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y, phi): y = x Phi(x), and Phi(x) for backward."""
    phi = 0.5 * (1 + erf(x * (1 / math.sqrt(2.0))))
    return x * phi, phi


def gelu_backward(dout: np.ndarray, x: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """dx = dout (Phi(x) + x phi(x)) from forward's Phi."""
    xp = get_array_module(x)
    return dout * (phi + x * (xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))))
