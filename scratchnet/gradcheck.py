r"""Finite-difference gradient checking.

For a layer with output :math:`y = f(x; \theta)` we pick a fixed random upstream gradient :math:`g` and check
the scalar :math:`L = \sum g \odot y`. Its exact gradients are what ``backward(g)`` returns; the numerical
ones are central differences :math:`(L(\theta + \epsilon e_i) - L(\theta - \epsilon e_i)) / 2\epsilon`,
whose error is :math:`O(\epsilon^2)`. Everything runs in float64 on a deep copy, so the caller's layer is
left untouched. It runs where the arrays live: a layer on the GPU is checked with GPU arrays (each
perturbed entry is one small forward pass there), and only the final comparison copies to the host.

The error reported for each array is ``max|analytic - numeric| / max(max|analytic|, max|numeric|, floor)``:
the largest deviation relative to the gradient's own scale, which stays meaningful where single entries are
(almost) zero. The ``floor`` (default 1e-3) keeps a gradient that is exactly zero (a bias followed by batch
normalisation, say) from dividing round-off noise of ~1e-10 by itself; a wrong gradient of any size above
~1e-9 still shows up as a large error.

Pass or fail. The result is that dict with the verdict attached (:class:`GradcheckResult`: ``passed``,
``failures``, ``tol``), and ``raise_on_failure=True`` turns a failure into a :class:`GradcheckError` (an
``AssertionError``) naming every array whose error exceeds the tolerance. The tolerance is ``tol`` when
given, else the default for the dtype the check runs in, :data:`DEFAULT_TOL` (float64, the only dtype
gradcheck runs in: ``1e-6``). Why 1e-6, for the default ``eps = 1e-6``:

* truncation: central differences are off by about ``eps**2 / 6`` times the third derivative, ~1e-13 for a
  smooth layer (a kink such as ReLU's at 0 matters only when an input lies within ``eps`` of it);
* round-off: each difference carries about ``u * |L| / eps`` of float64 noise (``u`` = 2.2e-16): 2e-10 for
  ``|L|`` ~ 1, 2e-8 for ``|L|`` ~ 100. Relative to a gradient of scale ~1 that is 1e-10..1e-8; where the
  gradient is (nearly) zero the ``floor`` 1e-3 is the scale and the same noise reads 1e-7..1e-5;
* measured: the library's layers, checked on small inputs (a handful of samples and features) as the test
  suite does, give 1e-10..2e-7 (the suite's bound is the same 1e-6), while a real mistake (a missing factor, a
  wrong sign, a transposed index) gives an error of the size of the mistake, typically 1e-2..1 or more.

So 1e-6 sits well above the noise of a correct check on small inputs and far below a typical bug. A correct
layer that still fails it has a large ``|L|`` (many outputs: check a smaller input) or a gradient that is
almost zero everywhere; pass a looser ``tol`` for that check rather than loosening the default for all.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from scratchnet.arguments import check_bool, check_float
from scratchnet.backend import get_array_module, to_host
from scratchnet.layers.base import Layer

#: The relative error up to which a check passes, by the dtype the check runs in (see the module docstring
#: for the reasoning). gradcheck runs every check in float64 (on a float64 copy of a float32 layer), so float64
#: is the only entry: in float32, round-off (u = 6e-8) over a usable eps (~1e-3) leaves noise of 1e-4..1e-2,
#: as large as the error of a subtle mistake.
DEFAULT_TOL: dict[str, float] = {"float64": 1e-6}


class GradcheckResult(dict):
    """The relative error per array (a plain ``dict[str, float]`` to read and compare) and the verdict.

    ``tol``: the bound it is judged by; ``dtype`` / ``eps``: how the check ran; ``failures``: the arrays
    whose error exceeds ``tol`` or is NaN; ``passed``: no failures and at least one array checked.
    """

    def __init__(self, errors: dict[str, float], tol: float, dtype: str = "float64", eps: float = 1e-6):
        super().__init__(errors)
        self.tol = tol
        self.dtype = dtype
        self.eps = eps

    @property
    def failures(self) -> dict[str, float]:
        return {k: v for k, v in self.items() if not v <= self.tol}  # `not <=` so that NaN fails

    @property
    def passed(self) -> bool:
        return bool(self) and not self.failures

    def verdict(self) -> str:
        """One line: "passed" with the largest error, or every failing array with its error."""
        how = f"tol={self.tol:g} ({self.dtype} central differences, eps={self.eps:g})"
        if not self:
            return f"gradcheck failed: no array was checked (integer input and no parameters); {how}"
        failures = self.failures
        if not failures:
            worst = max(self, key=self.__getitem__)
            return f"gradcheck passed: largest relative error {self[worst]:.3g} ({worst!r}), {how}"
        bad = ", ".join(f"{k!r} {v:.3g}" for k, v in failures.items())
        ok = ", ".join(f"{k!r} {v:.3g}" for k, v in self.items() if k not in failures)
        return (
            f"gradcheck failed: wrong gradient for {len(failures)} of {len(self)} arrays, relative error above "
            f"{how}: {bad}" + (f"; within tol: {ok}" if ok else "")
        )


class GradcheckError(AssertionError):
    """A gradient check failed: some array's relative error exceeds the tolerance (or is NaN), or nothing
    was checked. The message names every failing array; ``result`` is the :class:`GradcheckResult`."""

    def __init__(self, message: str, result: GradcheckResult) -> None:
        super().__init__(message)
        self.result = result


def _relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-3) -> float:
    analytic = to_host(analytic).astype(np.float64)
    numeric = to_host(numeric).astype(np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"gradient shape {analytic.shape} differs from numerical shape {numeric.shape}")
    scale = max(np.max(np.abs(analytic), initial=0.0), np.max(np.abs(numeric), initial=0.0), floor)
    return float(np.max(np.abs(analytic - numeric)) / scale)


def _numerical_gradient(scalar_fn: Callable[[], float], array: np.ndarray, eps: float) -> np.ndarray:
    """Central differences of ``scalar_fn`` with respect to every entry of ``array`` (perturbed in place).

    ``array`` may live on any device; the result is a host float64 array.
    """
    grad = np.zeros(array.shape, dtype=np.float64)
    flat = array.reshape(-1)
    if not get_array_module(array).shares_memory(flat, array):
        raise ValueError("gradcheck needs contiguous arrays")
    for i in range(flat.size):
        old = float(flat[i])
        flat[i] = old + eps
        plus = scalar_fn()
        flat[i] = old - eps
        minus = scalar_fn()
        flat[i] = old
        grad.reshape(-1)[i] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(
    layer_or_fn: Any,
    x: Any,
    *,
    target: Any = None,
    backward: Callable[[np.ndarray], np.ndarray] | None = None,
    dout: np.ndarray | None = None,
    eps: float = 1e-6,
    seed: int = 0,
    check_input: bool = True,
    tol: float | None = None,
    raise_on_failure: bool = False,
) -> GradcheckResult:
    """Compares analytic and numerical gradients in float64; returns the relative error per array.

    Three kinds of subject are understood:

    * a ``Layer`` (or any model with forward/backward/params/grads): keys ``"x"`` and every parameter name
      (dotted names for composite models such as ``Sequential``);
    * a loss object (``forward(pred, target) -> float``, ``backward() -> dpred``) when ``target`` is given:
      key ``"x"`` (the prediction);
    * a plain function ``f(x)`` together with ``backward=lambda dout: dx``: key ``"x"``.

    Stochastic layers (dropout) replay the same random draws for every evaluation. ``x`` may also be a
    tuple of integer indices for layers such as embeddings (then ``check_input=False`` is implied).

    The result is that ``dict`` of relative errors, which also says whether the check passed
    (``result.passed``, ``result.failures``) under ``tol``: a positive finite number, or None for the default
    ``DEFAULT_TOL["float64"]`` = 1e-6 (the module docstring says why). ``raise_on_failure=True`` raises
    :class:`GradcheckError` (an ``AssertionError``) naming every array above ``tol`` instead of returning a
    failed result. ``tol`` and ``raise_on_failure`` are checked before any work::

        errors = gradcheck(layer, x)                          # {"x": 3e-10, "W": 1e-10, "b": 2e-11}
        errors.passed                                         # True: every error <= 1e-6
        gradcheck(layer, x, raise_on_failure=True)            # GradcheckError if any error > 1e-6
        gradcheck(layer, x, tol=1e-4, raise_on_failure=True)  # a looser bound for this check
    """
    dtype = "float64"  # every check runs in float64
    if tol is None:
        tol = DEFAULT_TOL[dtype]
    else:
        tol = check_float(
            "gradcheck", "tol", tol, low=0.0, low_inclusive=False, what="largest relative error"
        )
    raise_on_failure = check_bool("gradcheck", "raise_on_failure", raise_on_failure)
    errors = _errors(layer_or_fn, x, target, backward, dout, eps, seed, check_input)
    result = GradcheckResult(errors, tol, dtype, eps)
    if raise_on_failure and not result.passed:
        raise GradcheckError(result.verdict(), result)
    return result


def _errors(
    layer_or_fn: Any,
    x: Any,
    target: Any,
    backward: Callable[[np.ndarray], np.ndarray] | None,
    dout: np.ndarray | None,
    eps: float,
    seed: int,
    check_input: bool,
) -> dict[str, float]:
    """The relative error per array, for :func:`gradcheck`."""
    rng = np.random.default_rng(seed)
    x_arr = x if hasattr(x, "dtype") else np.asarray(x)
    xp = get_array_module(x_arr)
    check_input = check_input and x_arr.dtype.kind == "f"
    x64 = x_arr.astype(np.float64).copy() if x_arr.dtype.kind == "f" else x_arr.copy()

    if target is not None and hasattr(layer_or_fn, "forward"):
        loss = copy.deepcopy(layer_or_fn)
        tgt = target if hasattr(target, "dtype") else xp.asarray(target)
        tgt = tgt.astype(np.float64) if tgt.dtype.kind == "f" else tgt
        loss.forward(x64, tgt)
        analytic = loss.backward()
        numeric = _numerical_gradient(lambda: float(loss.forward(x64, tgt)), x64, eps)
        return {"x": _relative_error(analytic, numeric)}

    if isinstance(layer_or_fn, Layer) or hasattr(layer_or_fn, "params"):
        layer = copy.deepcopy(layer_or_fn).astype(np.float64)
        rng_state = layer.get_rng_state()

        def run() -> np.ndarray:
            layer.set_rng_state(rng_state)
            return layer(x64)

        out = run()
        g = xp.asarray(rng.standard_normal(out.shape) if dout is None else dout).astype(np.float64)

        def scalar() -> float:
            return float(xp.sum(run() * g))

        dx = layer.backprop(g)
        errors: dict[str, float] = {}
        if check_input:
            errors["x"] = _relative_error(dx, _numerical_gradient(scalar, x64, eps))
        for name, sub in layer.named_layers():
            analytic = {k: to_host(v).astype(np.float64) for k, v in sub.grads.items()}
            for key, param in sub.params.items():
                full = f"{name}.{key}" if name else key
                errors[full] = _relative_error(analytic[key], _numerical_gradient(scalar, param, eps))
        return errors

    if callable(layer_or_fn) and backward is not None:
        out = layer_or_fn(x64)
        g = xp.asarray(rng.standard_normal(out.shape) if dout is None else dout).astype(np.float64)
        dx = backward(g)
        numeric = _numerical_gradient(lambda: float(xp.sum(layer_or_fn(x64) * g)), x64, eps)
        return {"x": _relative_error(dx, numeric)}

    raise TypeError("gradcheck: pass a Layer, a loss with target=..., or a function with backward=...")
