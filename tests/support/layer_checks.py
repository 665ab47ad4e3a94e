"""What the layer tests share: the gradient-check bound, random inputs and layers, PyTorch comparisons and the
constructor-argument check."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

TOL = 1e-6  # bound on gradcheck's relative error (float64 central differences)


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def assert_small(errors: dict[str, float]) -> None:
    assert errors, "gradcheck returned nothing"
    bad = {k: v for k, v in errors.items() if not v < TOL}
    assert not bad, f"gradient errors too large: {bad}"


def make_recurrent(
    cls: type, d: int = 3, h: int = 4, seed: int = 0, scale: float = 0.5, **kwargs: Any
) -> Any:
    """A recurrent layer (or any ``cls(d, h, rng=...)``) with random (not zero) parameters, biases included,
    so every gradient path is exercised."""
    rng = np.random.default_rng(seed)
    layer = cls(d, h, rng=rng, **kwargs)
    for p in layer.params.values():
        p[...] = scale * rng.standard_normal(p.shape)
    return layer


def import_torch() -> Any:
    """torch on two threads. The calling test is skipped where PyTorch is not installed, except in CI (``CI``
    set, as ``.ci/run`` does), where the PyTorch parity tests must run: a missing torch fails them there."""
    if os.environ.get("CI"):
        try:
            import torch
        except ImportError as exc:
            pytest.fail(f"CI is set but PyTorch does not import ({exc}): the parity tests would vanish")
    else:
        torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    return torch


def torch_tensor(a: Any, grad: bool = True) -> Any:
    return import_torch().tensor(np.asarray(a), requires_grad=grad)


def _numpy(a: Any) -> np.ndarray:
    return a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)


def close_to_torch(ours: np.ndarray, theirs: Any, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Entry-wise closeness to a PyTorch result (absolute ``atol``)."""
    np.testing.assert_allclose(ours, _numpy(theirs), rtol=rtol, atol=atol)


def close(ours: np.ndarray, theirs: Any, what: str = "") -> None:
    """Same shape, and entry-wise close to a PyTorch result (rtol 1e-5, atol 2e-6): the recurrent layers'
    bound."""
    theirs = _numpy(theirs)
    assert ours.shape == theirs.shape, what
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=2e-6, err_msg=what)


def assert_close(ours: np.ndarray, ref: Any, what: str) -> None:
    """rtol 1e-5 plus an absolute 1e-5 of the largest entry of ``ref``: the conv-family bound (long float32
    sums differ by a few ulps of their largest term)."""
    ref = _numpy(ref)
    scale = max(float(np.max(np.abs(ref))), 1e-30)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * scale, err_msg=what)


# -- constructor arguments --------------------------------------------------------------------------------------
# Each test file lists (constructor call, exception, words the message must contain: the owner, the argument,
# the value given) for the classes it covers.
def argument_ids(cases: list[tuple[Callable[[], Any], type, list[str]]]) -> list[str]:
    return [" ".join(words[:2]) + f" #{i}" for i, (_, _, words) in enumerate(cases)]


def assert_refused_clearly(construct: Callable[[], Any], error: type, words: list[str]) -> None:
    with pytest.raises(error) as info:
        construct()
    message = str(info.value)
    missing = [w for w in words if w not in message]
    assert not missing, f"message {message!r} lacks {missing}"


def check_image_layer_against_torch(layer: Any, ref: Callable[[Any, Any], Any]) -> None:
    """Forward and dx of a parameter-free image layer on a (2, 6, 7, 9) float32 batch against
    ``ref(torch.nn.functional, x)``."""
    torch = import_torch()
    x = rand(2, 6, 7, 9, seed=3).astype(np.float32)
    y = layer(x)
    g = rand(*y.shape, seed=4).astype(np.float32)
    dx = layer.backprop(g)
    tx = torch.tensor(x, requires_grad=True)
    ty = ref(torch.nn.functional, tx)
    ty.backward(torch.tensor(g))
    assert_close(y, ty, "forward")
    assert_close(dx, tx.grad, "dx")


def assert_accepted(obj: Any) -> None:
    """What a constructor given NumPy scalars (np.int64 sizes, np.float32 rates, np.True_ flags) must build:
    plain Python numbers in its attributes (a NumPy scalar stored there leaks into shapes, JSON and messages)
    and finite floating-point parameters, if it has any."""
    leaked = {k: type(v).__name__ for k, v in vars(obj).items() if isinstance(v, np.generic)}
    assert not leaked, f"{type(obj).__name__} kept NumPy scalars: {leaked}"
    for name, p in getattr(obj, "params", {}).items():
        assert p.dtype.kind == "f" and np.isfinite(p).all(), f"{type(obj).__name__}.{name}: {p.dtype}"
