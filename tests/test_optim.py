import numpy as np
import pytest

from scratchnet import optim
from scratchnet.layers import Dense


def quadratic_layer():
    layer = Dense(2, 1, dtype=np.float64)
    layer.params["W"][:] = [[3.0], [-2.0]]
    layer.params["b"][:] = [1.5]
    return layer


@pytest.mark.parametrize(
    "make",
    [
        lambda p: optim.SGD(p, lr=0.1),
        lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
        lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
        lambda p: optim.AdaGrad(p, lr=0.5),
        lambda p: optim.RMSProp(p, lr=0.05),
        lambda p: optim.Adam(p, lr=0.1),
        lambda p: optim.AdaDelta(p, lr=10.0),
    ],
)
def test_optimizers_minimise_a_quadratic(make):
    """Gradient of 0.5*||theta||^2 is theta itself: every optimizer must drive it towards zero."""
    layer = quadratic_layer()
    opt = make(layer)
    start = sum(float((p.value**2).sum()) for p in layer.parameters())
    for _ in range(200):
        for p in layer.parameters():
            layer.grads[p.key] = p.value.copy()
        opt.step()
    end = sum(float((p.value**2).sum()) for p in layer.parameters())
    assert end < 0.05 * start


def test_optimizer_state_roundtrip():
    a, b = quadratic_layer(), quadratic_layer()
    opt_a, opt_b = optim.Adam(a, lr=0.1), optim.Adam(b, lr=0.1)
    for _ in range(3):
        for layer in (a, b):
            for p in layer.parameters():
                layer.grads[p.key] = p.value.copy()
        opt_a.step()
        opt_b.step()
    fresh = optim.Adam(b, lr=0.5)
    fresh.load_state_dict(opt_a.state_dict())
    assert fresh.lr == 0.1 and fresh.step_count == 3
    for layer, opt in ((a, opt_a), (b, fresh)):
        for p in layer.parameters():
            layer.grads[p.key] = p.value.copy()
        opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.value, q.value)


def test_clip_grad_norm_scales_only_when_needed():
    layer = Dense(2, 2)
    layer.grads["W"] = np.full((2, 2), 3.0, dtype=np.float32)
    layer.grads["b"] = np.zeros(2, dtype=np.float32)
    assert optim.clip_grad_norm(layer, 100.0) == pytest.approx(6.0)
    np.testing.assert_array_equal(layer.grads["W"], 3.0)
    optim.clip_grad_norm(layer, 1.5)
    assert optim.global_norm(layer.parameters()) == pytest.approx(1.5, rel=1e-5)


def test_exponential_staircase():
    opt = optim.SGD(Dense(1, 1), lr=1.0)
    sched = optim.ExponentialLR(opt, decay_rate=0.5, decay_steps=3, staircase=True)
    lrs = [sched.step() for _ in range(7)]
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    smooth = optim.ExponentialLR(optim.SGD(Dense(1, 1), lr=1.0), decay_rate=0.5, decay_steps=3)
    assert smooth.step() == pytest.approx(0.5 ** (1 / 3))


def test_lambda_lr_halves_after_epoch_four():
    opt = optim.SGD(Dense(1, 1), lr=1.0)
    sched = optim.LambdaLR(opt, lambda e: 0.5 ** max(0, e - 4))
    assert [sched.step() for _ in range(6)] == [1.0, 1.0, 1.0, 1.0, 0.5, 0.25]


def test_optimizer_errors():
    with pytest.raises(ValueError, match="lr"):
        optim.SGD(Dense(1, 1), lr=-1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(Dense(1, 1), lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="Layer or ParamRef"):
        optim.Adam([np.zeros(3)])
    with pytest.raises(ValueError, match="unique"):
        layer = Dense(1, 1)
        optim.Adam(layer.parameters() + layer.parameters())
    layer = Dense(2, 2)
    opt = optim.SGD(layer, lr=0.1)
    layer.grads["W"] = np.zeros((3, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="gradient of W has shape"):
        opt.step()
