"""Conv1D (scratchnet/layers/conv1d.py): gradient checks (float64) for W, b and the input over strides and
paddings; PyTorch parity (float32) against torch.nn.Conv1d, PyTorch's (N, C, L) layout and weights as they are;
the same numbers as Conv2D on a one-pixel-high image; errors naming the layer."""

import numpy as np
import pytest
from layer_checks import (
    TOL,
    argument_ids,
    assert_accepted,
    assert_close,
    assert_refused_clearly,
    import_torch,
)

import scratchnet as sn
from scratchnet.layers import Conv1D, Conv2D

CASES = [
    (lambda: Conv1D(3, 4, 3), (2, 3, 7)),
    (lambda: Conv1D(3, 4, 3, padding=1), (2, 3, 7)),
    (lambda: Conv1D(2, 3, 4, stride=2, padding=(2, 1)), (2, 2, 9)),
    (lambda: Conv1D(2, 3, 5, stride=3, padding="same"), (3, 2, 10)),
    (lambda: Conv1D(1, 2, 1, bias=False), (2, 1, 4)),
    (lambda: Conv1D(2, 2, 4, padding="valid"), (1, 2, 4)),  # one output position
]
IDS = [repr(make()) for make, _ in CASES]


def randomized(make):
    layer = make()
    rng = np.random.default_rng(0)
    for p in layer.params.values():
        p[...] = 0.5 * rng.standard_normal(p.shape)
    return layer


@pytest.mark.parametrize("make,shape", CASES, ids=IDS)
def test_conv1d_gradcheck(make, shape, rng):
    layer = randomized(make)
    errors = sn.gradcheck(layer, rng.standard_normal(shape))
    assert set(errors) == {"x"} | set(layer.params)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("make,shape", CASES, ids=IDS)
def test_conv1d_matches_torch(make, shape, rng):
    """Output, dx, dW and db within rtol 1e-5 + 1e-5 of the largest entry."""
    torch = import_torch()
    layer = randomized(make)
    x = rng.standard_normal(shape).astype(np.float32)
    y = layer(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backprop(g)
    conv = torch.nn.Conv1d(
        layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, bias=layer.use_bias
    )
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(layer.params["W"]))  # the same (out, in, k) array
        if layer.use_bias:
            conv.bias.copy_(torch.tensor(layer.params["b"]))
    xt = torch.tensor(x, requires_grad=True)
    yt = conv(torch.nn.functional.pad(xt, layer.pad_for(shape[2])))
    yt.backward(torch.tensor(g))
    assert y.shape == tuple(yt.shape) == layer.output_shape(shape)
    assert_close(y, yt, "forward")
    assert_close(dx, xt.grad, "dx")
    assert_close(layer.grads["W"], conv.weight.grad, "dW")
    if layer.use_bias:
        assert_close(layer.grads["b"], conv.bias.grad, "db")


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel lengths")
def test_same_padding_is_torch_same_at_stride_1(rng):
    torch = import_torch()
    layer = randomized(lambda: Conv1D(2, 3, 4, padding="same"))
    x = rng.standard_normal((2, 2, 9)).astype(np.float32)
    conv = torch.nn.Conv1d(2, 3, 4, padding="same")
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(layer.params["W"]))
        conv.bias.copy_(torch.tensor(layer.params["b"]))
    assert_close(layer(x), conv(torch.tensor(x)), "forward")


def test_conv1d_is_conv2d_on_a_row(rng):
    conv1 = randomized(lambda: Conv1D(3, 4, 3, stride=2, padding=(1, 2)))
    conv2 = Conv2D(3, 4, (1, 3), stride=(1, 2), padding=(0, 0, 1, 2), algorithm="im2col")
    conv2.params["W"][...] = conv1.params["W"][:, :, None, :]
    conv2.params["b"][...] = conv1.params["b"]
    x = rng.standard_normal((2, 3, 8))
    g = rng.standard_normal(conv1.output_shape(x.shape))
    np.testing.assert_allclose(conv1(x), conv2(x[:, :, None, :])[:, :, 0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        conv1.backprop(g), conv2.backprop(g[:, :, None, :])[:, :, 0], rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(conv1.grads["W"], conv2.grads["W"][:, :, 0], rtol=1e-6, atol=1e-6)


def test_empty_batch(rng):
    layer = Conv1D(2, 3, 3)
    y = layer(np.zeros((0, 2, 5), np.float32))
    assert y.shape == (0, 3, 3)
    assert layer.backprop(np.zeros((0, 3, 3), np.float32)).shape == (0, 2, 5)
    assert not layer.grads["W"].any() and not layer.grads["b"].any()


# -- errors ----------------------------------------------------------------------------------------------------
def test_bad_input_names_the_layer():
    layer = Conv1D(2, 3, 3)
    name = r"Conv1D\(2, 3, kernel_size=3, stride=1, padding=\(0, 0\)\)"
    with pytest.raises(ValueError, match=rf"^{name}: expected 2 channels on axis 1 \(\(N, 2, L\)\)"):
        layer(np.zeros((1, 3, 5), np.float32))
    with pytest.raises(ValueError, match=rf"^{name}: expected a 3-D input"):
        layer(np.zeros((1, 2, 1, 5), np.float32))
    with pytest.raises(ValueError, match=rf"^{name}: kernel_size 3 is longer than the padded input: L = 2"):
        layer(np.zeros((1, 2, 2), np.float32))
    with pytest.raises(ValueError, match=rf"^{name}: expected at least one position"):
        layer(np.zeros((1, 2, 0), np.float32))


BAD_ARGUMENTS = [
    (lambda: Conv1D(0, 3, 3), ValueError, ["Conv1D", "in_channels", "0"]),
    (lambda: Conv1D(2, 3, 0), ValueError, ["Conv1D", "kernel_size", "0"]),
    (lambda: Conv1D(2, 3, (3,)), TypeError, ["Conv1D", "kernel_size", "(3,)"]),
    (lambda: Conv1D(2, 3, 3, stride=0), ValueError, ["Conv1D", "stride", "0"]),
    (lambda: Conv1D(2, 3, 3, padding=-1), ValueError, ["Conv1D", "padding", "-1"]),
    (lambda: Conv1D(2, 3, 3, padding="full"), ValueError, ["Conv1D", "padding", "'full'"]),
    (lambda: Conv1D(2, 3, 3, padding=(1, 2, 3)), ValueError, ["Conv1D", "padding", "(1, 2, 3)"]),
    (lambda: Conv1D(2, 3, 3, bias="yes"), TypeError, ["Conv1D", "bias", "'yes'"]),
    (lambda: Conv1D(2, 3, 3, dtype="int16"), TypeError, ["Conv1D", "dtype", "int16"]),
]


@pytest.mark.parametrize("construct,error,words", BAD_ARGUMENTS, ids=argument_ids(BAD_ARGUMENTS))
def test_bad_constructor_argument_is_refused_with_a_clear_message(construct, error, words):
    assert_refused_clearly(construct, error, words)


@pytest.mark.parametrize(
    "construct",
    [
        lambda: Conv1D(np.int64(2), np.int32(3), np.int64(3), stride=np.int64(2), padding=np.int64(1)),
        lambda: Conv1D(2, 3, 3, padding=[np.int64(1), 0], bias=np.False_),
        lambda: Conv1D(2, 3, 3, padding="SAME"),
    ],
)
def test_valid_arguments_of_every_numeric_type_are_accepted(construct):
    layer = construct()
    assert_accepted(layer)
    assert layer.padding in ("same", (1, 1), (1, 0))
