"""Plumbing every chapter shares: command line, output folder, data access, training loop, the final table.

A chapter calls ``args = setup("ch02_linear_regression", __doc__)`` and gets ``args.quick`` (a small, fast
run for CI) and ``args.out`` (a ``Path``, created, default ``chapters/out/<chapter>``). Figures go through
``scratchnet.plotting`` (Agg backend, no display needed). At the end ``report(rows)`` prints the
"course reports vs we get" table (rows of 4 cells, or 5 with the recipe), and ``write_results`` saves it
with the command line and the wall time as ``<out>/results.md``.

Helpers a few chapters share: figures (``panels``, ``finish``, ``picture_grid``), ``lst`` (arrays as nested
lists), measuring (``layer_step``, ``median_ms``, ``relative_errors``), pictures (``convolve_symmetric``,
``upscale``, ``generated_picture``, ``mnist_digit``) and ``LayerCalc``, a layer-size calculator (shapes,
parameters, multiply-adds).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: chapters run headless

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # lets `python chapters/chXX.py` run from a source checkout
    sys.path.insert(0, str(REPO))

import scratchnet  # noqa: E402
from scratchnet.arguments import resolve_padding  # noqa: E402
from scratchnet.maths.im2col import output_size  # noqa: E402
from scratchnet.maths.signal import convolve2d  # noqa: E402
from scratchnet.plotting import new_figure, save  # noqa: E402


def setup(
    name: str,
    doc: str | None = None,
    argv: Sequence[str] | None = None,
    options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """Parses ``--quick``, ``--out``, ``--seed`` and the chapter's own ``options`` (a function adding
    arguments to the parser), creates the output folder, seeds the library, prints the title."""
    parser = argparse.ArgumentParser(
        prog=f"{name}.py",
        description=(doc or "").strip().splitlines()[0] if doc else None,
    )
    parser.add_argument("--quick", action="store_true", help="small, fast run (a few seconds, for CI)")
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE / "out" / name,
        help="folder for figures (default chapters/out/<name>)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for every random draw (default 0)")
    if options is not None:
        options(parser)
    args = parser.parse_args(argv)
    args.out = Path(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    args.name = name
    args.command = " ".join(
        shlex.quote(a) for a in ["python", f"chapters/{name}.py", *(argv or sys.argv[1:])]
    )
    args.started = time.perf_counter()
    scratchnet.seed(args.seed)
    print(f"== {name}{'  (quick run)' if args.quick else ''} -> figures in {args.out}")
    return args


def section(title: str) -> None:
    print(f"\n-- {title} " + "-" * max(0, 70 - len(title)))


def fmt(value: Any, digits: int = 4) -> str:
    """Compact text for numbers, arrays and lists (table cells)."""
    if isinstance(value, str):
        return value
    if isinstance(value, float | np.floating):
        return f"{float(value):.{digits}g}"
    if isinstance(value, np.ndarray | list | tuple):
        arr = np.asarray(value)
        if arr.dtype.kind in "iub":
            return np.array2string(arr, separator=",").replace("\n ", "").replace("\n", "")
        return (
            np.array2string(arr, precision=digits, separator=",", suppress_small=True)
            .replace("\n ", "")
            .replace("\n", "")
        )
    return str(value)


def report(rows: Sequence[Sequence[Any]], title: str = "course vs scratchnet") -> str:
    """Prints rows of (what, course reports, we get, data[, recipe]) as an aligned table; returns the text.

    The recipe column appears when any row has a fifth cell."""
    header: tuple[str, ...] = ("what", "course reports", "we get", "data")
    if any(len(row) > 4 for row in rows):
        header += ("recipe",)
    ncol = len(header)
    cells = [header] + [tuple(fmt(c) for c in row) + ("",) * (ncol - len(row)) for row in rows]
    widths = [min(60, max(len(r[i]) for r in cells)) for i in range(ncol)]
    lines = [f"\n== {title}"]
    for i, row in enumerate(cells):
        lines.append(" | ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append("-+-".join("-" * w for w in widths))
    text = "\n".join(lines)
    print(text)
    return text


def notes(*lines: str) -> str:
    """Prints the chapter's remarks (course misprints, where our result differs and why); returns the text."""
    text = "\nnotes:\n" + "\n".join(f"  * {line}" for line in lines)
    print(text)
    return text


def write_results(args: argparse.Namespace, *blocks: str, folder: Path | None = None) -> Path:
    """Saves the chapter's final table and notes as ``results.md`` (in ``folder``, default ``args.out``), headed
    by the command that produced them and the wall time so far."""
    wall = time.perf_counter() - getattr(args, "started", time.perf_counter())
    path = Path(folder or args.out) / "results.md"
    body = "\n".join(b.strip("\n") for b in blocks)
    path.write_text(
        f"# {args.name}\n\ncommand: `{getattr(args, 'command', args.name)}`  \n"
        f"wall time: {wall / 60:.1f} min ({wall:.0f} s)\n\n```\n{body}\n```\n"
    )
    print(f"results: {path} (wall time {wall / 60:.1f} min)")
    return path


# -- data ------------------------------------------------------------------------------------------------
def data_dir() -> Path | None:
    """Where the real data files are: ``$SCRATCHNET_DATA``, else the project's sibling ``../shared/datasets``
    when it exists, else None (loaders then use their cache, a download or the embedded copy)."""
    env = os.environ.get("SCRATCHNET_DATA")
    if env:
        return Path(env)
    if os.environ.get("SCRATCHNET_NO_SIBLING_DATA"):  # tests of the embedded fallback
        return None
    sibling = REPO.parent / "shared" / "datasets"
    return sibling if sibling.is_dir() else None


def load(name: str, **kwargs: Any) -> Any:
    """A data set through its ``scratchnet.datasets`` loader (``load("iris")`` -> ``load_iris(...)``).

    Returns the loader's ``Dataset`` (unpacks as ``x, y``); prints where the data came from.
    """
    import scratchnet.datasets as ds

    loader: Callable[..., Any] | None = getattr(ds, f"load_{name}", None)
    if loader is None:
        raise ValueError(f"no loader scratchnet.datasets.load_{name}")
    directory = data_dir()
    if directory is not None and directory.is_dir():
        kwargs.setdefault("data_dir", directory)
    data = loader(**kwargs)
    where = getattr(data, "path", None) or getattr(data, "source", "?")
    shape = tuple(data.x.shape) if hasattr(data, "x") else f"{len(data.ids)} tokens"
    print(f"data: {name} {shape} from {where} ({getattr(data, 'source', '?')})")
    return data


@dataclass
class Digits:
    """MNIST for the course's labs: float32 images in [0, 1] (flat (N, 784) or (N, 1, 28, 28)), int64 labels.

    ``full`` is False when full MNIST was not found and the 5k subset stands in; ``label`` names what was
    used (every table row carries it)."""

    x_tr: np.ndarray
    y_tr: np.ndarray
    x_te: np.ndarray
    y_te: np.ndarray
    label: str
    full: bool
    source: str

    def subset(self, n_train: int, n_test: int, seed: int = 0) -> Digits:
        """A random subset (sorted indices, so the original order is kept), labelled as such."""
        if n_train >= len(self.x_tr) and n_test >= len(self.x_te):
            return self
        rng = np.random.default_rng(seed)
        tr = np.sort(rng.permutation(len(self.x_tr))[:n_train])
        te = np.sort(rng.permutation(len(self.x_te))[:n_test])
        base, _, remark = self.label.partition(" (")
        return Digits(
            self.x_tr[tr],
            self.y_tr[tr],
            self.x_te[te],
            self.y_te[te],
            f"{base}, subset {len(tr)}/{len(te)}" + (f" ({remark}" if remark else ""),
            self.full,
            self.source,
        )


TF_VALIDATION = 5000  # TensorFlow's input_data holds out the first 5,000 training images for validation


def load_course_mnist(flatten: bool = True, seed: int = 0, tf_split: bool = True) -> Digits:
    """MNIST as the course's TensorFlow labs saw it, or the 5k subset when full MNIST is not to be had.

    Full MNIST (data folder, cache or download): with ``tf_split`` the training set is the 55,000 images
    TensorFlow's ``input_data.read_data_sets`` trains on (the first 5,000 are its validation set), so an
    epoch is the course's 550 batches of 100; the test set is all 10,000. Otherwise the embedded 5,000-digit
    subset split 4,000/1,000 with ``seed``, announced on stdout and named in ``label``.
    """
    from scratchnet.datasets import load_mnist_with_fallback

    directory = data_dir()
    directory = directory if directory is not None and directory.is_dir() else None
    tr, te = load_mnist_with_fallback(flatten=flatten, normalize=True, seed=seed, data_dir=directory)
    x_tr, y_tr = tr.x, tr.y.astype(np.int64)
    x_te, y_te = te.x, te.y.astype(np.int64)
    if not flatten:
        x_tr, x_te = x_tr.reshape(-1, 1, 28, 28), x_te.reshape(-1, 1, 28, 28)
    full = not tr.name.startswith("mnist_5k")
    where = tr.path or tr.source
    if full and tf_split:
        x_tr, y_tr = x_tr[TF_VALIDATION:], y_tr[TF_VALIDATION:]
        label = f"MNIST {len(x_tr) // 1000}k/{len(x_te) // 1000}k"
        print(
            f"data: full MNIST from {where}: training on the {len(x_tr):,} images TensorFlow's input_data "
            f"trains on (first {TF_VALIDATION:,} held out, as in the course), testing on {len(x_te):,}"
        )
    elif full:
        label = f"MNIST {len(x_tr) // 1000}k/{len(x_te) // 1000}k"
        print(f"data: full MNIST from {where}: train {len(x_tr):,}, test {len(x_te):,}")
    else:
        label = f"MNIST 5k subset {len(x_tr)}/{len(x_te)} (full MNIST not found)"
        print(
            f"data: NOTE full MNIST was not found (set SCRATCHNET_DATA to a folder with mnist/*-ubyte.gz); "
            f"using the 5,000-digit subset from {where} ({tr.source}), split {len(x_tr)}/{len(x_te)}; "
            "the course's figures are on full MNIST"
        )
    return Digits(x_tr, y_tr, x_te, y_te, label, full, tr.source)


# -- training --------------------------------------------------------------------------------------------
def gd_loop(
    model: Any,
    loss: Any,
    optimizer: Any,
    x: np.ndarray,
    y: np.ndarray,
    steps: int,
    log_every: int = 0,
    metric: Callable[[np.ndarray, np.ndarray], float] | None = None,
    on_log: Callable[[int, float, float | None], None] | None = None,
) -> list[dict[str, float]]:
    """Full-batch gradient descent as the course's labs run it: ``steps`` updates on all of (x, y).

    Each step is ``Trainer.train_step`` (forward, loss, backward, optimizer step). Every ``log_every``
    steps (and at the last one) it records the loss (and ``metric``) *before* that step's update, and
    prints the row unless ``on_log`` handles it. Returns the rows (usable as a ``History``'s records).
    """
    trainer = scratchnet.Trainer(model, loss, optimizer, metrics=())
    rows = []
    for step in range(steps):
        value, pred = trainer.train_step(x, y)
        if log_every and (step % log_every == 0 or step == steps - 1):
            m = metric(pred, y) if metric is not None else None
            row = {"epoch": step, "loss": value}
            if m is not None:
                row["accuracy"] = m
            rows.append(row)
            if on_log is not None:
                on_log(step, value, m)
    return rows


def savefig(fig: Any, args: argparse.Namespace, filename: str) -> Path:
    """Saves a Figure into the chapter's output folder; returns the path."""
    path = Path(args.out) / filename
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"figure: {path}")
    return path


def panels(n: int, width: float, height: float) -> tuple[Any, list[Any]]:
    """A new figure with ``n`` panels side by side, and their axes."""
    fig = new_figure(width, height)
    return fig, [fig.add_subplot(1, n, k + 1) for k in range(n)]


def finish(
    fig: Any,
    axes: Sequence[Any],
    path: Path,
    title: str,
    ylabels: Sequence[str] = (),
    xlabel: str = "epoch",
    legend: int | None = None,
) -> Path:
    """Labels and grids every panel, adds legends (all panels, or only panel ``legend``), titles the figure
    and saves it to ``path``; returns the path."""
    for i, (ax, ylabel) in enumerate(zip(axes, ylabels)):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if legend is None or legend == i:
            ax.legend(fontsize=7 if legend is not None else None)
    fig.suptitle(title)
    fig.tight_layout()
    save(fig, path)
    print(f"figure: {path}")
    return path


def picture_grid(
    args: argparse.Namespace, filename: str, size: tuple[float, float], title: str, grid: Sequence[Sequence]
) -> Path:
    """Saves rows of (caption, image) panels, in grey, as one figure in the chapter's output folder."""
    fig = new_figure(*size)
    for r, images in enumerate(grid):
        for j, (caption, img) in enumerate(images):
            ax = fig.add_subplot(len(grid), len(images), r * len(images) + j + 1)
            ax.imshow(img, cmap="gray", interpolation="nearest")
            ax.set_title(caption, fontsize=8)
            ax.set(xticks=[], yticks=[])
    fig.suptitle(title)
    return savefig(fig, args, filename)


def lst(a: Any) -> str:
    """An array as a Python-style nested list, integers without a trailing '.0'."""
    a = np.asarray(a)
    if a.dtype.kind == "f" and np.all(a == np.round(a)):
        a = a.astype(np.int64)
    return str(a.tolist())


def median_ms(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median wall time (ms) of each call over ``repeats`` rounds; every round calls them all in turn, so a
    busy moment of the machine hits all alike."""
    times: dict[str, list[float]] = {label: [] for label in calls}
    for _ in range(repeats):
        for label, call in calls.items():
            start = time.perf_counter()
            call()
            times[label].append(time.perf_counter() - start)
    return {label: 1000 * float(np.median(t)) for label, t in times.items()}


def layer_step(
    layer: Any, x: np.ndarray, dout: np.ndarray, reference: bool = False
) -> tuple[np.ndarray, ...]:
    """One forward + backward of a layer with weights ``W`` (``layer(x)``, ``layer.backprop(dout)``), on
    scratchnet's NumPy reference code (``reference=True``) or its fast kernels; returns (y, dx, dW)."""
    with scratchnet.backend.reference(reference):
        y = layer(x)
        dx = layer.backprop(dout)
    return y, dx, layer.grads["W"]


def relative_errors(got: Sequence[np.ndarray], ref: Sequence[np.ndarray]) -> list[float]:
    """max |a - ref| / max |ref| for each pair: the error relative to the largest value of the reference."""
    return [float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max()) for a, b in zip(got, ref)]


# -- pictures --------------------------------------------------------------------------------------------
def convolve_symmetric(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """'same'-size 2-D convolution with the border mirrored (scipy's boundary='symm'), built from 'valid':
    extending the picture by its own reflection avoids the dark frame zero padding would draw."""
    (kh, kw), top, left = k.shape, (k.shape[0] - 1) // 2, (k.shape[1] - 1) // 2
    padded = np.pad(img, ((top, kh - 1 - top), (left, kw - 1 - left)), mode="symmetric")
    return convolve2d(padded, k, mode="valid")


def generated_picture(n: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """A grey n x n test picture with flat regions, straight and curved edges on a brightness ramp (0..255);
    also returns the mask of pixels whose whole 3x3 neighbourhood is ramp (away from the border)."""
    yy, xx = np.mgrid[0:n, 0:n] / n
    ramp = 60 + 80 * xx  # a soft left-to-right ramp: the Laplacian of a linear ramp is zero
    img = ramp.copy()
    img[(xx - 0.32) ** 2 + (yy - 0.35) ** 2 < 0.04] = 230  # a disc
    img[(yy > 0.6) & (yy < 0.85) & (xx > 0.5) & (xx < 0.9)] = 20  # a dark rectangle
    img[np.abs(yy - (0.9 - 0.5 * xx)) < 0.015] = 255  # a thin diagonal line
    inside = convolve2d((img == ramp).astype(np.float64), np.ones((3, 3)), mode="same") == 9
    inside[[0, -1], :] = inside[:, [0, -1]] = False  # mirrored borders bend the ramp
    return img, inside


def mnist_digit(label: int) -> tuple[np.ndarray, str]:
    """The first ``label`` of the 5,000-digit MNIST subset (28x28, float64, 0..255) and what it is."""
    from scratchnet.datasets import load_mnist_5k

    ds = load_mnist_5k(data_dir=data_dir())
    idx = int(np.flatnonzero(ds.y == label)[0])
    print(f"data: mnist_5k image #{idx} (label {label}) from {ds.path or ds.source} ({ds.source})")
    return ds.x[idx].astype(np.float64), f"MNIST 5k #{idx} ({ds.source})"


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Bilinear upscaling of a 2-D picture by an integer factor (float64)."""
    h, w = img.shape
    ys, xs = np.linspace(0, h - 1, h * factor), np.linspace(0, w - 1, w * factor)
    y0, x0 = np.floor(ys).astype(int).clip(0, h - 2), np.floor(xs).astype(int).clip(0, w - 2)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a, b, c, d = img[y0][:, x0], img[y0][:, x0 + 1], img[y0 + 1][:, x0], img[y0 + 1][:, x0 + 1]
    out = a * (1 - fy) * (1 - fx) + b * (1 - fy) * fx + c * fy * (1 - fx) + d * fy * fx
    return out.astype(np.float64)


# -- layer-size calculator -----------------------------------------------------------------------------------
def volume(shape: tuple[int, ...]) -> str:
    """(C, H, W) written as the courses write volumes, HxWxC; a flat (n,) as n."""
    return f"{shape[1]}x{shape[2]}x{shape[0]}" if len(shape) == 3 else str(shape[0])


class LayerCalc:
    """Walks a (C, H, W) volume (or a flat vector) through layers by the size formulas of scratchnet's
    layers (``Conv2D.output_shape``...); records each layer's output shape (and ``volume`` text),
    parameters and multiply-adds.

    Every method adds one layer and returns the calculator, so calls chain: ``c.conv(...).pool(...)``.
    """

    def __init__(self, name: str, c: int, h: int, w: int) -> None:
        self.name = name
        self.shape: tuple[int, ...] = (c, h, w)
        self.rows: list[dict[str, Any]] = []
        self.add("input", self.shape)

    def add(self, layer: str, shape: tuple[int, ...], params: int = 0, macs: int = 0) -> LayerCalc:
        self.shape = shape
        self.rows.append(
            {
                "layer": layer,
                "shape": shape,
                "volume": volume(shape),
                "params": int(params),
                "macs": int(macs),
            }
        )
        return self

    def window(self, k: int, stride: int, pad: Any) -> tuple[int, int]:
        """Output height and width of a k x k window (int, pair or 'same'/'valid' padding)."""
        _, h, w = self.shape
        p = resolve_padding(pad, h, w, k, k, (stride, stride))
        return output_size(h, w, k, k, stride, p)

    def conv(
        self, layer: str, out: int, k: int, stride: int = 1, pad: Any = 0, bias: bool = True
    ) -> LayerCalc:
        oh, ow = self.window(k, stride, pad)
        weights = out * self.shape[0] * k * k
        return self.add(layer, (out, oh, ow), weights + (out if bias else 0), weights * oh * ow)

    def pool(self, layer: str, k: int, stride: int, pad: Any = 0) -> LayerCalc:
        oh, ow = self.window(k, stride, pad)
        return self.add(layer, (self.shape[0], oh, ow))

    def same(self, layer: str, params: int = 0) -> LayerCalc:
        """A layer that keeps the shape (LRN, ReLU, dropout, ...)."""
        return self.add(layer, self.shape, params)

    def bn(self, layer: str) -> LayerCalc:
        return self.same(layer, 2 * self.shape[0])  # gamma and beta per channel

    def gap(self, layer: str = "global avg pool") -> LayerCalc:
        return self.add(layer, (self.shape[0],))

    def fc(self, layer: str, out: int, bias: bool = True) -> LayerCalc:
        n_in = math.prod(self.shape)
        return self.add(layer, (out,), n_in * out + (out if bias else 0), n_in * out)

    def inception(self, layer: str, c1: int, c3r: int, c3: int, c5r: int, c5: int, pp: int) -> LayerCalc:
        """GoogLeNet module (``scratchnet.layers.InceptionBlock``): weights only, as the paper counts them."""
        cin, h, w = self.shape
        weights = cin * c1 + cin * c3r + c3r * 9 * c3 + cin * c5r + c5r * 25 * c5 + cin * pp
        return self.add(layer, (c1 + c3 + c5 + pp, h, w), weights, weights * h * w)

    def basic_block(self, layer: str, out: int, stride: int = 1) -> LayerCalc:
        """ResNet basic block (``scratchnet.layers.ResidualBlock``): two 3x3 convs (no bias) each with BN,
        plus a 1x1 projection + BN on the shortcut when the shape changes."""
        cin, (oh, ow) = self.shape[0], self.window(3, stride, 1)
        projection = stride != 1 or cin != out
        weights = out * cin * 9 + out * out * 9 + (out * cin if projection else 0)
        bn = 2 * out * (3 if projection else 2)
        return self.add(layer, (out, oh, ow), weights + bn, weights * oh * ow)

    def row(self, layer: str) -> dict[str, Any]:
        return next(r for r in self.rows if r["layer"] == layer)

    @property
    def total_params(self) -> int:
        return sum(r["params"] for r in self.rows)

    @property
    def total_macs(self) -> int:
        return sum(r["macs"] for r in self.rows)

    def print(self) -> None:
        print(f"  {self.name}")
        print(f"  {'layer':<34} {'output':>16} {'params':>13} {'mult-adds':>15}")
        for r in self.rows:
            print(f"  {r['layer']:<34} {r['volume']:>16} {r['params']:>13,} {r['macs']:>15,}")
        print(f"  {'total':<34} {'':>16} {self.total_params:>13,} {self.total_macs:>15,}")
