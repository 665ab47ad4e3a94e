"""Bad arguments and bad data give clear errors (naming the layer, the argument, what was expected and what
was given) instead of raw NumPy errors or silent NaN, for every public layer, loss and the RBM/DBN/
autoencoder models."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from layer_catalog import CORE_LAYERS

from scratchnet.autoencoder import Autoencoder, Corruption, TiedAutoencoder
from scratchnet.dbn import DBN
from scratchnet.layers import (
    ELU,
    GRU,
    LSTM,
    RNN,
    BatchNorm1D,
    BatchNorm2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    LeakyReLU,
    LocalResponseNorm,
    Softmax,
    TimeDistributed,
)
from scratchnet.layers.base import check_float, check_size
from scratchnet.losses import (
    BinaryCrossEntropy,
    MeanSquaredError,
    SequenceCrossEntropy,
    SoftmaxCrossEntropy,
)
from scratchnet.rbm import RBM, RatingsRBM

NAN, INF = float("nan"), float("inf")


def layer_id(make) -> str:
    return re.sub(r"\W+", "_", repr(make()))[:40]


# -- constructor arguments ----------------------------------------------------------------------------------
# (constructor call, exception, words the message must contain: the owner, the argument, the value given)
BAD_ARGUMENTS = [
    # sizes: bools, floats, strings, zero and negative counts are not sizes
    (lambda: Dense(True, 3), TypeError, ["Dense", "in_features", "True"]),
    (lambda: Dense(4, np.True_), TypeError, ["Dense", "out_features", "True"]),
    (lambda: Dense(4.0, 3), TypeError, ["Dense", "in_features", "4.0"]),
    (lambda: Dense("4", 3), TypeError, ["Dense", "in_features", "'4'"]),
    (lambda: Dense(4, -2), ValueError, ["Dense", "out_features", "-2"]),
    (lambda: Embedding(True, 3), TypeError, ["Embedding", "num_embeddings", "True"]),
    (lambda: Embedding(10, 2.5), TypeError, ["Embedding", "dim", "2.5"]),
    (lambda: RNN(True, 4), TypeError, ["RNN", "input_size", "True"]),
    (lambda: LSTM(3, 4.0), TypeError, ["LSTM", "hidden_size", "4.0"]),
    (lambda: GRU(3, 0), ValueError, ["GRU", "hidden_size", "0"]),
    (lambda: BatchNorm1D(True), TypeError, ["BatchNorm1D", "num_features", "True"]),
    (lambda: BatchNorm2D(3.0), TypeError, ["BatchNorm2D", "num_features", "3.0"]),
    (lambda: LocalResponseNorm(True), TypeError, ["LocalResponseNorm", "size", "True"]),
    (lambda: RBM(True, 3), TypeError, ["RBM", "n_visible", "True"]),
    (lambda: RBM(6, 2.0), TypeError, ["RBM", "n_hidden", "2.0"]),
    (lambda: RatingsRBM(6, -1), ValueError, ["RatingsRBM", "n_hidden", "-1"]),
    (lambda: DBN([6, True]), TypeError, ["DBN", "layer_sizes", "True"]),
    (lambda: DBN([6, 3.0]), TypeError, ["DBN", "layer_sizes", "3.0"]),
    (lambda: Autoencoder([6, True]), TypeError, ["Autoencoder", "layer sizes", "True"]),
    (lambda: TiedAutoencoder([6.0, 3]), TypeError, ["TiedAutoencoder", "layer sizes", "6.0"]),
    # hyperparameters that would make NaN or nonsense
    (lambda: BatchNorm1D(4, eps=0.0), ValueError, ["BatchNorm1D", "eps", "0.0"]),
    (lambda: BatchNorm1D(4, eps=-1e-5), ValueError, ["BatchNorm1D", "eps", "-1e-05"]),
    (lambda: BatchNorm2D(3, eps=NAN), ValueError, ["BatchNorm2D", "eps", "nan"]),
    (lambda: BatchNorm2D(3, eps=INF), ValueError, ["BatchNorm2D", "eps", "inf"]),
    (lambda: BatchNorm1D(4, momentum=NAN), ValueError, ["BatchNorm1D", "momentum", "nan"]),
    (lambda: BatchNorm1D(4, momentum="0.1"), TypeError, ["BatchNorm1D", "momentum", "'0.1'"]),
    (lambda: LocalResponseNorm(3, k=NAN), ValueError, ["LocalResponseNorm", "k", "nan"]),
    (lambda: LocalResponseNorm(3, k=INF), ValueError, ["LocalResponseNorm", "k", "inf"]),
    (lambda: LocalResponseNorm(3, alpha=-1e-4), ValueError, ["LocalResponseNorm", "alpha", "-0.0001"]),
    (lambda: LocalResponseNorm(3, alpha=NAN), ValueError, ["LocalResponseNorm", "alpha", "nan"]),
    (lambda: LocalResponseNorm(3, beta=NAN), ValueError, ["LocalResponseNorm", "beta", "nan"]),
    (lambda: ELU(alpha=NAN), ValueError, ["ELU", "alpha", "nan"]),
    (lambda: ELU(alpha=INF), ValueError, ["ELU", "alpha", "inf"]),
    (lambda: LeakyReLU(NAN), ValueError, ["LeakyReLU", "negative_slope", "nan"]),
    (lambda: LeakyReLU("0.1"), TypeError, ["LeakyReLU", "negative_slope", "'0.1'"]),
    (lambda: LSTM(3, 4, forget_bias=NAN), ValueError, ["LSTM", "forget_bias", "nan"]),
    (lambda: LSTM(3, 4, forget_bias=-INF), ValueError, ["LSTM", "forget_bias", "-inf"]),
    (lambda: Dropout(NAN), ValueError, ["Dropout", "drop probability", "nan"]),
    (lambda: Dropout(True), TypeError, ["Dropout", "drop probability", "True"]),
    (lambda: Dropout(False), TypeError, ["Dropout", "drop probability", "False"]),
    (lambda: Dropout("0.5"), TypeError, ["Dropout", "drop probability", "'0.5'"]),
    (lambda: BinaryCrossEntropy(eps=-1e-7), ValueError, ["BinaryCrossEntropy", "eps", "-1e-07"]),
    (lambda: BinaryCrossEntropy(eps=0.0), ValueError, ["BinaryCrossEntropy", "eps", "0.0"]),
    (lambda: BinaryCrossEntropy(eps=NAN), ValueError, ["BinaryCrossEntropy", "eps", "nan"]),
    (lambda: BinaryCrossEntropy(eps=0.5), ValueError, ["BinaryCrossEntropy", "eps", "0.5"]),
    (lambda: BinaryCrossEntropy(from_logits="no"), TypeError, ["BinaryCrossEntropy", "from_logits", "'no'"]),
    (lambda: Corruption("gaussian", NAN), ValueError, ["Corruption", "noise std", "nan"]),
    (lambda: Corruption("gaussian", INF), ValueError, ["Corruption", "noise std", "inf"]),
    (lambda: Corruption("mask", NAN), ValueError, ["Corruption", "fraction zeroed", "nan"]),
    (lambda: Corruption("mask", True), TypeError, ["Corruption", "fraction zeroed", "True"]),
    (lambda: Autoencoder([6, 3], corruption_level=0.3), ValueError, ["Autoencoder", "corruption_level=0.3"]),
    (lambda: TiedAutoencoder([6, 3], corruption_level=0.3), ValueError, ["TiedAutoencoder", "corruption"]),
    (lambda: Dense(4, 3, dtype="floaty"), TypeError, ["Dense", "float32 or float64", "floaty"]),
    (lambda: LSTM(3, 4, dtype=np.int32), TypeError, ["LSTM", "dtype", "int32"]),
    (lambda: BatchNorm2D(3, dtype=np.float16), TypeError, ["BatchNorm2D", "dtype", "float16"]),
    (lambda: RBM(6, 3, dtype=None), TypeError, ["RBM", "dtype", "None"]),
    # generators, flags and initialisers: wrong ones used to fail only at first use, with a raw error
    (lambda: Dense(4, 3, rng=0), TypeError, ["Dense", "rng", "Generator", "int"]),
    (lambda: Dropout(0.5, rng=1), TypeError, ["Dropout", "rng", "Generator"]),
    (lambda: Embedding(5, 2, rng=np.random.RandomState(0)), TypeError, ["Embedding", "rng", "RandomState"]),
    (lambda: LSTM(3, 4, rng=7), TypeError, ["LSTM", "rng", "int"]),
    (lambda: RBM(6, 3, rng=7), TypeError, ["RBM", "rng", "int"]),
    (lambda: DBN([6, 3], rng=7), TypeError, ["DBN", "rng", "int"]),
    (lambda: TiedAutoencoder([6, 3], rng=7), TypeError, ["TiedAutoencoder", "rng", "int"]),
    (lambda: Corruption("mask", 0.1, rng=7), TypeError, ["Corruption", "rng", "int"]),
    (lambda: RNN(3, 4, return_sequences="False"), TypeError, ["RNN", "return_sequences", "'False'"]),
    (lambda: GRU(3, 4, stateful=1), TypeError, ["GRU", "stateful", "1"]),
    (lambda: RatingsRBM(6, 3, mask_unrated="yes"), TypeError, ["RatingsRBM", "mask_unrated", "'yes'"]),
    (
        lambda: SequenceCrossEntropy(average_across_batch=None),
        TypeError,
        ["SequenceCrossEntropy", "average_across_batch"],
    ),
    (lambda: Dense(4, 3, weight_init="bogus"), ValueError, ["Dense", "W", "unknown initialiser 'bogus'"]),
    (
        lambda: Dense(4, 3, weight_init=lambda shape, **kw: np.ones((3, 4))),
        ValueError,
        ["Dense", "W", "(4, 3)", "(3, 4)"],
    ),
    (
        lambda: Embedding(5, 2, weight_init=lambda shape, **kw: None),
        ValueError,
        ["Embedding", "W", "NoneType"],
    ),
    (
        lambda: RNN(3, 4, recurrent_init=lambda shape, **kw: np.ones((4, 5))),
        ValueError,
        ["RNN", "Wh", "(4, 4)", "(4, 5)"],
    ),
    (
        lambda: GRU(3, 4, bias_init=lambda shape, **kw: np.ones(shape, dtype=complex)),
        ValueError,
        ["GRU", "b", "complex"],
    ),
    (
        lambda: RBM(6, 3, weight_init=lambda shape, **kw: np.ones(3)),
        ValueError,
        ["RBM", "W", "(6, 3)", "(3,)"],
    ),
    (lambda: TiedAutoencoder([6, 3], weight_init="nope"), ValueError, ["TiedAutoencoder", "W0", "'nope'"]),
    (lambda: DBN([6, 3], rbm_class=Dense), TypeError, ["DBN", "rbm_class", "Dense"]),
]


@pytest.mark.parametrize(
    "construct,error,words",
    BAD_ARGUMENTS,
    ids=[" ".join(w[:2]) + f" #{i}" for i, (_, _, w) in enumerate(BAD_ARGUMENTS)],
)
def test_bad_constructor_argument_is_refused_with_a_clear_message(construct, error, words):
    with pytest.raises(error) as info:
        construct()
    message = str(info.value)
    missing = [w for w in words if w not in message]
    assert not missing, f"message {message!r} lacks {missing}"


@pytest.mark.parametrize(
    "construct",
    [
        lambda: Dense(np.int64(4), np.int32(3)),
        lambda: Dropout(np.float32(0.25)),
        lambda: Dropout(0),
        lambda: LeakyReLU(-0.2),
        lambda: ELU(0),
        lambda: BatchNorm1D(4, eps=np.float64(1e-3), momentum=1),
        lambda: LocalResponseNorm(2, alpha=0.0, beta=-0.5, k=2),
        lambda: LSTM(3, 4, forget_bias=1),
        lambda: BinaryCrossEntropy(from_logits=np.True_, eps=1e-3),
        lambda: Corruption("gaussian", 0),
        lambda: Autoencoder([6, 3], corruption_level=0),
        lambda: Dense(
            4, 3, rng=np.random.default_rng(0), weight_init=lambda shape, **kw: np.ones(shape, int)
        ),
        lambda: LSTM(3, 4, stateful=np.True_, return_sequences=False),
        lambda: DBN([6, 3], rbm_class=RatingsRBM),
    ],
)
def test_valid_arguments_of_every_numeric_type_are_accepted(construct):
    construct()


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


# -- the upstream gradient ------------------------------------------------------------------------------------
def _embedding():
    return Embedding(5, 3)


def _rbm():
    return RBM(6, 3)


def _dbn():
    return DBN([6, 4, 2])


EVERY_LAYER = CORE_LAYERS + [(_embedding, None), (_rbm, (4, 6)), (_dbn, (4, 6))]


def _forward(layer, shape):
    if shape is None:  # Embedding takes ids
        return layer.forward(np.array([[0, 4, 2], [1, 1, 3]]))
    return layer.forward(np.random.default_rng(0).random(shape).astype(np.float32))


@pytest.mark.parametrize("dtype", [bool, np.int64, np.uint8, np.complex64, object])
@pytest.mark.parametrize("make,shape", EVERY_LAYER, ids=[layer_id(m) for m, _ in EVERY_LAYER])
def test_non_float_dout_is_a_type_error(make, shape, dtype):
    layer = make()
    y = _forward(layer, shape)
    with pytest.raises(TypeError, match=rf"floating-point dout, got dtype {np.dtype(dtype)}"):
        layer.backward(np.ones(y.shape, dtype=dtype))


@pytest.mark.parametrize("make,shape", EVERY_LAYER, ids=[layer_id(m) for m, _ in EVERY_LAYER])
def test_bad_dout_error_names_the_layer_it_was_given_to(make, shape):
    layer = make()
    y = _forward(layer, shape)
    with pytest.raises(
        TypeError, match=rf"^{re.escape(repr(layer))}\.backward: expected a floating-point dout"
    ):
        layer.backward(np.ones(y.shape, dtype=np.int64))
    y = _forward(layer, shape)
    with pytest.raises(ValueError, match=rf"^{re.escape(repr(layer))}\.backward: expected dout of shape"):
        layer.backward(np.ones(y.shape + (1,), dtype=np.float32))


@pytest.mark.parametrize("make,shape", EVERY_LAYER, ids=[layer_id(m) for m, _ in EVERY_LAYER])
def test_float_dout_of_any_precision_is_accepted(make, shape):
    for dtype in (np.float16, np.float32, np.float64):
        layer = make()
        y = _forward(layer, shape)
        dx = layer.backward(np.ones(y.shape, dtype=dtype))
        assert dx is None or dx.dtype.kind == "f"
        assert all(layer.grads[k].dtype == p.dtype for k, p in layer.params.items())


def test_dout_as_a_list_or_a_ragged_list():
    layer = TimeDistributed(Dense(3, 2))
    layer.forward(np.ones((1, 2, 3)))
    assert layer.backward([[[1.0, 0.0], [0.0, 1.0]]]).shape == (1, 2, 3)
    relu = Flatten()
    relu.forward(np.ones((2, 1)))
    with pytest.raises(TypeError, match=r"Flatten\(\)\.backward: dout must be an array"):
        relu.backward([[1.0], [1.0, 2.0]])


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_recurrent_last_state_gradients_must_be_floats(cls):
    layer = cls(3, 4)
    layer.forward(np.ones((2, 5, 3)))
    with pytest.raises(TypeError, match="dh_last must be a floating-point array"):
        layer.backward(np.zeros((2, 5, 4)), dh_last=np.ones((2, 4), dtype=np.int64))
    if cls is LSTM:
        with pytest.raises(TypeError, match="dc_last must be a floating-point array"):
            layer.backward(np.zeros((2, 5, 4)), dc_last=np.ones((2, 4), dtype=bool))


# -- empty batches ------------------------------------------------------------------------------------------
MY_LAYERS_N0 = [
    (lambda: Flatten(), (0, 3, 4), (0, 12)),
    (lambda: Dense(4, 3), (0, 4), (0, 3)),
    (lambda: Dense(4, 3), (0, 5, 4), (0, 5, 3)),
    (lambda: Dropout(0.5), (0, 4), (0, 4)),
    (lambda: LocalResponseNorm(3), (0, 5, 2, 2), (0, 5, 2, 2)),
    (lambda: TimeDistributed(Dense(3, 2)), (0, 5, 3), (0, 5, 2)),
    (lambda: RNN(3, 4), (0, 5, 3), (0, 5, 4)),
    (lambda: LSTM(3, 4), (0, 5, 3), (0, 5, 4)),
    (lambda: GRU(3, 4), (0, 5, 3), (0, 5, 4)),
    (lambda: RNN(3, 4, return_sequences=False), (0, 5, 3), (0, 4)),
    (lambda: LSTM(3, 4, return_sequences=False), (0, 5, 3), (0, 4)),
    (lambda: GRU(3, 4, return_sequences=False), (0, 5, 3), (0, 4)),
    (lambda: RBM(6, 3), (0, 6), (0, 3)),
]


@pytest.mark.parametrize("make,x_shape,y_shape", MY_LAYERS_N0, ids=[layer_id(m) for m, _, _ in MY_LAYERS_N0])
def test_empty_batch_runs_forward_and_backward(make, x_shape, y_shape):
    layer = make()
    y = layer.forward(np.zeros(x_shape, dtype=np.float32))
    assert y.shape == y_shape
    dx = layer.backward(np.zeros(y_shape, dtype=np.float32))
    assert dx.shape == x_shape
    for key, p in layer.params.items():
        assert layer.grads[key].shape == p.shape and not layer.grads[key].any()


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_recurrent_empty_batch_with_state_and_lengths(cls):
    layer = cls(3, 4, stateful=True)
    kwargs = {"c0": np.zeros((0, 4))} if cls is LSTM else {}
    y = layer.forward(np.zeros((0, 5, 3)), h0=np.zeros((0, 4)), lengths=np.zeros(0, dtype=int), **kwargs)
    assert y.shape == (0, 5, 4) and layer.h_last.shape == (0, 4)
    assert layer.forward(np.zeros((0, 2, 3))).shape == (0, 2, 4)  # the carried (empty) state is reused
    layer.backward(np.zeros((0, 2, 4)))
    assert layer.dh0.shape == (0, 4)


@pytest.mark.parametrize("cls", [BatchNorm1D, BatchNorm2D])
def test_batchnorm_empty_batch_error_names_the_layer(cls):
    layer = cls(3)
    shape = (0, 3) if cls is BatchNorm1D else (0, 3, 2, 2)
    with pytest.raises(ValueError, match=rf"{cls.__name__}\(3\).*more than one value per feature"):
        layer.forward(np.zeros(shape))
    layer.eval()
    assert layer.forward(np.zeros(shape)).shape == shape


def test_softmax_over_an_empty_or_missing_class_axis():
    with pytest.raises(ValueError, match=r"Softmax\(\): expected at least one entry on the last axis"):
        Softmax().forward(np.zeros((3, 0)))
    with pytest.raises(ValueError, match=r"Softmax\(\): expected at least 1-D"):
        Softmax().forward(np.float32(1.0))
    assert Softmax().forward(np.zeros((0, 4))).shape == (0, 4)


EMPTY_LOSS_INPUTS = [
    (MeanSquaredError, np.zeros((0, 3)), np.zeros((0, 3))),
    (BinaryCrossEntropy, np.zeros((0, 1)), np.zeros((0, 1))),
    (SoftmaxCrossEntropy, np.zeros((0, 3)), np.zeros(0, dtype=int)),
    (SoftmaxCrossEntropy, np.zeros((2, 0)), np.zeros((2, 0))),
    (SequenceCrossEntropy, np.zeros((0, 4, 3)), np.zeros((0, 4), dtype=int)),
    (SequenceCrossEntropy, np.zeros((2, 0, 3)), np.zeros((2, 0), dtype=int)),
]


@pytest.mark.parametrize("cls,pred,target", EMPTY_LOSS_INPUTS)
def test_loss_on_an_empty_batch_is_an_error_not_nan(cls, pred, target):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" on the way
        with pytest.raises(ValueError, match=rf"{cls.__name__}.*empty.*{re.escape(str(pred.shape))}"):
            cls()(pred, target)


# -- loss targets -------------------------------------------------------------------------------------------
BAD_TARGETS = [
    (
        SoftmaxCrossEntropy(),
        np.zeros((2, 3)),
        np.array([0, 3]),
        ValueError,
        r"labels must lie in \[0, 2\].*\[0, 3\]",
    ),
    (SoftmaxCrossEntropy(), np.zeros((2, 3)), np.array([-1, 0]), ValueError, r"labels must lie in \[0, 2\]"),
    (SoftmaxCrossEntropy(), np.zeros((2, 3)), np.array([0.5, 1.0]), TypeError, "labels must be integers"),
    (SoftmaxCrossEntropy(), np.zeros((2, 3)), np.array([np.inf, 1.0]), TypeError, "labels must be integers"),
    (SoftmaxCrossEntropy(), np.zeros((2, 3)), np.array([np.nan, 1.0]), TypeError, "labels must be integers"),
    (
        SoftmaxCrossEntropy(),
        np.zeros((2, 3)),
        np.array([True, False]),
        TypeError,
        "labels must be integers.*bool",
    ),
    (
        SoftmaxCrossEntropy(),
        np.zeros((2, 3)),
        np.array(["a", "b"]),
        TypeError,
        "target must be a real numeric",
    ),
    (SoftmaxCrossEntropy(), np.zeros((2, 3)), np.array([[1, 0, 0], [0, 2, -1]]), ValueError, "probabilities"),
    (SoftmaxCrossEntropy(), np.zeros((2, 3)), np.zeros((2, 3), dtype=complex), TypeError, "complex"),
    (
        MeanSquaredError(),
        np.zeros((2, 3)),
        np.array([["a"] * 3] * 2),
        TypeError,
        "target must be a real numeric",
    ),
    (MeanSquaredError(), np.zeros((2, 3)), np.zeros((2, 3), dtype=complex), TypeError, "complex"),
    (
        BinaryCrossEntropy(),
        np.full((2, 1), 0.5),
        np.array([[2.0], [0.0]]),
        ValueError,
        r"targets must lie in \[0, 1\]",
    ),
    (BinaryCrossEntropy(from_logits=True), np.zeros((2, 1)), np.array([-1, 1]), ValueError, r"\[0, 1\]"),
    (
        BinaryCrossEntropy(),
        np.array([[1.5], [0.2]]),
        np.array([1, 0]),
        ValueError,
        "probabilities.*from_logits",
    ),
    (
        BinaryCrossEntropy(),
        np.array([[-0.1], [0.2]]),
        np.array([1, 0]),
        ValueError,
        "probabilities.*from_logits",
    ),
]


@pytest.mark.parametrize("loss,pred,target,error,pattern", BAD_TARGETS)
def test_bad_loss_targets_are_refused(loss, pred, target, error, pattern):
    with pytest.raises(error, match=rf"{type(loss).__name__}.*{pattern}"):
        loss(pred, target)


def test_whole_valued_float_labels_are_still_class_ids():
    logits = np.random.default_rng(0).standard_normal((3, 4))
    assert SoftmaxCrossEntropy()(logits, np.array([0.0, 3.0, 1.0])) == SoftmaxCrossEntropy()(
        logits, np.array([0, 3, 1])
    )


@pytest.mark.parametrize(
    "target,weights,error,pattern",
    [
        (np.array([[0, 3]]), None, ValueError, r"targets must lie in \[0, 2\]"),
        (np.array([[0.5, 1.0]]), None, TypeError, "targets must be integers"),
        (np.array([[np.inf, 1.0]]), None, TypeError, "targets must be integers"),
        (np.array([[True, False]]), None, TypeError, "targets must be integers"),
        (np.array([["a", "b"]]), None, TypeError, "targets must be a real numeric"),
        (np.array([[0, 1]]), np.array([[1.0, -1.0]]), ValueError, "weights must be >= 0"),
        (np.array([[0, 1]]), np.array([["a", "b"]]), TypeError, "weights must be a real numeric"),
    ],
)
def test_sequence_loss_bad_targets_and_weights(target, weights, error, pattern):
    with pytest.raises(error, match=rf"SequenceCrossEntropy.*{pattern}"):
        SequenceCrossEntropy()(np.zeros((1, 2, 3)), target, weights)


@pytest.mark.parametrize(
    "loss,pred,target",
    [
        (MeanSquaredError(), np.array([[np.nan, 1.0]]), np.array([[0.0, 1.0]])),
        (BinaryCrossEntropy(), np.array([[np.nan], [0.5]]), np.array([1, 0])),
        (BinaryCrossEntropy(from_logits=True), np.array([[np.nan], [0.5]]), np.array([1, 0])),
        (SoftmaxCrossEntropy(), np.array([[np.nan, 1.0], [0.0, 1.0]]), np.array([0, 1])),
        (SequenceCrossEntropy(), np.array([[[np.nan, 1.0], [0.0, 1.0]]]), np.array([[0, 1]])),
    ],
)
def test_nan_predictions_propagate_into_the_loss(loss, pred, target):
    assert np.isnan(loss(pred, target))
    assert np.isnan(loss.backward()).any()


# -- NaN data never crashes a layer -------------------------------------------------------------------------
NAN_SAFE = [(m, s) for m, s in CORE_LAYERS if not repr(m()).startswith(("Conv2D", "MaxPool", "AvgPool"))]


@pytest.mark.parametrize("make,shape", NAN_SAFE, ids=[layer_id(m) for m, _ in NAN_SAFE])
def test_nan_input_propagates_without_crashing(make, shape):
    layer = make()
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    x.flat[0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        y = layer.forward(x)
        layer.backward(np.ones(y.shape, dtype=np.float32))
    assert y.shape[0] == shape[0]


def test_rbm_reports_nan_visible_units():
    with pytest.raises(ValueError, match=r"RBM\(6, 3.*not be NaN"):
        RBM(6, 3).forward(np.full((2, 6), np.nan))


# -- RBM / DBN training settings ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,error,pattern",
    [
        ({"lr": NAN}, ValueError, "lr must be a finite number > 0, got nan"),
        ({"lr": INF}, ValueError, "lr must be a finite number > 0, got inf"),
        ({"lr": True}, TypeError, "lr must be a real number, got True"),
        ({"weight_decay": NAN}, ValueError, "weight_decay must be a finite number >= 0, got nan"),
        ({"momentum": NAN}, ValueError, r"momentum must be a finite number in \[0, 1\), got nan"),
        ({"momentum": 1.0}, ValueError, r"momentum must be a finite number in \[0, 1\), got 1.0"),
        ({"k": True}, TypeError, "k must be a positive int, got True"),
    ],
)
def test_rbm_bad_step_settings_change_nothing(kwargs, error, pattern):
    rbm = RBM(6, 3)
    before = {k: v.copy() for k, v in rbm.params.items()}
    data = (np.random.default_rng(0).random((8, 6)) < 0.5).astype(np.float32)
    with pytest.raises(error, match=rf"RBM\(6, 3.*{pattern}"):
        rbm.train_step(data, **kwargs)
    with pytest.raises(error, match=rf"RBM\(6, 3.*{pattern}"):
        rbm.fit(data, epochs=1, batch_size=4, **kwargs)
    assert all(np.array_equal(before[k], rbm.params[k]) for k in before)


@pytest.mark.parametrize(
    "call",
    [
        lambda rbm, v: rbm.contrastive_divergence(v),
        lambda rbm, v: rbm.train_step(v),
        lambda rbm, v: rbm.fit(v),
        lambda rbm, v: rbm.reconstruction_error(v),
        lambda rbm, v: rbm.pseudo_log_likelihood(v),
        lambda rbm, v: rbm.log_likelihood(v),
    ],
    ids=["cd", "train_step", "fit", "reconstruction_error", "pll", "log_likelihood"],
)
@pytest.mark.parametrize("cls", [RBM, RatingsRBM])
def test_rbm_batch_statistics_refuse_an_empty_batch(cls, call):
    rbm = cls(6, 3)
    before = {k: v.copy() for k, v in rbm.params.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=rf"{cls.__name__}\(6, 3.*at least one visible row.*\(0, 6\)"):
            call(rbm, np.zeros((0, 6), dtype=np.float32))
    assert all(np.array_equal(before[k], rbm.params[k]) for k in before)


def test_training_callbacks_must_be_callable_before_any_training():
    rbm = RBM(6, 3)
    before = rbm.params["W"].copy()
    with pytest.raises(TypeError, match=r"RBM\(6, 3.*\.fit: callback must be callable, got str"):
        rbm.fit(np.zeros((4, 6)), callback="print")
    with pytest.raises(TypeError, match="DBN.pretrain: callback must be callable, got int"):
        DBN([6, 3]).pretrain(np.zeros((4, 6)), epochs=1, callback=3)
    assert np.array_equal(before, rbm.params["W"])


def test_rbm_fit_drop_last_with_no_full_batch_is_an_error():
    with pytest.raises(ValueError, match=r"drop_last=True a batch_size of 10 leaves no batch of the 4 rows"):
        RBM(6, 3).fit(np.zeros((4, 6)), batch_size=10, drop_last=True)


def test_dbn_pretrain_checks_every_layer_before_training_any():
    dbn = DBN([6, 4, 2])
    before = [rbm.params["W"].copy() for rbm in dbn.rbms]
    data = (np.random.default_rng(0).random((8, 6)) < 0.5).astype(np.float32)
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got nan"):
        dbn.pretrain(data, epochs=1, lr=[0.1, NAN])
    with pytest.raises(TypeError, match=r"DBN.pretrain \(RBM 1\): epochs must be a positive int, got 1.5"):
        dbn.pretrain(data, epochs=[1, 1.5])
    with pytest.raises(TypeError, match="DBN.pretrain: batch_size must be a positive int, got 4.0"):
        dbn.pretrain(data, epochs=1, batch_size=4.0)
    assert all(np.array_equal(w, rbm.params["W"]) for w, rbm in zip(before, dbn.rbms))


@pytest.mark.parametrize("n_layers", [True, 1.5, "1"])
def test_dbn_transform_n_layers_must_be_an_int(n_layers):
    with pytest.raises(TypeError, match=r"DBN\(.*\.transform: n_layers must be an int >= 0"):
        DBN([6, 4, 2]).transform(np.zeros((1, 6)), n_layers=n_layers)


# -- arrays that are not arrays, or on the wrong device -------------------------------------------------------
RAGGED = [[1.0, 2.0], [3.0]]


@pytest.mark.parametrize(
    "call,pattern",
    [
        (lambda: Dense(2, 3).forward(RAGGED), r"Dense\(2, 3\): input must be an array, got list"),
        (lambda: Embedding(5, 2).forward([[1, 2], [3]]), r"Embedding\(5, 2\): ids must be an array"),
        (lambda: RNN(2, 3).forward(np.ones((2, 4, 2)), h0=RAGGED), r"RNN\(2, 3\): h0 must be an array"),
        (
            lambda: GRU(2, 3).forward(np.ones((2, 4, 2)), lengths=[[1], [2, 3]]),
            r"GRU\(2, 3\): lengths must be",
        ),
        (
            lambda: TimeDistributed(Dense(2, 3)).forward(RAGGED),
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
        lstm.forward(x, h0=np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(TypeError, match=r"LSTM\(3, 4\): c0 is on cpu"):
        lstm.forward(x, c0=np.zeros((2, 4), dtype=np.float32))
    y = lstm.forward(x)
    with pytest.raises(TypeError, match=r"LSTM\(3, 4\): dh_last is on cpu"):
        lstm.backward(asarray(np.ones(y.shape, np.float32)), dh_last=np.ones((2, 4), np.float32))
    with pytest.raises(
        TypeError, match=r"LSTM\(3, 4\): dout is on cpu but the layer's parameters are on cuda"
    ):
        lstm.backward(np.ones(y.shape, dtype=np.float32))
    dense = to_device(Dense(3, 2))
    y = dense.forward(asarray(np.ones((4, 3), dtype=np.float32)))
    with pytest.raises(TypeError, match=r"Dense\(3, 2\): dout is on cpu"):
        dense.backward(np.ones(y.shape, dtype=np.float32))


def test_set_rng_state_is_all_or_nothing():
    import scratchnet as sn
    from scratchnet.layers import Dense, Dropout

    model = sn.Sequential([Dropout(0.5), Dense(3, 3), Dropout(0.5)])
    saved = model.get_rng_state()
    names = sorted(saved)
    assert len(names) == 2
    bad = {names[0]: saved[names[0]], names[1]: {"bit_generator": "PCG64", "state": "garbage"}}
    model.forward(np.ones((4, 3), np.float32))  # advance both generators
    before = model.get_rng_state()
    with pytest.raises(ValueError, match="unusable random state"):
        model.set_rng_state(bad)
    assert model.get_rng_state() == before  # the first generator was not replaced either
    model.set_rng_state(saved)
    assert model.get_rng_state() == saved
