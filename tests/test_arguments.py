"""Bad arguments and bad data give clear errors (naming the owner, the argument, what was expected and what
was given) instead of raw NumPy errors or silent NaN, for the losses, the autoencoders and the RBM/DBN models.
The layers' own checks are in the errors sections of tests/layers/."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from layer_checks import argument_ids, assert_accepted, assert_refused_clearly

from scratchnet.layers import Dense
from scratchnet.losses import (
    BinaryCrossEntropy,
    MeanSquaredError,
    SequenceCrossEntropy,
    SoftmaxCrossEntropy,
)
from scratchnet.unsupervised.autoencoder import Autoencoder, Corruption, TiedAutoencoder
from scratchnet.unsupervised.dbn import DBN
from scratchnet.unsupervised.ratings_rbm import RatingsRBM
from scratchnet.unsupervised.rbm import RBM

NAN, INF = float("nan"), float("inf")

# -- constructor arguments -------------------------------------------------------------------------------------
# (constructor call, exception, words the message must contain: the owner, the argument, the value given)
BAD_ARGUMENTS = [
    (lambda: RBM(True, 3), TypeError, ["RBM", "n_visible", "True"]),
    (lambda: RBM(6, 2.0), TypeError, ["RBM", "n_hidden", "2.0"]),
    (lambda: RatingsRBM(6, -1), ValueError, ["RatingsRBM", "n_hidden", "-1"]),
    (lambda: DBN([6, True]), TypeError, ["DBN", "layer_sizes", "True"]),
    (lambda: DBN([6, 3.0]), TypeError, ["DBN", "layer_sizes", "3.0"]),
    (lambda: Autoencoder([6, True]), TypeError, ["Autoencoder", "layer sizes", "True"]),
    (lambda: TiedAutoencoder([6.0, 3]), TypeError, ["TiedAutoencoder", "layer sizes", "6.0"]),
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
    (lambda: RBM(6, 3, dtype=None), TypeError, ["RBM", "dtype", "None"]),
    (lambda: RBM(6, 3, rng=7), TypeError, ["RBM", "rng", "int"]),
    (lambda: DBN([6, 3], rng=7), TypeError, ["DBN", "rng", "int"]),
    (lambda: TiedAutoencoder([6, 3], rng=7), TypeError, ["TiedAutoencoder", "rng", "int"]),
    (lambda: Corruption("mask", 0.1, rng=7), TypeError, ["Corruption", "rng", "int"]),
    (lambda: RatingsRBM(6, 3, mask_unrated="yes"), TypeError, ["RatingsRBM", "mask_unrated", "'yes'"]),
    (
        lambda: SequenceCrossEntropy(average_across_batch=None),
        TypeError,
        ["SequenceCrossEntropy", "average_across_batch"],
    ),
    (
        lambda: RBM(6, 3, weight_init=lambda shape, **kw: np.ones(3)),
        ValueError,
        ["RBM", "W", "(6, 3)", "(3,)"],
    ),
    (lambda: TiedAutoencoder([6, 3], weight_init="nope"), ValueError, ["TiedAutoencoder", "W0", "'nope'"]),
    (lambda: DBN([6, 3], rbm_class=Dense), TypeError, ["DBN", "rbm_class", "Dense"]),
]


@pytest.mark.parametrize("construct,error,words", BAD_ARGUMENTS, ids=argument_ids(BAD_ARGUMENTS))
def test_bad_constructor_argument_is_refused_with_a_clear_message(construct, error, words):
    assert_refused_clearly(construct, error, words)


@pytest.mark.parametrize(
    "construct",
    [
        lambda: BinaryCrossEntropy(from_logits=np.True_, eps=1e-3),
        lambda: Corruption("gaussian", 0),
        lambda: Autoencoder([6, 3], corruption_level=0),
        lambda: DBN([6, 3], rbm_class=RatingsRBM),
    ],
)
def test_valid_arguments_of_every_numeric_type_are_accepted(construct):
    assert_accepted(construct())


# -- empty batches ---------------------------------------------------------------------------------------------
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


# -- loss targets ----------------------------------------------------------------------------------------------
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


def test_rbm_reports_nan_visible_units():
    with pytest.raises(ValueError, match=r"RBM\(6, 3.*not be NaN"):
        RBM(6, 3)(np.full((2, 6), np.nan))


# -- RBM / DBN training settings -------------------------------------------------------------------------------
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
