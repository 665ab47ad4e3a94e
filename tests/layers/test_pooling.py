"""MaxPool2D, AvgPool2D, GlobalAvgPool2D (scratchnet/layers/pooling.py): gradient checks (float64) on both
kernel sets, dtypes, PyTorch parity (float32), errors."""

import numpy as np
import pytest
from layer_checks import TOL, check_image_layer_against_torch, rand

from scratchnet.gradcheck import gradcheck
from scratchnet.layers.activations import ReLU
from scratchnet.layers.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D


# -- gradient checks -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "layer",
    [
        MaxPool2D(2),
        MaxPool2D(3, stride=2, padding="same"),
        MaxPool2D((2, 3), stride=1, padding=1),
        AvgPool2D(2),
        AvgPool2D(3, stride=2, padding="same"),
        AvgPool2D(3, stride=1, padding=1, count_include_pad=True),
        GlobalAvgPool2D(),
    ],
    ids=repr,
)
def test_parameter_free_layers_gradcheck(layer, kernels):
    # distinct values: ties in a max-pool window would make the numerical gradient ill-defined
    x = np.random.default_rng(1).permutation(2 * 5 * 5 * 6).reshape(2, 5, 5, 6) / 10.0
    errors = gradcheck(layer, x)
    assert errors["x"] < TOL, errors


# -- dtypes ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float16, ">f4", ">f8"], ids=["float16", "big-f4", "big-f8"])
@pytest.mark.parametrize(
    "make",
    [lambda: MaxPool2D(2), lambda: MaxPool2D(3, stride=2, padding=1), lambda: AvgPool2D(3, 2, 1)],
    ids=["max2", "max3-pad", "avg3-pad"],
)
def test_pools_take_the_dtypes_relu_takes(make, dtype, kernels):
    # parameter-free layers keep their input's precision; the pools compute in float32/float64
    x = rand(2, 3, 6, 7).astype(dtype)
    g_shape = make().output_shape(x.shape)
    g = rand(*g_shape, seed=1).astype(dtype)
    relu = ReLU()
    layer, wide = make(), make()
    y = layer(x)
    dx = layer.backprop(g)
    assert y.dtype == relu(x).dtype and y.dtype.isnative
    assert dx.dtype == relu.backprop(rand(*x.shape, seed=2).astype(dtype)).dtype
    compute = np.float32 if np.dtype(dtype).itemsize < 4 else np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(y, wide(x.astype(compute)).astype(y.dtype))
    np.testing.assert_array_equal(dx, wide.backprop(g.astype(compute)).astype(dx.dtype))


# -- PyTorch parity (float32) ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "layer, ref",
    [
        (MaxPool2D(2), lambda F, x: F.max_pool2d(x, 2)),
        (MaxPool2D(3, stride=2, padding=1), lambda F, x: F.max_pool2d(x, 3, 2, 1)),
        (MaxPool2D((2, 3), stride=1), lambda F, x: F.max_pool2d(x, (2, 3), 1)),
        (
            MaxPool2D(2, stride=2, padding="same"),  # 'same' on odd sizes: one -inf row/column bottom/right
            lambda F, x: F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 2),
        ),
        (AvgPool2D(2), lambda F, x: F.avg_pool2d(x, 2)),
        (
            AvgPool2D(3, stride=2, padding=1, count_include_pad=True),
            lambda F, x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=True),
        ),
        (AvgPool2D(3, stride=1, padding=1), lambda F, x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)),
        (GlobalAvgPool2D(), lambda F, x: x.mean(dim=(2, 3))),
    ],
    ids=repr,
)
def test_parameter_free_layers_match_torch(layer, ref, kernels):
    check_image_layer_against_torch(layer, ref)


# -- errors ----------------------------------------------------------------------------------------------------
def test_pools_refuse_long_double_clearly():
    x = rand(1, 1, 4, 4).astype(np.longdouble)
    if np.dtype(np.longdouble).itemsize <= 8:
        pytest.skip("long double is float64 here")
    with pytest.raises(TypeError, match=r"MaxPool2D\(.*float32 or float64, got float128"):
        MaxPool2D(2)(x)


def test_pooling_errors():
    with pytest.raises(
        ValueError, match=r"MaxPool2D: padding \(2, 2, 2, 2\) must be smaller than the kernel"
    ):
        MaxPool2D(2, padding=2)  # refused when built, before any input
    with pytest.raises(ValueError, match=r"AvgPool2D.*larger than the padded input"):
        AvgPool2D(3)(np.zeros((1, 1, 2, 4)))
    with pytest.raises(ValueError, match=r"MaxPool2D.*4-D"):
        MaxPool2D(2)(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="stride"):
        MaxPool2D(2, stride=0)
    with pytest.raises(RuntimeError, match="before forward"):
        GlobalAvgPool2D().backprop(np.zeros((1, 1)))
    pool = MaxPool2D(2)
    pool(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="expected dout of shape"):
        pool.backprop(np.zeros((1, 1, 3, 3)))
