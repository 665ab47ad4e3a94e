r"""Element-wise activations (no parameters; they keep their input's dtype).

Each backward multiplies the upstream gradient by the local derivative, written next to the forward.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from scratchnet.arguments import check_float
from scratchnet.backend import get_array_module
from scratchnet.layers.base import InputSpec, Layer


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function: 1/(1+e^-x) = (1 + tanh(x/2))/2."""
    xp = get_array_module(x)
    return 0.5 * (1 + xp.tanh(0.5 * x))


def logistic(x: np.ndarray) -> np.ndarray:
    """1/(1+e^-x) to full relative precision on both sides: e^x/(1+e^x) for x < 0 (``sigmoid`` above, by tanh,
    loses the relative precision of its tiny values there, 1 + tanh(x/2) cancelling), 1/(1+e^-x) for x >= 0;
    ``e^-|x|`` never overflows. For SiLU and GELU's tanh form, whose outputs are x times it."""
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1, e) / (1 + e)


# -- the error function, for the exact GELU ------------------------------------------------------------------
# NumPy has no erf. These are W. J. Cody's rational Chebyshev approximations ("Rational Chebyshev
# approximations for the error function", Math. Comp. 23 (1969) 631-637), with his coefficients: relative
# error below 1e-16 in float64 on each of three intervals of |z|:
#   |z| <= 0.46875:       erf(z)  = z A(z^2) / B(z^2)
#   0.46875 < |z| <= 4:   erfc(|z|) = e^{-z^2} C(|z|) / D(|z|)
#   |z| > 4:              erfc(|z|) = e^{-z^2} / |z| (1/sqrt(pi) + z^-2 P(z^-2) / Q(z^-2))
# Each rational function is written for Horner's rule: a numerator's leading coefficient, then its other
# coefficients from the next-highest power down to the constant; the denominators are monic (leading 1).
_ERF_A_LEAD = 1.85777706184603153e-1
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
_ERFC_C_LEAD = 2.15311535474403846e-8
_ERFC_C = (
    5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
    8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
)  # fmt: skip
_ERFC_D = (
    1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
    3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03,
)  # fmt: skip
_ERFC_P_LEAD = 1.63153871373020978e-2
_ERFC_P = (
    3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
    6.58749161529837803e-4,
)  # fmt: skip
_ERFC_Q = (
    2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
    2.33520497626869185e-3,
)  # fmt: skip
_ERF_SMALL, _ERF_MID = 0.46875, 4.0


def _ratio(z: np.ndarray, lead: float, num: tuple, den: tuple) -> np.ndarray:
    """(lead z^k + num[0] z^(k-1) + ... + num[-1]) / (z^k + den[0] z^(k-1) + ... + den[-1]), by Horner."""
    p, q = lead * z, z
    for a, b in zip(num[:-1], den[:-1]):
        p, q = (p + a) * z, (q + b) * z
    return (p + num[-1]) / (q + den[-1])


def _horner_ratio(z: np.ndarray, lead: float, num: tuple, den: tuple) -> np.ndarray:
    """``_ratio`` in place: two arrays for the whole evaluation (the single-precision path's)."""
    p = lead * z
    q = z.copy()
    for a, b in zip(num[:-1], den[:-1]):
        p += a
        p *= z
        q += b
        q *= z
    p += num[-1]
    q += den[-1]
    p /= q
    return p


def _erf_single(z: np.ndarray) -> np.ndarray:
    """erf of a float32 array: Cody's first two pieces on the whole array, chosen by |z| (no masks to gather
    and scatter); past |z| = 4, erfc(4) = 1.5e-8 is below half a float32 ulp of 1, so erf is +-1 there."""
    xp = get_array_module(z)
    y = xp.minimum(xp.abs(z), z.dtype.type(_ERF_MID))  # (NaN stays NaN)
    s = y * y
    small = z * _horner_ratio(s, _ERF_A_LEAD, _ERF_A, _ERF_B)
    erfc = _horner_ratio(y, _ERFC_C_LEAD, _ERFC_C, _ERFC_D)
    erfc *= xp.exp(-s)
    return xp.where(y <= _ERF_SMALL, small, xp.copysign(1 - erfc, z))


def erf(x: np.ndarray) -> np.ndarray:
    """The error function erf(x) = 2/sqrt(pi) int_0^x e^{-t^2} dt, element-wise, by Cody's approximations
    above, to the rounding of the dtype (float16 is computed in float32). NaN stays NaN, erf(+-inf) = +-1."""
    xp = get_array_module(x)
    dtype = x.dtype
    if dtype != np.float64:
        return _erf_single(x.astype(np.float32, copy=False)).astype(dtype, copy=False)
    z = x
    y = xp.abs(z)
    out = xp.empty_like(z)
    small = y <= _ERF_SMALL
    mid = (y > _ERF_SMALL) & (y <= _ERF_MID)
    large = ~(small | mid)  # and NaN
    if small.any():
        zs = z[small]
        out[small] = zs * _ratio(zs * zs, _ERF_A_LEAD, _ERF_A, _ERF_B)
    if mid.any():
        ym = y[mid]
        erfc = xp.exp(-ym * ym) * _ratio(ym, _ERFC_C_LEAD, _ERFC_C, _ERFC_D)
        out[mid] = xp.copysign(1 - erfc, z[mid])
    if large.any():
        yl = y[large]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            s = 1 / (yl * yl)
            r = s * _ratio(s, _ERFC_P_LEAD, _ERFC_P, _ERFC_Q)
            erfc = xp.exp(-yl * yl) / yl * (1 / math.sqrt(math.pi) - r)
            erfc = xp.where(xp.isinf(yl), 0, erfc)
        out[large] = xp.copysign(1 - erfc, z[large])
    return out


class Activation(Layer):
    """Shared plumbing: ``forward`` caches x and y = f(x); ``backward`` applies the derivative ``_df``.
    Any real input shape is accepted (the base class checks it and dout)."""

    input_spec = InputSpec()

    def __init__(self) -> None:
        super().__init__()
        self._cache: tuple | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = self._f(x)
        self._cache = (x, y)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x, y = self._cache
        return self._df(x, y, dout)

    def _f(self, x):
        raise NotImplementedError

    def _df(self, x, y, dout):
        raise NotImplementedError


class Identity(Activation):
    """y = x; dy/dx = 1."""

    def _f(self, x):
        return x

    def _df(self, x, y, dout):
        return dout


class ReLU(Activation):
    """y = max(0, x); dy/dx = 1 where x > 0, else 0.

    Fast path (run by default, ``backend.FAST_PATHS``): ``scratchnet/fast/activations.py``, on all the
    kernels' threads; ``with scratchnet.backend.reference():`` runs this file's own code instead (so does
    calling ``forward``/``backward`` directly).
    """

    def _f(self, x):
        return np.maximum(x, 0)

    def _df(self, x, y, dout):
        return dout * (x > 0)


class LeakyReLU(Activation):
    """y = x for x > 0, a*x otherwise; dy/dx = 1 or a."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_float("LeakyReLU", "negative_slope", negative_slope)

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope})"

    def _f(self, x):
        xp = get_array_module(x)
        return xp.where(x > 0, x, x * x.dtype.type(self.negative_slope))

    def _df(self, x, y, dout):
        xp = get_array_module(x)
        return xp.where(x > 0, dout, dout * dout.dtype.type(self.negative_slope))


class Sigmoid(Activation):
    """y = 1/(1+e^-x); dy/dx = y(1-y)."""

    def _f(self, x):
        return sigmoid(x)

    def _df(self, x, y, dout):
        return dout * y * (1 - y)


class Tanh(Activation):
    """y = tanh(x); dy/dx = 1 - y^2."""

    def _f(self, x):
        return get_array_module(x).tanh(x)

    def _df(self, x, y, dout):
        return dout * (1 - y * y)


class ELU(Activation):
    """y = x for x > 0, a(e^x - 1) otherwise; dy/dx = 1 or y + a."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = check_float("ELU", "alpha", alpha)

    def __repr__(self) -> str:
        return f"ELU(alpha={self.alpha})"

    def _f(self, x):
        xp = get_array_module(x)
        a = x.dtype.type(self.alpha)
        return xp.where(x > 0, x, a * xp.expm1(xp.minimum(x, 0)))

    def _df(self, x, y, dout):
        xp = get_array_module(x)
        return xp.where(x > 0, dout, dout * (y + x.dtype.type(self.alpha)))


class Softplus(Activation):
    """y = log(1 + e^x), computed as max(x, 0) + ``log1p(e^-|x|)``; dy/dx = sigmoid(x)."""

    def _f(self, x):
        xp = get_array_module(x)
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def _df(self, x, y, dout):
        return dout * sigmoid(x)


class GELU(Activation):
    r"""Gaussian error linear unit (Hendrycks & Gimpel 2016), PyTorch's two forms.

    ``approximate="none"``: :math:`y = x\,\Phi(x)` with the standard normal CDF
    :math:`\Phi(x) = \tfrac12(1 + \mathrm{erf}(x/\sqrt2))`; by the product rule
    :math:`dy/dx = \Phi(x) + x\,\varphi(x)`, :math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}` the normal density
    (:math:`\Phi' = \varphi`).

    ``approximate="tanh"`` (GPT-2's): :math:`y = \tfrac12 x (1 + \tanh u)`,
    :math:`u = \sqrt{2/\pi}\,(x + 0.044715\,x^3)`; :math:`dy/dx = \tfrac12(1 + \tanh u) +
    \tfrac12 x\,(1 - \tanh^2 u)\,\sqrt{2/\pi}\,(1 + 3 \cdot 0.044715\,x^2)`. Computed as the same function
    :math:`y = x\,s`, :math:`s = \tfrac12(1 + \tanh u) = \sigma(2u)` (``logistic``), so
    :math:`dy/dx = s + 2x\,s(1-s)\,\sqrt{2/\pi}\,(1 + 3 \cdot 0.044715\,x^2)` (as :math:`1 - \tanh^2 u =
    4s(1-s)`): for negative x, :math:`1 + \tanh u` cancels and loses its relative precision, :math:`\sigma(2u)`
    does not (PyTorch's float32 values there are off by up to a few 1e-6).

    ``erf`` (above) is Cody's rational approximation, exact to the dtype's rounding. Forward keeps
    :math:`\Phi(x)` (or s and s(1 - s)) for backward. Float16 input is computed in float32 and rounded back.
    """

    saved_for_backward = ("input",)
    _C = math.sqrt(2.0 / math.pi)
    _A = 0.044715

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if not isinstance(approximate, str) or approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def __repr__(self) -> str:
        return "GELU()" if self.approximate == "none" else f"GELU(approximate={self.approximate!r})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        z = x.astype(np.promote_types(x.dtype, np.float32), copy=False)
        if self.approximate == "none":
            keep = 0.5 * (1 + erf(z * (1 / math.sqrt(2.0))))  # Phi(x)
            y = z * keep
        else:
            xp = get_array_module(z)
            e = xp.exp(-xp.abs(2 * self._C * (z + self._A * z * z * z)))  # e^{-|2u|}
            s = xp.where(z >= 0, 1, e) / (1 + e)  # (1 + tanh u)/2 = sigma(2u) (u has the sign of x)
            keep = (s, e / ((1 + e) * (1 + e)))  # s and s(1 - s), neither cancelling
            y = z * s
        self._cache = (z, keep)
        return y.astype(x.dtype, copy=False)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        z, keep = self._cache
        xp = get_array_module(z)
        if self.approximate == "none":
            slope = keep + z * (xp.exp(-0.5 * z * z) * (1 / math.sqrt(2 * math.pi)))  # Phi + x phi
        else:
            s, s1s = keep
            slope = s + (2 * self._C) * z * s1s * (1 + 3 * self._A * z * z)
        return (dout * slope).astype(dout.dtype, copy=False)


class SiLU(Activation):
    r"""Sigmoid linear unit, also called swish: :math:`y = x\,\sigma(x)`;
    :math:`dy/dx = \sigma(x) + x\,\sigma(x)(1 - \sigma(x)) = \sigma(x)\,(1 + x(1 - \sigma(x)))`.
    :math:`\sigma` is ``logistic`` (full relative precision for negative x); forward keeps it for backward."""

    saved_for_backward = ("input",)

    def forward(self, x: np.ndarray) -> np.ndarray:
        s = logistic(x)
        self._cache = (x, s)
        return x * s

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x, s = self._cache
        return dout * (s * (1 + x * (1 - s)))


class Softmax(Activation):
    r"""Softmax over the last axis, shifted by the row maximum so exp never overflows.

    :math:`y_i = e^{x_i} / \sum_j e^{x_j}`; backward :math:`dx = y \odot (g - \sum_j g_j y_j)`.
    For classification prefer ``losses.SoftmaxCrossEntropy`` on logits (fused, more stable).
    """

    input_spec = InputSpec("(..., C)", min_ndim=1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.shape[-1] == 0:  # the row maximum of an empty row does not exist
            raise ValueError(f"{self!r}: expected at least one entry on the last axis, got shape {x.shape}")
        return super().forward(x)

    def _f(self, x):
        xp = get_array_module(x)
        e = xp.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def _df(self, x, y, dout):
        return y * (dout - (dout * y).sum(axis=-1, keepdims=True))


class Step(Activation):
    """Heaviside step (the perceptron's): y = 1 where x > 0, else 0.

    Its derivative is 0 everywhere it exists, so backward returns zeros: a network of steps cannot be
    trained by gradient descent, which is why the course moves to sigmoid units.
    """

    def _f(self, x):
        return (x > 0).astype(x.dtype)

    def _df(self, x, y, dout):
        return dout * 0


_ACTIVATIONS = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "softplus": Softplus,
    "gelu": GELU,
    "silu": SiLU,
    "swish": SiLU,
    "softmax": Softmax,
    "identity": Identity,
    "linear": Identity,
}


def make_activation(spec: Any) -> Layer:
    """A fresh activation layer from a name ("sigmoid", "relu", "tanh", "identity"/"linear"/None, ...),
    an activation class, or an instance (copied, so every use gets its own cache): how models that take an
    ``activation=`` argument (the autoencoders, ``DBN.to_sequential``) build theirs."""
    if spec is None:
        return Identity()
    if isinstance(spec, str):
        try:
            return _ACTIVATIONS[spec.lower()]()
        except KeyError:
            raise ValueError(
                f"unknown activation {spec!r}; choose one of {sorted(_ACTIVATIONS)} or None"
            ) from None
    if isinstance(spec, type) and issubclass(spec, Layer):
        return spec()
    if isinstance(spec, Layer):
        return copy.deepcopy(spec)
    raise TypeError(f"activation must be a name, a Layer class or a Layer, got {type(spec).__name__}")
