"""The GPU comparison: scratchnet on CuPy vs scratchnet on NumPy vs PyTorch CUDA, one run.

    python benchmarks/compare_gpu.py [--quick] [--repeats 20]

Two cases, float32: one training step (forward, backward, Adam) of the course's MNIST CNN at batch 100,
and an LSTM forward + backward (N=20, T=35, D=H=650, the PTB "medium" shape). Every GPU timing ends with a
device synchronisation, so it counts the kernels and not just their launch; the libraries are timed in
alternating settled blocks, as in the CPU comparisons (``common.interleaved_times``). Prints a Markdown table of
medians with the GPU's name. Where CuPy or a CUDA device is missing it says so and fills those columns
with "not measured"; it never reports a GPU figure it did not measure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import scratchnet as sn  # noqa: E402
from benchmarks.bench_training import course_cnn  # noqa: E402
from benchmarks.common import interleaved_medians  # noqa: E402
from benchmarks.compare import torch_twin  # noqa: E402
from scratchnet import backend  # noqa: E402
from scratchnet.layers import LSTM  # noqa: E402
from scratchnet.losses import SoftmaxCrossEntropy  # noqa: E402


def cupy_or_reason():
    try:
        return backend._cupy(), None
    except RuntimeError as exc:
        return None, str(exc)


def torch_cuda_or_reason():
    try:
        import torch
    except ImportError:
        return None, "PyTorch is not installed"
    if not torch.cuda.is_available():
        return None, f"torch {torch.__version__} sees no CUDA device"
    return torch, None


def synced(step: Callable[[], object], sync: Callable[[], None]) -> Callable[[], None]:
    """``step`` followed by a device synchronisation, so a timing covers its kernels, not their launch."""

    def run() -> None:
        step()
        sync()

    return run


def cnn_steps(device: str, x: np.ndarray, y: np.ndarray) -> Callable[[], object]:
    sn.seed(0)
    model = course_cnn().to(device)
    trainer = sn.Trainer(model, SoftmaxCrossEntropy(), sn.optim.Adam(model.parameters()))
    xb, yb = backend.to_device(x, device), backend.to_device(y, device)
    return lambda: trainer.train_step(xb, yb)


def lstm_steps(device: str, x: np.ndarray, dout: np.ndarray) -> Callable[[], object]:
    layer = LSTM(x.shape[2], dout.shape[2], rng=np.random.default_rng(0)).to(device)
    xb, gb = backend.to_device(x, device), backend.to_device(dout, device)

    def step():
        layer(xb)
        return layer.backprop(gb)

    return step


def torch_cnn_step(torch, x: np.ndarray, y: np.ndarray) -> Callable[[], object]:
    sn.seed(0)
    net = torch_twin(torch, course_cnn()).cuda()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt, yt = torch.tensor(x).cuda(), torch.tensor(y).cuda()

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()

    return step


def torch_lstm_step(torch, x: np.ndarray, dout: np.ndarray) -> Callable[[], object]:
    net = torch.nn.LSTM(x.shape[2], dout.shape[2], batch_first=True).cuda()
    xt = torch.tensor(x).cuda().requires_grad_(True)
    gt = torch.tensor(dout).cuda()

    def step():
        net.zero_grad(set_to_none=True)
        xt.grad = None
        out, _ = net(xt)
        out.backward(gt)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 repeats and a small LSTM: a smoke run")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    cupy, cupy_reason = cupy_or_reason()
    torch, torch_reason = torch_cuda_or_reason()

    rng = np.random.default_rng(0)
    hidden = 32 if args.quick else 650
    cnn_x, cnn_y = rng.random((100, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 100)
    lstm_x = rng.standard_normal((20, 35, hidden)).astype(np.float32)
    lstm_g = rng.standard_normal((20, 35, hidden)).astype(np.float32)
    cases = [
        ("course CNN train step (batch 100, Adam)", cnn_steps, torch_cnn_step, (cnn_x, cnn_y)),
        (f"LSTM N=20 T=35 D=H={hidden} fwd+bwd", lstm_steps, torch_lstm_step, (lstm_x, lstm_g)),
    ]

    if cupy is not None:
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        gpu = name.decode() if isinstance(name, bytes) else str(name)
        print(f"GPU: {gpu}; CuPy {cupy.__version__}; torch {torch.__version__ if torch else 'absent'}")
    else:
        print(f"No GPU was used: {cupy_reason}. The CuPy and PyTorch CUDA columns are not measured.")
    if cupy is not None and torch is None:
        print(f"PyTorch CUDA not measured: {torch_reason}")
    print(f"CPU: numpy {np.__version__}, compiled kernels {backend.info()['compiled_kernels']}\n")

    def cuda_sync():
        cupy.cuda.Device().synchronize()

    print(
        "| case | scratchnet CuPy ms | scratchnet NumPy ms | PyTorch CUDA ms | NumPy / CuPy | CuPy / PyTorch |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for label, ours, theirs, data in cases:
        steps = {"numpy": ours("cpu", *data)}
        if cupy is not None:
            steps["cupy"] = synced(ours("cuda", *data), cuda_sync)
            if torch is not None:
                steps["torch"] = synced(theirs(torch, *data), torch.cuda.synchronize)
        t = {k: 1e3 * v for k, v in interleaved_medians(steps, repeats, warmup=3).items()}
        t_cpu, t_gpu, t_torch = t["numpy"], t.get("cupy"), t.get("torch")

        def cell(v):
            return "not measured" if v is None else f"{v:.2f}"

        speedup = f"{t_cpu / t_gpu:.1f}x" if t_gpu else "-"
        vs_torch = f"{t_gpu / t_torch:.2f}x" if t_gpu and t_torch else "-"
        print(f"| {label} | {cell(t_gpu)} | {t_cpu:.2f} | {cell(t_torch)} | {speedup} | {vs_torch} |")


if __name__ == "__main__":
    main()
