"""Figures for looking inside a network: learning curves, weights, activations, predictions, gradients.

Every helper builds a standalone :class:`matplotlib.figure.Figure` on the Agg canvas (no pyplot, so no
display and no global figure state), returns it, and saves it as a PNG when ``path`` is given. That makes
them safe on headless machines and in tests.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PathLike = str | os.PathLike | None


def _to_host(a: Any) -> np.ndarray:
    # CuPy arrays expose .get(); everything else goes through asarray
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def new_figure(width: float = 6.4, height: float = 4.8) -> Figure:
    """A Figure attached to an Agg canvas (what every helper here draws on)."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: PathLike, dpi: int = 100) -> Figure:
    """Writes ``fig`` to ``path`` (parent folders created) when a path is given; returns ``fig``."""
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return fig


def _grid(n: int, ncols: int) -> tuple[int, int]:
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


# -- learning curves -----------------------------------------------------------------------------------
def plot_history(
    history: Any,
    metrics: Sequence[str] = ("loss", "accuracy"),
    path: PathLike = None,
    title: str | None = None,
    xlabel: str = "epoch",
) -> Figure:
    """Training vs validation curves, one panel per metric (``loss``, ``accuracy``...).

    ``history`` is a :class:`scratchnet.training.History`, a list of per-epoch dicts, or a dict of
    columns. A metric missing from every record is skipped; ``val_<metric>`` is drawn when present.
    """
    records = getattr(history, "records", history)
    if isinstance(records, Mapping):
        n = max((len(v) for v in records.values()), default=0)
        records = [{k: v[i] for k, v in records.items() if i < len(v)} for i in range(n)]
    records = list(records)
    shown = [m for m in metrics if any(m in r or f"val_{m}" in r for r in records)]
    if not shown:
        raise ValueError(f"plot_history: none of {list(metrics)} is in the history")
    fig = new_figure(5.0 * len(shown), 3.8)
    for i, metric in enumerate(shown):
        ax = fig.add_subplot(1, len(shown), i + 1)
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            xs = [r.get("epoch", j + 1) for j, r in enumerate(records) if key in r]
            ys = [r[key] for r in records if key in r]
            if ys:
                ax.plot(xs, ys, style, label="validation" if key.startswith("val_") else "train")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return save(fig, path)


# -- parameters and activations ------------------------------------------------------------------------
def plot_weight_histograms(
    model: Any, path: PathLike = None, bins: int = 30, title: str | None = None
) -> Figure:
    """A histogram of every trainable array of ``model`` (one panel each: "0.W", "0.b", ...)."""
    params = [(p.name, _to_host(p.value)) for p in model.parameters()]
    if not params:
        raise ValueError("plot_weight_histograms: the model has no parameters")
    rows, cols = _grid(len(params), 4)
    fig = new_figure(3.2 * cols, 2.6 * rows)
    for i, (name, value) in enumerate(params):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.hist(value.ravel(), bins=bins, color="tab:blue" if value.ndim >= 2 else "tab:orange")
        ax.set_title(f"{name} {tuple(value.shape)}", fontsize=9)
    fig.suptitle(title or "parameter histograms")
    fig.tight_layout()
    return save(fig, path)


def layer_activations(model: Any, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Runs ``x`` through a Sequential-style model (``model.layers``) in eval mode and returns each
    layer's output, labelled "index: Layer(...)". The model's mode is restored afterwards."""
    layers = getattr(model, "layers", None)
    if layers is None:
        raise TypeError("layer_activations: expected a model with a .layers list (e.g. Sequential)")
    was_training = getattr(model, "training", False)
    model.eval()
    outs = []
    try:
        for i, layer in enumerate(layers):
            x = layer(x)
            outs.append((f"{i}: {layer!r}".split("\n")[0], _to_host(x)))
    finally:
        model.train(was_training)
    return outs


def plot_activation_histograms(
    model: Any,
    x: np.ndarray,
    path: PathLike = None,
    bins: int = 30,
    only: tuple[type, ...] | None = None,
    title: str | None = None,
) -> Figure:
    """Histograms of each layer's output for the batch ``x`` (restrict to layer types with ``only``).

    Saturated sigmoids pile up at 0 and 1; dead ReLUs show a spike at 0.
    """
    acts = layer_activations(model, x)
    if only is not None:
        acts = [(n, a) for (n, a), layer in zip(acts, model.layers) if isinstance(layer, only)]
    if not acts:
        raise ValueError("plot_activation_histograms: no layer outputs to show")
    rows, cols = _grid(len(acts), 4)
    fig = new_figure(3.2 * cols, 2.6 * rows)
    for i, (name, a) in enumerate(acts):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.hist(a.ravel(), bins=bins, color="tab:green")
        ax.set_title(name if len(name) < 32 else name[:29] + "...", fontsize=8)
    fig.suptitle(title or "activation histograms")
    fig.tight_layout()
    return save(fig, path)


# -- predictions -----------------------------------------------------------------------------------------
def _as_images(images: np.ndarray) -> np.ndarray:
    """(N, H, W), (N, 1, H, W), (N, 3, H, W) or flat square (N, D) -> (N, H, W) or (N, H, W, 3)."""
    a = _to_host(images)
    if a.ndim == 2:
        side = math.isqrt(a.shape[1])
        if side * side != a.shape[1]:
            raise ValueError(f"plot_image_grid: flat images need a square size, got (N, {a.shape[1]})")
        return a.reshape(-1, side, side)
    if a.ndim == 4:
        if a.shape[1] == 1:
            return a[:, 0]
        if a.shape[1] == 3:
            return a.transpose(0, 2, 3, 1)
    if a.ndim == 3:
        return a
    raise ValueError(f"plot_image_grid: expected (N, H, W), (N, C, H, W) or (N, D), got {a.shape}")


def plot_image_grid(
    images: np.ndarray,
    true: Sequence[Any] | np.ndarray | None = None,
    pred: Sequence[Any] | np.ndarray | None = None,
    path: PathLike = None,
    ncols: int = 8,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """A grid of images captioned "pred / true"; wrong predictions are captioned in red."""
    imgs = _as_images(images)
    n = len(imgs)
    if n == 0:
        raise ValueError("plot_image_grid: got no images")

    def name(c: Any) -> str:
        return str(class_names[int(c)]) if class_names is not None else str(c)

    rows, cols = _grid(n, ncols)
    fig = new_figure(1.4 * cols, 1.6 * rows)
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        img = imgs[i]
        if img.ndim == 3 and img.dtype.kind == "f":
            img = np.clip(img, 0, 1)
        ax.imshow(img, cmap="gray_r" if img.ndim == 2 else None, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if pred is not None and true is not None:
            ok = int(pred[i]) == int(true[i])
            ax.set_title(f"{name(pred[i])} / {name(true[i])}", fontsize=8, color="black" if ok else "red")
        elif true is not None:
            ax.set_title(name(true[i]), fontsize=8)
        elif pred is not None:
            ax.set_title(name(pred[i]), fontsize=8)
    fig.suptitle(title or ("predicted / true" if pred is not None and true is not None else "images"))
    fig.tight_layout()
    return save(fig, path)


def confusion_matrix(true: Any, pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts (num_classes, num_classes): row = true class, column = predicted class."""
    t = _to_host(true).astype(np.int64).ravel()
    p = _to_host(pred).astype(np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"confusion_matrix: {t.size} true labels but {p.size} predictions")
    if t.size and (t.min() < 0 or p.min() < 0):
        raise ValueError("confusion_matrix: labels must be non-negative integers")
    k = num_classes if num_classes is not None else int(max(t.max(initial=-1), p.max(initial=-1)) + 1)
    if t.size and max(t.max(), p.max()) >= k:
        raise ValueError(f"confusion_matrix: a label is >= num_classes={k}")
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def plot_confusion_matrix(
    true: Any,
    pred: Any,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    path: PathLike = None,
    title: str | None = None,
) -> Figure:
    """The confusion matrix as a heat map with the count written in each cell."""
    cm = confusion_matrix(true, pred, num_classes)
    k = cm.shape[0]
    size = max(3.5, 0.55 * k + 2)
    fig = new_figure(size, size)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    labels = [str(c) for c in (class_names if class_names is not None else range(k))]
    ax.set_xticks(range(k), labels, rotation=45, ha="right")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                str(cm[i, j]),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if cm[i, j] > threshold else "black",
            )
    acc = np.trace(cm) / cm.sum() if cm.sum() else float("nan")
    ax.set_title(title or f"confusion matrix (accuracy {acc:.3f})")
    return save(fig, path)


# -- gradients -------------------------------------------------------------------------------------------
def grad_norms(model: Any, weights_only: bool = True) -> dict[str, float]:
    """L2 norm of each parameter's current gradient, by parameter name (weight matrices only by default)."""
    out = {}
    for p in model.parameters():
        g = _to_host(p.grad)
        if weights_only and g.ndim < 2:
            continue
        out[p.name] = float(np.sqrt((g.astype(np.float64) ** 2).sum()))
    return out


def plot_grad_norms(
    norms: Mapping[str, float] | Mapping[str, Sequence[float]],
    path: PathLike = None,
    log: bool = True,
    title: str | None = None,
    xlabel: str = "step",
) -> Figure:
    """Per-layer gradient norms: a bar per layer for one snapshot ({name: norm}), or one line per layer
    over training ({name: [norm at each logged step]}). Log scale by default, since vanishing gradients
    span orders of magnitude."""
    if not norms:
        raise ValueError("plot_grad_norms: got no norms")
    names = list(norms)
    first = norms[names[0]]
    fig = new_figure(max(5.0, 0.6 * len(names) + 2), 3.8)
    ax = fig.add_subplot(1, 1, 1)
    if np.ndim(first) == 0:
        values = np.array([float(norms[n]) for n in names])
        ax.bar(range(len(names)), values, color="tab:purple")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_xlabel("layer (input side on the left)")
    else:
        cmap = _cmap(len(names))
        for i, n in enumerate(names):
            ax.plot(np.asarray(norms[n], dtype=float), label=n, color=cmap[i])
        ax.set_xlabel(xlabel)
        ax.legend(fontsize=7, ncol=2)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel("gradient L2 norm")
    ax.grid(alpha=0.3)
    ax.set_title(title or "per-layer gradient norms")
    return save(fig, path)


def _cmap(n: int) -> list:
    from matplotlib import colormaps

    cm = colormaps["viridis"]
    return [cm(i / max(1, n - 1)) for i in range(n)]
