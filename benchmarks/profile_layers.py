"""Where a training step's time goes: forward and backward of each layer of the course's MNIST CNN, timed
one call at a time (medians), the first layer's backward as a training step runs it (``backward_params``).

    python benchmarks/profile_layers.py [--threads 2] [--repeats 30] [--batch 100]

The per-layer sum is a little below a whole ``Trainer.train_step`` (no loss, no optimizer); use
``compare.py`` for ratios against PyTorch. Each call is timed alone, so a layer that leaves OpenBLAS's threads
spinning shows up in the next layer's figure.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import course_cnn  # noqa: E402

from scratchnet import backend  # noqa: E402


def profile(model, x: np.ndarray, repeats: int) -> list[tuple[str, float, float]]:
    """(layer, forward ms, backward ms) medians over ``repeats`` steps after two untimed ones."""
    layers = model.layers
    times = {(kind, i): [] for kind in "fb" for i in range(len(layers))}
    for _ in range(repeats + 2):
        h = x
        for i, layer in enumerate(layers):
            start = time.perf_counter()
            h = layer(h)
            times[("f", i)].append(time.perf_counter() - start)
        d = np.full_like(h, 1.0 / h.size)
        for i in reversed(range(len(layers))):
            start = time.perf_counter()
            d = layers[i].backprop(d) if i else layers[i].backprop(d, params_only=True)
            times[("b", i)].append(time.perf_counter() - start)
    return [
        (
            repr(layer),
            1e3 * float(np.median(times[("f", i)][2:])),
            1e3 * float(np.median(times[("b", i)][2:])),
        )
        for i, layer in enumerate(layers)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    backend.set_num_threads(args.threads)
    x = np.random.default_rng(0).random((args.batch, 1, 28, 28), dtype=np.float32)
    rows = profile(course_cnn(), x, args.repeats)
    print(
        f"course CNN, batch {args.batch}, threads {args.threads}, medians of {args.repeats}; {backend.info()}\n"
    )
    print("| layer | forward ms | backward ms |\n|---|---:|---:|")
    for name, fwd, bwd in rows:
        print(f"| {name} | {fwd:.2f} | {bwd:.2f} |")
    print(f"| total | {sum(r[1] for r in rows):.2f} | {sum(r[2] for r in rows):.2f} |")


if __name__ == "__main__":
    main()
