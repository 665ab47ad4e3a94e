"""BatchNorm1D / BatchNorm2D (scratchnet/layers/normalization.py): gradient checks (float64) in training and
eval mode, running statistics, PyTorch parity (float32), errors."""

import numpy as np
import pytest
from layer_checks import (
    TOL,
    argument_ids,
    assert_accepted,
    assert_refused_clearly,
    close_to_torch,
    import_torch,
    torch_tensor,
)

import scratchnet as sn
from scratchnet.layers import BatchNorm1D, BatchNorm2D

NAN, INF = float("nan"), float("inf")


# -- gradient checks and running statistics --------------------------------------------------------------------
@pytest.mark.parametrize("n", [3, 5])  # with n=2 the normalised output is ±1 whatever x is
def test_batchnorm1d_gradcheck_train(n, rng):
    layer = BatchNorm1D(3)
    layer.params["gamma"][:] = rng.uniform(0.5, 2, 3)
    layer.params["beta"][:] = rng.standard_normal(3)
    assert max(sn.gradcheck(layer, rng.standard_normal((n, 3))).values()) < TOL


def test_batchnorm_gradcheck_eval(rng):
    layer = BatchNorm1D(4)
    layer(rng.standard_normal((16, 4)) * 3 + 1)  # fills running statistics
    layer.eval()
    assert max(sn.gradcheck(layer, rng.standard_normal((1, 4))).values()) < TOL


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 2, 3, 3), (3, 1, 1, 2)])
def test_batchnorm2d_gradcheck(shape, rng):
    layer = BatchNorm2D(shape[1])
    layer.params["gamma"][:] = rng.uniform(0.5, 2, shape[1])
    assert max(sn.gradcheck(layer, rng.standard_normal(shape)).values()) < TOL


def test_batchnorm_normalises_and_tracks_running_stats(rng):
    layer = BatchNorm1D(3, momentum=1.0)
    x = (rng.standard_normal((500, 3)) * [1, 2, 3] + [5, -1, 0]).astype(np.float32)
    y = layer(x)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-3)
    np.testing.assert_allclose(layer.buffers["running_mean"], x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(layer.buffers["running_var"], x.var(axis=0, ddof=1), rtol=1e-4)
    with pytest.raises(ValueError, match="more than one value"):
        layer(x[:1])
    layer.eval()
    assert layer(x[:1]).shape == (1, 3)


# -- PyTorch parity (float32) ----------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,shape", [(BatchNorm1D, (8, 3)), (BatchNorm2D, (4, 3, 5, 6))])
def test_batchnorm_parity(cls, shape, rng):
    torch = import_torch()
    ours = cls(3, momentum=0.1)
    ours.params["gamma"][:] = rng.uniform(0.5, 2, 3).astype(np.float32)
    ours.params["beta"][:] = rng.standard_normal(3).astype(np.float32)
    theirs = (torch.nn.BatchNorm1d if cls is BatchNorm1D else torch.nn.BatchNorm2d)(3, momentum=0.1)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.params["gamma"]))
        theirs.bias.copy_(torch.tensor(ours.params["beta"]))
    for step in range(2):  # two training steps, then eval with the running statistics
        x = (rng.standard_normal(shape) * 2 + step).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        xt = torch_tensor(x)
        yt = theirs(xt)
        yt.backward(torch.tensor(g))
        close_to_torch(ours(x), yt, atol=1e-5)
        close_to_torch(ours.backprop(g), xt.grad, atol=1e-5)
        close_to_torch(ours.grads["gamma"], theirs.weight.grad, atol=1e-4)
        close_to_torch(ours.grads["beta"], theirs.bias.grad, atol=1e-5)
        theirs.weight.grad = theirs.bias.grad = None
    close_to_torch(ours.buffers["running_mean"], theirs.running_mean)
    close_to_torch(ours.buffers["running_var"], theirs.running_var)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    close_to_torch(ours(x), theirs(torch_tensor(x, False)), atol=1e-5)


# -- errors ----------------------------------------------------------------------------------------------------
def test_batchnorm_wrong_channels():
    with pytest.raises(ValueError, match=r"BatchNorm2D\(3\).*3 channels"):
        BatchNorm2D(3)(np.zeros((2, 4, 5, 5)))
    with pytest.raises(ValueError, match=r"BatchNorm1D\(3\).*2-D"):
        BatchNorm1D(3)(np.zeros((2, 3, 1)))


@pytest.mark.parametrize("cls", [BatchNorm1D, BatchNorm2D])
def test_batchnorm_empty_batch_error_names_the_layer(cls):
    layer = cls(3)
    shape = (0, 3) if cls is BatchNorm1D else (0, 3, 2, 2)
    with pytest.raises(ValueError, match=rf"{cls.__name__}\(3\).*more than one value per feature"):
        layer(np.zeros(shape))
    layer.eval()
    assert layer(np.zeros(shape)).shape == shape


# (constructor call, exception, words the message must contain: the owner, the argument, the value given)
BAD_ARGUMENTS = [
    (lambda: BatchNorm1D(True), TypeError, ["BatchNorm1D", "num_features", "True"]),
    (lambda: BatchNorm2D(3.0), TypeError, ["BatchNorm2D", "num_features", "3.0"]),
    (lambda: BatchNorm1D(4, eps=0.0), ValueError, ["BatchNorm1D", "eps", "0.0"]),
    (lambda: BatchNorm1D(4, eps=-1e-5), ValueError, ["BatchNorm1D", "eps", "-1e-05"]),
    (lambda: BatchNorm2D(3, eps=NAN), ValueError, ["BatchNorm2D", "eps", "nan"]),
    (lambda: BatchNorm2D(3, eps=INF), ValueError, ["BatchNorm2D", "eps", "inf"]),
    (lambda: BatchNorm1D(4, momentum=NAN), ValueError, ["BatchNorm1D", "momentum", "nan"]),
    (lambda: BatchNorm1D(4, momentum="0.1"), TypeError, ["BatchNorm1D", "momentum", "'0.1'"]),
    (lambda: BatchNorm2D(3, dtype=np.float16), TypeError, ["BatchNorm2D", "dtype", "float16"]),
]


@pytest.mark.parametrize("construct,error,words", BAD_ARGUMENTS, ids=argument_ids(BAD_ARGUMENTS))
def test_bad_constructor_argument_is_refused_with_a_clear_message(construct, error, words):
    assert_refused_clearly(construct, error, words)


@pytest.mark.parametrize(
    "construct",
    [
        lambda: BatchNorm1D(4, eps=np.float64(1e-3), momentum=1),
    ],
)
def test_valid_arguments_of_every_numeric_type_are_accepted(construct):
    assert_accepted(construct())
