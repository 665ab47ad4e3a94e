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


# -- AdamW ----------------------------------------------------------------------------------------------------
def _small_model(dtype):
    import scratchnet as sn
    from scratchnet.layers import Tanh

    sn.seed(0)
    return sn.Sequential([Dense(4, 3, dtype=dtype), Tanh(), Dense(3, 2, dtype=dtype)])


def _adamw_trajectories(dtype, steps=20, resume_at=None, **kwargs):
    """Our AdamW and ``torch.optim.AdamW`` (single-tensor path) fed the same gradients (from our model's
    backprop) for ``steps`` steps; yields both parameter lists after every step."""
    from layer_checks import import_torch

    from scratchnet.losses import SoftmaxCrossEntropy

    torch = import_torch()
    model = _small_model(dtype)
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((8, 4)).astype(dtype), rng.integers(0, 2, 8)
    theirs_params = [torch.tensor(p.value.copy(), requires_grad=True) for p in model.parameters()]
    ours = optim.AdamW(model.parameters(), **kwargs)
    theirs = torch.optim.AdamW(theirs_params, foreach=False, **kwargs)
    loss = SoftmaxCrossEntropy()
    for _ in range(steps):
        loss(model(x), y)
        model.backprop(loss.backward())
        for p, q in zip(model.parameters(), theirs_params):
            q.grad = torch.tensor(p.grad.copy())
        ours.step()
        theirs.step()
        yield [p.value for p in model.parameters()], [q.detach().numpy() for q in theirs_params]


ADAMW_SETTINGS = [
    dict(lr=0.01),  # PyTorch's defaults otherwise, weight_decay 1e-2
    dict(lr=0.05, weight_decay=0.0),
    dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    dict(lr=0.05, betas=(0.3, 0.9), weight_decay=0.5),  # beta1 < 0.5: the other branch of lerp
]


@pytest.mark.parametrize("dtype, rtol, atol", [(np.float64, 1e-12, 1e-14), (np.float32, 1e-5, 1e-7)])
@pytest.mark.parametrize("settings", ADAMW_SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_adamw_matches_torch_every_step(dtype, rtol, atol, settings):
    """20 steps of torch.optim.AdamW's rule: the parameters agree after every step (to float64's or
    float32's rounding: PyTorch computes the moving average with a fused multiply-add)."""
    steps = 0
    for ours, theirs in _adamw_trajectories(dtype, **settings):
        steps += 1
        for p, q in zip(ours, theirs):
            assert p.dtype == dtype
            np.testing.assert_allclose(p, q, rtol=rtol, atol=atol, err_msg=f"step {steps}")
    assert steps == 20


def test_adamw_decay_is_decoupled_and_reaches_every_parameter():
    """With zero gradients the Adam step is exactly zero, so one step only shrinks every parameter, the
    bias included, by 1 - lr * weight_decay; the base class's L2 term would have moved W by about lr."""
    layer = quadratic_layer()
    before = {p.key: p.value.copy() for p in layer.parameters()}
    opt = optim.AdamW(layer, lr=0.1, weight_decay=0.2)
    for p in layer.parameters():
        layer.grads[p.key] = np.zeros_like(p.value)
    opt.step()
    for p in layer.parameters():
        np.testing.assert_array_equal(p.value, before[p.key] * (1 - 0.1 * 0.2))
    assert optim.AdamW.decoupled_weight_decay and not optim.Adam.decoupled_weight_decay
    assert "weight_decay=0.2" in repr(opt)


def test_adamw_without_decay_is_adam():
    a, b = quadratic_layer(), quadratic_layer()
    adam, adamw = optim.Adam(a, lr=0.1), optim.AdamW(b, lr=0.1, weight_decay=0.0)
    _stepped(adam, a, steps=5)
    _stepped(adamw, b, steps=5)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.value, q.value, rtol=1e-13)


def test_adamw_state_roundtrip_mid_run_continues_bit_exactly():
    straight, resumed = quadratic_layer(), quadratic_layer()
    opt = _stepped(optim.AdamW(straight, lr=0.1, weight_decay=0.05), straight, steps=7)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        q.value[...] = p.value
    state = _snapshot(opt)
    assert str(state["type"]) == "AdamW" and sorted(k for k in state if k.startswith("state/")) == [
        "state/W/m",
        "state/W/v",
        "state/b/m",
        "state/b/v",
    ]
    fresh = optim.AdamW(resumed, lr=0.5, weight_decay=0.05)
    fresh.load_state_dict(state)
    assert fresh.lr == 0.1 and fresh.step_count == 7
    _stepped(opt, straight, steps=5)
    _stepped(fresh, resumed, steps=5)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(p.value, q.value)
    with pytest.raises(ValueError, match="Adam optimizer, not a AdamW"):
        fresh.load_state_dict(_stepped(optim.Adam(quadratic_layer(), lr=0.1), quadratic_layer()).state_dict())


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(lr=-1.0), ValueError, "AdamW: lr"),
        (dict(lr=float("nan")), ValueError, "AdamW: lr"),
        (dict(weight_decay=-0.1), ValueError, "AdamW: weight_decay"),
        (dict(weight_decay=float("inf")), ValueError, "AdamW: weight_decay"),
        (dict(weight_decay=True), TypeError, "AdamW: weight_decay"),
        (dict(betas=(1.0, 0.999)), ValueError, "AdamW: betas"),
        (dict(betas=(0.9, -0.1)), ValueError, "AdamW: betas"),
        (dict(eps=float("nan")), ValueError, "AdamW: eps"),
        (dict(clip_norm=0.0), ValueError, "AdamW: clip_norm"),
    ],
)
def test_adamw_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        optim.AdamW(Dense(2, 2), **kwargs)
