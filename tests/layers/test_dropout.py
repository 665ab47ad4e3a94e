"""Dropout (scratchnet/layers/dropout.py): training and eval mode, gradient check (float64), errors.

No PyTorch parity: the mask comes from the layer's own generator, which PyTorch cannot reproduce."""

import numpy as np
import pytest
from layer_checks import TOL, argument_ids, assert_accepted, assert_refused_clearly

import scratchnet as sn
from scratchnet.layers import Dropout

NAN = float("nan")


# -- modes and gradient check ----------------------------------------------------------------------------------
def test_dropout_train_and_eval(rng):
    layer = Dropout(0.3)
    x = np.ones((200, 100), dtype=np.float32)
    y = layer(x)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(layer.backprop(x), y)  # same mask scales the gradient
    layer.eval()
    np.testing.assert_array_equal(layer(x), x)
    assert sn.gradcheck(Dropout(0.5), rng.standard_normal((4, 6)))["x"] < TOL


# -- errors ----------------------------------------------------------------------------------------------------
def test_dropout_rejects_bad_p():
    for p in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="drop probability"):
            Dropout(p)


# (constructor call, exception, words the message must contain: the owner, the argument, the value given)
BAD_ARGUMENTS = [
    (lambda: Dropout(NAN), ValueError, ["Dropout", "drop probability", "nan"]),
    (lambda: Dropout(True), TypeError, ["Dropout", "drop probability", "True"]),
    (lambda: Dropout(False), TypeError, ["Dropout", "drop probability", "False"]),
    (lambda: Dropout("0.5"), TypeError, ["Dropout", "drop probability", "'0.5'"]),
    (lambda: Dropout(0.5, rng=1), TypeError, ["Dropout", "rng", "Generator"]),
]


@pytest.mark.parametrize("construct,error,words", BAD_ARGUMENTS, ids=argument_ids(BAD_ARGUMENTS))
def test_bad_constructor_argument_is_refused_with_a_clear_message(construct, error, words):
    assert_refused_clearly(construct, error, words)


@pytest.mark.parametrize(
    "construct",
    [
        lambda: Dropout(np.float32(0.25)),
        lambda: Dropout(0),
    ],
)
def test_valid_arguments_of_every_numeric_type_are_accepted(construct):
    assert_accepted(construct())
