"""LocalResponseNorm (scratchnet/layers/lrn.py): gradient checks (float64) on both kernel sets, PyTorch parity
(float32), errors."""

import numpy as np
import pytest
from layer_checks import (
    TOL,
    argument_ids,
    assert_accepted,
    assert_refused_clearly,
    check_image_layer_against_torch,
)

from scratchnet.gradcheck import gradcheck
from scratchnet.layers.lrn import LocalResponseNorm

NAN, INF = float("nan"), float("inf")


# -- gradient checks -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "layer",
    [
        LocalResponseNorm(3, alpha=0.5, beta=0.75, k=2.0),
        LocalResponseNorm(4, alpha=0.3, beta=0.6, k=1.0),
    ],
    ids=repr,
)
def test_parameter_free_layers_gradcheck(layer, kernels):
    # distinct values: ties in a max-pool window would make the numerical gradient ill-defined
    x = np.random.default_rng(1).permutation(2 * 5 * 5 * 6).reshape(2, 5, 5, 6) / 10.0
    errors = gradcheck(layer, x)
    assert errors["x"] < TOL, errors


# -- PyTorch parity (float32) ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "layer, ref",
    [
        (
            LocalResponseNorm(5, alpha=1e-2, beta=0.75, k=2.0),
            lambda F, x: F.local_response_norm(x, 5, 1e-2, 0.75, 2.0),
        ),
        (
            LocalResponseNorm(2, alpha=0.5, beta=0.5, k=1.0),
            lambda F, x: F.local_response_norm(x, 2, 0.5, 0.5, 1.0),
        ),
    ],
    ids=repr,
)
def test_parameter_free_layers_match_torch(layer, ref, kernels):
    check_image_layer_against_torch(layer, ref)


# -- errors ----------------------------------------------------------------------------------------------------
def test_lrn_errors():
    with pytest.raises(ValueError, match="size"):
        LocalResponseNorm(0)


# (constructor call, exception, words the message must contain: the owner, the argument, the value given)
BAD_ARGUMENTS = [
    (lambda: LocalResponseNorm(True), TypeError, ["LocalResponseNorm", "size", "True"]),
    (lambda: LocalResponseNorm(3, k=NAN), ValueError, ["LocalResponseNorm", "k", "nan"]),
    (lambda: LocalResponseNorm(3, k=INF), ValueError, ["LocalResponseNorm", "k", "inf"]),
    (lambda: LocalResponseNorm(3, alpha=-1e-4), ValueError, ["LocalResponseNorm", "alpha", "-0.0001"]),
    (lambda: LocalResponseNorm(3, alpha=NAN), ValueError, ["LocalResponseNorm", "alpha", "nan"]),
    (lambda: LocalResponseNorm(3, beta=NAN), ValueError, ["LocalResponseNorm", "beta", "nan"]),
]


@pytest.mark.parametrize("construct,error,words", BAD_ARGUMENTS, ids=argument_ids(BAD_ARGUMENTS))
def test_bad_constructor_argument_is_refused_with_a_clear_message(construct, error, words):
    assert_refused_clearly(construct, error, words)


@pytest.mark.parametrize(
    "construct",
    [
        lambda: LocalResponseNorm(2, alpha=0.0, beta=-0.5, k=2),
    ],
)
def test_valid_arguments_of_every_numeric_type_are_accepted(construct):
    assert_accepted(construct())
