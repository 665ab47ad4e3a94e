"""What ``Trainer.fit`` and ``evaluate`` take as data: arrays ``x`` and ``y``, or a ``DataLoader`` or any other
re-iterable of ``(x, y)`` batches; checked before training starts."""

from __future__ import annotations

import math
from typing import Any


class Arrays:
    """Training or evaluation data given as arrays ``x`` and ``y``."""

    def __init__(self, x: Any, y: Any, who: str) -> None:
        if not hasattr(y, "shape"):
            raise TypeError(f"{who}: y must be an array like x, got {type(y).__name__}")
        if len(x) != len(y):
            raise ValueError(f"{who}: x has {len(x)} samples but y has {len(y)}")
        if len(x) == 0:
            raise ValueError(f"{who}: got an empty data set")
        self.x, self.y = x, y


class Batches:
    """Training or evaluation data given as a ``DataLoader`` or another re-iterable of ``(x, y)`` batches."""

    def __init__(self, batches: Any) -> None:
        self.batches = batches


def check_reiterable(obj: Any, who: str) -> None:
    try:
        iterator = iter(obj)
    except TypeError:
        raise TypeError(
            f"{who}: expected arrays x and y, a DataLoader or a re-iterable of (x, y) batches, got "
            f"{type(obj).__name__}"
        ) from None
    if iterator is obj:  # a generator or an iterator: the second epoch would find it empty
        raise TypeError(
            f"{who}: got a one-pass iterator ({type(obj).__name__}), which would be empty after the first epoch; "
            "pass a DataLoader or a list of (x, y) batches"
        )


def as_data(x: Any, y: Any, who: str) -> Arrays | Batches:
    """``fit``/``evaluate``'s data: arrays x and y, or (with y None) a re-iterable of batches as x."""
    if hasattr(x, "shape"):
        if y is None:
            raise TypeError(f"{who}: y is missing: pass targets y, or a DataLoader of (x, y) batches as x")
        return Arrays(x, y, who)
    if y is not None:
        raise TypeError(f"{who}: x must be an array when y is given, got {type(x).__name__}")
    if isinstance(x, Arrays | Batches):
        return x
    check_reiterable(x, who)
    if getattr(x, "y", True) is None:  # a DataLoader built without targets
        raise ValueError(f"{who}: the DataLoader has no targets (y); build it with DataLoader(x, y, ...)")
    return Batches(x)


def as_validation(data: Any) -> Arrays | Batches:
    if isinstance(data, tuple) and len(data) == 2 and hasattr(data[0], "shape"):
        return Arrays(*data, "fit (validation_data)")
    if isinstance(data, tuple):
        raise TypeError(
            "fit: validation_data must be a pair of arrays (x, y) or a DataLoader of (x, y) batches"
        )
    return as_data(data, None, "fit (validation_data)")


def batch_count(data: Arrays | Batches, batch_size: int) -> int | None:
    if isinstance(data, Arrays):
        return math.ceil(len(data.x) / batch_size)
    try:
        return len(data.batches)
    except TypeError:
        return None
