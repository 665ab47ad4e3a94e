"""The base class every layer shares: parameter registry, train/eval mode, dtype, input validation, and
the choice between a layer's own (reference) code and its fast path, all in ``Layer.__call__`` and
``Layer.backprop``.

Contract (all layers)::

    y = layer(x)               the forward pass: checks x, runs the fast path or the layer's forward
    dx = layer.backprop(dout)  the matching backward: fills ``grads`` (same keys and shapes as ``params``)
    forward(x) / backward(dout)  the layer's own maths (tier 1), what a layer file writes; call them
                               directly to run exactly that code, unchecked (as PyTorch's ``module.forward``)
    params / grads             dict[str, ndarray]; buffers: non-trainable state such as running means
    train() / eval()           switch the mode (dropout, batch norm)

Validation lives here once. A layer declares what its ``forward`` accepts in ``input_spec`` (an
:class:`InputSpec`); ``layer(x)`` checks and casts the input (type, shape, dtype, device) before the layer's
code runs and ``layer.backprop(dout)`` checks that a forward happened and that ``dout`` has the forward
output's shape, dtype and device. So a layer's ``forward``/``backward`` hold only its maths. Constructor
arguments are checked with the helpers of ``scratchnet.arguments``.

Configuration, also once here: ``Layer.__new__`` records the arguments every layer's constructor is called
with, so ``layer.get_config()`` returns them and ``type(layer).from_config(config)`` builds the layer again
(with fresh weights); ``Sequential.save`` stores them as JSON beside the weights (``scratchnet.model_io``).
Layer files write no configuration code.

Dispatch, in ``Layer.dispatch``: a call runs on the fast tier unless ``backend.use_reference(True)`` is set;
on the fast tier, a method that ``backend.FAST_PATHS`` lists for the layer's class runs the tier-2 function
from ``scratchnet/fast/``, every other method the layer's own code. ``backprop`` runs on the tier its
forward ran on, so switching the mode between the two is safe.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from scratchnet import backend
from scratchnet.arguments import as_array, as_float_dtype
from scratchnet.backend import get_array_module


@dataclass(frozen=True)
class InputSpec:
    """What a layer's ``forward`` accepts, checked by the base class before the layer's code runs.

    ``ndim``: the allowed numbers of axes (an int, a tuple of them, or the name of a layer attribute
    holding one); ``min_ndim``: the least number of axes; ``last_dim`` / ``channels``: the name of the
    layer attribute that the size of the last axis / of axis 1 must equal; ``layout``: the expected shape
    for messages, with ``{attribute}`` fields filled from the layer (e.g. ``"(N, {in_features})"``);
    ``ids_below``: the name of a layer attribute K for an input of integer ids in ``[0, K)`` (Embedding's
    tokens), which is kept as integers, not cast; ``cast=False`` checks the shape only and leaves the dtype
    to the layer (a wrapper whose inner layer casts).
    """

    layout: str = ""
    ndim: int | tuple[int, ...] | str | None = None
    min_ndim: int | None = None
    last_dim: str | None = None
    channels: str | None = None
    ids_below: str | None = None
    cast: bool = True

    def check(self, layer: Layer, x: Any) -> np.ndarray:
        """``x`` validated and cast to ``layer``'s dtype (see ``Layer._check_input``)."""

        def attr(name: str | None) -> Any:
            return None if name is None else getattr(layer, name)

        if self.ids_below is not None:
            return layer._check_ids(x, self.ndim, attr(self.ids_below), self.layout)
        return layer._check_input(
            x,
            ndim=attr(self.ndim) if isinstance(self.ndim, str) else self.ndim,
            min_ndim=self.min_ndim,
            last_dim=attr(self.last_dim),
            channels=attr(self.channels),
            expected=self.layout.format_map(_Attributes(layer)),
            cast=self.cast,
        )


class _Attributes(dict):
    """``str.format_map`` mapping that reads a layer's attributes (instance and class)."""

    def __init__(self, layer: Layer) -> None:
        super().__init__()
        self.layer = layer

    def __missing__(self, name: str) -> Any:
        return getattr(self.layer, name)


# -- one forward, one backward, on the arrays the forward saw -----------------------------------------------
# The layer call (``layer(x)`` or ``layer.backprop(dout)``) now running in this thread or task, and whether it
# runs on the fast tier. Layers called from inside another (a model's children) leave the arrays passed
# between them to the caller's checks, since the user never sees them.
_running: ContextVar[tuple[Layer, bool] | None] = ContextVar("scratchnet_running_layer_call", default=None)


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


# -- constructor arguments (for get_config / from_config) ---------------------------------------------------
class _UsedUp:
    """What a layer's recorded arguments hold in place of a one-pass iterator, which its constructor used up
    (a generator passed as ``layers``): such an argument cannot build the layer a second time."""

    def __repr__(self) -> str:
        return "<a one-pass iterator, used up by the constructor>"

    def __deepcopy__(self, memo: dict) -> _UsedUp:
        return self

    def __reduce__(self) -> str:
        return "_USED_UP"  # pickled as the one instance, so ``is _USED_UP`` holds after a round trip


_USED_UP = _UsedUp()


def init_signature(cls: type) -> inspect.Signature:
    """The signature of ``cls.__init__`` without ``self`` (cached on the class)."""
    signature = cls.__dict__.get("_init_signature")
    if signature is None:
        signature = inspect.signature(cls.__init__)
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])
        cls._init_signature = signature
    return signature


_VAR_POSITIONAL = inspect.Parameter.VAR_POSITIONAL
_VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD


def _recordable(value: Any) -> Any:
    return _USED_UP if isinstance(value, Iterator) else value


def _record_arguments(cls: type, args: tuple, kwargs: dict) -> dict[str, Any] | None:
    """``args``/``kwargs`` bound to ``cls.__init__`` by parameter name, defaults filled in; None when they
    do not bind (the constructor then raises its own TypeError, or ``copy``/``pickle`` made the object and
    restores the recorded arguments with the rest of its state)."""
    try:
        signature = init_signature(cls)
        bound = signature.bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None
    bound.apply_defaults()
    recorded = {}
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if kind is _VAR_KEYWORD:
            recorded[name] = {k: _recordable(v) for k, v in value.items()}
        elif kind is _VAR_POSITIONAL:
            recorded[name] = tuple(_recordable(v) for v in value)
        else:
            recorded[name] = _recordable(value)
    return recorded


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
    #: constructor arguments that only decide the initial values of parameters: a saved architecture leaves
    #: out those it cannot describe (a Generator, a callable initialiser), since the weights are loaded after
    #: the layer is built with their defaults
    init_only_arguments: tuple[str, ...] = ("rng", "weight_init", "bias_init", "recurrent_init")

    def __new__(cls, *args: Any, **kwargs: Any) -> Layer:
        """Records the constructor's arguments for :meth:`get_config` (bound to ``__init__``'s parameters,
        defaults filled in), before ``__init__`` runs; nothing else."""
        layer = super().__new__(cls)
        recorded = _record_arguments(cls, args, kwargs)
        if recorded is not None:
            layer._init_arguments = recorded
        return layer

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

    # -- configuration: the arguments that build this layer again -------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The arguments that build this layer again, by parameter name: what its constructor was called
        with, defaults filled in, ``**kwargs`` merged in, as the Python values given (an ``*args`` parameter
        holds a list). ``dtype``, where the constructor takes one, is the parameters' current dtype (so
        ``astype`` is kept). ``type(layer).from_config(layer.get_config())`` builds the same layer with fresh
        weights; ``Sequential.save`` stores the configs of a model's layers (see ``scratchnet.model_io``).

        A layer whose constructor arguments do not say what it is (one changed after construction, or
        built from a one-pass iterator) overrides this, with :meth:`from_config` where the two do not
        meet in the constructor. Raises ValueError when the arguments cannot build the layer again.
        """
        recorded = self.__dict__.get("_init_arguments")
        if recorded is None:
            raise ValueError(
                f"{self!r}: its constructor arguments were not recorded (was Layer.__new__ bypassed?); "
                "override get_config to say how to build it"
            )
        parameters = init_signature(type(self)).parameters
        config: dict[str, Any] = {}
        for name, value in recorded.items():
            kind = parameters[name].kind if name in parameters else None
            if kind is _VAR_KEYWORD:
                config.update(value)
            else:
                config[name] = list(value) if kind is _VAR_POSITIONAL else value
        for name, value in config.items():
            if value is _USED_UP or (isinstance(value, list) and any(v is _USED_UP for v in value)):
                raise ValueError(
                    f"{self!r}: argument {name!r} was a one-pass iterator, used up by the constructor, so the "
                    "arguments cannot build the layer again: pass a list, or override get_config"
                )
        if "dtype" in config and self.dtype is not None:
            config["dtype"] = self.dtype
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Layer:
        """A new layer built from :meth:`get_config`'s arguments: ``cls(**config)``, with positional-only
        parameters (and those before a non-empty ``*args``) passed by position."""
        kwargs = dict(config)
        args: list[Any] = []
        parameters = list(init_signature(cls).parameters.values())
        by_position = any(p.kind is _VAR_POSITIONAL and kwargs.get(p.name) for p in parameters)
        for p in parameters:
            if p.kind is _VAR_POSITIONAL:
                args.extend(kwargs.pop(p.name, ()))
                break
            if p.kind is inspect.Parameter.POSITIONAL_ONLY or (
                by_position and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
            ):
                if p.name in kwargs:
                    args.append(kwargs.pop(p.name))
                elif p.default is not inspect.Parameter.empty:
                    args.append(p.default)
                else:
                    raise TypeError(f"{cls.__name__}.from_config: missing argument {p.name!r}")
        return cls(*args, **kwargs)

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

    # -- the layer's own code (tier 1): what a layer file writes ---------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """The layer's maths: ``x`` (already checked by ``__call__``) -> output; caches what backward needs."""
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """The layer's maths: the upstream gradient -> the input gradient; fills ``grads``."""
        raise NotImplementedError

    def backward_params(self, dout: np.ndarray) -> None:
        """The parameter gradients of ``backward``, without the input gradient: for a layer whose input is
        data (the first layer of a network, where nothing upstream needs dx). Same ``grads`` as
        ``backward``; a fast path may skip the work that only dx needs (Conv2D's does)."""
        self.dispatch("backward")(dout)

    # -- running a layer: the one place that checks, chooses the tier and guards ------------------------
    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        """The forward pass as models and users run it: ``y = layer(x)``.

        Checks ``x`` against ``input_spec`` (``check_input``), runs ``forward`` through ``dispatch`` (the
        fast path where there is one, unless the reference is selected), records the output's shape and
        device for ``backprop``'s checks and, when called by the user rather than by another layer, a
        fingerprint of the arrays that backward will read (``saved_for_backward``), so that a backward
        after the caller changed them in place is refused. Extra arguments go to ``forward``.
        """
        by_user = _running.get() is None
        fast = not backend.reference_mode()
        token = _running.set((self, fast))
        try:
            y = self.dispatch("forward")(self.check_input(x), *args, **kwargs)
        except BaseException:
            if self.__dict__.get("_backward_allowed") is not None:
                self.__dict__["_backward_allowed"] = (
                    "failed"  # the last good forward's cache may be half rewritten
                )
            raise
        finally:
            _running.reset(token)
        self.__dict__["_fast_tier"] = fast
        self.__dict__["_forward_output"] = (tuple(y.shape), backend.device_of(y))
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

    def backprop(self, dout: Any, *args: Any, params_only: bool = False, **kwargs: Any) -> Any:
        """The backward pass of the last ``layer(x)``: ``dx = layer.backprop(dout)``.

        Runs once per forward, on the tier the forward ran on, after checking that ``dout`` is a float
        array of the forward output's shape on its device (cast to the layer's dtype) and that the caller
        did not change the forward's input or output in place. ``params_only=True`` runs
        ``backward_params`` (the parameter gradients only; returns None). Extra arguments go to
        ``backward``.
        """
        allowed = self.__dict__.get("_backward_allowed")
        if allowed is None:
            raise RuntimeError(f"{self!r}.backprop called before forward: call the layer on an input first")
        if allowed == "failed":
            raise RuntimeError(f"{self!r}.backprop: the last forward raised an exception; run forward again")
        if not allowed:
            raise RuntimeError(
                f"{self!r}.backprop called a second time after one forward: each forward allows one "
                "backward (as PyTorch without retain_graph); run forward again"
            )
        recorded = self.__dict__.get("_forward_arrays")
        if recorded is not None:
            for what, arrays in zip(("input", "output"), recorded):
                if not _unchanged(arrays):
                    raise RuntimeError(
                        f"{self!r}.backprop: the {what} of forward was changed in place since the forward, "
                        "so the gradients would be wrong; change a copy of it (a.copy()), or run forward again"
                    )
        shape, device = self.__dict__["_forward_output"]
        dout = self._check_dout(dout, shape)
        if backend.device_of(dout) != device:
            raise TypeError(
                f"{self!r}.backprop: dout is on {backend.device_of(dout)} but the forward output is on "
                f"{device}; move it (scratchnet.backend.to_device)"
            )
        token = _running.set((self, self.__dict__["_fast_tier"]))
        try:
            if params_only:
                self.dispatch("backward_params")(dout, *args, **kwargs)
                dx = None
            else:
                dx = self.dispatch("backward")(dout, *args, **kwargs)
        finally:
            _running.reset(token)
        self.__dict__["_backward_allowed"] = False
        self.__dict__["_forward_arrays"] = None
        return dx

    def dispatch(self, method: str) -> Callable[..., Any]:
        """The code that runs ``method`` of this layer now: inside a call of this layer on the fast tier,
        the tier-2 function ``backend.fast_path`` names for it (bound to the layer), else the layer's own
        method. ``__call__`` and ``backprop`` run ``forward`` and ``backward`` through it, and a layer whose
        forward and backward are templates over smaller steps (the recurrent layers' time loops) runs
        those steps through it."""
        running = _running.get()
        if running is not None and running[0] is self and running[1]:
            fast = backend.fast_path(self, method)
            if fast is not None:
                return functools.partial(fast, self)
        return getattr(self, method)

    def check_input(self, x: Any) -> Any:
        """``x`` as ``forward`` receives it: checked against ``input_spec`` and cast to the layer's dtype
        (a layer without an ``input_spec``, such as ``Sequential``, receives ``x`` as given: its first
        layer checks it)."""
        return x if self.input_spec is None else self.input_spec.check(self, x)

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
        cast: bool = True,
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
        if cast and x.dtype != target:
            x = x.astype(target)
        self._check_device(x, "input")
        return xp.asarray(x)

    def _check_ids(self, x: Any, ndim: tuple[int, ...], count: int, expected: str) -> Any:
        """Validates integer ids in ``[0, count)`` with ``ndim`` axes; returns them on the layer's device."""
        x = as_array(repr(self), "ids", x)
        if x.dtype.kind not in "iu":
            raise TypeError(f"{self!r}: expected integer ids, got dtype {x.dtype}")
        if x.ndim not in ndim:
            raise ValueError(f"{self!r}: expected ids of shape {expected}, got shape {tuple(x.shape)}")
        if x.size and (int(x.min()) < 0 or int(x.max()) >= count):
            raise ValueError(
                f"{self!r}: ids must lie in [0, {count - 1}], got range [{int(x.min())}, {int(x.max())}]"
            )
        for p in self.params.values():
            return get_array_module(p).asarray(x)
        return x

    def _check_dout(self, dout: Any, shape: tuple[int, ...]) -> np.ndarray:
        """Validates the upstream gradient: a floating-point array of the cached forward output's shape, on
        the layer's device. Casts it to the layer's dtype so gradients always match their parameters."""
        dout = as_array(f"{self!r}.backprop", "dout", dout)
        if dout.dtype.kind != "f":
            # an integer, boolean or complex "gradient" is a caller's mistake, not something to pass on
            raise TypeError(f"{self!r}.backprop: expected a floating-point dout, got dtype {dout.dtype}")
        if tuple(dout.shape) != tuple(shape):
            raise ValueError(
                f"{self!r}.backprop: expected dout of shape {tuple(shape)}, got {tuple(dout.shape)}"
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
