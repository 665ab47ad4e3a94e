"""Plumbing every chapter shares: command line, output folder, data access, training loop, the final table.

A chapter calls ``args = setup("ch02_linear_regression", __doc__)`` and gets ``args.quick`` (a small, fast
run for CI) and ``args.out`` (a ``Path``, created, default ``chapters/out/<chapter>``). Figures go through
``scratchnet.plotting`` (Agg backend, no display needed). At the end ``report(rows)`` prints the
"course reports vs we get" table.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
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
    """Prints rows of (what, course reports, we get, data) as an aligned table; returns the text."""
    header = ("what", "course reports", "we get", "data")
    cells = [header] + [tuple(fmt(c) for c in row) + ("",) * (4 - len(row)) for row in rows]
    widths = [min(60, max(len(r[i]) for r in cells)) for i in range(4)]
    lines = [f"\n== {title}"]
    for i, row in enumerate(cells):
        lines.append(" | ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append("-+-".join("-" * w for w in widths))
    text = "\n".join(lines)
    print(text)
    return text


def notes(*lines: str) -> None:
    """Prints the chapter's remarks (course misprints, where our result differs and why)."""
    print("\nnotes:")
    for line in lines:
        print(f"  * {line}")


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
