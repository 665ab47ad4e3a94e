r"""Weight initialisers.

Every initialiser has the signature ``f(shape, *, rng=None, dtype=float32, **options) -> ndarray``.
Fans follow the layer layouts used in scratchnet:

* 2-D ``(fan_in, fan_out)`` -- ``Dense.W`` and the recurrent ``Wx``/``Wh`` matrices;
* 4-D ``(out_channels, in_channels, kh, kw)`` -- ``Conv2D.W``: fan_in = in*kh*kw, fan_out = out*kh*kw.

Glorot/Xavier keeps the activation variance constant forwards and backwards for linear/tanh units:
:math:`\mathrm{Var}(W) = 2 / (n_{in} + n_{out})`; uniform bound :math:`\sqrt{6 / (n_{in} + n_{out})}`.
He/Kaiming compensates for ReLU halving the variance: :math:`\mathrm{Var}(W) = 2 / n_{in}`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from scratchnet.random import get_rng

Initializer = Callable[..., np.ndarray]


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of the given shape."""
    if len(shape) < 1:
        raise ValueError(f"fans: need a shape with at least one dimension, got {shape}")
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[2:]))
    return shape[1] * receptive, shape[0] * receptive


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return get_rng() if rng is None else rng


def zeros(shape, *, rng=None, dtype=np.float32) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


def constant(shape, value: float = 0.0, *, rng=None, dtype=np.float32) -> np.ndarray:
    return np.full(shape, value, dtype=dtype)


def normal(shape, std: float = 0.01, mean: float = 0.0, *, rng=None, dtype=np.float32) -> np.ndarray:
    return (mean + std * _rng(rng).standard_normal(shape)).astype(dtype)


def truncated_normal(
    shape, std: float = 0.01, mean: float = 0.0, *, rng=None, dtype=np.float32
) -> np.ndarray:
    """Normal draws redrawn until they fall within two standard deviations of the mean (as in TensorFlow)."""
    r = _rng(rng)
    z = r.standard_normal(shape)
    bad = np.abs(z) > 2.0
    while bad.any():
        z[bad] = r.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2.0
    return (mean + std * z).astype(dtype)


def uniform(shape, low: float = -0.05, high: float = 0.05, *, rng=None, dtype=np.float32) -> np.ndarray:
    if not low < high:
        raise ValueError(f"uniform: need low < high, got low={low}, high={high}")
    return _rng(rng).uniform(low, high, shape).astype(dtype)


def xavier_uniform(shape, gain: float = 1.0, *, rng=None, dtype=np.float32) -> np.ndarray:
    fan_in, fan_out = fans(shape)
    bound = gain * np.sqrt(6.0 / (fan_in + fan_out))
    return _rng(rng).uniform(-bound, bound, shape).astype(dtype)


def xavier_normal(shape, gain: float = 1.0, *, rng=None, dtype=np.float32) -> np.ndarray:
    fan_in, fan_out = fans(shape)
    std = gain * np.sqrt(2.0 / (fan_in + fan_out))
    return (std * _rng(rng).standard_normal(shape)).astype(dtype)


def he_normal(shape, *, rng=None, dtype=np.float32) -> np.ndarray:
    fan_in, _ = fans(shape)
    return (np.sqrt(2.0 / fan_in) * _rng(rng).standard_normal(shape)).astype(dtype)


def he_uniform(shape, *, rng=None, dtype=np.float32) -> np.ndarray:
    fan_in, _ = fans(shape)
    bound = np.sqrt(6.0 / fan_in)
    return _rng(rng).uniform(-bound, bound, shape).astype(dtype)


def orthogonal(shape, gain: float = 1.0, *, rng=None, dtype=np.float32) -> np.ndarray:
    """A random (semi-)orthogonal matrix: the Q of a Gaussian matrix's QR, with signs fixed so the draw is
    uniform over orthogonal matrices (Saxe et al., 2014). The usual start for recurrent weights."""
    if len(shape) != 2:
        raise ValueError(f"orthogonal: need a 2-D shape, got {shape}")
    rows, cols = shape
    a = _rng(rng).standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    q = q if rows >= cols else q.T
    return (gain * q).astype(dtype)


glorot_uniform = xavier_uniform
glorot_normal = xavier_normal
kaiming_normal = he_normal
kaiming_uniform = he_uniform

_REGISTRY: dict[str, Initializer] = {
    "zeros": zeros,
    "constant": constant,
    "normal": normal,
    "truncated_normal": truncated_normal,
    "uniform": uniform,
    "xavier": xavier_uniform,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "glorot_uniform": xavier_uniform,
    "glorot_normal": xavier_normal,
    "he": he_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "kaiming_normal": he_normal,
    "kaiming_uniform": he_uniform,
    "orthogonal": orthogonal,
}


def get(spec: str | Initializer, **options: Any) -> Initializer:
    """An initialiser from a name (``"xavier"``, ``"he"``, ``"normal"``...) or a callable, with options bound.

    ``get("normal", std=1.0)`` gives N(0, 1) weights.
    """
    if callable(spec):
        return functools.partial(spec, **options) if options else spec
    try:
        fn = _REGISTRY[spec]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown initialiser {spec!r}; choose one of {sorted(_REGISTRY)} or pass a callable"
        ) from None
    return functools.partial(fn, **options) if options else fn
