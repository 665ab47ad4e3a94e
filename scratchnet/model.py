"""Sequential models: a list of layers run forwards, then backwards in reverse, plus saving and summaries."""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scratchnet.layers.base import Layer


def state_dict(layer: Layer) -> dict[str, np.ndarray]:
    """Copies of the parameters and buffers (running statistics) by dotted name, as host (NumPy) arrays."""
    state = {}
    for name, sub in layer.named_layers():
        for table in (sub.params, sub.buffers):
            for key, value in table.items():
                state[f"{name}.{key}" if name else key] = _to_host(value)
    return state


def load_state_dict(layer: Layer, state: dict[str, np.ndarray]) -> None:
    """Copies ``state`` into ``layer`` in place; every key must match in name and shape, or nothing changes."""
    targets = {}
    for name, sub in layer.named_layers():
        for table in (sub.params, sub.buffers):
            for key in table:
                targets[f"{name}.{key}" if name else key] = (table, key)
    missing = sorted(set(targets) - set(state))
    unexpected = sorted(set(state) - set(targets))
    if missing or unexpected:
        raise ValueError(f"state does not match the model: missing {missing}, unexpected {unexpected}")
    for full, (table, key) in targets.items():
        if tuple(state[full].shape) != tuple(table[key].shape):
            raise ValueError(
                f"state entry {full!r} has shape {tuple(state[full].shape)}, "
                f"the model expects {tuple(table[key].shape)}"
            )
    for full, (table, key) in targets.items():
        current = table[key]
        xp = _array_module_of(current)
        table[key] = xp.asarray(np.asarray(state[full]), dtype=current.dtype).copy()


def _to_host(a: Any) -> np.ndarray:
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.array(a, copy=True)


def _array_module_of(a: Any):
    from scratchnet.backend import get_array_module

    return get_array_module(a)


def save_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Writes ``arrays`` to ``path`` as .npz atomically: a temporary file in the same folder, then rename,
    so an interrupted save never leaves a half-written file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads an .npz written by ``save_arrays`` (pickles are refused)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


class Sequential(Layer):
    """Layers applied in order. Itself a Layer, so models nest and gradcheck works on whole networks.

    ``forward`` feeds each layer's output to the next; ``backward`` runs the layers in reverse, each
    receiving the gradient of the one after it (the chain rule, one layer at a time).
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

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n  {inner}\n])" if self.layers else "Sequential([])"

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def predict(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Forward in eval mode, in batches; restores the previous mode afterwards."""
        was_training = self.training
        self.eval()
        try:
            outs = [self.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        finally:
            self.train(was_training)
        xp = _array_module_of(outs[0]) if outs else np
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
            x = layer.forward(x)
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

    def save(self, path: str | os.PathLike) -> None:
        """Saves parameters and buffers to ``path`` as .npz (no pickle; atomic write)."""
        save_arrays(path, self.state_dict())

    def load(self, path: str | os.PathLike) -> Sequential:
        """Loads parameters saved by ``save`` into this (identically built) model; returns self."""
        self.load_state_dict(load_arrays(path))
        return self
