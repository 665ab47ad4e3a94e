"""Plumbing every chapter shares: command line, output folder, data access, training loop, the final table.

A chapter calls ``args = setup("ch02_linear_regression", __doc__)`` and gets ``args.quick`` (a small, fast
run for CI) and ``args.out`` (a ``Path``, created, default ``chapters/out/<chapter>``). Figures go through
``scratchnet.plotting`` (Agg backend, no display needed). At the end ``report(rows)`` prints the
"course reports vs we get" table (rows of 4 cells, or 5 with the recipe), and ``write_results`` saves it
with the command line and the wall time as ``<out>/results.md``.
"""

from __future__ import annotations

import argparse
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
