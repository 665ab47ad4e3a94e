"""Batching and preprocessing: a seeded mini-batch iterator, one-hot labels, splits and feature scaling.

All of it works on the first axis: sample ``i`` is ``x[i]`` (and ``y[i]``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def _check_xy(x: np.ndarray, y: np.ndarray | None, who: str) -> None:
    if not hasattr(x, "shape") or len(x.shape) == 0:
        raise TypeError(f"{who}: x must be an array with a sample axis, got {type(x).__name__}")
    if y is not None and (not hasattr(y, "shape") or len(y.shape) == 0 or y.shape[0] != x.shape[0]):
        got = getattr(y, "shape", type(y).__name__)
        raise ValueError(f"{who}: x has {x.shape[0]} samples but y has shape {got}")
    if x.shape[0] == 0:
        raise ValueError(f"{who}: x has no samples (shape {tuple(x.shape)})")


def _is_int(value) -> bool:
    """A true integer (Python or NumPy), not a bool and not a float that happens to be whole."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


class DataLoader:
    """Mini-batches ``(xb, yb)`` of ``x`` and ``y`` (``yb`` is None without ``y``).

    Each pass (``for xb, yb in loader``) draws a fresh permutation from the loader's own generator, so two loaders
    with the same ``seed`` give the same sequence of epochs, and nothing else's randomness is disturbed.
    ``drop_last`` drops a final batch smaller than ``batch_size``. ``next_batch(n)`` is the TensorFlow tutorials'
    ``mnist.train.next_batch``: it walks the data ``n`` samples at a time and reshuffles on wrap-around.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray | None = None,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int | None = None,
        drop_last: bool = False,
    ):
        _check_xy(x, y, "DataLoader")
        if not _is_int(batch_size) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if drop_last and batch_size > x.shape[0]:
            # every epoch would be empty: a training loop would silently do nothing
            raise ValueError(
                f"DataLoader: batch_size {batch_size} with drop_last=True leaves no batch of the "
                f"{x.shape[0]} samples"
            )
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.rng = np.random.default_rng(seed)
        self.epochs_completed = 0
        self._order: np.ndarray | None = None
        self._pos = 0

    @property
    def num_samples(self) -> int:
        return int(self.x.shape[0])

    def __len__(self) -> int:
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def _new_order(self) -> np.ndarray:
        return self.rng.permutation(self.num_samples) if self.shuffle else np.arange(self.num_samples)

    def _take(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return self.x[idx], (None if self.y is None else self.y[idx])

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        order = self._new_order()
        for i in range(len(self)):
            yield self._take(order[i * self.batch_size : (i + 1) * self.batch_size])

    def next_batch(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """The next ``n`` samples (default ``batch_size``), continuing across calls and epochs."""
        n = self.batch_size if n is None else n
        if not _is_int(n) or not 1 <= n <= self.num_samples:
            raise ValueError(f"DataLoader.next_batch: n must be an int in 1..{self.num_samples}, got {n!r}")
        n = int(n)
        if self._order is None:
            self._order = self._new_order()
        parts = []
        need = n
        while need:
            if self._pos == self.num_samples:
                self.epochs_completed += 1
                self._order, self._pos = self._new_order(), 0
            take = min(need, self.num_samples - self._pos)
            parts.append(self._order[self._pos : self._pos + take])
            self._pos += take
            need -= take
        return self._take(np.concatenate(parts))

    def __repr__(self) -> str:
        return (
            f"DataLoader(num_samples={self.num_samples}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last})"
        )


def one_hot(labels: np.ndarray, num_classes: int | None = None, dtype: type = np.float32) -> np.ndarray:
    """Integer labels (N,) or (N, 1) -> (N, num_classes) rows with a single 1 (``num_classes`` defaults to max+1)."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(f"one_hot: expected labels of shape (N,) or (N, 1), got {labels.shape}")
    if labels.dtype.kind not in "biuf":
        raise TypeError(f"one_hot: labels must be integers, got dtype {labels.dtype}")
    if labels.dtype.kind == "f" and labels.size:
        # NaN/inf and fractions are refused; so are floats too large for int64 (the cast would wrap them)
        if not np.all(np.isfinite(labels) & (labels == np.round(labels)) & (np.abs(labels) < 2.0**62)):
            raise TypeError(
                f"one_hot: labels must be integers, got dtype {labels.dtype} with non-integer values"
            )
    if labels.dtype.kind == "u" and labels.size and labels.max() > np.iinfo(np.int64).max:
        raise ValueError(f"one_hot: label {labels.max()} is too large")
    labels = labels.astype(np.int64)
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif not _is_int(num_classes) or num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be a non-negative int, got {num_classes!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"one_hot: labels must be in 0..{num_classes - 1}, got {labels.min()}..{labels.max()}"
        )
    out = np.zeros((labels.shape[0], num_classes), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def _count(size: float | int, n: int, who: str) -> int:
    """A part's sample count from a fraction in [0, 1) (any real type, NumPy's included) or an int count."""
    if _is_int(size):
        if not 0 <= size <= n:
            raise ValueError(f"{who}: size must be between 0 and {n}, got {size}")
        return int(size)
    if isinstance(size, float | np.floating):
        if not 0.0 <= size < 1.0:  # also refuses NaN
            raise ValueError(f"{who}: a fractional size must be in [0, 1), got {size}")
        return int(round(float(size) * n))
    raise TypeError(f"{who}: size must be a fraction in [0, 1) or an int count, got {size!r}")


def _split(arrays, counts, seed, shuffle, who):
    n = arrays[0].shape[0]
    if sum(counts) > n:
        raise ValueError(f"{who}: the requested parts ({sum(counts)} samples) exceed the {n} available")
    if sum(counts) == n:
        raise ValueError(
            f"{who}: the requested parts ({sum(counts)} samples) leave none of the {n} for training"
        )
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    bounds = np.cumsum([n - sum(counts), *counts])[:-1]
    pieces = np.split(order, bounds)
    return [[a[p] for p in pieces] for a in arrays]


def train_test_split(
    x: np.ndarray,
    y: np.ndarray | None = None,
    test_size: float | int = 0.2,
    seed: int | None = None,
    shuffle: bool = True,
) -> tuple[np.ndarray, ...]:
    """``(x_train, x_test, y_train, y_test)``, or ``(x_train, x_test)`` without ``y``.

    ``test_size`` is a fraction in [0, 1) or a sample count; the same ``seed`` gives the same split.
    """
    _check_xy(x, y, "train_test_split")
    arrays = [x] if y is None else [x, y]
    parts = _split(
        arrays, [_count(test_size, x.shape[0], "train_test_split")], seed, shuffle, "train_test_split"
    )
    return tuple(p for pair in parts for p in pair)


def train_val_test_split(
    x: np.ndarray,
    y: np.ndarray | None = None,
    val_size: float | int = 0.1,
    test_size: float | int = 0.1,
    seed: int | None = None,
    shuffle: bool = True,
) -> tuple[np.ndarray, ...]:
    """``(x_train, x_val, x_test, y_train, y_val, y_test)`` (or the three x parts without ``y``)."""
    _check_xy(x, y, "train_val_test_split")
    n = x.shape[0]
    counts = [_count(val_size, n, "train_val_test_split"), _count(test_size, n, "train_val_test_split")]
    parts = _split([x] if y is None else [x, y], counts, seed, shuffle, "train_val_test_split")
    return tuple(p for triple in parts for p in triple)


class _Scaler:
    _fitted_attrs: tuple[str, ...] = ()

    def _check(self, x: np.ndarray, who: str) -> np.ndarray:
        x = np.asarray(x)
        name = f"{type(self).__name__}.{who}"
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise TypeError(f"{name}: expected a real numeric array, got dtype {x.dtype}")
        if x.ndim < 1:
            raise ValueError(f"{name}: expected (N, ...) data, got a scalar")
        if who == "fit" and x.shape[0] == 0:
            raise ValueError(f"{name}: x has no samples (shape {x.shape})")
        finite = np.isfinite(x)
        if not finite.all():
            # a NaN in fit would make every transformed value of its column NaN, silently
            index = tuple(int(i) for i in np.argwhere(~finite)[0])
            raise ValueError(f"{name}: x must be finite, found {x[index]} at index {index}")
        if who != "fit":
            if any(getattr(self, a, None) is None for a in self._fitted_attrs):
                raise RuntimeError(f"{type(self).__name__}: call fit() before {who}()")
            ref = getattr(self, self._fitted_attrs[0])
            if x.shape[1:] != ref.shape:
                raise ValueError(
                    f"{type(self).__name__}.{who}: fitted on features of shape {ref.shape}, got {x.shape[1:]}"
                )
        return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)


class MinMaxScaler(_Scaler):
    """Per-feature rescaling to ``feature_range``, fitted on the first axis.

    x' = (x - min) / (max - min + eps) * (hi - lo) + lo. ``eps = 1e-7`` as in the course's stock-prediction lab;
    a constant column maps to ``lo`` (also with ``eps=0``). Data must be finite.
    """

    _fitted_attrs = ("data_min_", "data_max_")

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0), eps: float = 1e-7):
        lo, hi = feature_range
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(
                f"MinMaxScaler: feature_range must be finite (low, high) with low < high, got {feature_range}"
            )
        if not (np.isfinite(eps) and eps >= 0):
            raise ValueError(f"MinMaxScaler: eps must be a finite number >= 0, got {eps}")
        self.feature_range, self.eps = (float(lo), float(hi)), float(eps)
        self.data_min_: np.ndarray | None = None
        self.data_max_: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> MinMaxScaler:
        x = self._check(x, "fit")
        self.data_min_, self.data_max_ = x.min(axis=0), x.max(axis=0)
        return self

    def _span(self) -> np.ndarray:
        span = self.data_max_ - self.data_min_ + self.eps
        return np.where(span > 0, span, 1)  # only a constant column with eps=0 has span 0

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = self._check(x, "transform")
        lo, hi = self.feature_range
        unit = (x - self.data_min_) / self._span()
        return (unit * (hi - lo) + lo).astype(x.dtype, copy=False)

    def inverse_transform(self, x: np.ndarray) -> np.ndarray:
        x = self._check(x, "inverse_transform")
        lo, hi = self.feature_range
        unit = (x - lo) / (hi - lo)
        return (unit * self._span() + self.data_min_).astype(x.dtype, copy=False)

    def __repr__(self) -> str:
        return f"MinMaxScaler(feature_range={self.feature_range}, eps={self.eps})"


def min_max_scale(x: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """One-shot column-wise (x - min) / (max - min + eps), the course's ``MinMaxScaler(data)`` function."""
    return MinMaxScaler(eps=eps).fit_transform(x)


class StandardScaler(_Scaler):
    """Per-feature standardisation x' = (x - mean) / std; a constant feature is only centred (std -> 1).

    Statistics are computed in float64 and a feature counts as constant when all its values are equal: in float32,
    a constant column of 1234.567 has a computed std of about 0.006 (rounding), and dividing by it would turn the
    constant into +-1. Data must be finite.
    """

    _fitted_attrs = ("mean_", "scale_")

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> StandardScaler:
        x = self._check(x, "fit")
        wide = x.astype(np.float64)
        constant = np.all(x == x[:1], axis=0)
        mean = np.where(constant, wide[0], wide.mean(axis=0))
        std = np.where(constant, 1.0, wide.std(axis=0))
        self.mean_, self.scale_ = mean.astype(x.dtype), std.astype(x.dtype)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = self._check(x, "transform")
        return ((x - self.mean_) / self.scale_).astype(x.dtype, copy=False)

    def inverse_transform(self, x: np.ndarray) -> np.ndarray:
        x = self._check(x, "inverse_transform")
        return (x * self.scale_ + self.mean_).astype(x.dtype, copy=False)

    def __repr__(self) -> str:
        return "StandardScaler()"
