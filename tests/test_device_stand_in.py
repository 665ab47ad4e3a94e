"""The data path never falls back to NumPy: every layer, loss and optimizer runs on stand-in device arrays
that refuse to mix with host arrays, and its outputs and gradients stay on the device."""

import numpy as np
import pytest
from layer_catalog import CORE_LAYERS
from stand_in_device import CUPY_API, DeviceArray, MissingOnCuPyError, asarray, to_device, xp

import scratchnet as sn
from scratchnet import backend, optim
from scratchnet.layers import LSTM, BatchNorm1D, Dense, Dropout, ReLU
from scratchnet.losses import BinaryCrossEntropy, MeanSquaredError, SequenceCrossEntropy, SoftmaxCrossEntropy


def test_stand_in_refuses_mixing():
    with pytest.raises(TypeError, match="host array"):
        asarray(np.ones(3)) + np.ones(3)


def test_stand_in_offers_only_what_cupy_has():
    a = asarray(np.arange(6.0))
    assert "insert" not in CUPY_API["namespace"] and "resize" not in CUPY_API["ndarray"]
    with pytest.raises(MissingOnCuPyError, match="'nanquantile'"):
        xp.nanquantile(a, 0.5)
    with pytest.raises(MissingOnCuPyError, match="NumPy function 'insert'"):
        np.insert(a, 0, 1.0)  # dispatched through __array_function__, as CuPy does
    with pytest.raises(MissingOnCuPyError, match="'resize'"):
        a.resize((3, 2))
    # what CuPy has still works, submodules included
    win = xp.lib.stride_tricks.sliding_window_view(a, 3)
    assert isinstance(win, DeviceArray) and win.shape == (4, 3)
    xp.add.at(a, asarray(np.array([0, 0])), 1.0)
    assert float(a[0]) == 2.0


def run_on_device(layer, shape, rng):
    layer = to_device(layer)
    x = asarray(rng.standard_normal(shape).astype(np.float32))
    for mode in ("train", "eval"):
        getattr(layer, mode)()
        y = layer(x)
        assert isinstance(y, DeviceArray), f"{layer!r} forward returned {type(y).__name__}"
        dx = layer.backprop(asarray(np.ones(y.shape, dtype=y.dtype)))
        assert isinstance(dx, DeviceArray), f"{layer!r} backward returned {type(dx).__name__}"
        for k, g in layer.grads.items():
            assert isinstance(g, DeviceArray), f"{layer!r} grad {k} is {type(g).__name__}"
    for table in (layer.params, layer.buffers):
        for k, v in table.items():
            assert isinstance(v, DeviceArray), f"{layer!r} {k} left the device"


@pytest.mark.parametrize("make,shape", CORE_LAYERS)
def test_core_layers_stay_on_device(make, shape, rng):
    run_on_device(make(), shape, rng)


def test_recurrent_lengths_and_embedding_stay_on_device(rng):
    from scratchnet.layers import Embedding

    emb = to_device(Embedding(7, 3))
    out = emb(asarray(rng.integers(0, 7, (2, 4))))
    assert isinstance(out, DeviceArray)
    emb.backprop(asarray(np.ones(out.shape, dtype=np.float32)))
    assert isinstance(emb.grads["W"], DeviceArray)
    lstm = to_device(LSTM(3, 4))
    y = lstm(asarray(rng.standard_normal((2, 5, 3)).astype(np.float32)), lengths=asarray(np.array([5, 2])))
    assert isinstance(y, DeviceArray) and isinstance(lstm.h_last, DeviceArray)
    assert isinstance(lstm.backprop(asarray(np.ones(y.shape, dtype=np.float32))), DeviceArray)
    loss = SequenceCrossEntropy()
    loss(asarray(rng.standard_normal((2, 4, 5)).astype(np.float32)), asarray(rng.integers(0, 5, (2, 4))))
    assert isinstance(loss.backward(), DeviceArray)


def test_rbm_stays_on_device(rng):
    from scratchnet.unsupervised.rbm import RBM

    rbm = to_device(RBM(6, 3))
    v = asarray((rng.random((4, 6)) > 0.5).astype(np.float32))
    rbm.train_step(v, lr=0.1, k=2, momentum=0.5)
    assert isinstance(rbm.free_energy(v), DeviceArray)
    for table in (rbm.params, rbm.grads):
        assert all(isinstance(a, DeviceArray) for a in table.values())


@pytest.mark.parametrize(
    "loss,pred,target",
    [
        (MeanSquaredError(), (4, 2), "float"),
        (BinaryCrossEntropy(), (4, 2), "binary"),
        (BinaryCrossEntropy(from_logits=True), (4, 2), "binary"),
        (SoftmaxCrossEntropy(), (4, 3), "labels"),
        (SoftmaxCrossEntropy(), (4, 3), "onehot"),
    ],
)
def test_losses_stay_on_device(loss, pred, target, rng):
    p = rng.uniform(0.1, 0.9, pred).astype(np.float32)
    t = {
        "float": rng.standard_normal(pred),
        "binary": rng.integers(0, 2, pred).astype(np.float32),
        "labels": rng.integers(0, pred[1], pred[0]),
        "onehot": np.eye(pred[1], dtype=np.float32)[rng.integers(0, pred[1], pred[0])],
    }[target]
    value = loss(asarray(p), asarray(t))
    assert np.isfinite(value)
    assert isinstance(loss.backward(), DeviceArray)


@pytest.mark.parametrize(
    "make",
    [
        optim.SGD,
        lambda p: optim.SGD(p, momentum=0.9, nesterov=True),
        optim.AdaGrad,
        optim.RMSProp,
        optim.Adam,
        optim.AdaDelta,
    ],
)
def test_optimizers_and_training_stay_on_device(make, rng):
    sn.seed(0)
    model = to_device(sn.Sequential([Dense(4, 8), BatchNorm1D(8), ReLU(), Dropout(0.2), Dense(8, 3)]))
    opt = make(model.parameters())
    trainer = sn.Trainer(model, SoftmaxCrossEntropy(), opt)
    x = asarray(rng.standard_normal((32, 4)).astype(np.float32))
    y = asarray(rng.integers(0, 3, 32))
    trainer.fit(x, y, epochs=2, batch_size=8, seed=0, progress=False, validation_data=(x, y))
    optim.clip_grad_norm(model.parameters(), 0.1)
    for p in model.parameters():
        assert isinstance(p.value, DeviceArray) and isinstance(p.grad, DeviceArray)
    for state in opt.state.values():
        assert all(isinstance(v, DeviceArray) for v in state.values())


def test_host_input_to_device_layer_is_refused():
    layer = to_device(Dense(2, 2))
    with pytest.raises(TypeError, match="input is on cpu but the layer's parameters are on cuda"):
        layer(np.ones((1, 2), dtype=np.float32))


def test_save_goes_through_host(tmp_path, rng):
    model = to_device(sn.Sequential([Dense(3, 2), BatchNorm1D(2)]))
    model.save(tmp_path / "m.npz")
    host = sn.Sequential([Dense(3, 2), BatchNorm1D(2)]).load(tmp_path / "m.npz")
    for k, v in host.state_dict().items():
        np.testing.assert_array_equal(v, model.state_dict()[k])
        assert type(v) is np.ndarray


def test_gpu_request_without_cupy_is_clear():
    try:
        import cupy  # noqa: F401

        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    with pytest.raises(RuntimeError, match="pip install cupy-cuda12x"):
        backend.use_device("cuda")
    with pytest.raises(RuntimeError, match="pip install cupy-cuda12x"):
        Dense(2, 2).to("cuda")
    assert backend.current_device() == "cpu"
    with pytest.raises(ValueError, match="unknown device"):
        backend.use_device("tpu")
