"""Sequential models: a list of layers run forwards, then backwards in reverse, plus saving and summaries.

``Sequential.save`` writes the weights and the architecture (every layer's constructor arguments, as JSON)
to one .npz; ``scratchnet.load_model(path)`` builds the model again from it, and ``Sequential.load`` loads
the weights into a model built by hand.

The model-state and file functions (``state_dict``, ``save_arrays``, ``load_arrays``, ``atomic_write``, ...)
live in ``scratchnet.model_io`` and are re-exported here.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from scratchnet.backend import get_array_module
from scratchnet.layers.base import Layer
from scratchnet.model_io import (
    USABLE_KINDS,
    ArrayHeader,
    HasShapeAndDtype,
    atomic_write,
    check_state_entries,
    load_arrays,
    load_state_dict,
    load_weights,
    prepare_load_state,
    remove_stale_temporaries,
    save_arrays,
    save_model,
    state_dict,
)

__all__ = [
    "USABLE_KINDS",
    "ArrayHeader",
    "HasShapeAndDtype",
    "Sequential",
    "atomic_write",
    "check_state_entries",
    "load_arrays",
    "load_state_dict",
    "prepare_load_state",
    "remove_stale_temporaries",
    "save_arrays",
    "state_dict",
]


class Sequential(Layer):
    """Layers applied in order. Itself a Layer, so models nest and gradcheck works on whole networks.

    ``forward`` feeds each layer's output to the next; ``backward`` runs the layers in reverse, each
    receiving the gradient of the one after it (the chain rule, one layer at a time).

    Fast path (run by default, ``backend.FAST_PATHS``): ``scratchnet/fast/fusion.py`` runs ``forward`` with
    each Conv2D -> ReLU pair as one pass; ``with scratchnet.backend.reference():`` runs this file's own code
    instead (so does calling ``forward``/``backward`` directly).
    """

    def __init__(self, layers: Iterable[Layer] = ()) -> None:
        super().__init__()
        self.layers: list[Layer] = []
        for layer in layers:
            self.add(layer)

    def add(self, layer: Layer) -> Sequential:
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential: expected a Layer, got {type(layer).__name__}")
        self.layers.append(layer)
        return self

    def children(self) -> list[Layer]:
        return self.layers

    def get_config(self) -> dict[str, Any]:
        """``{"layers": [...]}``: the layers it holds now (``add`` included); a subclass with its own
        constructor is described by that constructor's arguments instead."""
        if type(self).__init__ is not Sequential.__init__:
            return super().get_config()
        return {"layers": list(self.layers)}

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n  {inner}\n])" if self.layers else "Sequential([])"

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            dout = layer.backprop(dout)
        return dout

    def backward_params(self, dout: np.ndarray) -> None:
        """``backward`` without the gradient of the network's input (what a training step needs)."""
        for layer in reversed(self.layers[1:]):
            dout = layer.backprop(dout)
        if self.layers:
            self.layers[0].backprop(dout, params_only=True)

    def predict(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Forward in eval mode, in batches; restores the previous mode afterwards."""
        was_training = self.training
        self.eval()
        try:
            outs = [self(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        finally:
            self.train(was_training)
        xp = get_array_module(outs[0]) if outs else np
        return xp.concatenate(outs) if outs else np.empty((0,))

    def num_parameters(self) -> int:
        return int(sum(p.value.size for p in self.parameters()))

    def summary(
        self, input_shape: Sequence[int], print_fn=print, input_dtype: Any = None
    ) -> list[tuple[str, tuple, int]]:
        """Prints each layer's output shape (batch axis shown as None) and parameter count.

        ``input_shape`` excludes the batch axis, e.g. ``(784,)`` or ``(1, 28, 28)``. Runs one forward pass
        on a zero batch of two in eval mode (``input_dtype=np.int64`` for token ids into an Embedding);
        returns the rows it printed.
        """
        dtype = input_dtype or self.dtype or np.float32
        x = np.zeros((2, *input_shape), dtype=dtype)
        probe = copy.deepcopy(self).eval()  # leaves no cache, carried state or statistics behind in self
        rows = []
        for i, (layer, mine) in enumerate(zip(probe.layers, self.layers)):
            x = layer(x)
            count = sum(p.value.size for p in layer.parameters())
            rows.append((f"{i}: {mine!r}".split("\n")[0], (None, *x.shape[1:]), int(count)))
        width = max([len(r[0]) for r in rows] + [5])
        print_fn(f"{'layer':<{width}}  {'output shape':<20} {'params':>10}")
        print_fn("-" * (width + 33))
        for name, shape, count in rows:
            print_fn(f"{name:<{width}}  {str(shape):<20} {count:>10,}")
        print_fn("-" * (width + 33))
        print_fn(f"{'total':<{width}}  {'':<20} {sum(r[2] for r in rows):>10,}")
        return rows

    def state_dict(self) -> dict[str, np.ndarray]:
        return state_dict(self)

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        load_state_dict(self, state)

    def save(self, path: str | os.PathLike, architecture: bool | None = None) -> None:
        """Saves parameters and buffers to ``path`` as .npz (no pickle; atomic write), with the architecture
        (every layer's constructor arguments, as JSON) that ``scratchnet.load_model(path)`` builds the model
        from; the file format is described in ``scratchnet.model_io``.

        ``architecture=None`` (default) stores the architecture when every layer can be described and
        otherwise saves the weights only, with an ``ArchitectureWarning`` saying which layer and argument
        could not be (load such a file with ``load`` into a model built by hand); ``True`` raises
        ``ArchitectureError`` instead and writes nothing; ``False`` saves the weights only."""
        save_model(path, self, architecture)

    def load(self, path: str | os.PathLike) -> Sequential:
        """Loads parameters saved by ``save`` into this (identically built) model; returns self.

        Names, shapes and dtypes are checked from the file's headers before any data is read; a file that
        does not match changes nothing, and the error says how to load it (``scratchnet.load_model`` builds
        the saved model when the file holds its architecture). The architecture is not compared: only the
        weights must fit."""
        load_weights(self, path)
        return self
