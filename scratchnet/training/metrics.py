"""Metrics the Trainer records, by name: ``"accuracy"`` and ``"top_k_accuracy"`` for class scores,
``"mae"`` and ``"mse"`` for regression, ``"perplexity"`` for language models (the exponential of the epoch's
mean cross-entropy, so it is computed from the recorded loss, not averaged over batches).

Each is a function ``f(pred, target) -> float`` (the mean over the batch); the Trainer averages them over an
epoch weighted by batch size."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from scratchnet.backend import get_array_module
from scratchnet.losses import BinaryCrossEntropy


def accuracy(pred: np.ndarray, target: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of correct predictions.

    pred (N, C) with C > 1: arg-max class against integer labels (N,) or (N, 1), or one-hot rows (N, C).
    pred (N, T, C) with C > 1 (sequence logits): the same at every step, against labels (N, T) or one-hot
    (N, T, C); every step counts once.
    pred (N,) or (N, 1): ``pred > threshold`` against 0/1 targets (N,) or (N, 1).
    Any other pair of shapes is a ValueError naming both.
    """
    xp = get_array_module(pred)
    target = xp.asarray(target)
    shape, target_shape = tuple(pred.shape), tuple(target.shape)
    if pred.ndim in (2, 3) and shape[-1] > 1:  # class scores on the last axis
        if target_shape == shape:
            labels = target.argmax(axis=-1)
        elif _without_unit_axis(target_shape) == shape[:-1]:
            labels = target.reshape(shape[:-1])
        else:
            raise ValueError(
                f"accuracy: targets {target_shape} do not fit class scores {shape}: expected labels "
                f"{shape[:-1]} or one-hot targets {shape}"
            )
        return float((pred.argmax(axis=-1) == labels).mean())
    if pred.ndim == 1 or (pred.ndim == 2 and shape[-1] == 1):  # one score per sample
        if _without_unit_axis(target_shape) != shape[:1]:
            raise ValueError(
                f"accuracy: targets {target_shape} do not fit scores {shape}: expected 0/1 targets "
                f"{shape[:1]} or {(*shape[:1], 1)}"
            )
        return binary_accuracy(pred, target, threshold)
    raise ValueError(
        f"accuracy: cannot score predictions {shape} against targets {target_shape}: it takes class scores "
        "(N, C) or (N, T, C), or one score per sample (N,) or (N, 1)"
    )


def binary_accuracy(pred: np.ndarray, target: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of elements with ``pred > threshold`` equal to ``target > 0.5``: one yes/no decision per
    element, for any shape (a multi-label (N, K) output scores N * K decisions). Targets have the
    prediction's shape ((N,) for an (N, 1) output is accepted); anything else is a ValueError naming both."""
    xp = get_array_module(pred)
    target = xp.asarray(target)
    shape, target_shape = tuple(pred.shape), tuple(target.shape)
    if _without_unit_axis(target_shape) != _without_unit_axis(shape):
        raise ValueError(f"binary_accuracy: targets {target_shape} do not match predictions {shape}")
    return float(((pred.reshape(-1) > threshold) == (target.reshape(-1) > 0.5)).mean())


def top_k_accuracy(pred: np.ndarray, target: np.ndarray, k: int = 5) -> float:
    """Fraction of samples (or sequence steps) whose true class is among the ``k`` highest scores.

    pred (N, C) or (N, T, C) class scores against integer labels (N,) / (N, T) (a trailing axis of 1 is
    accepted) or one-hot targets of pred's shape. With ``k >= C`` every sample counts as correct.
    """
    xp = get_array_module(pred)
    target = xp.asarray(target)
    shape, target_shape = tuple(pred.shape), tuple(target.shape)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"top_k_accuracy: k must be a positive int, got {k!r}")
    if pred.ndim not in (2, 3) or shape[-1] < 2:
        raise ValueError(f"top_k_accuracy: expected class scores (N, C) or (N, T, C), got {shape}")
    if target_shape == shape:
        labels = target.argmax(axis=-1)
    elif _without_unit_axis(target_shape) == shape[:-1]:
        labels = target.reshape(shape[:-1])
    else:
        raise ValueError(f"top_k_accuracy: targets {target_shape} do not fit class scores {shape}")
    k = min(int(k), shape[-1])
    true_score = xp.take_along_axis(pred, labels[..., None].astype(np.int64), axis=-1)
    # the true class is in the top k when fewer than k classes score strictly higher (ties count in its favour)
    higher = (pred > true_score).sum(axis=-1)
    return float((higher < k).mean())


def mean_absolute_error(pred: np.ndarray, target: np.ndarray) -> float:
    """``mean |pred - target|`` over every element ("mae"); shapes equal up to a trailing axis of 1."""
    return float(_difference(pred, target, "mae").__abs__().mean())


def mean_squared_error(pred: np.ndarray, target: np.ndarray) -> float:
    """``mean (pred - target)^2`` over every element ("mse"); shapes equal up to a trailing axis of 1."""
    return float((_difference(pred, target, "mse") ** 2).mean())


def _difference(pred: np.ndarray, target: np.ndarray, name: str) -> np.ndarray:
    xp = get_array_module(pred)
    target = xp.asarray(target)
    if _without_unit_axis(tuple(target.shape)) != _without_unit_axis(tuple(pred.shape)):
        raise ValueError(
            f"{name}: targets {tuple(target.shape)} do not match predictions {tuple(pred.shape)}"
        )
    return pred.reshape(-1) - target.reshape(-1).astype(pred.dtype)


def _without_unit_axis(shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` without a trailing axis of length 1 ((N, 1) -> (N,)), which labels and scores may carry."""
    return shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape


def metric_functions(metrics: Any, loss: Any) -> tuple[dict[str, Callable], list[str]]:
    """The per-batch metric functions by name, and the names of the metrics computed from the epoch's loss."""
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    if isinstance(metrics, dict):
        metrics = list(metrics.items())
    threshold = 0.0 if isinstance(loss, BinaryCrossEntropy) and loss.from_logits else 0.5
    if isinstance(loss, BinaryCrossEntropy):  # independent yes/no outputs, not one class per row
        scored_accuracy = lambda p, t: binary_accuracy(p, t, threshold)  # noqa: E731
    else:
        scored_accuracy = lambda p, t: accuracy(p, t, threshold)  # noqa: E731
    known: dict[str, Callable] = {
        "accuracy": scored_accuracy,
        "top_k_accuracy": top_k_accuracy,
        "mae": mean_absolute_error,
        "mse": mean_squared_error,
    }
    functions: dict[str, Callable] = {}
    derived: list[str] = []
    for m in metrics:
        if isinstance(m, str):
            if m == "perplexity":
                if not getattr(loss, "classification", False) or isinstance(loss, BinaryCrossEntropy):
                    raise ValueError(
                        f"Trainer: perplexity is the exponential of a cross-entropy, not of {loss!r}"
                    )
                name, fn = m, None
            elif m in known:
                name, fn = m, known[m]
            else:
                raise ValueError(
                    f"Trainer: unknown metric {m!r}; known: {sorted([*known, 'perplexity'])}, or a function"
                )
        elif isinstance(m, tuple) and len(m) == 2 and isinstance(m[0], str) and callable(m[1]):
            name, fn = m
        elif callable(m):
            name, fn = getattr(m, "__name__", None), m
            if not name or name == "<lambda>":
                raise ValueError(
                    f"Trainer: the metric {m!r:.60} has no name to record it under; pass ('name', function) "
                    "or {'name': function}"
                )
        else:
            raise TypeError(
                f"Trainer: a metric is a name, a function or a (name, function) pair, got {m!r:.60}"
            )
        if (
            name in ("loss", "lr", "time", "epoch")
            or name.startswith("val_")
            or name in functions
            or name in derived
        ):
            raise ValueError(f"Trainer: metric name {name!r} is taken (by the history or another metric)")
        if fn is None:
            derived.append(name)
        else:
            functions[name] = fn
    return functions, derived
