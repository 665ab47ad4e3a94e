"""GELU (both forms) and SiLU (scratchnet/layers/activations.py): the error function against math.erf,
gradient checks (float64), PyTorch parity (float32) over a wide range, dtypes and errors."""

import math

import numpy as np
import pytest
from layer_checks import TOL, assert_refused_clearly, close_to_torch, import_torch

import scratchnet as sn
from scratchnet.layers import GELU, SiLU, make_activation
from scratchnet.layers.activations import erf

KINDS = [GELU, lambda: GELU("tanh"), SiLU]
IDS = ["GELU", "GELU-tanh", "SiLU"]


def test_erf_matches_math_erf_to_rounding():
    x = np.concatenate([np.linspace(-7, 7, 20_001), [0.0, 1e-300, -1e-30, 0.46875, -4.0, 4.0, 26.0, -40.0]])
    ref = np.array([math.erf(v) for v in x])
    got = erf(x)
    assert got.dtype == np.float64
    # Cody's approximation: within a few units in the last place of float64 everywhere
    np.testing.assert_allclose(got, ref, rtol=1e-15, atol=1e-300)
    # float32: within 3 float32 ulps of 1 (float32 inputs, so no input rounding in the comparison)
    x32 = x.astype(np.float32)
    ref32 = np.array([math.erf(float(v)) for v in x32])
    np.testing.assert_allclose(erf(x32), ref32, rtol=4e-7, atol=1.8e-7)
    assert erf(np.array([np.inf, -np.inf, np.nan])).tolist()[:2] == [1.0, -1.0]
    assert np.isnan(erf(np.array([np.nan]))[0])
    assert erf(np.float16([0.5])).dtype == np.float16


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (3, 4, 5)])
@pytest.mark.parametrize("make", KINDS, ids=IDS)
def test_gradcheck(make, shape, rng):
    x = rng.standard_normal(shape) * 3
    assert sn.gradcheck(make(), x)["x"] < TOL


def test_values_by_the_formulas():
    x = np.array([[-6.0, -1.5, -0.3, 0.0, 0.2, 1.0, 4.5]])
    phi = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x[0]])
    np.testing.assert_allclose(GELU()(x)[0], x[0] * phi, rtol=1e-15, atol=1e-300)
    u = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
    np.testing.assert_allclose(GELU("tanh")(x), 0.5 * x * (1 + np.tanh(u)), rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(GELU("tanh")(x), x / (1 + np.exp(-2 * u)), rtol=1e-15)  # = x sigma(2u)
    np.testing.assert_allclose(SiLU()(x), x / (1 + np.exp(-x)), rtol=1e-15)
    # no cancellation for negative x: the tiny values keep their relative precision
    np.testing.assert_allclose(
        SiLU()(np.array([-30.0, -300.0])), [-30 * math.exp(-30), -300 * math.exp(-300)]
    )


@pytest.mark.parametrize(
    "make,fn,atol",
    [
        (GELU, lambda F, z: F.gelu(z), 1e-6),
        # PyTorch's float32 tanh form computes 1 + tanh(u), which cancels for negative x (off by up to a few
        # 1e-6 there); ours is sigma(2u), the same function without the cancellation: see the float64 check
        (lambda: GELU("tanh"), lambda F, z: F.gelu(z, approximate="tanh"), 5e-6),
        (SiLU, lambda F, z: F.silu(z), 1e-6),
    ],
    ids=IDS,
)
def test_parity_with_torch(make, fn, atol, rng):
    """float32 on [-12, 12]: output and dx within rtol 1e-5 and ``atol`` of PyTorch's float32, and within
    rtol 1e-5, atol 1e-6 of PyTorch's float64; far out (+-60, +-1e4) the exact limits y = x or 0."""
    torch = import_torch()
    x = np.concatenate([rng.standard_normal(500) * 4, np.linspace(-12, 12, 97)]).astype(np.float32)[None, :]
    g = rng.standard_normal(x.shape).astype(np.float32)
    layer = make()
    y, dx = layer(x), None
    assert y.dtype == np.float32
    dx = layer.backprop(g)
    for dtype, tol in ((torch.float32, atol), (torch.float64, 1e-6)):
        xt = torch.tensor(x, dtype=dtype, requires_grad=True)
        yt = fn(torch.nn.functional, xt)
        yt.backward(torch.tensor(g, dtype=dtype))
        close_to_torch(y, yt, atol=tol)
        close_to_torch(dx, xt.grad, atol=tol)
    far = np.array([[-1e4, -60.0, 60.0, 1e4]], np.float32)
    np.testing.assert_allclose(layer(far), [[0, 0, 60, 1e4]], rtol=1e-7, atol=1e-20)
    np.testing.assert_allclose(layer.backprop(np.ones_like(far)), [[0, 0, 1, 1]], atol=1e-20)


@pytest.mark.parametrize("make", KINDS, ids=IDS)
def test_keeps_the_input_dtype_and_stays_finite(make):
    for dtype in (np.float16, np.float32, np.float64):
        x = np.array([[-1e4, -30.0, -1.0, 0.0, 2.0, 30.0, 1e4]], dtype=dtype)
        layer = make()
        y = layer(x)
        dx = layer.backprop(np.ones_like(x))
        assert y.dtype == dx.dtype == dtype
        assert np.isfinite(y).all() and np.isfinite(dx).all()


def test_make_activation_knows_them():
    assert isinstance(make_activation("gelu"), GELU)
    assert isinstance(make_activation("silu"), SiLU) and isinstance(make_activation("swish"), SiLU)


@pytest.mark.parametrize("bad", ["exact", "Tanh", None, 1])
def test_gelu_refuses_an_unknown_form(bad):
    assert_refused_clearly(lambda: GELU(bad), ValueError, ["GELU", "approximate", repr(bad)])
