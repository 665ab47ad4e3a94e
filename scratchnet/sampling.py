r"""Text generation: sampling token after token from a model that maps ids (N, T) to logits (N, T, V).

``generate(model, prompt_ids, steps)`` appends ``steps`` tokens to each of the N prompts. At every step the
model scores the next token from what comes before, and one token is drawn per row from

.. math::
    p = \mathrm{softmax}(z / \tau), \qquad z = \text{the last position's logits}

restricted to the ``top_k`` largest logits when given (the others get probability 0), and the draw is
appended to the sequence. ``temperature`` :math:`\tau` < 1 sharpens p towards the most likely token,
:math:`\tau` > 1 flattens it, and :math:`\tau = 0` takes the most likely token (greedy, no draw).

How the model is run, decided once per call from what it contains:

* a ``Sequential`` whose only sequence layers are recurrent (RNN, LSTM, GRU; the others work position by
  position: Embedding, Dense, TimeDistributed, activations, LayerNorm, Dropout) runs incrementally: the
  prompt once, then one token per step, the recurrent state carried between calls (O(T) work);
* any other model (a transformer, a convolution over time, a model of your own) is run on the whole
  sequence so far at every step (O(T^2) work, always right for a model that reads only the past), cropped
  to the last ``max_len`` tokens when it holds a ``PositionalEmbedding``.

The model runs in evaluation mode (no dropout); its train/eval modes and its recurrent layers' ``stateful``
flags and carried states are put back afterwards. The draws come from ``numpy.random.default_rng(seed)``,
or from scratchnet's seeded generator (``scratchnet.seed``) when ``seed`` is None, so a seed gives the same
tokens every time.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from scratchnet.arguments import as_array, check_float, check_size
from scratchnet.backend import to_host
from scratchnet.layers.activations import Activation
from scratchnet.layers.attention import PositionalEmbedding
from scratchnet.layers.base import Layer
from scratchnet.layers.dense import Dense
from scratchnet.layers.dropout import Dropout
from scratchnet.layers.embedding import Embedding
from scratchnet.layers.normalization import LayerNorm
from scratchnet.layers.recurrent import _Recurrent
from scratchnet.layers.time_distributed import TimeDistributed
from scratchnet.model import Sequential
from scratchnet.random import get_rng

__all__ = ["generate"]

# layers that work on each position alone, so a recurrent model built from them can run one token at a time
_POSITIONWISE = (Embedding, Dense, Activation, LayerNorm, Dropout)


def generate(
    model: Any,
    prompt_ids: Any,
    steps: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | np.random.Generator | None = None,
) -> np.ndarray:
    """The prompts followed by ``steps`` sampled tokens: ids (N, T0 + steps), or (T0 + steps,) for a 1-D
    prompt (T0,). See the module docstring for the rule and how the model is run.

    ``model``: a Layer (or any callable) mapping integer ids (N, T) to logits (N, T, V). ``prompt_ids``:
    integer ids, at least one per row. ``temperature``: >= 0 (0 = greedy). ``top_k``: None (all V tokens) or
    an int in [1, V]. ``seed``: an int, a ``numpy.random.Generator`` or None. Wrong arguments, and logits of
    the wrong shape or non-finite, raise TypeError or ValueError saying which.
    """
    if not callable(model):
        raise TypeError(f"generate: model must be a Layer or a callable, got {type(model).__name__}")
    ids, one_dim = _check_prompt(prompt_ids)
    steps = check_size("generate", "steps", steps, minimum=0)
    temperature = check_float("generate", "temperature", temperature, low=0.0)
    if top_k is not None:
        top_k = check_size("generate", "top_k", top_k)
    rng = _generator(seed)
    layers = list(model.named_layers()) if isinstance(model, Layer) else []
    recurrent = [layer for _, layer in layers if isinstance(layer, _Recurrent)]
    saved = [(layer, layer.training) for _, layer in layers]
    states = [(layer, layer.stateful, layer._state) for layer in recurrent]
    incremental = _runs_step_by_step(model)
    window = min(
        (layer.max_len for _, layer in layers if isinstance(layer, PositionalEmbedding)), default=None
    )
    try:
        for _, layer in layers:
            layer.training = False
        for layer in recurrent:  # incremental: carry the state; else every call starts from zeros
            layer.stateful, layer._state = incremental, None
        out = ids
        feed = ids
        for step in range(steps):
            if not incremental and window is not None:
                feed = out[:, -window:]
            logits = _last_logits(model, feed, step)
            nxt = _draw(logits, temperature, top_k, rng)[:, None]
            out = np.concatenate([out, nxt], axis=1)
            feed = nxt if incremental else out
    finally:
        for layer, training in saved:
            layer.training = training
        for layer, stateful, state in states:
            layer.stateful, layer._state = stateful, state
    return out[0] if one_dim else out


def _check_prompt(prompt_ids: Any) -> tuple[np.ndarray, bool]:
    ids = np.asarray(to_host(as_array("generate", "prompt_ids", prompt_ids)))
    if ids.dtype.kind not in "iu":
        raise TypeError(f"generate: prompt_ids must be integer token ids, got dtype {ids.dtype}")
    if ids.ndim not in (1, 2) or ids.shape[-1] < 1 or ids.size == 0:
        raise ValueError(
            f"generate: prompt_ids must be (N, T) or (T,) with T >= 1 and N >= 1, got shape {ids.shape}"
        )
    if int(ids.min()) < 0:
        raise ValueError(f"generate: prompt_ids must be non-negative token ids, got {int(ids.min())}")
    return ids.astype(np.int64, copy=False).reshape(-1, ids.shape[-1]), ids.ndim == 1


def _generator(seed: Any) -> np.random.Generator:
    if seed is None:
        return get_rng()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(
            f"generate: seed must be a non-negative int, a numpy.random.Generator or None, got {seed!r}"
        )
    return np.random.default_rng(int(seed))


def _runs_step_by_step(model: Any) -> bool:
    """Whether ``model`` is a Sequential of recurrent and position-wise layers only (with one recurrent at
    least): then feeding one token at a time with the state carried gives the logits of the whole sequence."""
    if not isinstance(model, Sequential):
        return False

    def ok(layer: Layer) -> bool:
        if isinstance(layer, TimeDistributed):
            return all(ok(child) for child in layer.children())
        if isinstance(layer, Sequential):
            return all(ok(child) for child in layer.layers)
        return isinstance(layer, _Recurrent) and layer.return_sequences or isinstance(layer, _POSITIONWISE)

    has_recurrent = any(isinstance(layer, _Recurrent) for _, layer in model.named_layers())
    return has_recurrent and all(ok(layer) for layer in model.layers)


def _last_logits(model: Any, ids: np.ndarray, step: int) -> np.ndarray:
    """The logits (N, V) the model gives at the last position of ``ids`` (N, T), checked."""
    logits = model(ids)
    shape = tuple(getattr(logits, "shape", ()))
    if len(shape) != 3 or shape[:2] != ids.shape or shape[2] < 1:
        raise ValueError(
            f"generate: the model must map ids (N, T) = {ids.shape} to logits (N, T, V), got shape {shape}"
        )
    last = np.asarray(to_host(logits[:, -1]), dtype=np.float64)
    if not np.isfinite(last).all():
        raise ValueError(f"generate: the model gave non-finite logits at step {step}")
    return last


def _draw(logits: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator) -> np.ndarray:
    """One token per row of ``logits`` (N, V): softmax(logits / temperature) over the top_k largest."""
    n, v = logits.shape
    if top_k is not None:
        if top_k > v:
            raise ValueError(f"generate: top_k must be at most the vocabulary size V = {v}, got {top_k}")
        # keep exactly the k largest of each row (argpartition: no full sort)
        rest = np.argpartition(-logits, top_k - 1, axis=1)[:, top_k:]
        logits = logits.copy()
        np.put_along_axis(logits, rest, -np.inf, axis=1)
    if temperature == 0:
        return logits.argmax(axis=1)
    z = logits / temperature
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    # inverse CDF: the first token whose cumulative probability exceeds u, uniform in [0, total), so the
    # token drawn always has p > 0 (the total is 1 up to rounding)
    cdf = np.cumsum(p, axis=1)
    u = rng.random((n, 1)) * cdf[:, -1:]
    return (cdf <= u).sum(axis=1)
