"""Dense (scratchnet/layers/dense.py): gradient checks (float64), shapes and dtypes, PyTorch parity (float32),
errors."""

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
from scratchnet.layers import Dense


# -- gradient checks, shapes and dtypes ------------------------------------------------------------------------
@pytest.mark.parametrize("n,d_in,d_out", [(1, 1, 1), (1, 5, 3), (7, 4, 9), (3, 13, 2)])
def test_dense_gradcheck(n, d_in, d_out, rng):
    errors = sn.gradcheck(Dense(d_in, d_out), rng.standard_normal((n, d_in)))
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < TOL


def test_dense_accepts_time_axis(rng):
    layer = Dense(4, 3)
    x = rng.standard_normal((2, 5, 4)).astype(np.float32)
    y = layer(x)
    assert y.shape == (2, 5, 3)
    W, b = layer.params["W"], layer.params["b"]
    # float32 sums in another order: within a few ulps of the terms' magnitudes (an entry may cancel to ~0)
    scale = np.abs(x[1, 2]) @ np.abs(W) + np.abs(b)
    np.testing.assert_allclose(
        y[1, 2], x[1, 2] @ W + b, rtol=0, atol=float(4 * np.finfo(np.float32).eps * scale.max())
    )
    assert max(sn.gradcheck(layer, x).values()) < TOL


def test_dense_shapes_and_dtypes():
    layer = Dense(784, 10)
    assert layer.params["W"].shape == (784, 10) and layer.params["b"].shape == (10,)
    assert layer.params["W"].dtype == np.float32
    y = layer(np.zeros((2, 784)))  # float64 input is cast to the layer dtype
    assert y.dtype == np.float32
    layer.backprop(np.ones((2, 10), dtype=np.float32))
    assert all(
        layer.grads[k].shape == v.shape and layer.grads[k].dtype == v.dtype for k, v in layer.params.items()
    )
    wide = Dense(3, 2, dtype=np.float64)
    assert wide(np.ones((1, 3), dtype=np.float32)).dtype == np.float64


# -- PyTorch parity (float32) ----------------------------------------------------------------------------------
def test_dense_parity(rng):
    torch = import_torch()
    F = torch.nn.functional
    layer = Dense(7, 4)
    layer.params["b"][:] = rng.standard_normal(4).astype(np.float32)
    x = rng.standard_normal((5, 7)).astype(np.float32)
    g = rng.standard_normal((5, 4)).astype(np.float32)
    xt, wt, bt = torch_tensor(x), torch_tensor(layer.params["W"].T.copy()), torch_tensor(layer.params["b"])
    yt = F.linear(xt, wt, bt)
    yt.backward(torch.tensor(g))
    close_to_torch(layer(x), yt)
    close_to_torch(layer.backprop(g), xt.grad)
    close_to_torch(layer.grads["W"], wt.grad.T)
    close_to_torch(layer.grads["b"], bt.grad)


# -- errors ----------------------------------------------------------------------------------------------------
def test_dense_wrong_features_message():
    with pytest.raises(ValueError, match=r"Dense\(4, 3\).*last dimension 4.*\(5, 3\)"):
        Dense(4, 3)(np.zeros((5, 3)))


def test_dense_wrong_ndim_and_dtype():
    with pytest.raises(ValueError, match="Dense"):
        Dense(4, 3)(np.zeros(4))
    with pytest.raises(TypeError, match="Dense.*dtype"):
        Dense(4, 3)(np.array([["a"] * 4]))
    with pytest.raises(TypeError, match="Dense.*dtype"):
        Dense(4, 3)(np.zeros((2, 4), dtype=complex))
    with pytest.raises(ValueError, match="positive int"):
        Dense(0, 3)
    with pytest.raises(TypeError, match="float32 or float64"):
        Dense(2, 3, dtype=np.int32)


# (constructor call, exception, words the message must contain: the owner, the argument, the value given)
BAD_ARGUMENTS = [
    (lambda: Dense(True, 3), TypeError, ["Dense", "in_features", "True"]),
    (lambda: Dense(4, np.True_), TypeError, ["Dense", "out_features", "True"]),
    (lambda: Dense(4.0, 3), TypeError, ["Dense", "in_features", "4.0"]),
    (lambda: Dense("4", 3), TypeError, ["Dense", "in_features", "'4'"]),
    (lambda: Dense(4, -2), ValueError, ["Dense", "out_features", "-2"]),
    (lambda: Dense(4, 3, dtype="floaty"), TypeError, ["Dense", "float32 or float64", "floaty"]),
    (lambda: Dense(4, 3, rng=0), TypeError, ["Dense", "rng", "Generator", "int"]),
    (lambda: Dense(4, 3, weight_init="bogus"), ValueError, ["Dense", "W", "unknown initialiser 'bogus'"]),
    (
        lambda: Dense(4, 3, weight_init=lambda shape, **kw: np.ones((3, 4))),
        ValueError,
        ["Dense", "W", "(4, 3)", "(3, 4)"],
    ),
]


@pytest.mark.parametrize("construct,error,words", BAD_ARGUMENTS, ids=argument_ids(BAD_ARGUMENTS))
def test_bad_constructor_argument_is_refused_with_a_clear_message(construct, error, words):
    assert_refused_clearly(construct, error, words)


@pytest.mark.parametrize(
    "construct",
    [
        lambda: Dense(np.int64(4), np.int32(3)),
        lambda: Dense(
            4, 3, rng=np.random.default_rng(0), weight_init=lambda shape, **kw: np.ones(shape, int)
        ),
    ],
)
def test_valid_arguments_of_every_numeric_type_are_accepted(construct):
    assert_accepted(construct())
