"""Small synthetic data sets the training tests share."""

from __future__ import annotations

import numpy as np


def blobs(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian blobs in 2-D: x (n, 2) float32 and labels y (n,) in {0, 1, 2}."""
    r = np.random.default_rng(seed)
    centres = np.array([[2, 0], [-2, 1], [0, -2]], dtype=np.float32)
    y = r.integers(0, 3, n)
    x = (centres[y] + 0.6 * r.standard_normal((n, 2))).astype(np.float32)
    return x, y
