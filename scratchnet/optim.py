r"""Optimizers, gradient clipping and learning-rate schedules.

Every optimizer takes the trainable arrays (``model.parameters()``, or a layer) and updates them in
place from their gradients on ``step()``. Update rules follow PyTorch's conventions, so results can be
checked against it (:math:`g` is the gradient, :math:`\eta` the learning rate, :math:`t` the step count):

* SGD: :math:`v \leftarrow \mu v + g`, :math:`\theta \leftarrow \theta - \eta v`
  (Nesterov: :math:`\theta \leftarrow \theta - \eta (g + \mu v)`); plain SGD when :math:`\mu = 0`.
* AdaGrad: :math:`s \leftarrow s + g^2`, :math:`\theta \leftarrow \theta - \eta g / (\sqrt s + \epsilon)`.
* RMSProp: :math:`s \leftarrow \alpha s + (1-\alpha) g^2`, :math:`\theta \leftarrow \theta - \eta g/(\sqrt s + \epsilon)`.
* Adam: :math:`m \leftarrow \beta_1 m + (1-\beta_1) g`, :math:`v \leftarrow \beta_2 v + (1-\beta_2) g^2`,
  :math:`\theta \leftarrow \theta - \eta\,\hat m/(\sqrt{\hat v}+\epsilon)` with bias-corrected
  :math:`\hat m = m/(1-\beta_1^t)`, :math:`\hat v = v/(1-\beta_2^t)`.
* AdaDelta: :math:`s \leftarrow \rho s + (1-\rho) g^2`,
  :math:`\Delta = \sqrt{u+\epsilon}/\sqrt{s+\epsilon}\, g`, :math:`u \leftarrow \rho u + (1-\rho)\Delta^2`,
  :math:`\theta \leftarrow \theta - \eta\Delta`.
* AdamW: :math:`\theta \leftarrow (1 - \eta\lambda)\theta` (decoupled weight decay, on every parameter),
  then the Adam step above with the undecayed :math:`g` (``torch.optim.AdamW``).

``weight_decay`` adds the L2 penalty's gradient :math:`\lambda\theta` to :math:`g` (the loss gains
:math:`\tfrac\lambda2\lVert\theta\rVert^2`) for weight matrices and kernels only (arrays with two or more
dimensions): biases and normalisation scales are not decayed. AdamW is the exception: its
``weight_decay`` shrinks every parameter directly and never touches :math:`g`. ``clip_norm`` rescales all
gradients together when their global L2 norm exceeds it (as in the course's PTB model).

Schedules set ``optimizer.lr`` each time their ``step()`` is called. Their class attribute ``per_step``
says when that is: ``False`` (StepLR, ExponentialLR, LambdaLR, ReduceLROnPlateau) once per epoch, ``True``
(WarmupCosineLR, OneCycleLR) once per optimizer step, i.e. after every batch's ``optimizer.step()``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from scratchnet import backend
from scratchnet.arguments import check_bool, check_float, check_size
from scratchnet.backend import get_array_module
from scratchnet.layers.base import Layer, ParamRef


def _as_params(params: Any) -> list[ParamRef]:
    if isinstance(params, Layer):
        refs = params.parameters()
    else:
        refs = []
        for i, item in enumerate(params):
            if isinstance(item, Layer):
                refs.extend(ParamRef(f"{i}.{r.name}", r.layer, r.key) for r in item.parameters())
            elif isinstance(item, ParamRef):
                refs.append(item)
            else:
                raise TypeError(f"optimizer: expected a Layer or ParamRef objects, got {type(item).__name__}")
    names = [r.name for r in refs]
    if len(set(names)) != len(names):
        raise ValueError(
            "optimizer: parameter names must be unique (pass layers as one list or a Sequential)"
        )
    if not refs:
        raise ValueError("optimizer: got no parameters to optimise")
    return refs


def global_norm(params: Iterable[ParamRef]) -> float:
    """L2 norm of all gradients taken together."""
    return math.sqrt(sum(float((r.grad.astype(np.float64) ** 2).sum()) for r in params))


def clip_grad_norm(params: Any, max_norm: float) -> float:
    """Scales every gradient in place by ``max_norm / norm`` when their global norm exceeds ``max_norm``.

    Returns the norm before clipping.
    """
    max_norm = check_float("clip_grad_norm", "max_norm", max_norm, low=0.0, low_inclusive=False)
    refs = (
        _as_params(params)
        if not isinstance(params, list) or not all(isinstance(p, ParamRef) for p in params)
        else params
    )
    norm = global_norm(refs)
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for r in refs:
            r.layer.grads[r.key] = r.grad * r.grad.dtype.type(scale)
    return norm


class Optimizer:
    """Shared mechanics: parameter list, weight decay, clipping, per-parameter state, checkpoints.

    Extension point: a new update rule is a subclass that overrides ``update_step(p, g, state)`` (Keras's
    name), which changes the parameter ``p`` in place from its gradient ``g`` (weight decay already added,
    same dtype as ``p``); ``state`` is that parameter's own dict of arrays, saved in checkpoints, and
    ``state_buffer(state, key, like, fill)`` makes one on first use::

        class SignSGD(Optimizer):
            def update_step(self, p, g, state):
                p -= p.dtype.type(self.lr) * np.sign(g)

    A subclass that sets the class attribute ``decoupled_weight_decay = True`` (AdamW) gets ``g`` without the
    L2 term and applies ``self.weight_decay`` itself in ``update_step``.
    """

    decoupled_weight_decay: bool = False

    def __init__(self, params: Any, lr: float, weight_decay: float = 0.0, clip_norm: float | None = None):
        me = type(self).__name__
        lr = check_float(me, "lr", lr, low=0.0, what="learning rate")
        weight_decay = check_float(me, "weight_decay", weight_decay, low=0.0)
        if clip_norm is not None:
            clip_norm = check_float(me, "clip_norm", clip_norm, low=0.0, low_inclusive=False)
        self.params = _as_params(params)
        self.lr = float(lr)
        self.initial_lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.clip_norm = clip_norm
        self.state: dict[str, dict[str, np.ndarray]] = {r.name: {} for r in self.params}
        self.step_count = 0

    def zero_grad(self) -> None:
        for r in self.params:
            r.layer.grads[r.key] = get_array_module(r.value).zeros_like(r.value)

    def step(self) -> None:
        if self.clip_norm is not None:
            clip_grad_norm(self.params, self.clip_norm)
        self.step_count += 1
        update = self.update_step
        fast = None if backend.reference_mode() else backend.fast_path(self, "update_step")
        if fast is not None:  # tier 2 (backend.FAST_PATHS), bit-identical to update_step
            update = functools.partial(fast, self)
        for r in self.params:
            p, g = r.value, r.grad
            if g.shape != p.shape:
                raise ValueError(
                    f"{type(self).__name__}: gradient of {r.name} has shape {g.shape}, "
                    f"parameter has {p.shape}"
                )
            if self.weight_decay and p.ndim >= 2 and not self.decoupled_weight_decay:
                g = g + p.dtype.type(self.weight_decay) * p
            update(p, g.astype(p.dtype, copy=False), self.state[r.name])

    def update_step(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        """Updates parameter ``p`` in place from its gradient ``g``; ``state`` holds its per-parameter arrays."""
        raise NotImplementedError

    def state_buffer(self, state: dict, key: str, like: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """``state[key]``, created on first use as an array shaped like ``like`` filled with ``fill``."""
        if key not in state:
            state[key] = get_array_module(like).full_like(like, fill)
        return state[key]

    def buffer_names(self) -> tuple[str, ...] | None:
        """The per-parameter state buffers this optimizer keeps as configured (None: not declared, so a
        loaded state is not checked for stray buffers)."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """Type, learning rate, step count and every state buffer (host arrays), for exact resumption."""
        out: dict[str, Any] = {
            "type": np.array(type(self).__name__),
            "lr": np.array(self.lr),
            "step_count": np.array(self.step_count),
        }
        for name, buffers in self.state.items():
            for key, value in buffers.items():
                out[f"state/{name}/{key}"] = (
                    value.get() if hasattr(value, "get") else np.array(value, copy=True)
                )
        return out

    def check_state_entries(self, entries: Mapping[str, Any], source: str = "optimizer state") -> None:
        """Raises ValueError unless ``entries`` (arrays, or headers of arrays not yet read) have the names,
        shapes and dtypes of this optimizer's state: "type", "lr", "step_count" and "state/PARAM/BUFFER"
        for parameters it updates (which buffers it keeps is checked with the type, on loading)."""
        me = type(self).__name__
        params = {r.name: r for r in self.params}
        for required in ("lr", "step_count"):
            if required not in entries:
                raise ValueError(f"{me}: {source} has no {required!r}")
        for full, entry in entries.items():
            kind, shape = entry.dtype.kind, tuple(entry.shape)
            if full == "type":
                if kind != "U" or shape != ():
                    raise ValueError(
                        f"{me}: {source} entry 'type' must be a string, got {entry.dtype} {shape}"
                    )
            elif full in ("lr", "step_count"):
                kinds = "fiu" if full == "lr" else "iu"
                if kind not in kinds or shape != ():
                    raise ValueError(
                        f"{me}: {source} entry {full!r} must be a {'real' if full == 'lr' else 'integer'} "
                        f"scalar, got {entry.dtype} of shape {shape}"
                    )
            elif full.startswith("state/") and full.count("/") >= 2:
                _, name, key = full.split("/", 2)
                if name not in params:
                    raise ValueError(f"{me}: {source} has state for unknown parameter {name!r}")
                expected = tuple(params[name].value.shape)
                if shape != expected:
                    raise ValueError(
                        f"{me}: {source} entry {full!r} has shape {shape}, the parameter has {expected}"
                    )
                if kind not in "fiu":
                    raise ValueError(
                        f"{me}: {source} entry {full!r} has dtype {entry.dtype}, not real numbers"
                    )
            else:
                raise ValueError(f"{me}: {source} has an unknown entry {full!r}")

    def prepare_load_state_dict(
        self, state: Mapping[str, Any], source: str = "optimizer state"
    ) -> Callable[[], None]:
        """Checks ``state`` completely and returns the step that puts it in place, which cannot fail.

        Refused (ValueError, nothing changed): state of another optimizer type, unknown or misshapen
        entries, buffers this optimizer does not keep, a negative or non-finite rate, non-finite buffers.
        """
        me = type(self).__name__
        arrays = {
            k: v if hasattr(v, "shape") and hasattr(v, "dtype") else np.asarray(v) for k, v in state.items()
        }
        saved_type = str(arrays["type"]) if "type" in arrays and arrays["type"].dtype.kind == "U" else None
        if saved_type is not None and saved_type != me:
            raise ValueError(
                f"{me}: {source} comes from a {saved_type} optimizer, not a {me}; resume with the "
                f"optimizer it was written by"
            )
        self.check_state_entries(arrays, source)
        buffers = self.buffer_names()
        for full in arrays:
            key = full.split("/", 2)[2] if full.startswith("state/") else None
            if key is not None and buffers is not None and key not in buffers:
                raise ValueError(
                    f"{me}: {source} holds a {key!r} buffer for {full.split('/')[1]}, which this {self!r} "
                    f"does not keep (it keeps {list(buffers)})"
                )
        lr = float(arrays["lr"])
        if not (math.isfinite(lr) and lr >= 0):
            raise ValueError(f"{me}: {source} has learning rate {lr}, expected a finite value >= 0")
        step_count = int(arrays["step_count"])
        if step_count < 0:
            raise ValueError(f"{me}: {source} has step_count {step_count}, expected >= 0")
        by_name = {r.name: r for r in self.params}
        fresh: dict[str, dict[str, np.ndarray]] = {name: {} for name in by_name}
        for full, value in arrays.items():
            if not full.startswith("state/"):
                continue
            _, name, key = full.split("/", 2)
            host = np.asarray(value)
            if not np.isfinite(host).all():
                raise ValueError(f"{me}: {source} entry {full!r} holds non-finite values")
            like = by_name[name].value
            fresh[name][key] = get_array_module(like).asarray(host, dtype=like.dtype).copy()

        def apply() -> None:
            self.lr, self.step_count, self.state = lr, step_count, fresh

        return apply

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restores a ``state_dict``; all of it or, on any problem (ValueError), nothing."""
        self.prepare_load_state_dict(state)()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum."""

    def __init__(
        self,
        params: Any,
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        clip_norm: float | None = None,
    ):
        super().__init__(params, lr, weight_decay, clip_norm)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum}")
        if nesterov and momentum == 0.0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def buffer_names(self) -> tuple[str, ...]:
        return ("velocity",) if self.momentum else ()

    def __repr__(self) -> str:
        extra = f", momentum={self.momentum}" if self.momentum else ""
        return f"SGD(lr={self.lr}{extra}{', nesterov=True' if self.nesterov else ''})"

    def update_step(self, p, g, state):
        if self.momentum == 0.0:
            p -= p.dtype.type(self.lr) * g
            return
        v = self.state_buffer(state, "velocity", p)
        v *= p.dtype.type(self.momentum)
        v += g
        step = g + p.dtype.type(self.momentum) * v if self.nesterov else v
        p -= p.dtype.type(self.lr) * step


class AdaGrad(Optimizer):
    """Per-coordinate step sizes shrinking with the sum of squared gradients."""

    def __init__(
        self,
        params: Any,
        lr: float = 0.01,
        eps: float = 1e-10,
        initial_accumulator_value: float = 0.0,
        weight_decay: float = 0.0,
        clip_norm: float | None = None,
    ):
        super().__init__(params, lr, weight_decay, clip_norm)
        self.eps = check_float("AdaGrad", "eps", eps, low=0.0)
        self.initial_accumulator_value = check_float(
            "AdaGrad", "initial_accumulator_value", initial_accumulator_value, low=0.0
        )

    def buffer_names(self) -> tuple[str, ...]:
        return ("sum_sq",)

    def update_step(self, p, g, state):
        xp = get_array_module(p)
        s = self.state_buffer(state, "sum_sq", p, self.initial_accumulator_value)
        s += g * g
        p -= p.dtype.type(self.lr) * g / (xp.sqrt(s) + p.dtype.type(self.eps))


class RMSProp(Optimizer):
    """AdaGrad with a leaky (exponential moving) average of squared gradients."""

    def __init__(
        self,
        params: Any,
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        clip_norm: float | None = None,
    ):
        super().__init__(params, lr, weight_decay, clip_norm)
        self.alpha = check_float("RMSProp", "alpha", alpha, low=0.0, high=1.0, high_inclusive=False)
        self.eps = check_float("RMSProp", "eps", eps, low=0.0)

    def buffer_names(self) -> tuple[str, ...]:
        return ("mean_sq",)

    def update_step(self, p, g, state):
        xp = get_array_module(p)
        s = self.state_buffer(state, "mean_sq", p)
        s *= p.dtype.type(self.alpha)
        s += p.dtype.type(1 - self.alpha) * g * g
        p -= p.dtype.type(self.lr) * g / (xp.sqrt(s) + p.dtype.type(self.eps))


class Adam(Optimizer):
    """Momentum and RMSProp combined, with bias correction of both moving averages."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        clip_norm: float | None = None,
    ):
        super().__init__(params, lr, weight_decay, clip_norm)
        me = type(self).__name__
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"{me}: betas must lie in [0, 1), got {betas}")
        self.betas, self.eps = (float(b1), float(b2)), check_float(me, "eps", eps, low=0.0)

    def buffer_names(self) -> tuple[str, ...]:
        return ("m", "v")

    def update_step(self, p, g, state):
        xp = get_array_module(p)
        b1, b2 = self.betas
        t = self.step_count
        m = self.state_buffer(state, "m", p)
        v = self.state_buffer(state, "v", p)
        m *= p.dtype.type(b1)
        m += p.dtype.type(1 - b1) * g
        v *= p.dtype.type(b2)
        v += p.dtype.type(1 - b2) * g * g
        step_size = self.lr / (1 - b1**t)
        denom = xp.sqrt(v) / p.dtype.type(math.sqrt(1 - b2**t)) + p.dtype.type(self.eps)
        p -= p.dtype.type(step_size) * m / denom


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's ``torch.optim.AdamW`` rule.

    With :math:`\lambda` = ``weight_decay`` and step count :math:`t`, each step first shrinks the parameter,
    then takes the Adam step with the gradient as it is (no :math:`\lambda\theta` added to it):

    .. math::
        \theta &\leftarrow (1 - \eta\lambda)\,\theta \\
        m &\leftarrow \beta_1 m + (1-\beta_1) g, \qquad v \leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        \theta &\leftarrow \theta - \frac{\eta}{1-\beta_1^t}\,
            \frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}

    As in PyTorch, every parameter is decayed, biases and normalisation scales included, and the decay uses
    the current rate :math:`\eta` (so a schedule scales it too). This differs from ``weight_decay`` of the
    other optimizers, an L2 penalty :math:`\lambda\theta` added to :math:`g` of arrays with two or more
    dimensions only. The arithmetic follows PyTorch's in order (the moving average of :math:`g` as its
    ``lerp``), so trajectories agree to rounding. State (buffers ``m`` and ``v``, the step count and rate)
    is saved and restored like Adam's; a checkpoint of one cannot be loaded into the other.
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        clip_norm: float | None = None,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, clip_norm)

    def __repr__(self) -> str:
        return f"AdamW(lr={self.lr}, weight_decay={self.weight_decay})"

    def update_step(self, p, g, state):
        xp = get_array_module(p)
        b1, b2 = self.betas
        t = self.step_count
        if self.weight_decay:
            p *= p.dtype.type(1 - self.lr * self.weight_decay)
        m = self.state_buffer(state, "m", p)
        v = self.state_buffer(state, "v", p)
        # m.lerp_(g, 1 - b1) as PyTorch computes it: from the nearer end
        w = 1 - b1
        if w < 0.5:
            m += p.dtype.type(w) * (g - m)
        else:
            m[...] = g - (g - m) * p.dtype.type(1 - w)
        v *= p.dtype.type(b2)
        v += p.dtype.type(1 - b2) * g * g
        step_size = self.lr / (1 - b1**t)
        denom = xp.sqrt(v) / p.dtype.type((1 - b2**t) ** 0.5) + p.dtype.type(self.eps)
        p -= p.dtype.type(step_size) * m / denom


class AdaDelta(Optimizer):
    """Step sizes from the ratio of RMS past updates to RMS gradients (no hand-tuned rate needed)."""

    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        clip_norm: float | None = None,
    ):
        super().__init__(params, lr, weight_decay, clip_norm)
        self.rho = check_float("AdaDelta", "rho", rho, low=0.0, high=1.0, high_inclusive=False)
        self.eps = check_float("AdaDelta", "eps", eps, low=0.0, low_inclusive=False)

    def buffer_names(self) -> tuple[str, ...]:
        return ("mean_sq_grad", "mean_sq_update")

    def update_step(self, p, g, state):
        xp = get_array_module(p)
        rho, eps = p.dtype.type(self.rho), p.dtype.type(self.eps)
        s = self.state_buffer(state, "mean_sq_grad", p)
        u = self.state_buffer(state, "mean_sq_update", p)
        s *= rho
        s += (1 - rho) * g * g
        delta = xp.sqrt(u + eps) / xp.sqrt(s + eps) * g
        u *= rho
        u += (1 - rho) * delta * delta
        p -= p.dtype.type(self.lr) * delta


# -- learning-rate schedules ---------------------------------------------------------------------------
def _prepare_attribute_state(
    owner: Any, current: dict[str, Any], state: Mapping[str, Any], may_be_infinite: tuple[str, ...] = ()
) -> Callable[[], None]:
    """Checks a schedule's saved attributes against its ``current`` ones (same type name, same keys, values of
    the same kind, no NaN) and returns the step that sets them, which cannot fail."""
    me = type(owner).__name__
    if not isinstance(state, Mapping):
        raise ValueError(f"{me}: expected a state dict, got {type(state).__name__}")
    values = dict(state)
    saved_type = values.pop("type", me)
    if saved_type != me:
        raise ValueError(f"{me}: the state comes from a {saved_type}, not a {me}")
    expected = {k for k in current if k != "type"}
    if set(values) != expected:
        raise ValueError(f"{me}: state keys {sorted(values)} do not match this schedule's {sorted(expected)}")
    for key, value in values.items():
        old = current[key]
        if isinstance(old, bool) or isinstance(old, str):
            ok = type(value) is type(old)
        elif isinstance(old, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok and isinstance(old, int):
                ok = isinstance(value, int)
            if ok and not math.isfinite(value):
                ok = key in may_be_infinite and not math.isnan(value)
        else:
            ok = True
        if not ok:
            raise ValueError(f"{me}: state entry {key!r} = {value!r} is not usable here (now {old!r})")

    def apply() -> None:
        for key, value in values.items():
            setattr(owner, key, value)

    return apply


class Schedule:
    """Sets ``optimizer.lr`` to ``lr_at(count)``, ``count`` being the number of ``step()`` calls so far.

    ``per_step`` (class attribute) tells a caller such as a trainer when to call ``step()``: ``False``, once
    per epoch (after the epoch's last batch); ``True``, once per optimizer step (after every batch's
    ``optimizer.step()``), for schedules whose ``total_steps`` count batches.
    """

    per_step: bool = False

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.count = 0

    def step(self, *_: Any) -> float:
        lr = self.lr_at(self.count + 1)  # first, so that a refused step changes nothing
        self.count += 1
        self.optimizer.lr = lr
        return lr

    def lr_at(self, count: int) -> float:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Type name and every attribute but the optimizer and functions (JSON-serialisable)."""
        state = {k: v for k, v in vars(self).items() if k != "optimizer" and not callable(v)}
        return {"type": type(self).__name__, **state}

    def prepare_load_state_dict(self, state: Mapping[str, Any]) -> Callable[[], None]:
        """Checks ``state`` (ValueError for another schedule's, or unusable values) and returns the step that
        applies it."""
        return _prepare_attribute_state(self, self.state_dict(), state)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.prepare_load_state_dict(state)()


class StepLR(Schedule):
    """lr = base * gamma ** floor(count / step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), check_float("StepLR", "gamma", gamma, low=0.0)

    def lr_at(self, count: int) -> float:
        return self.base_lr * self.gamma ** (count // self.step_size)


class ExponentialLR(Schedule):
    r"""Exponential decay, in TensorFlow's form or PyTorch's; stepped once per epoch.

    TensorFlow's form (``tf.keras.optimizers.schedules.ExponentialDecay``), ``ExponentialLR(opt, decay_rate,
    decay_steps=1, staircase=False)``:

    .. math::
        \eta_c = \eta_0 \cdot r^{c / s} \quad (\text{exponent } \lfloor c/s \rfloor \text{ when staircase})

    with :math:`r` = ``decay_rate``, :math:`s` = ``decay_steps``, :math:`c` the number of ``step()`` calls and
    :math:`\eta_0` the optimizer's rate when the schedule is made; ``staircase`` decays in discrete jumps
    every ``decay_steps`` calls.

    PyTorch's form (``torch.optim.lr_scheduler.ExponentialLR``), ``ExponentialLR(opt, gamma=g)``:
    :math:`\eta_c = \eta_0\, g^c`, which is TensorFlow's with ``decay_rate=g, decay_steps=1`` and is stored
    so (the state holds ``decay_rate``, ``decay_steps`` and ``staircase`` either way). Give one form: both
    ``decay_rate`` and ``gamma`` is a ValueError, as is ``gamma`` with ``decay_steps`` or ``staircase``.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        decay_rate: float | None = None,
        decay_steps: int = 1,
        staircase: bool = False,
        *,
        gamma: float | None = None,
    ) -> None:
        me = "ExponentialLR"
        if decay_rate is not None and gamma is not None:
            raise ValueError(
                f"{me}: give decay_rate (TensorFlow's form) or gamma (PyTorch's form), not both "
                f"(got decay_rate={decay_rate!r}, gamma={gamma!r})"
            )
        if decay_rate is None and gamma is None:
            raise TypeError(f"{me}: give decay_rate (TensorFlow's form) or gamma (PyTorch's form)")
        decay_steps = check_size(me, "decay_steps", decay_steps)
        staircase = check_bool(me, "staircase", staircase)
        if gamma is not None:
            if decay_steps != 1 or staircase:
                raise ValueError(
                    f"{me}: gamma (PyTorch's form) decays once per call; decay_steps and staircase belong "
                    f"to TensorFlow's form (decay_rate=...), got decay_steps={decay_steps}, staircase={staircase}"
                )
            decay_rate = check_float(me, "gamma", gamma, low=0.0)
        super().__init__(optimizer)
        self.decay_rate, self.decay_steps, self.staircase = (
            check_float(me, "decay_rate", decay_rate, low=0.0),
            decay_steps,
            staircase,
        )

    def lr_at(self, count: int) -> float:
        exponent = count / self.decay_steps
        return self.base_lr * self.decay_rate ** (math.floor(exponent) if self.staircase else exponent)


class LambdaLR(Schedule):
    """lr = base * factor(count), e.g. ``lambda e: 0.5 ** max(0, e - 4)`` halves the rate after epoch 4."""

    def __init__(self, optimizer: Optimizer, factor: Callable[[int], float]) -> None:
        super().__init__(optimizer)
        self.factor = factor

    def lr_at(self, count: int) -> float:
        return self.base_lr * float(self.factor(count))


def _checked_state(owner: Schedule, state: Mapping[str, Any], check: Callable[[dict[str, Any]], None]):
    """``Schedule.prepare_load_state_dict`` followed by ``check(values)`` of the settings the state would
    give, so that a state no constructor would accept is refused (ValueError) before anything changes."""
    apply = Schedule.prepare_load_state_dict(owner, state)
    values = {**owner.state_dict(), **dict(state)}
    try:
        check(values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{type(owner).__name__}: unusable state ({exc})") from None
    return apply


class WarmupCosineLR(Schedule):
    r"""Linear warm-up, then cosine decay; stepped once per optimizer step (``per_step = True``).

    With :math:`\eta_0` the optimizer's rate when the schedule is made (the peak), :math:`W` =
    ``warmup_steps``, :math:`T` = ``total_steps``, :math:`s` = ``start_factor``, :math:`\eta_{min}` =
    ``min_lr`` and :math:`c` the number of ``step()`` calls so far:

    .. math::
        \eta_c = \begin{cases}
            \eta_0 \left(s + (1 - s)\,c / W\right) & c < W \\
            \eta_{min} + (\eta_0 - \eta_{min})\,\tfrac12\left(1 + \cos\frac{\pi (c - W)}{T - W}\right)
                & W \le c \le T \\
            \eta_{min} & c > T
        \end{cases}

    Making the schedule sets the rate of the first step, :math:`\eta_0 s` (0 by default: the warm-up starts
    from zero); call ``step()`` after every ``optimizer.step()``, so that step :math:`c + 1` uses
    :math:`\eta_c`. ``total_steps`` counts optimizer steps (batches) of the whole run.

    For :math:`0 < s \le 1` and :math:`c \le T` the values are PyTorch's ``SequentialLR(opt,
    [LinearLR(opt, start_factor=s, total_iters=W), CosineAnnealingLR(opt, T_max=T - W, eta_min=min_lr)],
    milestones=[W])`` (``W = 0``: ``CosineAnnealingLR`` alone), to rounding (PyTorch updates the rate
    recursively, this schedule from the closed form); PyTorch's ``LinearLR`` refuses :math:`s = 0`, the
    limit of that formula, and its cosine rises again after :math:`T`, where this schedule holds
    :math:`\eta_{min}`.
    """

    per_step = True

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: int,
        total_steps: int,
        min_lr: float = 0.0,
        start_factor: float = 0.0,
    ) -> None:
        super().__init__(optimizer)
        self.warmup_steps, self.total_steps, self.min_lr, self.start_factor = self._check(
            {
                "warmup_steps": warmup_steps,
                "total_steps": total_steps,
                "min_lr": min_lr,
                "start_factor": start_factor,
                "base_lr": self.base_lr,
                "count": 0,
            }
        )
        optimizer.lr = self.lr_at(0)

    @staticmethod
    def _check(v: Mapping[str, Any]) -> tuple[int, int, float, float]:
        me = "WarmupCosineLR"
        warmup = check_size(me, "warmup_steps", v["warmup_steps"], minimum=0)
        total = check_size(me, "total_steps", v["total_steps"])
        min_lr = check_float(me, "min_lr", v["min_lr"], low=0.0)
        start = check_float(me, "start_factor", v["start_factor"], low=0.0, high=1.0)
        check_size(me, "count", v["count"], minimum=0)
        if total <= warmup:
            raise ValueError(
                f"{me}: total_steps must exceed warmup_steps (the cosine phase needs at least one step), "
                f"got total_steps={total}, warmup_steps={warmup}"
            )
        if min_lr > v["base_lr"]:
            raise ValueError(
                f"{me}: min_lr must be at most the optimizer's learning rate {v['base_lr']} (the peak), "
                f"got {min_lr}"
            )
        return warmup, total, min_lr, start

    def lr_at(self, count: int) -> float:
        warmup, total = self.warmup_steps, self.total_steps
        if count < warmup:  # PyTorch's LinearLR in closed form, end_factor 1
            return self.base_lr * (self.start_factor + (1.0 - self.start_factor) * count / warmup)
        if count > total:
            return self.min_lr
        # PyTorch's CosineAnnealingLR in closed form, epoch count - warmup, T_max total - warmup
        cosine = 1 + math.cos(math.pi * (count - warmup) / (total - warmup))
        return self.min_lr + (self.base_lr - self.min_lr) * cosine / 2

    def prepare_load_state_dict(self, state: Mapping[str, Any]) -> Callable[[], None]:
        """As ``Schedule.prepare_load_state_dict``, refusing also settings the constructor would refuse."""
        return _checked_state(self, state, self._check)


class OneCycleLR(Schedule):
    r"""The one-cycle policy (Smith), PyTorch's ``OneCycleLR`` rates; stepped once per optimizer step
    (``per_step = True``).

    The rate climbs from :math:`\eta_{max}/d` to :math:`\eta_{max}` = ``max_lr``, then anneals to
    :math:`\eta_{max}/(d\,f)` (:math:`d` = ``div_factor``, :math:`f` = ``final_div_factor``). With
    :math:`T` = ``total_steps``, :math:`E = p\,T - 1` (:math:`p` = ``pct_start``) the step ending the climb
    and :math:`c` the number of ``step()`` calls so far:

    .. math::
        \eta_c = \begin{cases}
            A\left(\eta_{max}/d,\ \eta_{max},\ c / E\right) & c \le E \\
            A\left(\eta_{max},\ \eta_{max}/(d f),\ (c - E)/(T - 1 - E)\right) & E < c \le T
        \end{cases}

    where the annealing :math:`A(a, b, x)` is :math:`b + \tfrac{a - b}2 (1 + \cos \pi x)` for
    ``anneal_strategy="cos"`` and :math:`a + (b - a) x` for ``"linear"``. Making the schedule sets the rate
    of the first step, :math:`\eta_0`; call ``step()`` after every ``optimizer.step()``. The values are
    PyTorch's (two phases, ``three_phase=False``) float for float, computed the same way; as in PyTorch,
    stepping past ``total_steps`` is a ValueError (``total_steps`` must count the run's optimizer steps),
    and the optimizer's own rate is ignored. Momentum (or Adam's :math:`\beta_1`) is not cycled, unlike
    PyTorch's default ``cycle_momentum=True``.
    """

    per_step = True

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal_strategy: str = "cos",
    ) -> None:
        super().__init__(optimizer)
        settings = {
            "max_lr": max_lr,
            "total_steps": total_steps,
            "pct_start": pct_start,
            "div_factor": div_factor,
            "final_div_factor": final_div_factor,
            "anneal_strategy": anneal_strategy,
            "count": 0,
        }
        (
            self.max_lr,
            self.total_steps,
            self.pct_start,
            self.div_factor,
            self.final_div_factor,
            self.anneal_strategy,
        ) = self._check(settings)
        optimizer.lr = self.lr_at(0)

    @staticmethod
    def _check(v: Mapping[str, Any]) -> tuple[float, int, float, float, float, str]:
        me = "OneCycleLR"
        max_lr = check_float(me, "max_lr", v["max_lr"], low=0.0, low_inclusive=False)
        total = check_size(me, "total_steps", v["total_steps"])
        pct = check_float(me, "pct_start", v["pct_start"], low=0.0, high=1.0, high_inclusive=False)
        div = check_float(me, "div_factor", v["div_factor"], low=0.0, low_inclusive=False)
        final_div = check_float(me, "final_div_factor", v["final_div_factor"], low=0.0, low_inclusive=False)
        strategy = v["anneal_strategy"]
        if strategy not in ("cos", "linear") or not isinstance(strategy, str):
            raise ValueError(f"{me}: anneal_strategy must be 'cos' or 'linear', got {strategy!r}")
        if float(pct * total) == 1.0:
            raise ValueError(
                f"{me}: pct_start * total_steps = 1 leaves a warm-up phase of no length (PyTorch divides by "
                f"zero there), got pct_start={pct}, total_steps={total}"
            )
        count = check_size(me, "count", v["count"], minimum=0)
        if count > total:
            raise ValueError(f"{me}: count {count} is past total_steps={total}")
        return max_lr, total, pct, div, final_div, strategy

    def lr_at(self, count: int) -> float:
        if count > self.total_steps:
            raise ValueError(
                f"OneCycleLR: step() called {count} times, past total_steps={self.total_steps} (the cycle is "
                f"over: make the schedule with the number of optimizer steps the run takes)"
            )
        initial = self.max_lr / self.div_factor
        phases = (
            (float(self.pct_start * self.total_steps) - 1, initial, self.max_lr),
            (self.total_steps - 1, self.max_lr, initial / self.final_div_factor),
        )
        start_step = 0.0
        for i, (end_step, start_lr, end_lr) in enumerate(phases):
            if count <= end_step or i == len(phases) - 1:
                pct = (count - start_step) / (end_step - start_step)
                if self.anneal_strategy == "cos":
                    return end_lr + (start_lr - end_lr) / 2.0 * (math.cos(math.pi * pct) + 1)
                return (end_lr - start_lr) * pct + start_lr
            start_step = end_step
        raise AssertionError("unreachable")

    def prepare_load_state_dict(self, state: Mapping[str, Any]) -> Callable[[], None]:
        """As ``Schedule.prepare_load_state_dict``, refusing also settings the constructor would refuse."""
        return _checked_state(self, state, self._check)


class ReduceLROnPlateau:
    """Multiplies the rate by ``factor`` once the monitored value has not improved for ``patience`` calls.

    ``step(value)`` after each epoch; improvement means below ``best * (1 - threshold)`` in mode "min"
    (above ``best * (1 + threshold)`` in mode "max").
    """

    per_step = False

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        min_lr: float = 0.0,
        cooldown: int = 0,
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}")
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, float(factor), int(patience)
        self.threshold = check_float("ReduceLROnPlateau", "threshold", threshold, low=0.0)
        self.min_lr = check_float("ReduceLROnPlateau", "min_lr", min_lr, low=0.0)
        self.cooldown = int(cooldown)
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_epochs = 0
        self.cooldown_left = 0

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best * (1 - self.threshold) if self.best != math.inf else True
        return value > self.best * (1 + self.threshold) if self.best != -math.inf else True

    def step(self, value: float) -> float:
        value = float(value)
        if math.isnan(value):
            raise ValueError("ReduceLROnPlateau: monitored value is NaN")
        if self._improved(value):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_epochs = 0
        if self.bad_epochs > self.patience:
            self.optimizer.lr = max(self.optimizer.lr * self.factor, self.min_lr)
            self.bad_epochs = 0
            self.cooldown_left = self.cooldown
        return self.optimizer.lr

    def state_dict(self) -> dict[str, Any]:
        """Type name, settings and progress (best value, bad epochs, cooldown), JSON-serialisable."""
        return {"type": type(self).__name__, **{k: v for k, v in vars(self).items() if k != "optimizer"}}

    def prepare_load_state_dict(self, state: Mapping[str, Any]) -> Callable[[], None]:
        """Checks ``state`` (ValueError for another schedule's, or unusable values) and returns the step that
        applies it."""
        return _prepare_attribute_state(self, self.state_dict(), state, may_be_infinite=("best",))

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.prepare_load_state_dict(state)()
