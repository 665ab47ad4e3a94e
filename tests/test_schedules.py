"""The per-step schedules (WarmupCosineLR, OneCycleLR) and ExponentialLR's two forms: every value against
PyTorch's schedulers, state round trips as checkpoints make them (through JSON), and refused arguments."""

import json
import math

import numpy as np
import pytest
from layer_checks import import_torch

from scratchnet import optim
from scratchnet.layers import Dense


def _ours(lr=1.0):
    return optim.SGD(Dense(1, 1), lr=lr)


def _theirs(lr=1.0):
    torch = import_torch()
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)


def _values(opt, schedule, steps):
    """The rate after construction, then after each of ``steps`` calls to ``step()``."""
    values = [opt.lr]
    for _ in range(steps):
        schedule.step()
        values.append(opt.lr)
    return values


def _torch_values(opt, scheduler, steps):
    values = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step()  # no gradients: changes nothing, but keeps PyTorch's "step order" warning away
        scheduler.step()
        values.append(opt.param_groups[0]["lr"])
    return values


# -- WarmupCosineLR -------------------------------------------------------------------------------------------
WARMUP_COSINE = [
    # base lr, warmup_steps, total_steps, min_lr, start_factor
    (1.0, 5, 50, 0.0, 0.1),
    (0.3, 10, 1000, 1e-4, 1 / 3),
    (2e-3, 1, 7, 1e-5, 1.0),
    (0.1, 100, 5000, 0.0, 1e-3),
    (0.5, 0, 40, 0.01, 0.25),  # no warm-up: CosineAnnealingLR alone
]


@pytest.mark.parametrize("base, warmup, total, min_lr, start", WARMUP_COSINE)
def test_warmup_cosine_matches_torch_every_step(base, warmup, total, min_lr, start):
    sched = import_torch().optim.lr_scheduler
    theirs = _theirs(base)
    cosine = sched.CosineAnnealingLR(theirs, T_max=total - warmup, eta_min=min_lr)
    if warmup:
        linear = sched.LinearLR(theirs, start_factor=start, total_iters=warmup)
        torch_sched = sched.SequentialLR(theirs, [linear, cosine], milestones=[warmup])
    else:
        torch_sched = cosine
    expected = _torch_values(theirs, torch_sched, total)
    ours = _ours(base)
    got = _values(ours, optim.WarmupCosineLR(ours, warmup, total, min_lr=min_lr, start_factor=start), total)
    # PyTorch updates the rate recursively, this schedule from the closed form: equal to rounding
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * base)
    assert got[0] == base * start if warmup else got[0] == base
    assert got[warmup] == pytest.approx(base, rel=1e-15) and got[-1] == pytest.approx(min_lr, abs=1e-15)


def test_warmup_cosine_starts_from_zero_by_default_and_holds_min_lr_after_total():
    opt = _ours(0.8)
    sched = optim.WarmupCosineLR(opt, warmup_steps=4, total_steps=8, min_lr=0.05)
    assert opt.lr == 0.0 and sched.start_factor == 0.0
    values = _values(opt, sched, 11)
    assert values[:5] == [0.0, 0.2, 0.4, 0.6000000000000001, 0.8]
    cosine = [0.05 + 0.75 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)]
    assert values[4:9] == pytest.approx(cosine, rel=1e-15)
    assert values[8:] == [0.05] * 4  # PyTorch's cosine would rise again here


# -- OneCycleLR -----------------------------------------------------------------------------------------------
ONE_CYCLE = [
    # max_lr, total_steps, pct_start, div_factor, final_div_factor, anneal_strategy
    (0.1, 100, 0.3, 25.0, 1e4, "cos"),
    (1.0, 37, 0.25, 10.0, 100.0, "linear"),
    (3e-3, 1000, 0.1, 25.0, 1e4, "cos"),
    (0.5, 10, 0.05, 5.0, 1e3, "cos"),  # warm-up phase shorter than one step
    (0.2, 20, 0.0, 4.0, 10.0, "linear"),
]


@pytest.mark.parametrize("max_lr, total, pct, div, final_div, strategy", ONE_CYCLE)
def test_one_cycle_matches_torch_every_step(max_lr, total, pct, div, final_div, strategy):
    theirs = _theirs(0.7)
    torch_sched = import_torch().optim.lr_scheduler.OneCycleLR(
        theirs,
        max_lr,
        total_steps=total,
        pct_start=pct,
        div_factor=div,
        final_div_factor=final_div,
        anneal_strategy=strategy,
        cycle_momentum=False,
    )
    expected = _torch_values(theirs, torch_sched, total)
    ours = _ours(0.7)
    sched = optim.OneCycleLR(ours, max_lr, total, pct, div, final_div, strategy)
    got = _values(ours, sched, total)
    # the same arithmetic in the same order: PyTorch's values to the last bit (rtol for other torch builds)
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)
    assert max(got) == pytest.approx(max_lr, rel=0.05)
    assert got[-1] < max_lr / div


def test_one_cycle_refuses_steps_past_total_and_changes_nothing():
    opt = _ours()
    sched = optim.OneCycleLR(opt, 0.1, total_steps=5)
    _values(opt, sched, 5)
    lr, state = opt.lr, sched.state_dict()
    with pytest.raises(ValueError, match="OneCycleLR: step\\(\\) called 6 times, past total_steps=5"):
        sched.step()
    assert opt.lr == lr and sched.state_dict() == state


# -- both per-step schedules ----------------------------------------------------------------------------------
PER_STEP = {
    "warmup_cosine": lambda opt: optim.WarmupCosineLR(opt, warmup_steps=6, total_steps=30, min_lr=1e-3),
    "warmup_cosine_from_a_factor": lambda opt: optim.WarmupCosineLR(opt, 3, 20, start_factor=0.5),
    "one_cycle": lambda opt: optim.OneCycleLR(opt, max_lr=0.4, total_steps=30),
    "one_cycle_linear": lambda opt: optim.OneCycleLR(opt, 0.4, 30, pct_start=0.5, anneal_strategy="linear"),
}


def test_per_step_attribute_says_when_to_step():
    assert optim.WarmupCosineLR.per_step is True and optim.OneCycleLR.per_step is True
    for epochwise in (optim.StepLR, optim.ExponentialLR, optim.LambdaLR, optim.ReduceLROnPlateau):
        assert epochwise.per_step is False
    sched = optim.OneCycleLR(_ours(), 0.1, 10)
    assert sched.per_step and "per_step" not in sched.state_dict()  # a class attribute, not state


@pytest.mark.parametrize("make", PER_STEP.values(), ids=PER_STEP.keys())
@pytest.mark.parametrize("at", [0, 4, 17])
def test_per_step_state_roundtrip_through_json_resumes_exactly(make, at):
    straight_opt = _ours(0.1)
    straight = make(straight_opt)
    values = _values(straight_opt, straight, 20)
    interrupted_opt = _ours(0.1)
    interrupted = make(interrupted_opt)
    _values(interrupted_opt, interrupted, at)
    saved = json.loads(json.dumps(interrupted.state_dict()))  # as a checkpoint stores it
    assert saved["type"] == type(straight).__name__ and saved["count"] == at
    resumed_opt = _ours(0.9)  # another rate; the optimizer's own state restores the rate
    resumed = make(resumed_opt)
    _values(resumed_opt, resumed, 2)
    resumed.load_state_dict(saved)
    resumed_opt.lr = interrupted_opt.lr
    assert resumed.state_dict() == interrupted.state_dict()
    assert _values(resumed_opt, resumed, 20 - at)[1:] == values[at + 1 :]


@pytest.mark.parametrize(
    "make, change, message",
    [
        (PER_STEP["warmup_cosine"], {"warmup_steps": 40}, "total_steps must exceed warmup_steps"),
        (PER_STEP["warmup_cosine"], {"start_factor": 1.5}, "start_factor"),
        (PER_STEP["warmup_cosine"], {"min_lr": 5.0}, "min_lr must be at most"),
        (PER_STEP["warmup_cosine"], {"count": -1}, "count"),
        (PER_STEP["warmup_cosine"], {"total_steps": 30.0}, "total_steps"),
        (PER_STEP["warmup_cosine"], {"surprise": 1}, "keys"),
        (PER_STEP["one_cycle"], {"count": 31}, "past total_steps"),
        (PER_STEP["one_cycle"], {"anneal_strategy": "cosine"}, "anneal_strategy"),
        (PER_STEP["one_cycle"], {"pct_start": 1.0}, "pct_start"),
        (PER_STEP["one_cycle"], {"div_factor": float("nan")}, "div_factor"),
        (PER_STEP["one_cycle"], {"type": "WarmupCosineLR"}, "WarmupCosineLR, not a OneCycleLR"),
    ],
)
def test_per_step_bad_state_is_refused_and_changes_nothing(make, change, message):
    opt = _ours(0.1)
    sched = make(opt)
    _values(opt, sched, 3)
    before = sched.state_dict()
    with pytest.raises(ValueError, match=message):
        sched.load_state_dict({**before, **change})
    assert sched.state_dict() == before


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda o: optim.WarmupCosineLR(o, -1, 10), ValueError, "WarmupCosineLR: warmup_steps"),
        (lambda o: optim.WarmupCosineLR(o, 2.0, 10), TypeError, "WarmupCosineLR: warmup_steps"),
        (lambda o: optim.WarmupCosineLR(o, 0, 0), ValueError, "WarmupCosineLR: total_steps"),
        (lambda o: optim.WarmupCosineLR(o, 10, 10), ValueError, "WarmupCosineLR: total_steps must exceed"),
        (lambda o: optim.WarmupCosineLR(o, 1, True), TypeError, "WarmupCosineLR: total_steps"),
        (lambda o: optim.WarmupCosineLR(o, 1, 5, min_lr=-0.1), ValueError, "WarmupCosineLR: min_lr"),
        (lambda o: optim.WarmupCosineLR(o, 1, 5, min_lr=float("nan")), ValueError, "WarmupCosineLR: min_lr"),
        (
            lambda o: optim.WarmupCosineLR(o, 1, 5, min_lr=0.2),
            ValueError,
            "WarmupCosineLR: min_lr must be at",
        ),
        (
            lambda o: optim.WarmupCosineLR(o, 1, 5, start_factor=1.01),
            ValueError,
            "WarmupCosineLR: start_factor",
        ),
        (
            lambda o: optim.WarmupCosineLR(o, 1, 5, start_factor="0"),
            TypeError,
            "WarmupCosineLR: start_factor",
        ),
        (lambda o: optim.OneCycleLR(o, 0.0, 10), ValueError, "OneCycleLR: max_lr"),
        (lambda o: optim.OneCycleLR(o, float("inf"), 10), ValueError, "OneCycleLR: max_lr"),
        (lambda o: optim.OneCycleLR(o, 0.1, 0), ValueError, "OneCycleLR: total_steps"),
        (lambda o: optim.OneCycleLR(o, 0.1, 10.0), TypeError, "OneCycleLR: total_steps"),
        (lambda o: optim.OneCycleLR(o, 0.1, 10, pct_start=1.0), ValueError, "OneCycleLR: pct_start"),
        (lambda o: optim.OneCycleLR(o, 0.1, 10, pct_start=-0.1), ValueError, "OneCycleLR: pct_start"),
        (
            lambda o: optim.OneCycleLR(o, 0.1, 4, pct_start=0.25),
            ValueError,
            "OneCycleLR: pct_start \\* total",
        ),
        (lambda o: optim.OneCycleLR(o, 0.1, 10, div_factor=0.0), ValueError, "OneCycleLR: div_factor"),
        (lambda o: optim.OneCycleLR(o, 0.1, 10, final_div_factor=-1.0), ValueError, "OneCycleLR: final_div"),
        (lambda o: optim.OneCycleLR(o, 0.1, 10, anneal_strategy="cosine"), ValueError, "anneal_strategy"),
        (lambda o: optim.OneCycleLR(o, 0.1, 10, anneal_strategy=None), ValueError, "anneal_strategy"),
    ],
)
def test_per_step_bad_arguments_are_refused_before_the_rate_changes(make, error, message):
    opt = _ours(0.1)
    with pytest.raises(error, match=message):
        make(opt)
    assert opt.lr == 0.1


def test_adamw_with_warmup_cosine_matches_torch_per_step():
    """The pair as a trainer runs them, step() after every optimizer step: AdamW's decoupled decay uses the
    scheduled rate, as PyTorch's does."""
    torch = import_torch()
    rng = np.random.default_rng(3)
    layer = Dense(3, 2, dtype=np.float64)
    theirs_params = [torch.tensor(p.value.copy(), requires_grad=True) for p in layer.parameters()]
    ours = optim.AdamW(layer, lr=0.05, weight_decay=0.1)
    theirs = torch.optim.AdamW(theirs_params, lr=0.05, weight_decay=0.1, foreach=False)
    sched = optim.WarmupCosineLR(ours, warmup_steps=5, total_steps=20, min_lr=1e-3, start_factor=0.2)
    lr = torch.optim.lr_scheduler
    torch_sched = lr.SequentialLR(
        theirs,
        [lr.LinearLR(theirs, 0.2, total_iters=5), lr.CosineAnnealingLR(theirs, 15, eta_min=1e-3)],
        milestones=[5],
    )
    for step in range(20):
        for p, q in zip(layer.parameters(), theirs_params):
            layer.grads[p.key] = rng.standard_normal(p.value.shape)
            q.grad = torch.tensor(layer.grads[p.key].copy())
        ours.step()
        theirs.step()
        sched.step()
        torch_sched.step()
        assert ours.lr == pytest.approx(theirs.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
        for p, q in zip(layer.parameters(), theirs_params):
            np.testing.assert_allclose(p.value, q.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=f"{step}")


# -- ExponentialLR: TensorFlow's form and PyTorch's -----------------------------------------------------------
@pytest.mark.parametrize("base, gamma", [(1.0, 0.9), (0.3, 0.5), (2e-3, 0.999), (0.1, 1.0)])
def test_exponential_gamma_matches_torch_every_step(base, gamma):
    theirs = _theirs(base)
    expected = _torch_values(theirs, import_torch().optim.lr_scheduler.ExponentialLR(theirs, gamma), 60)
    ours = _ours(base)
    sched = optim.ExponentialLR(ours, gamma=gamma)
    got = _values(ours, sched, 60)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)  # PyTorch multiplies step by step
    assert got == [base * gamma**c for c in range(61)]
    same = optim.ExponentialLR(_ours(base), decay_rate=gamma).state_dict()  # stored as TensorFlow's form
    assert optim.ExponentialLR(_ours(base), gamma=gamma).state_dict() == same


def test_exponential_tensorflow_form_still_works():
    opt = _ours(1.0)
    sched = optim.ExponentialLR(opt, 0.5, 2, staircase=True)  # positional, as the chapters call it
    assert _values(opt, sched, 5) == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    opt = _ours(2.0)
    assert _values(opt, optim.ExponentialLR(opt, decay_rate=0.25, decay_steps=2), 2)[1:] == [1.0, 0.5]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            dict(decay_rate=0.9, gamma=0.9),
            ValueError,
            "decay_rate .*TensorFlow.* or gamma .*PyTorch.*not both",
        ),
        (dict(), TypeError, "ExponentialLR: give decay_rate"),
        (dict(gamma=0.9, decay_steps=3), ValueError, "ExponentialLR: gamma .*decay_steps"),
        (dict(gamma=0.9, staircase=True), ValueError, "ExponentialLR: gamma .*staircase"),
        (dict(gamma=-0.5), ValueError, "ExponentialLR: gamma"),
        (dict(gamma=float("nan")), ValueError, "ExponentialLR: gamma"),
        (dict(gamma="0.9"), TypeError, "ExponentialLR: gamma"),
        (dict(decay_rate=0.9, decay_steps=0), ValueError, "ExponentialLR: decay_steps"),
        (dict(decay_rate=0.9, decay_steps=2.5), TypeError, "ExponentialLR: decay_steps"),
        (dict(decay_rate=0.9, staircase="yes"), TypeError, "ExponentialLR: staircase"),
    ],
)
def test_exponential_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        optim.ExponentialLR(_ours(), **kwargs)
