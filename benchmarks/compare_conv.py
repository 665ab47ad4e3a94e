"""Conv2D and MaxPool2D speed: scratchnet (compiled kernels) vs its NumPy twins vs PyTorch CPU.

Runs forward + backward in float32 with 2 threads everywhere (OpenMP kernels, OpenBLAS through NumPy,
PyTorch intra-op) on the course's CNN layer shapes, takes the median over repeats and prints a Markdown
table with the time ratios and GFLOP/s, next to the machine's measured sgemm rate.

    python benchmarks/compare_conv.py            # full run
    python benchmarks/compare_conv.py --quick    # fewer repeats, smaller sgemm probe

Conv FLOPs count the three GEMM-sized products (forward, dW, dx): ``3 * 2 * N*OH*OW * F * C*kh*kw``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np

from scratchnet import backend
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.pooling import MaxPool2D

# (name, N, C_in, C_out, k, H) -- 'same' padding, stride 1
CONV_CASES = [
    ("conv 1->32 5x5 28x28 N=64", 64, 1, 32, 5, 28),
    ("conv 32->64 5x5 14x14 N=64", 64, 32, 64, 5, 14),
    ("conv 64->128 3x3 16x16 N=128", 128, 64, 128, 3, 16),
]
# (name, N, C, H) -- 2x2 max pooling, stride 2 (the pools that follow the convs above)
POOL_CASES = [
    ("maxpool 2x2 32ch 28x28 N=64", 64, 32, 28),
    ("maxpool 2x2 64ch 14x14 N=64", 64, 64, 14),
    ("maxpool 2x2 128ch 16x16 N=128", 128, 128, 16),
]


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    return median_times({"fn": fn}, repeats, warmup)["fn"]


def median_times(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds per call of each function, run round-robin so all see the same machine load."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(ts)) for name, ts in times.items()}


def compiled_step(layer, x: np.ndarray, dout: np.ndarray) -> Callable[[], object]:
    def step():
        backend.use_compiled(True)
        layer.forward(x)
        return layer.backward(dout)

    return step


def sgemm_gflops(n: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    t = median_time(lambda: a @ b, repeats)
    return 2 * n**3 / t / 1e9


def scratch_step(layer, x: np.ndarray, dout: np.ndarray) -> Callable[[], object]:
    def step():
        layer.forward(x)
        return layer.backward(dout)

    return step


def bench_conv(case, repeats: int, torch) -> dict:
    name, n, c, f, k, h = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, h), dtype=np.float32)
    layer = Conv2D(c, f, k, padding="same", rng=rng)
    dout = rng.standard_normal((n, f, h, h), dtype=np.float32)
    row = {"name": name, "flops": 3 * 2 * n * h * h * f * c * k * k}
    fns = {"compiled": compiled_step(layer, x, dout)}
    if torch is not None:
        tx = torch.from_numpy(x).requires_grad_(True)
        tw = torch.from_numpy(layer.params["W"].copy()).requires_grad_(True)
        tb = torch.from_numpy(layer.params["b"].copy()).requires_grad_(True)
        tg = torch.from_numpy(dout)

        def tstep():
            tx.grad = tw.grad = tb.grad = None
            y = torch.nn.functional.conv2d(tx, tw, tb, padding=k // 2)
            y.backward(tg)

        fns["torch"] = tstep
    row.update(median_times(fns, repeats))
    row["twin"] = twin_time(layer, x, dout, repeats)
    return row


def twin_time(layer, x: np.ndarray, dout: np.ndarray, repeats: int) -> float:
    backend.use_compiled(False)
    try:
        return median_time(scratch_step(layer, x, dout), max(3, repeats // 3), warmup=1)
    finally:
        backend.use_compiled(True)


def bench_pool(case, repeats: int, torch) -> dict:
    name, n, c, h = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c, h, h), dtype=np.float32)
    layer = MaxPool2D(2)
    dout = rng.standard_normal((n, c, h // 2, h // 2), dtype=np.float32)
    row = {"name": name, "flops": None}
    fns = {"compiled": compiled_step(layer, x, dout)}
    if torch is not None:
        tx = torch.from_numpy(x).requires_grad_(True)
        tg = torch.from_numpy(dout)

        def tstep():
            tx.grad = None
            torch.nn.functional.max_pool2d(tx, 2).backward(tg)

        fns["torch"] = tstep
    row.update(median_times(fns, repeats))
    row["twin"] = twin_time(layer, x, dout, repeats)
    return row


def bench_kernels(case, repeats: int) -> dict:
    """im2col + col2im alone (no GEMM): where the compiled kernels and the NumPy twin differ."""
    name, n, c, _, k, h = case
    from scratchnet.ops import im2col as twin

    compiled = backend.kernel("im2col")
    x = np.random.default_rng(2).standard_normal((n, c, h, h), dtype=np.float32)
    p = k // 2

    def run(mod):
        def step():
            cols = mod.im2col(x, k, k, 1, p)
            return mod.col2im(cols, x.shape, k, k, 1, p)

        return step

    row = {"name": "im2col+col2im " + name.removeprefix("conv "), "flops": None}
    row.update(median_times({"compiled": run(compiled)}, repeats))
    row["twin"] = median_time(run(twin), max(3, repeats // 3), warmup=1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats and a smaller sgemm probe")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    repeats = 5 if args.quick else 15

    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    backend.set_num_threads(args.threads)

    gemm = sgemm_gflops(1024 if args.quick else 2048, repeats)
    rows = [bench_conv(case, repeats, torch) for case in CONV_CASES]
    rows += [bench_pool(case, repeats, torch) for case in POOL_CASES]
    rows += [bench_kernels(case, repeats) for case in CONV_CASES]

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    info = backend.info()
    print(
        f"\nscratchnet kernels: compiled={info['compiled_kernels']} openmp={info['openmp']} "
        f"threads={info['num_threads']}; numpy {np.__version__}; "
        f"torch {torch.__version__ if torch else 'n/a'}; {platform.processor() or platform.machine()}"
    )
    print(
        f"load average (1 min) at the end: {load:.1f} on {os.cpu_count()} CPUs (other processes skew timings)"
    )
    print(f"measured sgemm: {gemm:.1f} GFLOP/s (float32 matmul, {args.threads} threads)\n")
    print(
        "| case | compiled ms | NumPy twin ms | torch ms | compiled/torch | twin/compiled "
        "| compiled GFLOP/s | % of sgemm | torch GFLOP/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        t_c, t_n, t_t = r["compiled"], r["twin"], r.get("torch")
        flops = r["flops"]
        gf_c = f"{flops / t_c / 1e9:.1f}" if flops else "-"
        pct = f"{100 * flops / t_c / 1e9 / gemm:.0f}%" if flops else "-"
        gf_t = f"{flops / t_t / 1e9:.1f}" if flops and t_t else "-"
        print(
            f"| {r['name']} | {1e3 * t_c:.2f} | {1e3 * t_n:.2f} | "
            f"{'-' if t_t is None else f'{1e3 * t_t:.2f}'} | "
            f"{'-' if t_t is None else f'{t_c / t_t:.2f}x'} | {t_n / t_c:.1f}x | {gf_c} | {pct} | {gf_t} |"
        )


if __name__ == "__main__":
    main()
