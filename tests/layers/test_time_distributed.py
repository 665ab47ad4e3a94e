"""TimeDistributed (scratchnet/layers/time_distributed.py): equals its layer applied per step, gradient check
(float64), errors. Its PyTorch parity runs in test_catalog.py."""

import copy

import numpy as np
import pytest
from layer_checks import assert_small

from scratchnet.gradcheck import gradcheck
from scratchnet.layers.dense import Dense
from scratchnet.layers.time_distributed import TimeDistributed


# -- gradient check and errors ---------------------------------------------------------------------------------
def test_time_distributed_matches_dense_and_gradchecks():
    rng = np.random.default_rng(6)
    dense = Dense(3, 2, rng=rng)
    td = TimeDistributed(copy.deepcopy(dense))
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(td(x), dense(x), rtol=1e-6)
    assert [name for name, _ in td.named_layers()] == ["", "0"]
    assert_small(gradcheck(td, rng.standard_normal((2, 5, 3))))
    with pytest.raises(ValueError, match="TimeDistributed"):
        td(np.zeros((2, 3), np.float32))
