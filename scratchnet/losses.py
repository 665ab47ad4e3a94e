r"""Losses: ``forward(pred, target) -> float`` (mean over the batch) and ``backward() -> dpred``.

Each loss caches what its backward needs; ``backward()`` returns the gradient of the returned mean with
respect to ``pred``, with the same shape and dtype as ``pred``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.arguments import as_array, check_bool, check_float
from scratchnet.backend import get_array_module


class Loss:
    """Base class: validation helpers and the call shortcut.

    ``classification`` says whether the loss scores class predictions (its targets are labels or class
    probabilities): a ``Trainer`` reports accuracy by default only for such losses.
    """

    classification: bool = False

    def __init__(self) -> None:
        self._cache: Any = None

    def __call__(self, pred: np.ndarray, target: np.ndarray) -> float:
        return self.forward(pred, target)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _check_pred(self, pred: Any) -> np.ndarray:
        pred = as_array(repr(self), "predictions", pred)
        if pred.dtype.kind not in "fiu":
            raise TypeError(f"{self!r}: predictions must be a real array, got dtype {pred.dtype}")
        if pred.dtype.kind != "f":
            pred = pred.astype(np.float32)
        if pred.ndim == 0:
            raise ValueError(f"{self!r}: predictions must have a batch axis, got a scalar")
        if pred.size == 0:
            # a mean over no elements is NaN: an empty batch is a caller's mistake, not a loss value
            raise ValueError(f"{self!r}: predictions are empty, got shape {tuple(pred.shape)}")
        return pred

    def _check_numeric(self, a: Any, what: str) -> np.ndarray:
        """``a`` as an array of real numbers (bool, int or float), else a TypeError naming ``what``."""
        a = as_array(repr(self), what, a)
        if a.dtype.kind not in "fiub":
            raise TypeError(f"{self!r}: {what} must be a real numeric array, got dtype {a.dtype}")
        return a

    def _check_same_shape(self, pred: np.ndarray, target: Any) -> np.ndarray:
        xp = get_array_module(pred)
        target = xp.asarray(self._check_numeric(target, "target"))
        if target.shape != pred.shape:
            if target.size == pred.size and target.ndim == 1 and pred.ndim == 2 and pred.shape[1] == 1:
                target = target.reshape(pred.shape)  # (N,) labels for an (N, 1) output
            else:
                raise ValueError(
                    f"{self!r}: target shape {tuple(target.shape)} does not match "
                    f"prediction shape {tuple(pred.shape)}"
                )
        return target.astype(pred.dtype, copy=False)

    def _require_forward(self) -> None:
        if self._cache is None:
            raise RuntimeError(f"{self!r}.backward called before forward")


class MeanSquaredError(Loss):
    r"""Mean of squared errors over every element: :math:`L = \frac{1}{n}\sum (p - t)^2`,
    :math:`\partial L/\partial p = \frac{2}{n}(p - t)`. Shapes: pred and target identical (N, ...)."""

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        pred = self._check_pred(pred)
        target = self._check_same_shape(pred, target)
        diff = pred - target
        self._cache = (diff, pred.dtype)
        return float((diff * diff).mean())

    def backward(self) -> np.ndarray:
        self._require_forward()
        diff, dtype = self._cache
        return (2.0 / diff.size * diff).astype(dtype, copy=False)


class BinaryCrossEntropy(Loss):
    r"""Binary cross-entropy averaged over every element.

    With probabilities ``p`` (``from_logits=False``): :math:`L = -\frac1n\sum t\log p + (1-t)\log(1-p)`;
    ``p`` is clipped to ``[eps, 1 - eps]`` so log never sees 0 (the gradient there is 0).
    With logits ``z`` (``from_logits=True``), the stable form
    :math:`\max(z, 0) - zt + \log(1 + e^{-|z|})` and :math:`\partial L/\partial z = (\sigma(z) - t)/n`.
    Targets are in [0, 1], same shape as the prediction ((N,) labels for an (N, 1) output are accepted).
    """

    classification = True

    def __init__(self, from_logits: bool = False, eps: float = 1e-7) -> None:
        super().__init__()
        self.from_logits = check_bool("BinaryCrossEntropy", "from_logits", from_logits)
        # eps = 0 would give 0 * log(0) = NaN at p = 0 or 1; eps >= 0.5 empties the clip range
        self.eps = check_float(
            "BinaryCrossEntropy", "eps", eps, low=0.0, high=0.5, low_inclusive=False, high_inclusive=False
        )

    def __repr__(self) -> str:
        return f"BinaryCrossEntropy(from_logits={self.from_logits})"

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        xp = get_array_module(pred)
        pred = self._check_pred(pred)
        target = self._check_same_shape(pred, target)
        # NaN passes both range checks on purpose: it propagates into the loss instead of being hidden
        if bool(xp.any((target < 0) | (target > 1))):
            raise ValueError(
                f"{self!r}: targets must lie in [0, 1], got range [{float(target.min())}, {float(target.max())}]"
            )
        if not self.from_logits and bool(xp.any((pred < 0) | (pred > 1))):
            raise ValueError(
                f"{self!r}: predictions must be probabilities in [0, 1], got range "
                f"[{float(pred.min())}, {float(pred.max())}] (use from_logits=True for raw scores)"
            )
        if self.from_logits:
            loss = xp.maximum(pred, 0) - pred * target + xp.log1p(xp.exp(-xp.abs(pred)))
        else:
            p = xp.clip(pred, self.eps, 1 - self.eps)
            loss = -(target * xp.log(p) + (1 - target) * xp.log1p(-p))
        self._cache = (pred, target)
        return float(loss.mean())

    def backward(self) -> np.ndarray:
        self._require_forward()
        xp = get_array_module(self._cache[0])
        pred, target = self._cache
        n = pred.size
        if self.from_logits:
            sig = 0.5 * (1 + xp.tanh(0.5 * pred))  # overflow-free sigmoid
            return ((sig - target) / n).astype(pred.dtype, copy=False)
        inside = (pred > self.eps) & (pred < 1 - self.eps)
        p = xp.clip(pred, self.eps, 1 - self.eps)
        return (inside * (p - target) / (p * (1 - p)) / n).astype(pred.dtype, copy=False)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    xp = get_array_module(z)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def _class_ids(loss: Loss, ids: np.ndarray, n_classes: int, what: str) -> np.ndarray:
    """Validates integer class ids in [0, n_classes); whole-valued floats (labels read from a CSV file)
    are accepted and converted. Returns an int64 array."""
    xp = get_array_module(ids)
    kind = ids.dtype.kind
    whole = kind in "iu" or (kind == "f" and bool(xp.all(xp.isfinite(ids) & (ids == xp.round(ids)))))
    if not whole:
        found = "values that are not all whole, finite numbers" if kind == "f" else "values"
        raise TypeError(f"{loss!r}: {what} must be integers (class ids), got dtype {ids.dtype} {found}")
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= n_classes):
        raise ValueError(
            f"{loss!r}: {what} must lie in [0, {n_classes - 1}], got range [{int(ids.min())}, {int(ids.max())}]"
        )
    return ids.astype(np.int64, copy=False)


def _class_targets(loss: Loss, logits: np.ndarray, target: Any) -> np.ndarray:
    """Integer (N,) labels or one-hot / probability (N, C) rows -> an (N, C) target distribution."""
    xp = get_array_module(logits)
    target = xp.asarray(loss._check_numeric(target, "target"))
    n, c = logits.shape
    if target.ndim == 1:
        if target.shape[0] != n:
            raise ValueError(f"{loss!r}: {target.shape[0]} labels for a batch of {n}")
        labels = _class_ids(loss, target, c, "labels")
        dist = xp.zeros_like(logits)
        dist[xp.arange(n), labels] = 1
        return dist
    if target.shape != logits.shape:
        raise ValueError(
            f"{loss!r}: target shape {tuple(target.shape)} does not match logits shape "
            f"{tuple(logits.shape)} (give (N,) integer labels or (N, C) one-hot rows)"
        )
    if bool(xp.any(target < 0)):
        raise ValueError(
            f"{loss!r}: target rows must be probabilities (>= 0), got minimum {float(target.min())}"
        )
    return target.astype(logits.dtype, copy=False)


class SoftmaxCrossEntropy(Loss):
    r"""Softmax followed by cross-entropy, fused: logits (N, C); targets (N,) integer labels or (N, C)
    one-hot / probability rows.

    :math:`L = -\frac1N\sum_i\sum_c t_{ic}\log\operatorname{softmax}(z_i)_c`, computed with the log-sum-exp
    shift so large logits do not overflow; :math:`\partial L/\partial z = (\operatorname{softmax}(z) - t)/N` for rows of t summing to one.
    """

    classification = True

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        xp = get_array_module(pred)
        pred = self._check_pred(pred)
        if pred.ndim != 2:
            raise ValueError(f"{self!r}: expected logits of shape (N, C), got {tuple(pred.shape)}")
        dist = _class_targets(self, pred, target)
        log_p = _log_softmax(pred)
        self._cache = (xp.exp(log_p), dist)
        return float(-(dist * log_p).sum() / pred.shape[0])

    def backward(self) -> np.ndarray:
        self._require_forward()
        probs, dist = self._cache
        # d/dz of -sum_c t_c log softmax(z)_c is softmax(z) * sum_c t_c - t (= softmax - t for one-hot rows)
        return (probs * dist.sum(axis=-1, keepdims=True) - dist) / probs.shape[0]


class SequenceCrossEntropy(Loss):
    r"""Softmax cross-entropy at every step of a sequence, with optional per-step weights (TensorFlow's
    ``sequence_loss``).

    Shapes: logits (N, T, C), integer targets (N, T), weights (N, T) (default: all ones; zeros mask out
    padding). With :math:`\ell_{nt} = -\log\operatorname{softmax}(z_{nt})_{y_{nt}}` and weights :math:`w`:

    * ``average_across_timesteps=True, average_across_batch=True`` (default):
      :math:`L = \sum_{n,t} w_{nt}\ell_{nt} / \sum_{n,t} w_{nt}`;
    * only across the batch: :math:`L = \sum_t \big(\sum_n w_{nt}\ell_{nt} / \sum_n w_{nt}\big)`;
    * only across time: :math:`L = \sum_n \big(\sum_t w_{nt}\ell_{nt} / \sum_t w_{nt}\big)`;
    * neither: :math:`L = \sum_{n,t} w_{nt}\ell_{nt}`.

    TensorFlow returns the non-averaged axes as a tensor; a scratchnet loss is one number, so they are summed.
    (Averaging across the batch only gives the course's PTB cost: per-sequence loss summed over time, mean
    over the batch.) Every form is :math:`L = \sum_{n,t} k_{nt}\ell_{nt}` with constant coefficients
    :math:`k`, so the fused gradient is :math:`\partial L/\partial z_{nt} = k_{nt}(\operatorname{softmax}(z_{nt})
    - \text{onehot}(y_{nt}))`. The log-sum-exp is shifted by the row maximum, so large logits do not overflow.
    """

    classification = True

    def __init__(self, average_across_timesteps: bool = True, average_across_batch: bool = True) -> None:
        super().__init__()
        who = "SequenceCrossEntropy"
        self.average_across_timesteps = check_bool(who, "average_across_timesteps", average_across_timesteps)
        self.average_across_batch = check_bool(who, "average_across_batch", average_across_batch)

    def __repr__(self) -> str:
        return (
            f"SequenceCrossEntropy(average_across_timesteps={self.average_across_timesteps}, "
            f"average_across_batch={self.average_across_batch})"
        )

    def __call__(self, pred: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> float:
        return self.forward(pred, target, weights)

    def _coefficients(self, w: np.ndarray) -> np.ndarray:
        """k with L = sum(k * ce); the 1e-12 keeps an all-zero weight row finite (as in TensorFlow)."""
        if self.average_across_timesteps and self.average_across_batch:
            return w / (w.sum() + 1e-12)
        if self.average_across_batch:
            return w / (w.sum(axis=0, keepdims=True) + 1e-12)
        if self.average_across_timesteps:
            return w / (w.sum(axis=1, keepdims=True) + 1e-12)
        return w

    def forward(self, pred: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> float:
        xp = get_array_module(pred)
        z = self._check_pred(pred)
        if z.ndim != 3:
            raise ValueError(f"{self!r}: expected logits of shape (N, T, C), got {tuple(z.shape)}")
        n, t, c = z.shape
        y = xp.asarray(self._check_numeric(target, "targets"))
        if y.shape != (n, t):
            raise ValueError(f"{self!r}: expected targets of shape (N, T) = {(n, t)}, got {tuple(y.shape)}")
        y = _class_ids(self, y, c, "targets")
        if weights is None:
            w = xp.ones((n, t), dtype=z.dtype)
        else:
            w = xp.asarray(self._check_numeric(weights, "weights"))
            if w.shape != (n, t):
                raise ValueError(
                    f"{self!r}: expected weights of shape (N, T) = {(n, t)}, got {tuple(w.shape)}"
                )
            if bool(xp.any(w < 0)):
                raise ValueError(f"{self!r}: weights must be >= 0, got minimum {float(w.min())}")
            w = w.astype(z.dtype, copy=False)
        k = self._coefficients(w)
        # softmax with the max shift; probs is the one big (N, T, C) temporary and is reused by backward
        zmax = z.max(axis=-1, keepdims=True)
        probs = z - zmax
        xp.exp(probs, out=probs)
        total = probs.sum(axis=-1, keepdims=True)
        probs /= total
        rows_n, rows_t = xp.meshgrid(xp.arange(n), xp.arange(t), indexing="ij")
        # ce = logsumexp(z) - z[target]
        ce = (xp.log(total[..., 0]) + zmax[..., 0]) - z[rows_n, rows_t, y]
        self._cache = (probs, k, rows_n, rows_t, y)
        return float((k * ce).sum())

    def backward(self) -> np.ndarray:
        self._require_forward()
        probs, k, rows_n, rows_t, y = self._cache
        grad = probs * k[..., None]
        grad[rows_n, rows_t, y] -= k
        return grad
