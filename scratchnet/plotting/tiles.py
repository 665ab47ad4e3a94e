"""Lays out many small images (dataset rows, or the filters of a weight matrix) as one tiled image.

Each row of ``X`` is one flattened image; ``tile_shape = (rows, cols)`` fixes the grid, filled row by
row, with ``tile_spacing`` blank pixels between tiles. To see an RBM's or a Dense layer's filters pass its
weight matrix transposed, ``W.T`` (one row per hidden unit), or use ``tile_filters(W, ...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _pair(name: str, value: Any, minimum: int) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"tile_raster_images: {name} must be a pair of ints, got {value!r}") from None
    if a < minimum or b < minimum:
        raise ValueError(f"tile_raster_images: {name} entries must be >= {minimum}, got {value!r}")
    return a, b


def scale_to_unit_interval(x: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """(x - min) / (max - min + eps): maps an array onto [0, 1] (a constant array becomes all zeros)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.min()
    return x / (x.max() + eps)


def tile_raster_images(
    X: Any,
    img_shape: Sequence[int],
    tile_shape: Sequence[int],
    tile_spacing: Sequence[int] = (1, 1),
    scale_rows_to_unit_interval: bool = True,
    output_pixel_vals: bool = True,
) -> np.ndarray:
    """A 2-D image of the rows of ``X`` (N, H*W) -- or images (N, H, W) -- reshaped to ``img_shape`` and
    laid out on a ``tile_shape`` grid.

    Output shape: ``(rows*(H+sh) - sh, cols*(W+sw) - sw)`` for spacing ``(sh, sw)``; spacing and unused
    tiles are 0 (black). Rows beyond ``rows*cols`` are left out. ``scale_rows_to_unit_interval`` rescales
    every tile on its own to [0, 1] (needed for weights, which are not pixels); otherwise values are
    expected in [0, 1] already and are clipped there. ``output_pixel_vals=True`` returns uint8 in
    [0, 255] (ready for ``plt.imshow(img, cmap="gray")`` or PIL), False returns float64 in [0, 1].
    """
    X = np.asarray(X)
    if X.dtype.kind not in "fiub":
        raise TypeError(f"tile_raster_images: expected a real numeric array, got dtype {X.dtype}")
    h, w = _pair("img_shape", img_shape, 1)
    rows, cols = _pair("tile_shape", tile_shape, 1)
    sh, sw = _pair("tile_spacing", tile_spacing, 0)
    if X.ndim == 3 and X.shape[1:] == (h, w):
        X = X.reshape(len(X), h * w)
    if X.ndim != 2 or X.shape[1] != h * w:
        raise ValueError(
            f"tile_raster_images: expected X of shape (N, {h * w}) or (N, {h}, {w}) for "
            f"img_shape {(h, w)}, got {X.shape}"
        )
    out = np.zeros((rows * (h + sh) - sh, cols * (w + sw) - sw), dtype=np.float64)
    for i in range(min(len(X), rows * cols)):
        r, c = divmod(i, cols)
        tile = X[i].reshape(h, w).astype(np.float64)
        tile = scale_to_unit_interval(tile) if scale_rows_to_unit_interval else np.clip(tile, 0.0, 1.0)
        out[r * (h + sh) : r * (h + sh) + h, c * (w + sw) : c * (w + sw) + w] = tile
    if output_pixel_vals:
        return np.round(out * 255).astype(np.uint8)
    return out


def tile_filters(
    W: Any,
    img_shape: Sequence[int] = (28, 28),
    tile_shape: Sequence[int] | None = None,
    tile_spacing: Sequence[int] = (1, 1),
) -> np.ndarray:
    """The columns of a weight matrix W (D, units) as tiles: ``tile_raster_images(W.T, ...)``.

    Without ``tile_shape`` the grid is as square as possible (10 columns for 50 units: 5 x 10).
    """
    W = np.asarray(W)
    if W.ndim != 2:
        raise ValueError(f"tile_filters: expected a 2-D weight matrix (D, units), got shape {W.shape}")
    n = W.shape[1]
    if tile_shape is None:
        cols = int(np.ceil(np.sqrt(2 * n))) if n > 1 else 1
        cols = min(cols, n)
        tile_shape = (int(np.ceil(n / cols)), cols)
    return tile_raster_images(W.T, img_shape, tile_shape, tile_spacing)
