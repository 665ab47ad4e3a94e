r"""LayerNorm over the last axis as kernels: the readable NumPy twin of ``pyx/layernorm.pyx``.

.. math::
    \mu = \tfrac1D\textstyle\sum_i x_i,\quad \hat x = (x-\mu)/\sqrt{\sigma^2+\epsilon},\quad
    y = \gamma\odot\hat x + \beta,\qquad
    \partial x = \tfrac{1}{\sqrt{\sigma^2+\epsilon}}\big(\hat g - \overline{\hat g} - \hat x\,
    \overline{\hat g\odot\hat x}\big),\ \hat g = \gamma\odot g

the expressions of ``LayerNorm.forward``/``backward`` (``scratchnet/layers/normalization.py``). The compiled
kernel runs them one row at a time on the kernels' threads, its row sums in fixed interleaved lanes where
NumPy sums pairwise, so the two agree to rounding (``tests/fast/test_layernorm_kernel.py`` holds the bound).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.backend import get_array_module

__all__ = ["layer_norm", "layer_norm_backward"]


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> tuple[Any, Any, Any]:
    """(y, x_hat, inv_std) for x (..., D): inv_std is (..., 1)."""
    xp = get_array_module(x)
    if x.dtype.kind != "f":
        raise TypeError(f"layer_norm: x must be a floating-point array, got {x.dtype}")
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    inv_std = 1.0 / xp.sqrt(var + x.dtype.type(eps))
    x_hat = centred * inv_std
    return x_hat * gamma + beta, x_hat, inv_std


def layer_norm_backward(
    dout: np.ndarray, x_hat: np.ndarray, inv_std: np.ndarray, gamma: np.ndarray
) -> tuple[Any, Any, Any]:
    """(dx, d gamma, d beta) from forward's x_hat and inv_std."""
    d = gamma.shape[0]
    g2, x2 = dout.reshape(-1, d), x_hat.reshape(-1, d)
    gh = dout * gamma
    mean_gh = gh.mean(axis=-1, keepdims=True)
    mean_ghx = (gh * x_hat).mean(axis=-1, keepdims=True)
    return inv_std * (gh - mean_gh - x_hat * mean_ghx), (g2 * x2).sum(axis=0), g2.sum(axis=0)
