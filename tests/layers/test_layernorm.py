"""LayerNorm (scratchnet/layers/normalization.py): gradient checks (float64) for gamma, beta and the input on
2-D, 3-D and 1-D inputs; PyTorch parity (float32) against torch.nn.LayerNorm; the same function in training
and evaluation; errors naming the layer."""

import numpy as np
import pytest
from layer_checks import (
    TOL,
    argument_ids,
    assert_accepted,
    assert_close,
    assert_refused_clearly,
    import_torch,
    torch_tensor,
)

import scratchnet as sn
from scratchnet.layers import LayerNorm

NAN, INF = float("nan"), float("inf")


def random_layer(d: int, rng, **kwargs) -> LayerNorm:
    layer = LayerNorm(d, **kwargs)
    layer.params["gamma"][:] = rng.uniform(0.5, 2, d)
    layer.params["beta"][:] = rng.standard_normal(d)
    return layer


# -- gradient checks and values --------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4), (6,), (2, 2, 3, 4), (3, 1)])
def test_layernorm_gradcheck(shape, rng):
    errors = sn.gradcheck(random_layer(shape[-1], rng), rng.standard_normal(shape) * 3 + 1)
    assert set(errors) == {"x", "gamma", "beta"}
    assert max(errors.values()) < TOL, errors


def test_each_row_is_normalised_and_train_equals_eval(rng):
    layer = LayerNorm(16)
    x = (rng.standard_normal((4, 5, 16)) * 7 + 3).astype(np.float32)
    y = layer(x)
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=-1), 1, atol=1e-3)  # biased variance, + eps
    layer.eval()
    np.testing.assert_array_equal(layer(x), y)
    # one row at a time gives the same rows: no statistics across the batch
    np.testing.assert_allclose(layer(x[:1, :1]), y[:1, :1], rtol=1e-6)


def test_float64_layer_keeps_float64(rng):
    layer = LayerNorm(3, dtype=np.float64)
    y = layer(rng.standard_normal((2, 3)).astype(np.float32))
    assert y.dtype == np.float64 and layer.backprop(np.ones((2, 3), np.float32)).dtype == np.float64


# -- PyTorch parity (float32) ----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,eps", [((8, 6), 1e-5), ((3, 7, 32), 1e-5), ((4, 5, 3), 1e-3), ((5,), 1e-6)])
def test_layernorm_matches_torch(shape, eps, rng):
    """Output, dx, dgamma and dbeta within rtol 1e-5 + 1e-5 of the largest entry (the conv-family bound)."""
    torch = import_torch()
    ours = random_layer(shape[-1], rng, eps=eps)
    theirs = torch.nn.LayerNorm(shape[-1], eps=eps)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.params["gamma"]))
        theirs.bias.copy_(torch.tensor(ours.params["beta"]))
    x = (rng.standard_normal(shape) * 3 + 2).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    xt = torch_tensor(x)
    yt = theirs(xt)
    yt.backward(torch.tensor(g))
    assert_close(ours(x), yt, "forward")
    assert_close(ours.backprop(g), xt.grad, "dx")
    assert_close(ours.grads["gamma"], theirs.weight.grad, "dgamma")
    assert_close(ours.grads["beta"], theirs.bias.grad, "dbeta")


# -- errors ----------------------------------------------------------------------------------------------------
def test_bad_input_names_the_layer():
    layer = LayerNorm(4)
    with pytest.raises(ValueError, match=r"^LayerNorm\(4\): expected last dimension 4 \(\(\.\.\., 4\)\)"):
        layer(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"^LayerNorm\(4\): expected at least 1-D input"):
        layer(np.float32(1.0))
    with pytest.raises(TypeError, match=r"^LayerNorm\(4\): expected a real numeric array"):
        layer(np.zeros((2, 4), complex))


BAD_ARGUMENTS = [
    (lambda: LayerNorm(0), ValueError, ["LayerNorm", "normalized_shape", "0"]),
    (lambda: LayerNorm(4.0), TypeError, ["LayerNorm", "normalized_shape", "4.0"]),
    (lambda: LayerNorm((3, 4)), ValueError, ["LayerNorm", "normalized_shape", "(3, 4)"]),
    (lambda: LayerNorm(4, eps=0), ValueError, ["LayerNorm", "eps", "0"]),
    (lambda: LayerNorm(4, eps=NAN), ValueError, ["LayerNorm", "eps", "nan"]),
    (lambda: LayerNorm(4, eps=INF), ValueError, ["LayerNorm", "eps", "inf"]),
    (lambda: LayerNorm(4, dtype=np.int32), TypeError, ["LayerNorm", "dtype", "int32"]),
]


@pytest.mark.parametrize("construct,error,words", BAD_ARGUMENTS, ids=argument_ids(BAD_ARGUMENTS))
def test_bad_constructor_argument_is_refused_with_a_clear_message(construct, error, words):
    assert_refused_clearly(construct, error, words)


@pytest.mark.parametrize(
    "construct",
    [lambda: LayerNorm(np.int64(4)), lambda: LayerNorm((4,)), lambda: LayerNorm(4, eps=np.float32(1e-6))],
)
def test_valid_arguments_of_every_numeric_type_are_accepted(construct):
    layer = construct()
    assert_accepted(layer)
    assert layer.normalized_shape == 4
