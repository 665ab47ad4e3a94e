"""The Layer base class (scratchnet/layers/base.py): input casting, dtype of gradients, train/eval and astype
propagation, random-state restore, the shared argument validators, and the errors it raises for every layer
(backward before forward, wrong or ragged dout, host arrays into a device layer).

The base class has no maths of its own: the checks that run through every layer of the catalog (PyTorch
parity, dout dtypes, empty batches, NaN input) are in test_catalog.py."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.arguments import check_float, check_size
from scratchnet.layers import (
    GRU,
    LSTM,
    RNN,
    BatchNorm1D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    ReLU,
    TimeDistributed,
)
from scratchnet.losses import MeanSquaredError, SequenceCrossEntropy


# -- dtypes, modes and state -----------------------------------------------------------------------------------
def test_integer_input_is_accepted(rng):
    y = Dense(3, 2)(np.array([[1, 0, 1]]))
    assert y.dtype == np.float32
    assert ReLU()(np.array([[-1, 2]])).dtype == np.float32


def test_gradients_keep_the_parameter_dtype():
    layer = Dense(3, 2)
    layer(np.ones((4, 3), dtype=np.float32))
    dx = layer.backprop(np.ones((4, 2)))  # float64 upstream gradient into a float32 layer
    assert dx.dtype == np.float32
    assert all(layer.grads[k].dtype == np.float32 for k in layer.params)


def test_astype_and_train_eval_propagate():
    model = sn.Sequential([Dense(2, 3), BatchNorm1D(3), Dropout(0.2)])
    model.eval()
    assert not any(layer.training for _, layer in model.named_layers())
    model.train()
    assert all(layer.training for _, layer in model.named_layers())
    model.astype(np.float64)
    assert model.dtype == np.float64 and model[1].buffers["running_var"].dtype == np.float64


def test_set_rng_state_is_all_or_nothing():
    import scratchnet as sn
    from scratchnet.layers import Dense, Dropout

    model = sn.Sequential([Dropout(0.5), Dense(3, 3), Dropout(0.5)])
    saved = model.get_rng_state()
    names = sorted(saved)
    assert len(names) == 2
    bad = {names[0]: saved[names[0]], names[1]: {"bit_generator": "PCG64", "state": "garbage"}}
    model(np.ones((4, 3), np.float32))  # advance both generators
    before = model.get_rng_state()
    with pytest.raises(ValueError, match="unusable random state"):
        model.set_rng_state(bad)
    assert model.get_rng_state() == before  # the first generator was not replaced either
    model.set_rng_state(saved)
    assert model.get_rng_state() == saved


# -- errors ----------------------------------------------------------------------------------------------------
def test_backward_before_forward_and_wrong_dout():
    with pytest.raises(RuntimeError, match="before forward"):
        Dense(2, 2).backprop(np.zeros((1, 2)))
    layer = ReLU()
    layer(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"ReLU\(\)\.backprop: expected dout of shape \(2, 3\)"):
        layer.backprop(np.zeros((3, 2)))


def test_validators_return_plain_python_numbers():
    assert type(check_size("X", "n", np.int16(3))) is int
    assert check_float("X", "r", np.float32(0.5), low=0.0, high=1.0) == 0.5
    assert type(check_float("X", "r", 2)) is float
    with pytest.raises(ValueError, match=r"X: r must be a finite number in \(0, 1\], got 0"):
        check_float("X", "r", 0, low=0.0, high=1.0, low_inclusive=False)
    with pytest.raises(ValueError, match="X: r must be a finite number, got 1000"):
        check_float("X", "r", 10**400)  # beyond float range: no raw OverflowError
    with pytest.raises(ValueError, match="X: n must be an int >= 2, got 1"):
        check_size("X", "n", 1, minimum=2)


def test_dout_as_a_list_or_a_ragged_list():
    layer = TimeDistributed(Dense(3, 2))
    layer(np.ones((1, 2, 3)))
    assert layer.backprop([[[1.0, 0.0], [0.0, 1.0]]]).shape == (1, 2, 3)
    relu = Flatten()
    relu(np.ones((2, 1)))
    with pytest.raises(TypeError, match=r"Flatten\(\)\.backprop: dout must be an array"):
        relu.backprop([[1.0], [1.0, 2.0]])


RAGGED = [[1.0, 2.0], [3.0]]


@pytest.mark.parametrize(
    "call,pattern",
    [
        (lambda: Dense(2, 3)(RAGGED), r"Dense\(2, 3\): input must be an array, got list"),
        (lambda: Embedding(5, 2)([[1, 2], [3]]), r"Embedding\(5, 2\): ids must be an array"),
        (lambda: RNN(2, 3)(np.ones((2, 4, 2)), h0=RAGGED), r"RNN\(2, 3\): h0 must be an array"),
        (
            lambda: GRU(2, 3)(np.ones((2, 4, 2)), lengths=[[1], [2, 3]]),
            r"GRU\(2, 3\): lengths must be",
        ),
        (
            lambda: TimeDistributed(Dense(2, 3))(RAGGED),
            r"TimeDistributed\(Dense\(2, 3\)\): input must be",
        ),
        (lambda: MeanSquaredError()(RAGGED, RAGGED), r"MeanSquaredError\(\): predictions must be an array"),
        (
            lambda: MeanSquaredError()(np.ones((2, 2)), RAGGED),
            r"MeanSquaredError\(\): target must be an array",
        ),
        (
            lambda: SequenceCrossEntropy()(np.ones((2, 2, 3)), [[0, 1], [2]]),
            r"SequenceCrossEntropy.*targets must be",
        ),
    ],
)
def test_ragged_lists_are_a_type_error_naming_the_layer(call, pattern):
    with pytest.raises(TypeError, match=pattern):
        call()


def test_host_arrays_into_a_device_layer_are_refused_by_name():
    from stand_in_device import asarray, to_device

    lstm = to_device(LSTM(3, 4))
    x = asarray(np.ones((2, 5, 3), dtype=np.float32))
    with pytest.raises(TypeError, match=r"LSTM\(3, 4\): h0 is on cpu but the layer's parameters are on cuda"):
        lstm(x, h0=np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(TypeError, match=r"LSTM\(3, 4\): c0 is on cpu"):
        lstm(x, c0=np.zeros((2, 4), dtype=np.float32))
    y = lstm(x)
    with pytest.raises(TypeError, match=r"LSTM\(3, 4\): dh_last is on cpu"):
        lstm.backprop(asarray(np.ones(y.shape, np.float32)), dh_last=np.ones((2, 4), np.float32))
    with pytest.raises(
        TypeError, match=r"LSTM\(3, 4\): dout is on cpu but the layer's parameters are on cuda"
    ):
        lstm.backprop(np.ones(y.shape, dtype=np.float32))
    dense = to_device(Dense(3, 2))
    y = dense(asarray(np.ones((4, 3), dtype=np.float32)))
    with pytest.raises(TypeError, match=r"Dense\(3, 2\): dout is on cpu"):
        dense.backprop(np.ones(y.shape, dtype=np.float32))
