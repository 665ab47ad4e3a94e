"""The kernels on oversubscribed and shared cores: the LSTM's time loop (threads that meet at a barrier
every step), forward + backward, at several kernel thread counts.

Usage:  python benchmarks/compare_threads.py [--quick] [--repeats 10]

Two tables (medians of interleaved blocks, ``benchmarks/common.py``):

* oversubscribed: ``set_num_threads(4 x CPUs)`` against the right count (the CPUs this process may use);
  goal: within 1.5x.
* shared: one other process spinning on a core the whole time; 2 threads against 1; goal: 2 no slower.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import interleaved_medians  # noqa: E402
from scratchnet import backend  # noqa: E402
from scratchnet.layers import LSTM  # noqa: E402


def _spin() -> None:  # pragma: no cover - runs in the competing process
    while True:
        pass


def lstm_step(hidden: int, n: int = 20, t: int = 35):
    rng = np.random.default_rng(0)
    layer = LSTM(hidden, hidden, return_sequences=True, rng=rng)
    x = rng.standard_normal((n, t, hidden)).astype(np.float32)
    dout = rng.standard_normal((n, t, hidden)).astype(np.float32)

    def run() -> None:
        layer(x)
        layer.backprop(dout)

    return run


def at_threads(fn, n: int):
    def run() -> None:
        backend.set_num_threads(n)
        fn()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one small shape, few repeats (a smoke run)")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    from scratchnet._kernels import openmp_info

    cpus = openmp_info.available_cpus()
    hiddens = [64] if args.quick else [256, 650]
    repeats = 3 if args.quick else args.repeats
    before = backend.num_threads()
    print(f"usable CPUs: {cpus}; LSTM N=20 T=35, forward + backward, float32 (ms, medians)")
    print(f"{'H':>5} {'right':>8} {'4x':>8} {'4x/right':>9}   {'1 (busy)':>9} {'2 (busy)':>9} {'2/1':>6}")
    for h in hiddens:
        step = lstm_step(h)
        over = interleaved_medians(
            {"right": at_threads(step, cpus), "4x": at_threads(step, 4 * cpus)}, repeats
        )
        spinner = mp.get_context("spawn").Process(target=_spin, daemon=True)
        spinner.start()
        try:
            shared = interleaved_medians({"1": at_threads(step, 1), "2": at_threads(step, 2)}, repeats)
        finally:
            spinner.terminate()
            spinner.join()
        print(
            f"{h:>5} {over['right'] * 1e3:>8.1f} {over['4x'] * 1e3:>8.1f} {over['4x'] / over['right']:>9.2f}"
            f"   {shared['1'] * 1e3:>9.1f} {shared['2'] * 1e3:>9.1f} {shared['2'] / shared['1']:>6.2f}"
        )
    backend.set_num_threads(before)


if __name__ == "__main__":
    main()
