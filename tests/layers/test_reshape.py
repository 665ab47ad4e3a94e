"""Flatten (scratchnet/layers/reshape.py): round trip and gradient check (float64), errors. Its PyTorch parity
(nn.Flatten) runs in test_catalog.py."""

import numpy as np
import pytest
from layer_checks import TOL

import scratchnet as sn
from scratchnet.layers import Flatten


# -- gradient check --------------------------------------------------------------------------------------------
def test_flatten_roundtrip(rng):
    layer = Flatten()
    x = rng.standard_normal((2, 3, 4, 5))
    assert layer(x).shape == (2, 60)
    assert layer.backprop(np.ones((2, 60))).shape == x.shape
    assert sn.gradcheck(layer, x)["x"] < TOL


# -- errors ----------------------------------------------------------------------------------------------------
def test_flatten_needs_a_batch_axis_and_real_numbers():
    with pytest.raises(
        ValueError, match=r"Flatten\(\): expected at least 2-D input \(\(N, \.\.\.\)\), got shape \(4,\)"
    ):
        Flatten()(np.zeros(4))
    with pytest.raises(TypeError, match=r"Flatten\(\): expected a real numeric array, got dtype complex128"):
        Flatten()(np.zeros((2, 3), dtype=complex))
    with pytest.raises(RuntimeError, match=r"Flatten\(\)\.backprop called before forward"):
        Flatten().backprop(np.zeros((2, 3)))
