"""The base class's checks around a layer's own forward/backward (``InputSpec``, ``Layer.__init_subclass__``)."""

import numpy as np
import pytest
from stand_in_device import DeviceArray, asarray

from scratchnet.layers import Dense, ReLU
from scratchnet.layers.base import InputSpec, Layer


class Doubler(Layer):
    """A parameter-free layer with a declared spec that reads a class attribute."""

    width = 3
    input_spec = InputSpec("(N, {width})", ndim=2, last_dim="width")

    def forward(self, x):
        return 2 * x

    def backward(self, dout):
        return 2 * dout


class FlatDense(Dense):
    """A subclass whose forward changes the shape around ``super().forward``."""

    def forward(self, x):
        return super().forward(x).reshape(-1)

    def backward(self, dout):
        return super().backward(dout.reshape(-1, self.out_features))


def test_spec_reads_class_attributes_and_fills_the_layout():
    layer = Doubler()
    assert layer(np.ones((2, 3), np.float32)).shape == (2, 3)
    with pytest.raises(ValueError, match=r"Doubler\(\): expected last dimension 3 \(\(N, 3\)\)"):
        layer(np.ones((2, 4), np.float32))


def test_backward_is_refused_before_forward_and_checked_against_the_output():
    layer = Doubler()
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backprop(np.ones((2, 3)))
    layer(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"dout of shape \(2, 3\)"):
        layer.backprop(np.ones((3, 2)))
    with pytest.raises(TypeError, match="floating-point dout"):
        layer.backprop(np.ones((2, 3), int))


def test_a_subclass_calling_super_is_checked_once_against_its_own_output():
    layer = FlatDense(4, 3, rng=np.random.default_rng(0))
    y = layer(np.ones((2, 4), np.float32))
    assert y.shape == (6,)
    dx = layer.backprop(np.ones(6, np.float32))  # the subclass's output shape is what dout must match
    assert dx.shape == (2, 4)
    layer(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"dout of shape \(6,\)"):
        layer.backprop(np.ones((2, 3), np.float32))


def test_host_dout_for_a_device_forward_is_refused_even_without_parameters():
    relu = ReLU()
    y = relu(asarray(np.ones((2, 3), np.float32)))
    assert isinstance(y, DeviceArray)
    with pytest.raises(
        TypeError, match=r"ReLU\(\)\.backprop: dout is on cpu but the forward output is on cuda"
    ):
        relu.backprop(np.ones((2, 3), np.float32))
    assert isinstance(relu.backprop(asarray(np.ones((2, 3), np.float32))), DeviceArray)


def test_a_failed_forward_leaves_the_layer_usable():
    layer = Doubler()
    with pytest.raises(ValueError):
        layer(np.ones((2, 5), np.float32))
    with pytest.raises(RuntimeError, match="before forward"):  # nothing was recorded by the failed call
        layer.backprop(np.ones((2, 5)))
    assert layer(np.ones((1, 3), np.float32)).shape == (1, 3)
