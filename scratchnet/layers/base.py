"""The base class every layer shares: parameter registry, train/eval mode, dtype, input validation, and
the choice between a layer's own (reference) code and its fast path.

Contract (all layers):
    forward(x) -> y        caches what backward needs
    backward(dout) -> dx   fills ``grads`` (same keys and shapes as ``params``)
    params / grads         dict[str, ndarray]; buffers: non-trainable state such as running means
    train() / eval()       switch the mode (dropout, batch norm)

Validation lives here once. A layer declares what its ``forward`` accepts in ``input_spec`` (an
:class:`InputSpec`); before the layer's code runs, the base class checks and casts the input (type, shape,
dtype, device) and, before ``backward`` runs, checks that a forward happened and that ``dout`` has the
forward output's shape, dtype and device. So a layer's ``forward``/``backward`` hold only its maths.
The argument checkers (``check_size``, ``check_sizes``, ``check_float``, ``check_bool``, ``check_rng``,
``init_array``, ``as_float_dtype``, ``as_array``) serve every layer, loss and model constructor, so a bad
argument is refused when it is given, with a message naming the owner, the argument, what was expected
and what was found.

Fast paths: when ``scratchnet.backend.FAST_PATHS`` names a method of a layer class (Conv2D's forward and
backward, the recurrent layers' time loops), calls of that method run the tier-2 function from
``scratchnet/ops/`` instead, unless ``backend.use_reference(True)`` is set. A backward always runs on the
tier its forward ran on, so switching the mode between the two is safe.
"""

from __future__ import annotations

import copy
import functools
import math
import numbers
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from scratchnet import backend, init
from scratchnet.backend import get_array_module

FLOAT_DTYPES = (np.float32, np.float64)


def as_float_dtype(dtype: Any, owner: str = "") -> np.dtype:
    """Validates a layer dtype: float32 or float64 (``owner`` names the layer in the message)."""
    where = f"{owner}: " if owner else ""
    if dtype is None:  # np.dtype(None) is float64: a silent default is not a choice
        raise TypeError(f"{where}dtype must be float32 or float64, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{where}dtype must be float32 or float64, got {dtype!r}") from None
    if dt.type not in FLOAT_DTYPES:
        raise TypeError(f"{where}dtype must be float32 or float64, got {dt}")
    return dt


def as_array(owner: str, what: str, a: Any) -> Any:
    """``a`` itself if it is an array (NumPy or device), else ``np.asarray(a)``; a list NumPy cannot make
    an array of (ragged rows) is a TypeError naming ``owner`` and ``what``."""
    if hasattr(a, "dtype") and hasattr(a, "shape"):
        return a
    try:
        return np.asarray(a)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{owner}: {what} must be an array, got {type(a).__name__} ({exc})") from None


# -- constructor-argument validators shared by every layer, loss and model ---------------------------------
def check_size(owner: str, name: str, value: Any, *, minimum: int = 1) -> int:
    """A count (features, units, steps...): an int, not a bool or a float, at least ``minimum``.

    Raises TypeError for a value of the wrong type and ValueError for one out of range, naming ``owner``
    (the layer or model) and the argument; returns the value as a Python int.
    """
    wanted = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError(f"{owner}: {name} must be {wanted}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be {wanted}, got {value!r}")
    return int(value)


def check_sizes(owner: str, name: str, values: Any) -> list[int]:
    """A sequence of counts (layer widths), each as ``check_size``; returns them as a list of ints."""
    try:
        sizes = list(values)
    except TypeError:
        raise TypeError(f"{owner}: {name} must be a sequence of positive ints, got {values!r}") from None
    for s in sizes:
        if isinstance(s, bool | np.bool_) or not isinstance(s, int | np.integer):
            raise TypeError(f"{owner}: {name} must be positive ints, got {sizes} ({type(s).__name__} {s!r})")
        if s < 1:
            raise ValueError(f"{owner}: {name} must be positive ints, got {sizes}")
    return [int(s) for s in sizes]


def check_float(
    owner: str,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    what: str = "",
) -> float:
    """A finite real hyperparameter (not a bool or a string, not NaN or infinite) within optional bounds.

    ``low``/``high`` bound the value (inclusive unless told otherwise); ``what`` says what the value
    means, for the message. Raises TypeError for the wrong type and ValueError for NaN, infinity or a value
    out of range, naming ``owner`` and the argument; returns the value as a Python float.
    """
    label = f"{name} ({what})" if what else name
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {label} must be a real number, got {value!r} ({type(value).__name__})")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        number = math.inf
    lo = "" if low is None else ("[" if low_inclusive else "(") + f"{low:g}"
    hi = "" if high is None else f"{high:g}" + ("]" if high_inclusive else ")")
    if low is not None and high is not None:
        wanted = f"a finite number in {lo}, {hi}"
    elif low is not None:
        wanted = f"a finite number {'>=' if low_inclusive else '>'} {low:g}"
    elif high is not None:
        wanted = f"a finite number {'<=' if high_inclusive else '<'} {high:g}"
    else:
        wanted = "a finite number"
    below = low is not None and (number < low or (number == low and not low_inclusive))
    above = high is not None and (number > high or (number == high and not high_inclusive))
    if not math.isfinite(number) or below or above:
        raise ValueError(f"{owner}: {label} must be {wanted}, got {value!r}")
    return number


def check_bool(owner: str, name: str, value: Any) -> bool:
    """A flag: True or False (a string such as "False" would otherwise read as True)."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{owner}: {name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def check_rng(owner: str, rng: Any) -> np.random.Generator | None:
    """A NumPy generator or None (the library's seeded one); an int seed would only fail at first use."""
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{owner}: rng must be a numpy.random.Generator (np.random.default_rng(seed)) or None, "
            f"got {rng!r} ({type(rng).__name__})"
        )
    return rng


def init_array(
    owner: str, name: str, initializer: Any, shape: tuple[int, ...], *, rng: Any, dtype: np.dtype
) -> np.ndarray:
    """Runs an initialiser (a name or a callable, see ``scratchnet.init.get``) for parameter ``name`` and
    checks what a user-supplied one returns: a real array of ``shape``, which is cast to ``dtype``."""
    try:
        make = init.get(initializer)
    except ValueError as exc:
        raise ValueError(f"{owner}: {name}: {exc}") from None
    value = make(shape, rng=rng, dtype=dtype)
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if kind not in ("f", "i", "u") or tuple(value.shape) != tuple(shape):
        got = f"shape {tuple(value.shape)} dtype {value.dtype}" if kind else type(value).__name__
        raise ValueError(
            f"{owner}: the initialiser of {name} must return a real array of shape {shape}, got {got}"
        )
    return value.astype(dtype, copy=False)


@dataclass(frozen=True)
class InputSpec:
    """What a layer's ``forward`` accepts, checked by the base class before the layer's code runs.

    ``ndim``: the allowed numbers of axes (an int, a tuple of them, or the name of a layer attribute
    holding one); ``min_ndim``: the least number of axes; ``last_dim`` / ``channels``: the name of the
    layer attribute that the size of the last axis / of axis 1 must equal; ``layout``: the expected shape
    for messages, with ``{attribute}`` fields filled from the layer (e.g. ``"(N, {in_features})"``).
    """

    layout: str = ""
    ndim: int | tuple[int, ...] | str | None = None
    min_ndim: int | None = None
    last_dim: str | None = None
    channels: str | None = None

    def check(self, layer: Layer, x: Any) -> np.ndarray:
        """``x`` validated and cast to ``layer``'s dtype (see ``Layer._check_input``)."""

        def attr(name: str | None) -> Any:
            return None if name is None else getattr(layer, name)

        return layer._check_input(
            x,
            ndim=attr(self.ndim) if isinstance(self.ndim, str) else self.ndim,
            min_ndim=self.min_ndim,
            last_dim=attr(self.last_dim),
            channels=attr(self.channels),
            expected=self.layout.format_map(_Attributes(layer)),
        )


class _Attributes(dict):
    """``str.format_map`` mapping that reads a layer's attributes (instance and class)."""

    def __init__(self, layer: Layer) -> None:
        super().__init__()
        self.layer = layer

    def __missing__(self, name: str) -> Any:
        return getattr(self.layer, name)


@contextmanager
def _outermost(layer: Layer, flag: str) -> Iterator[bool]:
    """True for the outermost of nested checked calls on ``layer`` (a subclass's forward calling
    ``super().forward``): only that one checks, and only its output shape counts."""
    outermost = not layer.__dict__.get(flag, False)
    layer.__dict__[flag] = True
    try:
        yield outermost
    finally:
        if outermost:
            layer.__dict__[flag] = False


def _checked_forward(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` (a forward) with its input checked first and its output's shape and device recorded."""

    @functools.wraps(method)
    def forward(self: Layer, x: Any, *args: Any, **kwargs: Any) -> Any:
        with _outermost(self, "_in_checked_forward") as outermost:
            if not outermost:
                return method(self, x, *args, **kwargs)
            y = method(self, self.input_spec.check(self, x), *args, **kwargs)
            self._forward_output = (tuple(y.shape), backend.device_of(y))
            return y

    return forward


def _checked_backward(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` (a backward) refusing to run before a forward and checking ``dout`` against the output."""

    @functools.wraps(method)
    def backward(self: Layer, dout: Any, *args: Any, **kwargs: Any) -> Any:
        with _outermost(self, "_in_checked_backward") as outermost:
            if not outermost:
                return method(self, dout, *args, **kwargs)
            output = self.__dict__.get("_forward_output")
            self._require_forward(output)
            shape, device = output
            dout = self._check_dout(dout, shape)
            if backend.device_of(dout) != device:
                raise TypeError(
                    f"{self!r}.backward: dout is on {backend.device_of(dout)} but the forward output is on "
                    f"{device}; move it (scratchnet.backend.to_device)"
                )
            return method(self, dout, *args, **kwargs)

    return backward


def _dispatching(method: Callable[..., Any], key: str) -> Callable[..., Any]:
    """``method`` that runs its tier-2 replacement ``backend.fast_path(key)`` when there is one. A forward
    records the tier it ran on; the matching backward runs on the same tier (its cache is that tier's)."""
    is_forward = method.__name__.startswith("forward")

    @functools.wraps(method)
    def dispatch(self: Layer, *args: Any, **kwargs: Any) -> Any:
        if is_forward:
            fast = backend.fast_path(key)
            self._fast_tier = fast is not None
        else:
            fast = backend.fast_path(key, ignore_reference=True) if self._fast_tier else None
        return method(self, *args, **kwargs) if fast is None else fast(self, *args, **kwargs)

    return dispatch


# -- one forward, one backward, on the arrays the forward saw -----------------------------------------------
# True while a layer's forward or backward runs: layers called from inside another (a model's children) leave
# the arrays they pass between them to it, since the caller never sees them
_inside_layer: ContextVar[bool] = ContextVar("scratchnet_inside_layer_call", default=False)


def _fingerprints(*values: Any) -> list[tuple[Any, tuple, Any, int]]:
    """(array, shape, dtype, fingerprint) of each array among ``values`` (and inside tuples and lists)."""
    out = []
    for v in values:
        if isinstance(v, tuple | list):
            out.extend(_fingerprints(*v))
        elif hasattr(v, "dtype") and hasattr(v, "shape") and not isinstance(v, np.generic):
            out.append((v, tuple(v.shape), v.dtype, backend.fingerprint(v)))
    return out


def _unchanged(recorded: list[tuple[Any, tuple, Any, int]]) -> bool:
    return all(
        tuple(a.shape) == shape and a.dtype == dtype and backend.fingerprint(a) == fp
        for a, shape, dtype, fp in recorded
    )


@contextmanager
def _inside(layer: Layer, flag: str) -> Iterator[tuple[bool, bool]]:
    """(outermost on ``layer``, called by the user) for a guarded call: the first is False for a subclass's
    forward calling ``super().forward`` (see ``_outermost``), the second for a layer called from inside
    another layer's forward or backward."""
    by_user = not _inside_layer.get()
    token = _inside_layer.set(True)
    try:
        with _outermost(layer, flag) as outermost:
            yield outermost, by_user
    finally:
        _inside_layer.reset(token)


def _guarded_forward(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` (a forward) that allows one backward after it and, when called by the user (not from
    inside another layer), fingerprints the input it received and the output it returned."""

    @functools.wraps(method)
    def forward(self: Layer, x: Any, *args: Any, **kwargs: Any) -> Any:
        with _inside(self, "_in_guarded_forward") as (outermost, by_user):
            if not outermost:
                return method(self, x, *args, **kwargs)
            try:
                y = method(self, x, *args, **kwargs)
            except BaseException:
                if self.__dict__.get("_backward_allowed") is not None:
                    self.__dict__["_backward_allowed"] = (
                        "failed"  # the last good forward's cache may be half rewritten
                    )
                raise
        if by_user:  # only what backward reads: a change to anything else cannot change the gradients
            saved = self.saved_for_backward
            self.__dict__["_forward_arrays"] = (
                _fingerprints(x) if "input" in saved else [],
                _fingerprints(y) if "output" in saved else [],
            )
        else:
            self.__dict__["_forward_arrays"] = None
        self.__dict__["_backward_allowed"] = True
        return y

    return forward


def _guarded_backward(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` (a backward) that runs once per forward and refuses to run on a forward's input or
    output changed in place since (the layer may have kept either for its gradients)."""

    @functools.wraps(method)
    def backward(self: Layer, dout: Any, *args: Any, **kwargs: Any) -> Any:
        with _inside(self, "_in_guarded_backward") as (outermost, _):
            if not outermost:  # backward_params calling backward, or super()
                return method(self, dout, *args, **kwargs)
            allowed = self.__dict__.get("_backward_allowed")
            if allowed is None:
                raise RuntimeError(f"{self!r}.backward called before forward")
            if allowed == "failed":
                raise RuntimeError(
                    f"{self!r}.backward: the last forward raised an exception; run forward again"
                )
            if not allowed:
                raise RuntimeError(
                    f"{self!r}.backward called a second time after one forward: each forward allows one "
                    "backward (as PyTorch without retain_graph); run forward again"
                )
            recorded = self.__dict__.get("_forward_arrays")
            if recorded is not None:
                for what, arrays in zip(("input", "output"), recorded):
                    if not _unchanged(arrays):
                        raise RuntimeError(
                            f"{self!r}.backward: the {what} of forward was changed in place since the forward, "
                            f"so the gradients would be wrong; change a copy of it (a.copy()), or run forward "
                            "again"
                        )
            dx = method(self, dout, *args, **kwargs)
        self.__dict__["_backward_allowed"] = False
        self.__dict__["_forward_arrays"] = None
        return dx

    return backward


@dataclass(frozen=True)
class ParamRef:
    """A handle on one trainable array: optimizers read ``value`` and ``grad`` through it every step,
    so a layer may replace its gradient arrays freely."""

    name: str
    layer: Layer
    key: str

    @property
    def value(self) -> np.ndarray:
        return self.layer.params[self.key]

    @property
    def grad(self) -> np.ndarray:
        return self.layer.grads[self.key]


class Layer:
    """Base class. Subclasses register parameters with ``add_param``, declare ``input_spec`` and implement
    forward/backward (see the module docstring for what the base class does around them)."""

    #: what ``forward`` accepts; None: the layer checks its input itself
    input_spec: InputSpec | None = None
    #: which of the caller's arrays ("input", "output") backward may read, on either tier; the base class
    #: refuses a backward after the caller changed one of them in place
    saved_for_backward: tuple[str, ...] = ("input", "output")
    _fast_tier = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in (
            "forward",
            "backward",
            "backward_params",
            "forward_projection",
            "forward_loop",
            "backward_loop",
            "backward_products",
        ):
            key = f"{cls.__module__}.{cls.__qualname__}.{name}"
            if key in backend.FAST_PATHS and hasattr(cls, name):
                setattr(cls, name, _dispatching(getattr(cls, name), key))
        if cls.input_spec is not None:
            if "forward" in cls.__dict__:
                cls.forward = _checked_forward(cls.forward)
            for name in ("backward", "backward_params"):  # the latter when it has a fast path of its own
                if name in cls.__dict__:
                    setattr(cls, name, _checked_backward(cls.__dict__[name]))
        if "forward" in cls.__dict__:
            cls.forward = _guarded_forward(cls.forward)
        for name in ("backward", "backward_params"):
            if name in cls.__dict__:
                setattr(cls, name, _guarded_backward(cls.__dict__[name]))

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training = True
        self.rng: np.random.Generator | None = None

    # -- parameter registry -------------------------------------------------------------------------
    def add_param(self, name: str, value: np.ndarray) -> np.ndarray:
        """Registers a trainable array (on the current default device) and a zero gradient for it."""
        value = backend.to_device(value, backend.current_device())
        self.params[name] = value
        self.grads[name] = get_array_module(value).zeros_like(value)
        return value

    def add_buffer(self, name: str, value: np.ndarray) -> np.ndarray:
        """Registers non-trainable state (saved with the model, moved by ``to``)."""
        value = backend.to_device(value, backend.current_device())
        self.buffers[name] = value
        return value

    def to(self, device: str) -> Layer:
        """Moves parameters, gradients and buffers of this layer and its sub-layers to 'cpu' or 'cuda'."""
        for _, layer in self.named_layers():
            for table in (layer.params, layer.grads, layer.buffers):
                for k, v in table.items():
                    table[k] = backend.to_device(v, device)
        return self

    def children(self) -> list[Layer]:
        """Sub-layers of a composite layer (empty for a plain layer)."""
        return []

    def named_layers(self, prefix: str = "") -> Iterator[tuple[str, Layer]]:
        """This layer and every sub-layer, depth first, with dotted names ("" for the root)."""
        yield prefix, self
        for i, child in enumerate(self.children()):
            name = getattr(child, "name", None) or str(i)
            yield from child.named_layers(f"{prefix}.{name}" if prefix else name)

    def parameters(self) -> list[ParamRef]:
        """Every trainable array of this layer and its sub-layers, with dotted names ("0.W", "3.gamma")."""
        return [
            ParamRef(f"{name}.{key}" if name else key, sub, key)
            for name, sub in self.named_layers()
            for key in sub.params
        ]

    def zero_grad(self) -> None:
        for _, layer in self.named_layers():
            for g in layer.grads.values():
                g[...] = 0

    @property
    def dtype(self) -> np.dtype | None:
        """The dtype of the parameters (None for a parameter-free layer, which keeps its input's dtype)."""
        for _, layer in self.named_layers():
            for p in layer.params.values():
                return p.dtype
        return None

    def astype(self, dtype: Any) -> Layer:
        """Casts parameters, gradients and float buffers to ``dtype`` in place; returns self."""
        dt = as_float_dtype(dtype)
        for _, layer in self.named_layers():
            for table in (layer.params, layer.grads):
                for k, v in table.items():
                    table[k] = v.astype(dt)
            for k, v in layer.buffers.items():
                if np.issubdtype(v.dtype, np.floating):
                    layer.buffers[k] = v.astype(dt)
        return self

    # -- modes ---------------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> Layer:
        for _, layer in self.named_layers():
            layer.training = mode
        return self

    def eval(self) -> Layer:
        return self.train(False)

    # -- random state (stochastic layers keep a private generator) -----------------------------------
    def get_rng_state(self) -> dict[str, Any]:
        return {
            name: copy.deepcopy(layer.rng.bit_generator.state)
            for name, layer in self.named_layers()
            if layer.rng is not None
        }

    def prepare_rng_state(self, state: dict[str, Any], source: str | None = None) -> Callable[[], None]:
        """Tries every generator state in ``state`` (as :meth:`get_rng_state` returns it) on a scratch
        generator and returns the step that puts them in place, which cannot fail; ValueError (naming
        ``source``, or the model) for an unusable one, with nothing changed."""
        checked = {}
        for name, layer in self.named_layers():
            if layer.rng is not None and name in state:
                trial = type(layer.rng.bit_generator)()
                try:
                    trial.state = copy.deepcopy(state[name])
                except (TypeError, ValueError, KeyError) as err:
                    raise ValueError(
                        f"{source or repr(self)}: unusable random state for layer {name!r} ({err})"
                    ) from None
                checked[name] = (layer, trial.state)

        def apply() -> None:
            for layer, trial_state in checked.values():
                layer.rng.bit_generator.state = trial_state

        return apply

    def set_rng_state(self, state: dict[str, Any]) -> None:
        """Restores the generators saved by :meth:`get_rng_state`: all of them, or (ValueError) none."""
        self.prepare_rng_state(state)()

    # -- the computation -----------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward_params(self, dout: np.ndarray) -> None:
        """The parameter gradients of ``backward``, without the input gradient: for a layer whose input is
        data (the first layer of a network, where nothing upstream needs dx). Same ``grads`` as
        ``backward``; a fast path may skip the work that only dx needs (Conv2D does)."""
        self.backward(dout)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # -- input validation shared by all layers -------------------------------------------------------
    def _check_input(
        self,
        x: Any,
        *,
        ndim: int | tuple[int, ...] | None = None,
        min_ndim: int | None = None,
        last_dim: int | None = None,
        channels: int | None = None,
        expected: str = "",
    ) -> np.ndarray:
        """Validates ``x`` and returns it as an array of the layer's dtype.

        Raises TypeError for non-numeric input and ValueError for a wrong shape, naming the layer and
        what it expected. Integer and other-precision float input is cast to the layer's dtype
        (parameter-free layers keep float input as it is and cast integers to float32).
        """
        xp = get_array_module(x)
        x = as_array(repr(self), "input", x)
        kind = x.dtype.kind
        if kind not in "fiub":
            raise TypeError(f"{self!r}: expected a real numeric array, got dtype {x.dtype}")
        where = f" ({expected})" if expected else ""
        if ndim is not None:
            allowed = (ndim,) if isinstance(ndim, int) else ndim
            if x.ndim not in allowed:
                raise ValueError(
                    f"{self!r}: expected a {' or '.join(map(str, allowed))}-D input{where}, "
                    f"got shape {tuple(x.shape)}"
                )
        if min_ndim is not None and x.ndim < min_ndim:
            raise ValueError(
                f"{self!r}: expected at least {min_ndim}-D input{where}, got shape {tuple(x.shape)}"
            )
        if last_dim is not None and x.shape[-1] != last_dim:
            raise ValueError(
                f"{self!r}: expected last dimension {last_dim}{where}, got shape {tuple(x.shape)}"
            )
        if channels is not None and x.shape[1] != channels:
            raise ValueError(
                f"{self!r}: expected {channels} channels on axis 1{where}, got shape {tuple(x.shape)}"
            )
        target = self.dtype
        if target is None:
            target = x.dtype if kind == "f" else np.dtype(np.float32)
        if x.dtype != target:
            x = x.astype(target)
        self._check_device(x, "input")
        return xp.asarray(x)

    def _check_dout(self, dout: Any, shape: tuple[int, ...]) -> np.ndarray:
        """Validates the upstream gradient: a floating-point array of the cached forward output's shape, on
        the layer's device. Casts it to the layer's dtype so gradients always match their parameters."""
        dout = as_array(f"{self!r}.backward", "dout", dout)
        if dout.dtype.kind != "f":
            # an integer, boolean or complex "gradient" is a caller's mistake, not something to pass on
            raise TypeError(f"{self!r}.backward: expected a floating-point dout, got dtype {dout.dtype}")
        if tuple(dout.shape) != tuple(shape):
            raise ValueError(
                f"{self!r}.backward: expected dout of shape {tuple(shape)}, got {tuple(dout.shape)}"
            )
        self._check_device(dout, "dout")
        target = self.dtype
        if target is not None and dout.dtype != target:
            dout = dout.astype(target)
        return dout

    def _check_device(self, a: Any, what: str) -> None:
        """Refuses an array on another device than the layer's parameters, naming the fix."""
        for p in self.params.values():
            if backend.device_of(p) != backend.device_of(a):
                raise TypeError(
                    f"{self!r}: {what} is on {backend.device_of(a)} but the layer's parameters are on "
                    f"{backend.device_of(p)}; move one of them (scratchnet.backend.to_device or layer.to)"
                )
            break

    def _require_forward(self, cache: Any) -> None:
        if cache is None:
            raise RuntimeError(f"{self!r}.backward called before forward")
