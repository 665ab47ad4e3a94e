"""LSTM / GRU forward+backward: scratchnet against torch.nn on the CPU, same process, same thread count.

Usage:  python benchmarks/compare_rnn.py [--quick] [--threads 2] [--repeats 15]

Both libraries get float32 input (N, T, D), compute every hidden state, then backpropagate a fixed random
upstream gradient to the input and all weights. Timings are medians over interleaved repeats after warm-up;
ratio = scratchnet / torch (below 1 means scratchnet is faster).
"""

from __future__ import annotations

import argparse
import os
import sys

_threads = "2"
for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        _threads = sys.argv[_i + 1]
# BLAS reads these when it loads, so they are set before NumPy is imported
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads

import numpy as np  # noqa: E402

# run from a checkout without installing: the repository root goes first on the path
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import interleaved_times  # noqa: E402
from scratchnet.layers.recurrent import GRU, LSTM  # noqa: E402


def bench(kind: str, n: int, t: int, d: int, h: int, repeats: int) -> tuple[np.ndarray, np.ndarray]:
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, t, d)).astype(np.float32)
    dout = rng.standard_normal((n, t, h)).astype(np.float32)
    ours = (LSTM if kind == "LSTM" else GRU)(d, h, rng=rng)
    theirs = (torch.nn.LSTM if kind == "LSTM" else torch.nn.GRU)(d, h, batch_first=True)
    xt = torch.from_numpy(x).requires_grad_(True)
    dt = torch.from_numpy(dout)

    def run_ours() -> None:
        ours(x)
        ours.backprop(dout)

    def run_torch() -> None:
        theirs.zero_grad(set_to_none=True)
        xt.grad = None
        out, _ = theirs(xt)
        out.backward(dt)

    times = interleaved_times({"ours": run_ours, "torch": run_torch}, repeats)
    return np.array(times["ours"]) * 1e3, np.array(times["torch"]) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("compare_rnn.py needs torch as the reference")
    torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else args.repeats
    configs = [
        ("LSTM", 20, 35, 650, 650),
        ("LSTM", 20, 35, 200, 200),
        ("GRU", 20, 35, 650, 650),
        ("GRU", 20, 35, 200, 200),
    ]
    print(
        f"float32, {args.threads} threads, forward+backward, median of {repeats}; numpy {np.__version__}, "
        f"torch {torch.__version__}"
    )
    print("(min columns: less sensitive to other processes sharing the cores)")
    print(
        f"{'layer':<5} {'N':>3} {'T':>3} {'D':>4} {'H':>4} {'scratchnet ms':>14} {'torch ms':>9} {'ratio':>6}"
        f" {'min ours':>9} {'min torch':>9} {'ratio':>6}"
    )
    for kind, n, t, d, h in configs:
        ours, theirs = bench(kind, n, t, d, h, repeats)
        med_o, med_t = np.median(ours), np.median(theirs)
        print(
            f"{kind:<5} {n:>3} {t:>3} {d:>4} {h:>4} {med_o:>14.1f} {med_t:>9.1f} {med_o / med_t:>6.2f}"
            f" {ours.min():>9.1f} {theirs.min():>9.1f} {ours.min() / theirs.min():>6.2f}"
        )


if __name__ == "__main__":
    main()
