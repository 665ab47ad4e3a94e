"""One training epoch end to end: ``Trainer.fit`` against the loop a PyTorch user writes, quiet and beside a
busy process.

    python benchmarks/compare_epoch.py [--quick] [--threads 2] [--samples 20000]

The course's CNN (``bench_training.course_cnn``) trains one epoch on ``--samples`` MNIST training digits in
batches of 100 with Adam: scratchnet through ``Trainer(...).fit(x, y, epochs=1, batch_size=100, verbose=0)``
(shuffling, slicing, forward, loss, backward, update, the epoch's bookkeeping), PyTorch through the idiomatic
loop (``torch.randperm``, slicing, ``cross_entropy``, ``backward``, ``Adam.step``), both from the same initial
weights. Each epoch is timed in turns (``common.interleaved_times``, medians); then again while another
process spins on one core, as happens on a shared machine. The digits come from ``SCRATCHNET_DATA`` (the full
MNIST training set); without it from random images of the same shape, which the output says: the course
CNN's second convolution picks its algorithm per call from the data, so real digits are the fair case.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _threads_from_argv() -> str:
    argv = sys.argv
    return argv[argv.index("--threads") + 1] if "--threads" in argv[:-1] else "2"


for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads_from_argv()

import numpy as np  # noqa: E402

sys.path.insert(0, str(HERE.parent))
import scratchnet as sn  # noqa: E402
import scratchnet.datasets  # noqa: E402,F401
from benchmarks.bench_training import course_cnn  # noqa: E402
from benchmarks.common import interleaved_times  # noqa: E402
from benchmarks.compare import torch_twin  # noqa: E402
from scratchnet import backend  # noqa: E402
from scratchnet.losses import SoftmaxCrossEntropy  # noqa: E402


def digits(n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` training digits (N, 1, 28, 28) float32 in [0, 1] and their labels, and where they came from."""
    try:
        data = sn.datasets.load_mnist("train", as_images=True, download=False)
        return data.x[:n], data.y[:n].astype(np.int64), f"MNIST training digits 1-{n:,}"
    except (sn.datasets.DatasetNotFoundError, OSError):
        rng = np.random.default_rng(0)
        x = rng.random((n, 1, 28, 28), dtype=np.float32)
        return x, rng.integers(0, 10, n), f"{n:,} random images (MNIST not found: set SCRATCHNET_DATA)"


def epochs(torch, x: np.ndarray, y: np.ndarray) -> dict:
    """A function per library that trains one more epoch of its own model."""
    sn.seed(0)
    model = course_cnn()
    trainer = sn.Trainer(model, SoftmaxCrossEntropy(), sn.optim.Adam(model.parameters()), metrics=[], seed=0)
    fns = {"scratchnet": lambda: trainer.fit(x, y, epochs=1, batch_size=100, verbose=0)}
    if torch is not None:
        sn.seed(0)
        net = torch_twin(torch, course_cnn())
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        generator = torch.Generator().manual_seed(0)

        def torch_epoch():
            perm = torch.randperm(len(xt), generator=generator)
            for start in range(0, len(xt), 100):
                idx = perm[start : start + 100]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
                opt.step()

        fns["torch"] = torch_epoch
    return fns


def measure(fns: dict, repeats: int) -> dict:
    times = interleaved_times(fns, repeats, warmup=1, settle=0.0)
    return {name: float(np.median(ts)) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="2,000 digits, one timed epoch each: a smoke run"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples", type=int, default=20_000)
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    backend.set_num_threads(args.threads)
    n = 2_000 if args.quick else args.samples
    repeats = 1 if args.quick else 3
    x, y, source = digits(n)
    print(
        f"threads={args.threads}; one epoch, batches of 100, Adam; {source}; torch {torch.__version__ if torch else 'absent'}\n"
    )
    print("| case | scratchnet s | torch s | scratchnet/torch |")
    print("|---|---:|---:|---:|")
    for label, busy in (("quiet", False), ("beside a busy process", True)):
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            t = measure(epochs(torch, x, y), repeats)
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
        ours, theirs = t["scratchnet"], t.get("torch")
        ratio = "-" if theirs is None else f"{ours / theirs:.2f}x"
        torch_cell = "-" if theirs is None else f"{theirs:.2f}"
        print(
            f"| course CNN epoch, Trainer.fit vs PyTorch loop, {label} | {ours:.2f} | {torch_cell} | {ratio} |"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
