"""Metrics the Trainer records: the accuracy of class scores, and of independent yes/no outputs."""

from __future__ import annotations

import numpy as np

from scratchnet.backend import get_array_module


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


def _without_unit_axis(shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` without a trailing axis of length 1 ((N, 1) -> (N,)), which labels and scores may carry."""
    return shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape
