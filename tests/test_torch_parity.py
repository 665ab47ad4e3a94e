"""Parity with PyTorch (CPU, float32) for the losses, optimizers, weight decay, gradient clipping and
learning-rate schedules. The layers' parity is in tests/layers/ (one test per layer module, and
tests/layers/test_catalog.py for every layer of the catalog)."""

import numpy as np
import pytest
from layer_checks import import_torch

import scratchnet as sn
from scratchnet import optim
from scratchnet.layers import Dense, Tanh
from scratchnet.losses import BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy

torch = import_torch()
torch.set_num_threads(2)
F = torch.nn.functional
RTOL, ATOL = 1e-5, 1e-6


def close(ours, theirs, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=rtol, atol=atol)


def t(a, grad=True):
    return torch.tensor(np.asarray(a), requires_grad=grad)


def test_softmax_cross_entropy_parity(rng):
    logits = (rng.standard_normal((6, 4)) * 5).astype(np.float32)
    labels = rng.integers(0, 4, 6)
    lt = t(logits)
    loss_t = F.cross_entropy(lt, torch.tensor(labels))
    loss_t.backward()
    loss = SoftmaxCrossEntropy()
    assert loss(logits, labels) == pytest.approx(loss_t.item(), rel=RTOL)
    close(loss.backward(), lt.grad)
    one_hot = np.eye(4, dtype=np.float32)[labels]
    assert loss(logits, one_hot) == pytest.approx(loss_t.item(), rel=RTOL)
    close(loss.backward(), lt.grad)


@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_cross_entropy_parity(from_logits, rng):
    z = rng.standard_normal((5, 3)).astype(np.float32) * 2
    pred = z if from_logits else (1 / (1 + np.exp(-z))).astype(np.float32)
    target = rng.integers(0, 2, (5, 3)).astype(np.float32)
    pt = t(pred)
    fn = F.binary_cross_entropy_with_logits if from_logits else F.binary_cross_entropy
    out = fn(pt, torch.tensor(target))
    out.backward()
    loss = BinaryCrossEntropy(from_logits=from_logits)
    assert loss(pred, target) == pytest.approx(out.item(), rel=RTOL)
    close(loss.backward(), pt.grad)


def test_mse_parity(rng):
    pred = rng.standard_normal((4, 3)).astype(np.float32)
    target = rng.standard_normal((4, 3)).astype(np.float32)
    pt = t(pred)
    out = F.mse_loss(pt, torch.tensor(target))
    out.backward()
    loss = MeanSquaredError()
    assert loss(pred, target) == pytest.approx(out.item(), rel=RTOL)
    close(loss.backward(), pt.grad)


OPTIMIZERS = [
    (lambda p: optim.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    (
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    ),
    (lambda p: optim.AdaGrad(p, lr=0.1), lambda p: torch.optim.Adagrad(p, lr=0.1)),
    (lambda p: optim.RMSProp(p, lr=0.01), lambda p: torch.optim.RMSprop(p, lr=0.01)),
    (lambda p: optim.Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    (lambda p: optim.AdaDelta(p, lr=1.0), lambda p: torch.optim.Adadelta(p, lr=1.0)),
]


@pytest.mark.parametrize("make_ours,make_theirs", OPTIMIZERS)
def test_optimizer_trajectory_parity(make_ours, make_theirs, rng):
    """Five steps on the same model and batch give the same weights."""
    sn.seed(0)
    model = sn.Sequential([Dense(4, 3), Tanh(), Dense(3, 2)])
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = rng.integers(0, 2, 8)
    tparams = [t(p.value.T.copy() if p.value.ndim == 2 else p.value.copy()) for p in model.parameters()]
    ours, theirs = make_ours(model.parameters()), make_theirs(tparams)
    loss = SoftmaxCrossEntropy()
    for _ in range(5):
        loss(model(x), y)
        model.backprop(loss.backward())
        ours.step()
        theirs.zero_grad()
        h = torch.tanh(F.linear(t(x, False), tparams[0], tparams[1]))
        F.cross_entropy(F.linear(h, tparams[2], tparams[3]), torch.tensor(y)).backward()
        theirs.step()
    for p, q in zip(model.parameters(), tparams):
        close(p.value, q.T if p.value.ndim == 2 else q, rtol=1e-4, atol=1e-6)


def test_weight_decay_parity(rng):
    layer = Dense(3, 2)
    w0 = layer.params["W"].copy()
    layer.grads["W"] = rng.standard_normal((3, 2)).astype(np.float32)
    layer.grads["b"] = np.zeros(2, dtype=np.float32)
    opt = optim.SGD(layer, lr=0.1, weight_decay=0.01)
    opt.step()
    wt = t(w0)
    wt.grad = torch.tensor(layer.grads["W"])
    torch.optim.SGD([wt], lr=0.1, weight_decay=0.01).step()
    close(layer.params["W"], wt)
    np.testing.assert_array_equal(layer.params["b"], 0)  # biases are not decayed


def test_clip_grad_norm_parity(rng):
    layer = Dense(5, 4)
    grads = [rng.standard_normal((5, 4)).astype(np.float32) * 3, rng.standard_normal(4).astype(np.float32)]
    layer.grads["W"], layer.grads["b"] = grads[0].copy(), grads[1].copy()
    ts = [t(grads[0].copy()), t(grads[1].copy())]
    for a, g in zip(ts, grads):
        a.grad = torch.tensor(g.copy())
    norm_t = torch.nn.utils.clip_grad_norm_(ts, 1.0)
    norm = optim.clip_grad_norm(layer.parameters(), 1.0)
    assert norm == pytest.approx(norm_t.item(), rel=1e-5)
    close(layer.grads["W"], ts[0].grad)
    close(layer.grads["b"], ts[1].grad)


def test_schedules_parity():
    def pair():
        return optim.SGD(Dense(1, 1), lr=1.0), torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)

    ours, theirs = pair()
    s_ours, s_theirs = (
        optim.StepLR(ours, step_size=3, gamma=0.5),
        torch.optim.lr_scheduler.StepLR(theirs, 3, 0.5),
    )
    ours2, theirs2 = pair()
    e_ours, e_theirs = optim.ExponentialLR(ours2, 0.9), torch.optim.lr_scheduler.ExponentialLR(theirs2, 0.9)
    ours3, theirs3 = pair()
    p_ours = optim.ReduceLROnPlateau(ours3, factor=0.5, patience=2)
    p_theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs3, factor=0.5, patience=2)
    values = [5, 4, 4, 4, 4, 3, 3, 3, 3, 3]
    for v in values:
        theirs.step()
        theirs2.step()
        s_ours.step()
        s_theirs.step()
        e_ours.step()
        e_theirs.step()
        p_ours.step(v)
        p_theirs.step(v)
        assert ours.lr == pytest.approx(theirs.param_groups[0]["lr"])
        assert ours2.lr == pytest.approx(theirs2.param_groups[0]["lr"])
        assert ours3.lr == pytest.approx(theirs3.param_groups[0]["lr"])
