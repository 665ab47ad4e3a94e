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
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from scratchnet.backend import get_array_module, to_host
from scratchnet.layers.base import Layer


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
) -> dict[str, float]:
    """Compares analytic and numerical gradients in float64; returns the relative error per array.

    Three kinds of subject are understood:

    * a ``Layer`` (or any model with forward/backward/params/grads): keys ``"x"`` and every parameter name
      (dotted names for composite models such as ``Sequential``);
    * a loss object (``forward(pred, target) -> float``, ``backward() -> dpred``) when ``target`` is given:
      key ``"x"`` (the prediction);
    * a plain function ``f(x)`` together with ``backward=lambda dout: dx``: key ``"x"``.

    Stochastic layers (dropout) replay the same random draws for every evaluation. ``x`` may also be a
    tuple of integer indices for layers such as embeddings (then ``check_input=False`` is implied).
    """
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
