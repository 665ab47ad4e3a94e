"""scratchnet.gradcheck: the errors it returns, its verdict (``tol``, ``raise_on_failure``) and a custom layer
written against the public API (``scratchnet.layers.Layer`` / ``InputSpec``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.gradcheck import DEFAULT_TOL, GradcheckError, GradcheckResult
from scratchnet.layers import Dense, InputSpec, Layer


class Scale(Layer):
    """y = x * w + b per feature; ``wrong`` scales one gradient ("x", "w" or "b") by ``factor``."""

    input_spec = InputSpec("(N, {features})", ndim=2, last_dim="features")

    def __init__(self, features: int, wrong: str | None = None, factor: float = 2.0, seed: int = 0):
        super().__init__()
        self.features = features
        self.wrong, self.factor = wrong, factor
        rng = np.random.default_rng(seed)
        self.add_param("w", rng.uniform(0.5, 2.0, features))
        self.add_param("b", rng.standard_normal(features))

    def forward(self, x):
        self.x = x
        return x * self.params["w"] + self.params["b"]

    def backward(self, dout):
        def off(name):
            return self.factor if self.wrong == name else 1.0

        self.grads["w"][...] = off("w") * (dout * self.x).sum(axis=0)
        self.grads["b"][...] = off("b") * dout.sum(axis=0)
        return off("x") * dout * self.params["w"]


def _x(n: int = 4, d: int = 3) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, d))


def test_default_tolerance_is_documented_for_float64():
    assert DEFAULT_TOL == {"float64": 1e-6}
    assert "1e-6" in sn.gradcheck.__doc__ and "DEFAULT_TOL" in sn.gradcheck.__doc__


def test_correct_custom_layer_passes_and_result_is_still_the_error_dict():
    errors = sn.gradcheck(Scale(3), _x())
    assert isinstance(errors, dict) and isinstance(errors, GradcheckResult)
    assert set(errors) == {"x", "w", "b"} and all(isinstance(v, float) for v in errors.values())
    assert max(errors.values()) < 1e-8
    assert errors.passed and errors.failures == {} and errors.tol == 1e-6 and errors.dtype == "float64"
    assert errors.verdict().startswith("gradcheck passed")
    same = sn.gradcheck(Scale(3), _x(), tol=1e-6, raise_on_failure=True)  # no exception
    assert dict(same) == dict(errors)


def test_correct_library_layer_passes_when_asked_to_raise():
    result = sn.gradcheck(Dense(4, 3), _x(5, 4), raise_on_failure=True)
    assert result.passed and set(result) == {"x", "W", "b"}


@pytest.mark.parametrize("wrong", ["x", "w", "b"])
def test_wrong_backward_fails_naming_the_array(wrong):
    result = sn.gradcheck(Scale(3, wrong=wrong), _x())  # no verdict asked: returned, not raised
    assert not result.passed and set(result.failures) == {wrong}
    assert result[wrong] == pytest.approx(0.5, rel=1e-6)  # doubled gradient: |2g - g| / |2g|
    with pytest.raises(GradcheckError, match=rf"1 of 3 arrays.*tol=1e-06.*'{wrong}' 0\.5") as info:
        sn.gradcheck(Scale(3, wrong=wrong), _x(), raise_on_failure=True)
    assert isinstance(info.value, AssertionError)
    assert info.value.result.failures.keys() == {wrong}
    for ok in {"x", "w", "b"} - {wrong}:  # the arrays that passed are listed as such
        assert f"'{ok}'" in str(info.value).split("within tol:")[1]


def test_every_failing_array_is_named():
    with pytest.raises(GradcheckError, match=r"1 of 3 arrays.*: 'w' 2; within tol"):  # a sign error
        sn.gradcheck(Scale(3, wrong="w", factor=-1.0), _x(), raise_on_failure=True)

    class TwoWrong(Scale):
        def backward(self, dout):
            dx = super().backward(dout)
            self.grads["b"][...] *= 3.0
            return dx

    with pytest.raises(GradcheckError, match=r"2 of 3 arrays.*'w' 0\.5.*'b' 0\.667") as info:
        sn.gradcheck(TwoWrong(3, wrong="w"), _x(), raise_on_failure=True)
    assert set(info.value.result.failures) == {"w", "b"}


def test_small_mistake_caught_by_default_but_passes_a_loose_tol():
    layer = Scale(3, wrong="x", factor=1.0001)  # a 1e-4 relative mistake
    with pytest.raises(GradcheckError, match="'x'"):
        sn.gradcheck(layer, _x(), raise_on_failure=True)
    assert sn.gradcheck(layer, _x(), tol=1e-3, raise_on_failure=True).passed


def test_nan_gradient_fails():
    layer = Scale(3, wrong="b", factor=math.nan)
    result = sn.gradcheck(layer, _x())
    assert math.isnan(result["b"]) and set(result.failures) == {"b"}
    with pytest.raises(GradcheckError, match="'b' nan"):
        sn.gradcheck(layer, _x(), raise_on_failure=True)


def test_nothing_checked_is_not_a_pass():
    result = GradcheckResult({}, 1e-6)
    assert not result.passed and "no array was checked" in result.verdict()


@pytest.mark.parametrize(
    "tol, error, message",
    [
        (
            -1e-6,
            ValueError,
            r"gradcheck: tol \(largest relative error\) must be a finite number > 0, got -1e-06",
        ),
        (0.0, ValueError, "must be a finite number > 0"),
        (math.nan, ValueError, "must be a finite number > 0, got nan"),
        (math.inf, ValueError, "must be a finite number > 0, got inf"),
        (
            "1e-6",
            TypeError,
            r"gradcheck: tol \(largest relative error\) must be a real number, got '1e-6' \(str\)",
        ),
        (True, TypeError, "must be a real number"),
    ],
)
def test_bad_tol_is_refused_before_any_work(tol, error, message):
    class Untouchable(Scale):
        def forward(self, x):
            raise AssertionError("gradcheck ran the layer before checking its arguments")

    with pytest.raises(error, match=message):
        sn.gradcheck(Untouchable(3), _x(), tol=tol)


def test_bad_raise_on_failure_is_refused():
    with pytest.raises(TypeError, match="raise_on_failure"):
        sn.gradcheck(Scale(3), _x(), raise_on_failure="yes")


def test_tol_accepts_numpy_scalars_and_applies_to_losses_and_functions():
    pred = np.random.default_rng(2).standard_normal((4, 3))
    target = np.random.default_rng(3).standard_normal((4, 3))
    result = sn.gradcheck(sn.losses.MeanSquaredError(), pred, target=target, tol=np.float64(1e-7))
    assert result.passed and result.tol == 1e-7 and type(result.tol) is float

    def square(x):
        return x**2

    ok = sn.gradcheck(square, pred, backward=lambda g: 2 * pred * g, raise_on_failure=True)
    assert ok.passed
    with pytest.raises(GradcheckError, match=r"1 of 1 arrays.*'x'"):
        sn.gradcheck(square, pred, backward=lambda g: pred * g, raise_on_failure=True)
