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


def _stepped(opt, layer, steps=2):
    for _ in range(steps):
        for p in layer.parameters():
            layer.grads[p.key] = p.value.copy()
        opt.step()
    return opt


def _snapshot(opt):
    return {k: np.array(v, copy=True) for k, v in opt.state_dict().items()}


def _assert_unchanged(opt, before):
    after = opt.state_dict()
    assert sorted(after) == sorted(before)
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v)


def test_state_of_another_optimizer_type_is_refused():
    layer = quadratic_layer()
    sgd_state = _stepped(optim.SGD(layer, lr=0.05, momentum=0.9), layer).state_dict()
    adam = _stepped(optim.Adam(layer, lr=0.1), layer)
    before = _snapshot(adam)
    with pytest.raises(ValueError, match="SGD.*Adam|Adam.*SGD"):
        adam.load_state_dict(sgd_state)
    _assert_unchanged(adam, before)
    untyped = {k: v for k, v in sgd_state.items() if k != "type"}  # as written before types were recorded
    with pytest.raises(ValueError, match="velocity"):
        adam.load_state_dict(untyped)
    _assert_unchanged(adam, before)


def test_stray_buffers_are_refused():
    layer = quadratic_layer()
    momentum_state = _stepped(optim.SGD(layer, lr=0.05, momentum=0.9), layer).state_dict()
    plain = optim.SGD(layer, lr=0.05)
    with pytest.raises(ValueError, match="velocity"):
        plain.load_state_dict(momentum_state)
    assert plain.state == {"W": {}, "b": {}} and plain.step_count == 0


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda s: s.update({"state/missing.W/m": np.zeros((2, 1))}), "unknown parameter"),
        (lambda s: s.update({"state/W/m": np.zeros((3, 1))}), "shape"),
        (lambda s: s.update({"state/W/m": np.full((2, 1), np.nan)}), "non-finite"),
        (lambda s: s.update({"lr": np.array(np.inf)}), "learning rate"),
        (lambda s: s.update({"step_count": np.array(-1)}), "step_count"),
        (lambda s: s.update({"surprise": np.zeros(1)}), "unknown entry"),
    ],
)
def test_bad_optimizer_state_changes_nothing(corrupt, message):
    a, b = quadratic_layer(), quadratic_layer()
    state = _stepped(optim.Adam(a, lr=0.1), a, steps=3).state_dict()
    corrupt(state)
    target = _stepped(optim.Adam(b, lr=0.5), b, steps=1)
    before = _snapshot(target)
    with pytest.raises(ValueError, match=message):
        target.load_state_dict(state)
    _assert_unchanged(target, before)


def test_schedule_state_of_another_type_is_refused():
    opt = optim.SGD(Dense(1, 1), lr=1.0)
    step = optim.StepLR(opt, step_size=2)
    step.step()
    exponential = optim.ExponentialLR(optim.SGD(Dense(1, 1), lr=1.0), decay_rate=0.5)
    before = exponential.state_dict()
    with pytest.raises(ValueError, match="StepLR.*ExponentialLR"):
        exponential.load_state_dict(step.state_dict())
    assert exponential.state_dict() == before
    plateau = optim.ReduceLROnPlateau(optim.SGD(Dense(1, 1), lr=1.0))
    before = plateau.state_dict()
    for bad in ({**before, "best": float("nan")}, {**before, "bad_epochs": "x"}, {**before, "optimizer": 1}):
        with pytest.raises(ValueError):
            plateau.load_state_dict(bad)
        assert plateau.state_dict() == before
    restored = optim.ReduceLROnPlateau(optim.SGD(Dense(1, 1), lr=1.0))
    plateau.step(1.0)
    plateau.step(2.0)
    restored.load_state_dict(plateau.state_dict())
    assert restored.state_dict() == plateau.state_dict()


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=float("nan")),
        lambda ps: optim.Adam(ps, lr=float("inf")),
        lambda ps: optim.SGD(ps, lr=0.1, weight_decay=float("nan")),
        lambda ps: optim.SGD(ps, lr=0.1, clip_norm=0.0),
        lambda ps: optim.SGD(ps, lr=True),
        lambda ps: optim.Adam(ps, eps=float("nan")),
        lambda ps: optim.RMSProp(ps, alpha=1.0),
        lambda ps: optim.AdaGrad(ps, initial_accumulator_value=-1.0),
        lambda ps: optim.AdaDelta(ps, rho=float("nan")),
        lambda ps: optim.StepLR(optim.SGD(ps, lr=0.1), 1, gamma=float("nan")),
        lambda ps: optim.ExponentialLR(optim.SGD(ps, lr=0.1), float("inf")),
        lambda ps: optim.ReduceLROnPlateau(optim.SGD(ps, lr=0.1), min_lr=float("nan")),
    ],
)
def test_hyperparameters_that_make_nan_are_refused_at_construction(make):
    with pytest.raises((ValueError, TypeError), match="must be"):
        make(Dense(3, 2).parameters())
