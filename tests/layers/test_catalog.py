"""Checks that run through every layer of the catalog (tests/support/layer_catalog.py).

PyTorch parity (float32) for every layer that has a PyTorch twin: the forward output, the input gradient and
every parameter gradient, on both kernel sets. Layers without a twin are listed as skipped, with the catalog's
reason. Tolerance: ``rtol=1e-5`` plus an absolute ``1e-5`` times the largest entry of PyTorch's array (float32
sums taken in a different order differ by a few ulps of the largest term, not of each entry).

Errors: every layer takes a floating-point dout of any precision and refuses any other with its own name; empty
batches run where a layer can handle them; NaN input propagates without crashing."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from layer_catalog import CATALOG, CORE_LAYERS
from layer_checks import import_torch

from scratchnet.layers import (
    GRU,
    LSTM,
    RNN,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    LocalResponseNorm,
    TimeDistributed,
)
from scratchnet.unsupervised.dbn import DBN
from scratchnet.unsupervised.rbm import RBM

# -- PyTorch parity (float32) ----------------------------------------------------------------------------------
RTOL = ATOL_SCALE = 1e-5


def close(ours, theirs, what: str) -> None:
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != PyTorch's {theirs.shape}"
    scale = max(float(np.max(np.abs(theirs), initial=0.0)), 1e-30)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL_SCALE * scale, err_msg=what)


def catalog_params():
    for entry in CATALOG:
        marks = () if entry.torch_twin else pytest.mark.skip(reason=f"no PyTorch twin: {entry.no_twin}")
        yield pytest.param(entry, marks=marks, id=repr(entry.make()))


def test_every_entry_has_a_twin_or_a_reason():
    for entry in CATALOG:
        assert (entry.torch_twin is None) != (entry.no_twin is None), repr(entry.make())


@pytest.mark.parametrize("entry", list(catalog_params()))
def test_forward_and_gradients_match_torch(entry, kernels):
    torch = import_torch()
    layer = entry.make()
    rng = np.random.default_rng(0)
    for p in layer.parameters():  # random biases and scales too, so every gradient path carries weight
        p.value[...] = 0.5 * rng.standard_normal(p.value.shape)
    twin = entry.torch_twin(layer)

    x = rng.standard_normal(entry.shape).astype(np.float32)
    y = layer(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backprop(g)
    xt = torch.tensor(x, requires_grad=True)
    yt = twin.module(xt)
    yt.backward(torch.tensor(g))

    assert y.dtype == dx.dtype == np.float32
    close(y, yt, "forward")
    close(dx, xt.grad, "dx")
    ours = {p.name: p.grad for p in layer.parameters()}
    theirs = twin.grads()
    assert sorted(theirs) == sorted(ours), "the twin must give a gradient for every parameter"
    for name, grad in ours.items():
        assert grad.dtype == np.float32, name
        close(grad, theirs[name], name)


# -- backward_params: the parameter gradients without dx ------------------------------------------------------
def _backward_params_cases():
    for entry in CATALOG:
        yield pytest.param(entry.make, entry.shape, id=repr(entry.make()))
    for algorithm in ("im2col", "winograd", "direct"):  # each of Conv2D's fast paths skips its own dx work
        for make in (
            lambda a=algorithm: Conv2D(3, 4, 3, padding="same", algorithm=a),
            lambda a=algorithm: Conv2D(2, 3, 5, padding=(1, 2), algorithm=a),
        ):
            yield pytest.param(make, (2, make().in_channels, 9, 7), id=repr(make()))


@pytest.mark.parametrize("make,shape", list(_backward_params_cases()))
def test_backward_params_gives_backwards_gradients_and_no_dx(make, shape, kernels):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)  # float64: Conv2D's algorithms then differ from each other far below 1e-9
    first, second = make(), make()
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        b.value[...] = a.value
    second.set_rng_state(first.get_rng_state())  # the same dropout masks
    y = first(x)
    g = rng.standard_normal(y.shape)
    first.backprop(g)
    np.testing.assert_array_equal(second(x), y)
    assert second.backprop(g, params_only=True) is None
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        np.testing.assert_array_equal(b.grad, a.grad, err_msg=a.name)


@pytest.mark.parametrize("algorithm", ["im2col", "winograd", "direct"])
def test_backward_params_checks_dout_like_backward(algorithm):
    layer = Conv2D(2, 3, 3, algorithm=algorithm)
    with pytest.raises(RuntimeError, match="before forward|without a matching forward"):
        layer.backprop(np.ones((1, 3, 3, 3)), params_only=True)
    y = layer(np.ones((1, 2, 5, 5)))
    with pytest.raises(ValueError, match=rf"^{re.escape(repr(layer))}\.backprop: expected dout of shape"):
        layer.backprop(np.ones(y.shape + (1,)), params_only=True)


def test_sequential_backward_params_matches_backward_and_trainer_uses_it():
    import scratchnet as sn
    from scratchnet.layers import Conv2D, MaxPool2D, ReLU
    from scratchnet.losses import SoftmaxCrossEntropy

    rng = np.random.default_rng(2)
    x = rng.random((4, 1, 8, 8))
    y = rng.integers(0, 3, 4)

    def net():
        sn.seed(0)
        return sn.Sequential([Conv2D(1, 4, 3, padding="same"), ReLU(), MaxPool2D(2), Flatten(), Dense(64, 3)])

    full, params_only = net(), net()
    g = rng.standard_normal((4, 3))
    full(x)
    dx = full.backprop(g)
    assert dx.shape == x.shape
    params_only(x)
    assert params_only.backprop(g, params_only=True) is None
    for a, b in zip(full.parameters(), params_only.parameters(), strict=True):
        np.testing.assert_array_equal(b.grad, a.grad, err_msg=a.name)

    calls = []
    model = net()
    first = model.layers[0]
    first.backward = lambda dout: calls.append("backward")  # the trainer must not ask the first layer for dx
    sn.Trainer(model, SoftmaxCrossEntropy(), sn.optim.SGD(model.parameters(), lr=0.1)).train_step(x, y)
    assert calls == []


# -- errors: the upstream gradient -----------------------------------------------------------------------------
def layer_id(make) -> str:
    return re.sub(r"\W+", "_", repr(make()))[:40]


def _embedding():
    return Embedding(5, 3)


def _rbm():
    return RBM(6, 3)


def _dbn():
    return DBN([6, 4, 2])


EVERY_LAYER = CORE_LAYERS + [(_embedding, None), (_rbm, (4, 6)), (_dbn, (4, 6))]


def _forward(layer, shape):
    if shape is None:  # Embedding takes ids
        return layer(np.array([[0, 4, 2], [1, 1, 3]]))
    return layer(np.random.default_rng(0).random(shape).astype(np.float32))


@pytest.mark.parametrize("dtype", [bool, np.int64, np.uint8, np.complex64, object])
@pytest.mark.parametrize("make,shape", EVERY_LAYER, ids=[layer_id(m) for m, _ in EVERY_LAYER])
def test_non_float_dout_is_a_type_error(make, shape, dtype):
    layer = make()
    y = _forward(layer, shape)
    with pytest.raises(TypeError, match=rf"floating-point dout, got dtype {np.dtype(dtype)}"):
        layer.backprop(np.ones(y.shape, dtype=dtype))


@pytest.mark.parametrize("make,shape", EVERY_LAYER, ids=[layer_id(m) for m, _ in EVERY_LAYER])
def test_bad_dout_error_names_the_layer_it_was_given_to(make, shape):
    layer = make()
    y = _forward(layer, shape)
    with pytest.raises(
        TypeError, match=rf"^{re.escape(repr(layer))}\.backprop: expected a floating-point dout"
    ):
        layer.backprop(np.ones(y.shape, dtype=np.int64))
    y = _forward(layer, shape)
    with pytest.raises(ValueError, match=rf"^{re.escape(repr(layer))}\.backprop: expected dout of shape"):
        layer.backprop(np.ones(y.shape + (1,), dtype=np.float32))


@pytest.mark.parametrize("make,shape", EVERY_LAYER, ids=[layer_id(m) for m, _ in EVERY_LAYER])
def test_float_dout_of_any_precision_is_accepted(make, shape):
    for dtype in (np.float16, np.float32, np.float64):
        layer = make()
        y = _forward(layer, shape)
        dx = layer.backprop(np.ones(y.shape, dtype=dtype))
        assert dx is None or dx.dtype.kind == "f"
        assert all(layer.grads[k].dtype == p.dtype for k, p in layer.params.items())


# -- errors: empty batches -------------------------------------------------------------------------------------
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
    y = layer(np.zeros(x_shape, dtype=np.float32))
    assert y.shape == y_shape
    dx = layer.backprop(np.zeros(y_shape, dtype=np.float32))
    assert dx.shape == x_shape
    for key, p in layer.params.items():
        assert layer.grads[key].shape == p.shape and not layer.grads[key].any()


# -- errors: NaN data never crashes a layer --------------------------------------------------------------------
NAN_SAFE = [(m, s) for m, s in CORE_LAYERS if not repr(m()).startswith(("Conv2D", "MaxPool", "AvgPool"))]


@pytest.mark.parametrize("make,shape", NAN_SAFE, ids=[layer_id(m) for m, _ in NAN_SAFE])
def test_nan_input_propagates_without_crashing(make, shape):
    layer = make()
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    x.flat[0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        y = layer(x)
        layer.backprop(np.ones(y.shape, dtype=np.float32))
    assert y.shape[0] == shape[0]
