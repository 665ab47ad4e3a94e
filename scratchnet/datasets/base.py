"""The container loaders return, and the image post-processing they share.

A :class:`Dataset` unpacks like a pair, ``x, y = load_iris()``, and also says where the data came from
(``source``: ``"data_dir"``, ``"cache"``, ``"download"``, ``"embedded"`` or ``"file"``) so a chapter can print
that it fell back to the small copy shipped inside the package.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scratchnet.arguments import check_bool
from scratchnet.datasets._embedded import embedded_arrays
from scratchnet.datasets._fetch import DatasetNotFoundError, fetch
from scratchnet.datasets._parse import decode_text, gunzip, integer_table, integer_values

logger = logging.getLogger("scratchnet.datasets")


@dataclass(eq=False)  # arrays make == ambiguous; compare fields explicitly
class Dataset:
    """Arrays plus provenance. ``x``: features/images, ``y``: targets (or None); ``info``: names, notes."""

    x: np.ndarray
    y: np.ndarray | None
    name: str
    source: str
    path: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[np.ndarray | None]:
        yield self.x
        yield self.y

    @property
    def num_samples(self) -> int:
        return int(self.x.shape[0])

    @property
    def is_fallback(self) -> bool:
        """True when the loader used the embedded copy because no other copy was available."""
        return self.source == "embedded"

    def __repr__(self) -> str:
        ys = None if self.y is None else f"{self.y.shape} {self.y.dtype}"
        return f"Dataset({self.name!r}, x={self.x.shape} {self.x.dtype}, y={ys}, source={self.source!r})"


def report_fallback(
    name: str, err: DatasetNotFoundError, replacement: str = "the copy embedded in scratchnet"
) -> None:
    """Logs (WARNING, shown on stderr by default) that ``replacement`` stands in for a missing file."""
    lines = str(err).splitlines()
    reason = next((ln for ln in lines if ln.startswith("Then: ")), "Then: no copy found.")[6:]
    logger.warning(
        "%s: %s (%s) -- falling back to %s; set SCRATCHNET_DATA for the full file",
        name,
        lines[0],
        reason[:200].rstrip("."),
        replacement,
    )


def check_as_images(who: str, as_images: bool, flatten: bool = False) -> bool:
    """The ``as_images`` flag of an image loader, refused (before any file is read) with ``flatten=True``."""
    as_images = check_bool(who, "as_images", as_images)
    if as_images and flatten:
        raise ValueError(
            f"{who}: as_images=True returns (N, C, H, W) images for Conv2D and flatten=True (N, H*W) rows; "
            "pick one"
        )
    return as_images


def image_features(
    images: np.ndarray,
    flatten: bool = False,
    normalize: bool = False,
    max_value: float = 255.0,
    as_images: bool = False,
) -> np.ndarray:
    """uint8 images (N, H, W) or (N, C, H, W) -> optionally flattened to (N, D) and/or float32 scaled to [0, 1].

    ``as_images=True``: float32 ``(N, C, H, W)`` in [0, 1] whatever ``normalize`` says, a channel axis of 1
    added to grayscale ``(N, H, W)`` images (what ``Conv2D`` takes); not together with ``flatten``.
    """
    if as_images:
        if flatten:
            raise ValueError("image_features: as_images=True cannot be combined with flatten=True")
        out = images[:, None] if images.ndim == 3 else images
        return out.astype(np.float32) / np.float32(max_value)
    out = images.reshape(images.shape[0], -1) if flatten else images
    if normalize:
        out = out.astype(np.float32) / np.float32(max_value)
    return out


def labels_out(labels: np.ndarray, one_hot: bool = False, num_classes: int = 10) -> np.ndarray:
    """int64 labels (N,), or float32 one-hot (N, num_classes) when ``one_hot``."""
    labels = labels.astype(np.int64)
    if one_hot:
        from scratchnet.datasets.loader import one_hot as encode

        return encode(labels, num_classes)
    return labels


def load_image_csv(
    file: str, name: str, side: int, max_value: int, data_dir, download
) -> tuple[np.ndarray, np.ndarray, str, str | None]:
    """A gzipped CSV of ``side*side`` pixel values then the label per row -> (uint8 (N, side, side),
    uint8 (N,), source, path); falls back to the embedded copy of ``name`` when no file is available."""
    try:
        res = fetch(file, data_dir, download)
    except DatasetNotFoundError as err:
        report_fallback(name, err)
        arrays = embedded_arrays(name)
        return arrays["images"], arrays["labels"], "embedded", None
    images, labels = parse_image_csv(
        gunzip(res.path.read_bytes(), str(res.path)), str(res.path), side, max_value
    )
    return images, labels, res.source, str(res.path)


def parse_image_csv(raw: bytes, name: str, side: int, max_value: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``side*side`` pixel values (0..max_value) then the label 0..9 -> (uint8 (N, side, side), uint8 (N,)).

    Raises :class:`DatasetFormatError` for non-ASCII bytes, ragged rows, non-integers (``1.7``, ``1e30``,
    ``nan``) or values out of range; nothing is truncated.
    """
    d = side * side
    lines = [ln for ln in decode_text(raw, name, "ascii").splitlines() if ln.strip()]
    table = integer_table(lines, name, n_cols=d + 1)
    pixels = integer_values(table[:, :d], name, "pixel values", 0, max_value)
    labels = integer_values(table[:, d], name, "labels", 0, 9)
    return pixels.reshape(-1, side, side).astype(np.uint8), labels.astype(np.uint8)
