"""Conv2D (scratchnet/layers/conv.py): gradient checks (float64) on both kernel sets, shapes and dtypes,
PyTorch parity (float32), errors."""

import numpy as np
import pytest
from layer_checks import TOL, assert_close, import_torch, rand

from scratchnet import backend
from scratchnet.gradcheck import gradcheck
from scratchnet.layers.blocks import ResidualBlock
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.lrn import LocalResponseNorm
from scratchnet.layers.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D

CONV_VARIANTS = [
    dict(kernel_size=3),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=1),
    dict(kernel_size=3, stride=2, padding="same"),
    dict(kernel_size=(2, 3), padding="same"),
    dict(kernel_size=2, padding=(1, 0, 2, 1), bias=False),
    dict(kernel_size=3, padding="valid", stride=3),
    dict(kernel_size=(5, 6)),  # kernel as large as the input
]


# -- gradient checks -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", CONV_VARIANTS)
def test_conv2d_gradcheck(kw, kernels):
    layer = Conv2D(2, 3, dtype=np.float64, rng=np.random.default_rng(0), **kw)
    if "b" in layer.params:
        layer.params["b"][...] = rand(3, seed=9)
    errors = gradcheck(layer, rand(2, 2, 5, 6))
    assert set(errors) == {"x", "W"} | ({"b"} if kw.get("bias", True) else set())
    assert max(errors.values()) < TOL, errors


# -- shapes, dtypes --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,k,s", [(28, 5, 1), (7, 3, 2), (8, 2, 3), (5, 4, 2)])
def test_same_padding_output_is_ceil(n, k, s):
    conv = Conv2D(1, 2, k, stride=s, padding="same")
    y = conv(rand(1, 1, n, n + 1).astype(np.float32))
    assert y.shape == (1, 2, -(-n // s), -(-(n + 1) // s)) == conv.output_shape((1, 1, n, n + 1))
    pool = MaxPool2D(k, stride=s, padding="same")
    assert pool(rand(1, 1, n, n + 1)).shape[2:] == y.shape[2:]


def test_float32_stays_float32(kernels):
    conv = Conv2D(3, 4, 3, padding="same")
    x = rand(2, 3, 6, 6).astype(np.float32)
    y = conv(x)
    dx = conv.backprop(np.ones_like(y))
    assert y.dtype == dx.dtype == conv.grads["W"].dtype == conv.grads["b"].dtype == np.float32
    assert y.flags.c_contiguous and dx.flags.c_contiguous
    for layer in (MaxPool2D(2), AvgPool2D(2), GlobalAvgPool2D(), LocalResponseNorm(3)):
        out = layer(x)
        assert out.dtype == np.float32 and layer.backprop(np.ones_like(out)).dtype == np.float32


# -- PyTorch parity (float32) ----------------------------------------------------------------------------------
def torch_conv(torch, x, w, b, stride, pad):
    pt, pb, pl, pr = pad
    x = torch.nn.functional.pad(x, (pl, pr, pt, pb))
    return torch.nn.functional.conv2d(x, w, b, stride=stride)


@pytest.mark.parametrize("kw", CONV_VARIANTS)
def test_conv2d_matches_torch(kw, kernels):
    torch = import_torch()
    torch.set_num_threads(2)
    layer = Conv2D(3, 4, rng=np.random.default_rng(0), **kw)
    if "b" in layer.params:
        layer.params["b"][...] = rand(4, seed=5)
    x = rand(2, 3, 5, 6, seed=1).astype(np.float32)
    y = layer(x)
    g = rand(*y.shape, seed=2).astype(np.float32)
    pad = layer._cache[1]
    dx = layer.backprop(g)

    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(layer.params["W"], requires_grad=True)
    tb = torch.tensor(layer.params["b"], requires_grad=True) if "b" in layer.params else None
    ty = torch_conv(torch, tx, tw, tb, layer.stride, pad)
    ty.backward(torch.tensor(g))
    assert_close(y, ty, "forward")
    assert_close(dx, tx.grad, "dx")
    assert_close(layer.grads["W"], tw.grad, "dW")
    if tb is not None:
        assert_close(layer.grads["b"], tb.grad, "db")


# -- errors ----------------------------------------------------------------------------------------------------
def test_empty_batch_and_planes_name_the_layer(kernels):
    with pytest.raises(ValueError, match=r"Conv2D\(3, 4.*must not be empty.*\(0, 3, 5, 5\)"):
        Conv2D(3, 4, 3)(np.zeros((0, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D\(3, 4.*must not be empty"):
        Conv2D(3, 4, 3, padding=2)(np.zeros((1, 3, 0, 5), np.float32))
    with pytest.raises(ValueError, match=r"AvgPool2D\(.*must not be empty"):
        AvgPool2D(2, padding=1)(np.zeros((2, 1, 5, 0)))
    with pytest.raises(ValueError, match=r"GlobalAvgPool2D\(\): expected H and W >= 1"):
        GlobalAvgPool2D()(np.zeros((2, 1, 0, 3)))
    with pytest.raises(ValueError, match=r"ResidualBlock\(2, 2.*must not be empty"):
        ResidualBlock(2, 2)(np.zeros((0, 2, 4, 4), np.float32))
    # a layer that can handle an empty batch keeps doing so
    assert GlobalAvgPool2D()(np.zeros((0, 3, 2, 2))).shape == (0, 3)


def test_conv2d_errors():
    conv = Conv2D(3, 4, 3)
    with pytest.raises(ValueError, match=r"Conv2D\(3, 4.*3 channels"):
        conv(np.zeros((1, 2, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D.*4-D"):
        conv(np.zeros((3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D.*larger than the padded input"):
        conv(np.zeros((1, 3, 2, 5), np.float32))
    with pytest.raises(RuntimeError, match="backprop called before forward"):
        conv.backprop(np.zeros((1, 4, 3, 3), np.float32))
    y = conv(np.zeros((1, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"dout of shape \(1, 4, 3, 3\)"):
        conv.backprop(np.zeros((1, 4, 3, 2), np.float32))
    conv.backprop(np.zeros_like(y))
    if not backend.reference_mode():  # the fast path reuses the im2col buffer: one backward per forward
        with pytest.raises(RuntimeError, match="one backward"):
            conv.backprop(np.zeros_like(y))
    for bad in (
        dict(kernel_size=0),
        dict(kernel_size=3, stride=0),
        dict(kernel_size=3, padding="full"),
        dict(kernel_size=3, padding=-1),
        dict(kernel_size=(3, 3, 3)),
    ):
        with pytest.raises(ValueError, match="Conv2D"):
            Conv2D(3, 4, **bad)
    with pytest.raises(ValueError, match="in_channels"):
        Conv2D(0, 4, 3)
    with pytest.raises(TypeError, match="float32 or float64"):
        Conv2D(1, 1, 1, dtype=np.int32)


def test_conv2d_algorithm_argument():
    assert Conv2D(2, 3, 3).algorithm == "auto"
    assert "algorithm='winograd'" in repr(Conv2D(2, 3, 3, algorithm="winograd"))
    with pytest.raises(
        ValueError, match=r"Conv2D: algorithm must be one of \('auto', 'im2col', 'winograd', 'direct'\)"
    ):
        Conv2D(2, 3, 3, algorithm="fft")
    for bad in (dict(kernel_size=3, stride=2), dict(kernel_size=(3, 5)), dict(kernel_size=7)):
        with pytest.raises(ValueError, match="algorithm='winograd' needs stride 1 and a square kernel"):
            Conv2D(2, 3, algorithm="winograd", **bad)
