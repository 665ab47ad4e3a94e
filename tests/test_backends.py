"""The layer suite on every available backend (NumPy, the stand-in device, and CuPy where a GPU exists).

For each backend, every layer of the catalog, every loss, the kernels, the optimizers and the RBM are
gradient-checked in float64 on that backend's arrays and held to the NumPy results in float32, which the
rest of the suite holds to PyTorch. Results must stay on the backend they were computed on.
"""

import copy

import numpy as np
import pytest
from backends import params as backend_params
from layer_catalog import CORE_LAYERS

import scratchnet as sn
from scratchnet import backend, optim
from scratchnet.backend import to_host
from scratchnet.layers import LSTM, BatchNorm1D, Dense, Embedding, ReLU
from scratchnet.losses import BinaryCrossEntropy, MeanSquaredError, SequenceCrossEntropy, SoftmaxCrossEntropy
from scratchnet.maths import im2col as twin_im2col
from scratchnet.maths import pooling as twin_pool
from scratchnet.unsupervised.rbm import RBM

BACKENDS = backend_params()
DEVICE_BACKENDS = [p for p in BACKENDS if p.id != "numpy"]
GRAD_TOL = 1e-6


def layer_ids() -> list[str]:
    return [repr(make()) for make, _ in CORE_LAYERS]


def close(a, b, rtol=1e-5, atol=1e-6) -> None:
    np.testing.assert_allclose(to_host(a), to_host(b), rtol=rtol, atol=atol)


@pytest.mark.parametrize("make,shape", CORE_LAYERS, ids=layer_ids())
@pytest.mark.parametrize("be", BACKENDS)
def test_layer_gradcheck(be, make, shape):
    sn.seed(0)
    layer = be.move(make())
    x = be.array(np.random.default_rng(3).standard_normal(shape))
    errors = sn.gradcheck(layer, x)
    assert max(errors.values()) < GRAD_TOL, errors


@pytest.mark.parametrize("make,shape", CORE_LAYERS, ids=layer_ids())
@pytest.mark.parametrize("be", DEVICE_BACKENDS)
def test_layer_float32_matches_numpy(be, make, shape):
    sn.seed(0)
    host = make()
    device = be.move(copy.deepcopy(host))
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(np.float32)
    for mode in ("train", "eval"):
        for layer in (host, device):
            getattr(layer, mode)()
        state = host.get_rng_state()
        y_host = host(x)
        device.set_rng_state(state)  # dropout draws the same mask on both
        y_dev = device(be.array(x))
        assert be.holds(y_dev) and y_dev.dtype == np.float32
        close(y_dev, y_host)
        g = rng.standard_normal(y_host.shape).astype(np.float32)
        dx_host, dx_dev = host.backprop(g), device.backprop(be.array(g))
        assert be.holds(dx_dev)
        close(dx_dev, dx_host)
        for (_, h_sub), (_, d_sub) in zip(host.named_layers(), device.named_layers()):
            for k in h_sub.grads:
                assert be.holds(d_sub.grads[k])
                close(d_sub.grads[k], h_sub.grads[k], rtol=1e-4, atol=1e-5)


LOSSES = [
    (MeanSquaredError, (4, 3), "float"),
    (BinaryCrossEntropy, (4, 3), "binary"),
    (lambda: BinaryCrossEntropy(from_logits=True), (4, 3), "binary"),
    (SoftmaxCrossEntropy, (4, 3), "labels"),
    (SoftmaxCrossEntropy, (4, 3), "onehot"),
    (SequenceCrossEntropy, (2, 3, 4), "sequence"),
]


def loss_inputs(kind: str, shape: tuple[int, ...], rng) -> tuple[np.ndarray, np.ndarray]:
    pred = rng.uniform(0.1, 0.9, shape)
    target = {
        "float": lambda: rng.standard_normal(shape),
        "binary": lambda: rng.integers(0, 2, shape).astype(np.float64),
        "labels": lambda: rng.integers(0, shape[1], shape[0]),
        "onehot": lambda: np.eye(shape[1])[rng.integers(0, shape[1], shape[0])],
        "sequence": lambda: rng.integers(0, shape[2], shape[:2]),
    }[kind]()
    return pred, target


@pytest.mark.parametrize("make,shape,kind", LOSSES, ids=[f"{make()!r}-{k}" for make, _, k in LOSSES])
@pytest.mark.parametrize("be", BACKENDS)
def test_loss_gradcheck_and_value(be, make, shape, kind):
    pred, target = loss_inputs(kind, shape, np.random.default_rng(5))
    errors = sn.gradcheck(make(), be.array(pred), target=be.array(target))
    assert errors["x"] < GRAD_TOL
    host, device = make(), make()
    p32 = pred.astype(np.float32)
    t = target.astype(np.float32) if target.dtype.kind == "f" else target
    value = device(be.array(p32), be.array(t))
    np.testing.assert_allclose(value, host(p32, t), rtol=1e-6)
    grad = device.backward()
    assert be.holds(grad)
    close(grad, host.backward())


KERNEL_CASES = [  # (x shape, kh, kw, stride, pad)
    ((2, 3, 7, 6), 3, 3, 1, 1),
    ((1, 2, 5, 5), 2, 3, (2, 1), (0, 1, 1, 0)),
    ((3, 1, 8, 8), 5, 5, 2, 2),
]


@pytest.mark.parametrize("case", KERNEL_CASES, ids=str)
@pytest.mark.parametrize("be", DEVICE_BACKENDS)
def test_kernels_equal_the_host_kernels(be, case):
    """The kernel the backend selects for device arrays gives what the compiled/NumPy host kernel gives."""
    shape, kh, kw, stride, pad = case
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape).astype(np.float32)
    dev_x = be.array(x)
    xp = backend.get_array_module(dev_x)
    im_dev, im_host = backend.kernel("im2col", xp), backend.kernel("im2col")
    cols = im_dev.im2col(dev_x, kh, kw, stride, pad)
    assert be.holds(cols)
    np.testing.assert_array_equal(to_host(cols), im_host.im2col(x, kh, kw, stride, pad))
    d = rng.standard_normal(cols.shape).astype(np.float32)
    close(
        im_dev.col2im(be.array(d), shape, kh, kw, stride, pad),
        twin_im2col.col2im(d, shape, kh, kw, stride, pad),
    )

    pool_pad = tuple(min(p, k - 1) for p, k in zip(twin_im2col.normalize_pad(pad), (kh, kh, kw, kw)))
    pool_dev, pool_host = backend.kernel("pooling", xp), backend.kernel("pooling")
    out, argmax = pool_dev.maxpool_forward(dev_x, kh, kw, stride, pool_pad)
    ref_out, ref_arg = pool_host.maxpool_forward(x, kh, kw, stride, pool_pad)
    assert be.holds(out) and be.holds(argmax)
    np.testing.assert_array_equal(to_host(out), ref_out)
    np.testing.assert_array_equal(to_host(argmax), ref_arg)
    g = rng.standard_normal(ref_out.shape).astype(np.float32)
    close(
        pool_dev.maxpool_backward(be.array(g), argmax, shape), twin_pool.maxpool_backward(g, ref_arg, shape)
    )
    avg = pool_dev.avgpool_forward(dev_x, kh, kw, stride, pool_pad)
    close(avg, pool_host.avgpool_forward(x, kh, kw, stride, pool_pad))
    close(
        pool_dev.avgpool_backward(be.array(g), shape, kh, kw, stride, pool_pad),
        pool_host.avgpool_backward(g, shape, kh, kw, stride, pool_pad),
    )


OPTIMIZERS = [
    lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda p: optim.AdaGrad(p, lr=0.1),
    lambda p: optim.RMSProp(p, lr=0.01),
    lambda p: optim.Adam(p, lr=0.01),
    lambda p: optim.AdaDelta(p),
]


@pytest.mark.parametrize("make_opt", OPTIMIZERS, ids=["nesterov", "adagrad", "rmsprop", "adam", "adadelta"])
@pytest.mark.parametrize("be", DEVICE_BACKENDS)
def test_training_steps_match_numpy(be, make_opt):
    sn.seed(1)
    host = sn.Sequential([Dense(4, 8), BatchNorm1D(8), ReLU(), Dense(8, 3)])
    device = be.move(copy.deepcopy(host))
    rng = np.random.default_rng(7)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    runs = []
    for model, arr in ((host, lambda a: a), (device, be.array)):
        opt, loss = make_opt(model.parameters()), SoftmaxCrossEntropy()
        values = []
        for _ in range(5):
            values.append(loss(model(arr(x)), arr(y)))
            model.backprop(loss.backward())
            optim.clip_grad_norm(model.parameters(), 1.0)
            opt.step()
        runs.append((values, model.state_dict()))
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-5)
    for k, v in runs[0][1].items():
        close(runs[1][1][k], v, rtol=1e-4, atol=1e-5)
    assert all(be.holds(p.value) for p in device.parameters())


@pytest.mark.parametrize("be", DEVICE_BACKENDS)
def test_rbm_and_sequence_model_match_numpy(be):
    sn.seed(2)
    host = RBM(6, 4)
    device = be.move(copy.deepcopy(host))
    v = (np.random.default_rng(8).random((5, 6)) > 0.5).astype(np.float32)
    for _ in range(3):  # the RBM draws its Bernoulli samples on the host, so both chains see the same bits
        host.train_step(v, lr=0.1, k=2, momentum=0.5)
        device.train_step(be.array(v), lr=0.1, k=2, momentum=0.5)
    for k in host.params:
        assert be.holds(device.params[k])
        close(device.params[k], host.params[k], rtol=1e-4, atol=1e-6)
    close(device.free_energy(be.array(v)), host.free_energy(v), rtol=1e-5)

    sn.seed(3)
    host_lm = sn.Sequential([Embedding(7, 3), LSTM(3, 4)])
    device_lm = be.move(copy.deepcopy(host_lm))
    ids = np.random.default_rng(9).integers(0, 7, (2, 5))
    out_host, out_dev = host_lm(ids), device_lm(be.array(ids))
    close(out_dev, out_host)
    g = np.ones(out_host.shape, dtype=np.float32)
    host_lm.backprop(g)
    device_lm.backprop(be.array(g))
    close(device_lm[0].grads["W"], host_lm[0].grads["W"], rtol=1e-4, atol=1e-6)
