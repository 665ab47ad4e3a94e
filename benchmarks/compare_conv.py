"""Conv2D and MaxPool2D speed: scratchnet (fast path) vs its tier-1 reference (NumPy) vs PyTorch CPU.

Runs forward + backward in float32 with 2 threads everywhere (OpenMP kernels, OpenBLAS through NumPy,
PyTorch intra-op) on the course's CNN layer shapes, takes the median over repeats and prints a Markdown
table with the time ratios and GFLOP/s, next to the machine's measured sgemm rate.

    python benchmarks/compare_conv.py            # full run
    python benchmarks/compare_conv.py --quick    # fewer repeats, smaller sgemm probe

Conv FLOPs count the three GEMM-sized products (forward, dW, dx): ``3 * 2 * N*OH*OW * F * C*kh*kw``.
"GEMMs alone" times just those three products, through NumPy's BLAS, on the layer's own operands: no
conv layer built on NumPy's matmul can be faster, so ``twin / GEMMs alone`` bounds how far a compiled
im2col can pull ahead of the NumPy twin, and the two sgemm rates (NumPy's BLAS vs PyTorch's) show how
much of any gap to PyTorch is the BLAS library rather than scratchnet.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import interleaved_medians
from scratchnet import backend
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.pooling import MaxPool2D

# (name, N, C_in, C_out, k, H) -- 'same' padding, stride 1
CONV_CASES = [
    ("conv 1->32 5x5 28x28 N=64", 64, 1, 32, 5, 28),
    ("conv 32->64 5x5 14x14 N=64", 64, 32, 64, 5, 14),
    ("conv 64->128 3x3 16x16 N=128", 128, 64, 128, 3, 16),
]
# the same layers with the fast path's algorithm forced (the rows above use Conv2D's "auto" choice)
ALGORITHM_CASES = [
    ("conv 32->64 5x5 14x14 N=64 im2col", 64, 32, 64, 5, 14, "im2col"),
    ("conv 32->64 5x5 14x14 N=64 winograd F(4x4,5x5)", 64, 32, 64, 5, 14, "winograd"),
    ("conv 64->128 3x3 16x16 N=128 im2col", 128, 64, 128, 3, 16, "im2col"),
    ("conv 64->128 3x3 16x16 N=128 winograd F(4x4,3x3)", 128, 64, 128, 3, 16, "winograd"),
]
# (name, N, C, H) -- 2x2 max pooling, stride 2 (the pools that follow the convs above)
POOL_CASES = [
    ("maxpool 2x2 32ch 28x28 N=64", 64, 32, 28),
    ("maxpool 2x2 64ch 14x14 N=64", 64, 64, 14),
    ("maxpool 2x2 128ch 16x16 N=128", 128, 128, 16),
]


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    return interleaved_medians({"fn": fn}, repeats, warmup)["fn"]


def compiled_step(layer, x: np.ndarray, dout: np.ndarray) -> Callable[[], object]:
    def step():
        backend.use_compiled(True)
        layer(x)
        return layer.backprop(dout)

    return step


def sgemm_gflops(n: int, repeats: int, torch=None) -> tuple[float, float | None]:
    """Square float32 matmul rate of NumPy's BLAS and, if given, of PyTorch's (GFLOP/s)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    fns = {"numpy": lambda: a @ b}
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        fns["torch"] = lambda: ta @ tb
    t = interleaved_medians(fns, repeats)
    rate = {k: 2 * n**3 / v / 1e9 for k, v in t.items()}
    return rate["numpy"], rate.get("torch")


def gemms_alone(layer, x: np.ndarray, dout: np.ndarray) -> Callable[[], object]:
    """The layer's three products (forward, dW, dcols) on operands of its shapes, nothing else."""
    k = layer.kernel_size[0]
    cols = backend.kernel("im2col").im2col(x, k, k, 1, k // 2)  # the 'same' padding of CONV_CASES
    f = layer.out_channels
    w2 = layer.params["W"].reshape(f, -1)
    g_t = np.ascontiguousarray(dout.transpose(0, 2, 3, 1)).reshape(-1, f)
    y, dcols = np.empty((f, cols.shape[1]), np.float32), np.empty_like(cols)

    def step():
        np.matmul(w2, cols, out=y)
        _ = cols @ g_t
        np.matmul(w2.T, g_t.T, out=dcols)

    return step


def scratch_step(layer, x: np.ndarray, dout: np.ndarray) -> Callable[[], object]:
    def step():
        layer(x)
        return layer.backprop(dout)

    return step


def bench_conv(case, repeats: int, torch) -> dict:
    name, n, c, f, k, h, *algorithm = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, h), dtype=np.float32)
    layer = Conv2D(c, f, k, padding="same", rng=rng, algorithm=algorithm[0] if algorithm else "auto")
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
    fns["gemms"] = gemms_alone(layer, x, dout)
    fns["twin"] = twin_step(layer, x, dout)
    row.update(interleaved_medians(fns, repeats))
    return row


def twin_step(layer, x: np.ndarray, dout: np.ndarray) -> Callable[[], object]:
    """The layer on tier 1 (its reference code with the kernels' NumPy twins), timed in the same interleaved
    blocks as the fast path, so that the reference/fast ratio sees the same drift in the machine's speed."""
    step = scratch_step(layer, x, dout)

    def run():
        with backend.reference():
            return step()

    return run


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
    fns["twin"] = twin_step(layer, x, dout)
    row.update(interleaved_medians(fns, repeats))
    return row


def bench_kernels(case, repeats: int) -> dict:
    """im2col + col2im alone (no GEMM): where the compiled kernels and the NumPy twin differ."""
    name, n, c, _, k, h = case
    from scratchnet.maths import im2col as twin

    compiled = backend.kernel("im2col")
    x = np.random.default_rng(2).standard_normal((n, c, h, h), dtype=np.float32)
    p = k // 2

    def run(mod):
        def step():
            cols = mod.im2col(x, k, k, 1, p)
            return mod.col2im(cols, x.shape, k, k, 1, p)

        return step

    row = {"name": "im2col+col2im " + name.removeprefix("conv "), "flops": None}
    row.update(interleaved_medians({"compiled": run(compiled)}, repeats))
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

    gemm, torch_gemm = sgemm_gflops(1024 if args.quick else 2048, repeats, torch)
    rows = [bench_conv(case, repeats, torch) for case in CONV_CASES + ALGORITHM_CASES]
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
    torch_rate = f"{torch_gemm:.1f}" if torch_gemm else "n/a"
    print(
        f"measured sgemm ({1024 if args.quick else 2048}^3 float32 matmul, {args.threads} threads): "
        f"NumPy's BLAS {gemm:.1f} GFLOP/s, PyTorch's {torch_rate} GFLOP/s\n"
    )
    print(
        "| case | compiled ms | reference (im2col rows: NumPy twin) ms | torch ms | compiled/torch | ref/compiled "
        "| GEMMs alone ms | ref/GEMMs alone | compiled GFLOP/s | torch GFLOP/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def ms(v):
        return "-" if v is None else f"{1e3 * v:.2f}"

    for r in rows:
        t_c, t_n, t_t, t_g = r["compiled"], r["twin"], r.get("torch"), r.get("gemms")
        flops = r["flops"]
        gf_c = f"{flops / t_c / 1e9:.1f}" if flops else "-"
        gf_t = f"{flops / t_t / 1e9:.1f}" if flops and t_t else "-"
        print(
            f"| {r['name']} | {ms(t_c)} | {ms(t_n)} | {ms(t_t)} | "
            f"{'-' if t_t is None else f'{t_c / t_t:.2f}x'} | {t_n / t_c:.1f}x | {ms(t_g)} | "
            f"{'-' if t_g is None else f'{t_n / t_g:.1f}x'} | {gf_c} | {gf_t} |"
        )


if __name__ == "__main__":
    main()
