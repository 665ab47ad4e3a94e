"""Gradient checks (float64 finite differences), modes and input validation of the core layers."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers import (
    ELU,
    BatchNorm1D,
    BatchNorm2D,
    Dense,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Step,
    Tanh,
)

TOL = 1e-6
ACTIVATIONS = [ReLU, LeakyReLU, Sigmoid, Tanh, ELU, Softplus, Softmax, Identity]


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
    assert np.array_equal(layer.forward(x), (x > 0).astype(x.dtype))
    assert not layer.backward(np.ones_like(x)).any()
    assert sn.gradcheck(Step(), x)["x"] == 0.0


@pytest.mark.parametrize("n,d_in,d_out", [(1, 1, 1), (1, 5, 3), (7, 4, 9), (3, 13, 2)])
def test_dense_gradcheck(n, d_in, d_out, rng):
    errors = sn.gradcheck(Dense(d_in, d_out), rng.standard_normal((n, d_in)))
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < TOL


def test_dense_accepts_time_axis(rng):
    layer = Dense(4, 3)
    x = rng.standard_normal((2, 5, 4)).astype(np.float32)
    y = layer.forward(x)
    assert y.shape == (2, 5, 3)
    np.testing.assert_allclose(y[1, 2], x[1, 2] @ layer.params["W"] + layer.params["b"], rtol=1e-6)
    assert max(sn.gradcheck(layer, x).values()) < TOL


def test_dense_shapes_and_dtypes():
    layer = Dense(784, 10)
    assert layer.params["W"].shape == (784, 10) and layer.params["b"].shape == (10,)
    assert layer.params["W"].dtype == np.float32
    y = layer.forward(np.zeros((2, 784)))  # float64 input is cast to the layer dtype
    assert y.dtype == np.float32
    layer.backward(np.ones((2, 10), dtype=np.float32))
    assert all(
        layer.grads[k].shape == v.shape and layer.grads[k].dtype == v.dtype for k, v in layer.params.items()
    )
    wide = Dense(3, 2, dtype=np.float64)
    assert wide.forward(np.ones((1, 3), dtype=np.float32)).dtype == np.float64


@pytest.mark.parametrize("n", [3, 5])  # with n=2 the normalised output is ±1 whatever x is
def test_batchnorm1d_gradcheck_train(n, rng):
    layer = BatchNorm1D(3)
    layer.params["gamma"][:] = rng.uniform(0.5, 2, 3)
    layer.params["beta"][:] = rng.standard_normal(3)
    assert max(sn.gradcheck(layer, rng.standard_normal((n, 3))).values()) < TOL


def test_batchnorm_gradcheck_eval(rng):
    layer = BatchNorm1D(4)
    layer.forward(rng.standard_normal((16, 4)) * 3 + 1)  # fills running statistics
    layer.eval()
    assert max(sn.gradcheck(layer, rng.standard_normal((1, 4))).values()) < TOL


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 2, 3, 3), (3, 1, 1, 2)])
def test_batchnorm2d_gradcheck(shape, rng):
    layer = BatchNorm2D(shape[1])
    layer.params["gamma"][:] = rng.uniform(0.5, 2, shape[1])
    assert max(sn.gradcheck(layer, rng.standard_normal(shape)).values()) < TOL


def test_batchnorm_normalises_and_tracks_running_stats(rng):
    layer = BatchNorm1D(3, momentum=1.0)
    x = (rng.standard_normal((500, 3)) * [1, 2, 3] + [5, -1, 0]).astype(np.float32)
    y = layer.forward(x)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-3)
    np.testing.assert_allclose(layer.buffers["running_mean"], x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(layer.buffers["running_var"], x.var(axis=0, ddof=1), rtol=1e-4)
    with pytest.raises(ValueError, match="more than one value"):
        layer.forward(x[:1])
    layer.eval()
    assert layer.forward(x[:1]).shape == (1, 3)


def test_dropout_train_and_eval(rng):
    layer = Dropout(0.3)
    x = np.ones((200, 100), dtype=np.float32)
    y = layer.forward(x)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(layer.backward(x), y)  # same mask scales the gradient
    layer.eval()
    np.testing.assert_array_equal(layer.forward(x), x)
    assert sn.gradcheck(Dropout(0.5), rng.standard_normal((4, 6)))["x"] < TOL


def test_dropout_rejects_bad_p():
    for p in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="drop probability"):
            Dropout(p)


def test_flatten_roundtrip(rng):
    layer = Flatten()
    x = rng.standard_normal((2, 3, 4, 5))
    assert layer.forward(x).shape == (2, 60)
    assert layer.backward(np.ones((2, 60))).shape == x.shape
    assert sn.gradcheck(layer, x)["x"] < TOL


def test_softmax_is_stable_for_large_inputs():
    y = Softmax().forward(np.array([[1000.0, 1000.0, -1000.0]]))
    np.testing.assert_allclose(y, [[0.5, 0.5, 0.0]])


def test_activation_values():
    x = np.array([[-2.0, 0.5, 3.0]])
    np.testing.assert_allclose(ReLU().forward(x), [[0, 0.5, 3]])
    np.testing.assert_allclose(LeakyReLU(0.1).forward(x), [[-0.2, 0.5, 3]])
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(ELU().forward(x), [[np.exp(-2) - 1, 0.5, 3]])
    np.testing.assert_allclose(Softplus().forward(x), np.log1p(np.exp(x)))
    np.testing.assert_allclose(Sigmoid().forward(np.array([[-1000.0, 1000.0]])), [[0.0, 1.0]])


# -- bad input: clear errors naming the layer ------------------------------------------------------------
def test_dense_wrong_features_message():
    with pytest.raises(ValueError, match=r"Dense\(4, 3\).*last dimension 4.*\(5, 3\)"):
        Dense(4, 3).forward(np.zeros((5, 3)))


def test_dense_wrong_ndim_and_dtype():
    with pytest.raises(ValueError, match="Dense"):
        Dense(4, 3).forward(np.zeros(4))
    with pytest.raises(TypeError, match="Dense.*dtype"):
        Dense(4, 3).forward(np.array([["a"] * 4]))
    with pytest.raises(TypeError, match="Dense.*dtype"):
        Dense(4, 3).forward(np.zeros((2, 4), dtype=complex))
    with pytest.raises(ValueError, match="positive int"):
        Dense(0, 3)
    with pytest.raises(TypeError, match="float32 or float64"):
        Dense(2, 3, dtype=np.int32)


def test_backward_before_forward_and_wrong_dout():
    with pytest.raises(RuntimeError, match="before forward"):
        Dense(2, 2).backward(np.zeros((1, 2)))
    layer = ReLU()
    layer.forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"ReLU\(\)\.backward: expected dout of shape \(2, 3\)"):
        layer.backward(np.zeros((3, 2)))


def test_batchnorm_wrong_channels():
    with pytest.raises(ValueError, match=r"BatchNorm2D\(3\).*3 channels"):
        BatchNorm2D(3).forward(np.zeros((2, 4, 5, 5)))
    with pytest.raises(ValueError, match=r"BatchNorm1D\(3\).*2-D"):
        BatchNorm1D(3).forward(np.zeros((2, 3, 1)))


def test_integer_input_is_accepted(rng):
    y = Dense(3, 2).forward(np.array([[1, 0, 1]]))
    assert y.dtype == np.float32
    assert ReLU().forward(np.array([[-1, 2]])).dtype == np.float32


def test_astype_and_train_eval_propagate():
    model = sn.Sequential([Dense(2, 3), BatchNorm1D(3), Dropout(0.2)])
    model.eval()
    assert not any(layer.training for _, layer in model.named_layers())
    model.train()
    assert all(layer.training for _, layer in model.named_layers())
    model.astype(np.float64)
    assert model.dtype == np.float64 and model[1].buffers["running_var"].dtype == np.float64


def test_gradients_keep_the_parameter_dtype():
    layer = Dense(3, 2)
    layer.forward(np.ones((4, 3), dtype=np.float32))
    dx = layer.backward(np.ones((4, 2)))  # float64 upstream gradient into a float32 layer
    assert dx.dtype == np.float32
    assert all(layer.grads[k].dtype == np.float32 for k in layer.params)
