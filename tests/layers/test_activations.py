"""Activations (scratchnet/layers/activations.py): gradient checks (float64 finite differences) and values,
PyTorch parity (float32), errors."""

import numpy as np
import pytest
from layer_checks import (
    TOL,
    argument_ids,
    assert_accepted,
    assert_refused_clearly,
    close_to_torch,
    import_torch,
    torch_tensor,
)

import scratchnet as sn
from scratchnet.layers import ELU, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Softplus, Step, Tanh

NAN, INF = float("nan"), float("inf")

ACTIVATIONS = [ReLU, LeakyReLU, Sigmoid, Tanh, ELU, Softplus, Softmax, Identity]


# -- gradient checks and values --------------------------------------------------------------------------------
def away_from_kinks(rng, shape):
    """Inputs at least 0.05 away from 0, where ReLU-like derivatives jump."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.05, 0.1 * np.sign(x + 1e-12), x)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 3), (3, 4, 5)])
@pytest.mark.parametrize("cls", ACTIVATIONS)
def test_activation_gradcheck(cls, shape, rng):
    errors = sn.gradcheck(cls(), away_from_kinks(rng, shape))
    assert errors["x"] < TOL


def test_step_forward_and_zero_gradient(rng):
    x = away_from_kinks(rng, (4, 6))
    layer = Step()
    assert np.array_equal(layer(x), (x > 0).astype(x.dtype))
    assert not layer.backprop(np.ones_like(x)).any()
    assert sn.gradcheck(Step(), x)["x"] == 0.0


def test_softmax_is_stable_for_large_inputs():
    y = Softmax()(np.array([[1000.0, 1000.0, -1000.0]]))
    np.testing.assert_allclose(y, [[0.5, 0.5, 0.0]])


def test_activation_values():
    x = np.array([[-2.0, 0.5, 3.0]])
    np.testing.assert_allclose(ReLU()(x), [[0, 0.5, 3]])
    np.testing.assert_allclose(LeakyReLU(0.1)(x), [[-0.2, 0.5, 3]])
    np.testing.assert_allclose(Sigmoid()(x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(ELU()(x), [[np.exp(-2) - 1, 0.5, 3]])
    np.testing.assert_allclose(Softplus()(x), np.log1p(np.exp(x)))
    np.testing.assert_allclose(Sigmoid()(np.array([[-1000.0, 1000.0]])), [[0.0, 1.0]])


# -- PyTorch parity (float32) ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "layer,fn",
    [
        (ReLU(), lambda F, z: F.relu(z)),
        (LeakyReLU(0.2), lambda F, z: F.leaky_relu(z, 0.2)),
        (Sigmoid(), lambda F, z: z.sigmoid()),
        (Tanh(), lambda F, z: z.tanh()),
        (ELU(1.0), lambda F, z: F.elu(z)),
        (Softplus(), lambda F, z: F.softplus(z)),
        (Softmax(), lambda F, z: F.softmax(z, dim=-1)),
    ],
    ids=lambda v: type(v).__name__ if not callable(v) or hasattr(v, "forward") else "",
)
def test_activation_parity(layer, fn, rng):
    torch = import_torch()
    x = rng.standard_normal((6, 5)).astype(np.float32) * 3
    g = rng.standard_normal((6, 5)).astype(np.float32)
    xt = torch_tensor(x)
    yt = fn(torch.nn.functional, xt)
    yt.backward(torch.tensor(g))
    close_to_torch(layer(x), yt)
    close_to_torch(layer.backprop(g), xt.grad)


# -- errors ----------------------------------------------------------------------------------------------------
# (constructor call, exception, words the message must contain: the owner, the argument, the value given)
BAD_ARGUMENTS = [
    (lambda: ELU(alpha=NAN), ValueError, ["ELU", "alpha", "nan"]),
    (lambda: ELU(alpha=INF), ValueError, ["ELU", "alpha", "inf"]),
    (lambda: LeakyReLU(NAN), ValueError, ["LeakyReLU", "negative_slope", "nan"]),
    (lambda: LeakyReLU("0.1"), TypeError, ["LeakyReLU", "negative_slope", "'0.1'"]),
]


@pytest.mark.parametrize("construct,error,words", BAD_ARGUMENTS, ids=argument_ids(BAD_ARGUMENTS))
def test_bad_constructor_argument_is_refused_with_a_clear_message(construct, error, words):
    assert_refused_clearly(construct, error, words)


@pytest.mark.parametrize(
    "construct",
    [
        lambda: LeakyReLU(-0.2),
        lambda: ELU(0),
    ],
)
def test_valid_arguments_of_every_numeric_type_are_accepted(construct):
    assert_accepted(construct())


def test_softmax_over_an_empty_or_missing_class_axis():
    with pytest.raises(ValueError, match=r"Softmax\(\): expected at least one entry on the last axis"):
        Softmax()(np.zeros((3, 0)))
    with pytest.raises(ValueError, match=r"Softmax\(\): expected at least 1-D"):
        Softmax()(np.float32(1.0))
    assert Softmax()(np.zeros((0, 4))).shape == (0, 4)
