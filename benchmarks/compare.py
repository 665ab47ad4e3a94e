"""The peer comparison: scratchnet vs PyTorch CPU vs scratchnet's tier-1 reference (pure NumPy), one run, same threads.

    python benchmarks/compare.py [--quick] [--threads 2]

Prints Markdown tables of medians and ratios: first one training step (forward, backward, Adam) of the
course's MNIST CNN and MLP, then the conv/pool table (``compare_conv.py``, with the machine's sgemm rate as
the ceiling) and the LSTM/GRU table (``compare_rnn.py``), each run as its own process with the same thread
count. Each library is timed in blocks of back-to-back calls that start only once the other library's
idle threads have stopped spinning, alternating so every library sees the same load (``common.py``).
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


# BLAS reads these when it loads, so they are set before NumPy is imported
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads_from_argv()

import numpy as np  # noqa: E402

sys.path.insert(0, str(HERE.parent))
import scratchnet as sn  # noqa: E402
from benchmarks.bench_training import course_cnn  # noqa: E402
from benchmarks.common import interleaved_medians  # noqa: E402
from scratchnet import backend  # noqa: E402
from scratchnet.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU  # noqa: E402
from scratchnet.losses import SoftmaxCrossEntropy  # noqa: E402


def course_mlp() -> sn.Sequential:
    return sn.Sequential([Dense(784, 256), ReLU(), Dense(256, 256), ReLU(), Dense(256, 10)])


def torch_twin(torch, model: sn.Sequential):
    """The same network in torch, with scratchnet's initial weights (Dense W is stored transposed)."""
    nn = torch.nn
    layers = []
    for layer in model.layers:
        if isinstance(layer, Conv2D):
            conv = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, padding="same")
            conv.weight.data = torch.tensor(layer.params["W"].copy())
            conv.bias.data = torch.tensor(layer.params["b"].copy())
            layers.append(conv)
        elif isinstance(layer, Dense):
            lin = nn.Linear(layer.in_features, layer.out_features)
            lin.weight.data = torch.tensor(layer.params["W"].T.copy())
            lin.bias.data = torch.tensor(layer.params["b"].copy())
            layers.append(lin)
        elif isinstance(layer, ReLU):
            layers.append(nn.ReLU())
        elif isinstance(layer, MaxPool2D):
            layers.append(nn.MaxPool2d(2))
        elif isinstance(layer, Flatten):
            layers.append(nn.Flatten())
    return nn.Sequential(*layers)


def training_steps(torch, make, x: np.ndarray, y: np.ndarray, repeats: int) -> dict[str, float]:
    sn.seed(0)
    model = make()
    trainer = sn.Trainer(model, SoftmaxCrossEntropy(), sn.optim.Adam(model.parameters()))
    sn.seed(0)
    twin_model = make()
    twin_trainer = sn.Trainer(twin_model, SoftmaxCrossEntropy(), sn.optim.Adam(twin_model.parameters()))
    steps = {"scratchnet": lambda: trainer.train_step(x, y)}

    def twin_step():
        with backend.reference():  # tier 1: the layers' own NumPy code and the kernels' NumPy twins
            twin_trainer.train_step(x, y)

    steps["numpy twins"] = twin_step
    if torch is not None:
        net = torch_twin(torch, make())
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        xt, yt = torch.tensor(x), torch.tensor(y)

        def torch_step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt), yt).backward()
            opt.step()

        steps["torch"] = torch_step
    return interleaved_medians(steps, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few repeats: a smoke run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only-steps", action="store_true", help="skip the conv and LSTM tables")
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    backend.set_num_threads(args.threads)
    repeats = 3 if args.quick else 15
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 100)
    cases = [
        (
            "course CNN train step (batch 100, Adam)",
            course_cnn,
            rng.random((100, 1, 28, 28), dtype=np.float32),
        ),
        (
            "course MLP 784-256-256-10 train step (batch 100, Adam)",
            course_mlp,
            rng.random((100, 784), dtype=np.float32),
        ),
    ]
    print(f"threads={args.threads}; {backend.info()}; torch {torch.__version__ if torch else 'absent'}\n")
    print(
        "| case | scratchnet ms | torch ms | reference (tier 1) ms | scratchnet/torch | reference/scratchnet |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, make, x in cases:
        t = training_steps(torch, make, x, y, repeats)
        t_torch, t_ours = t.get("torch"), t["scratchnet"]
        print(
            f"| {name} | {1e3 * t['scratchnet']:.2f} | {'-' if t_torch is None else f'{1e3 * t_torch:.2f}'} | "
            f"{1e3 * t['numpy twins']:.2f} | {'-' if t_torch is None else f'{t_ours / t_torch:.2f}x'} | "
            f"{t['numpy twins'] / t['scratchnet']:.2f}x |"
        )
    sys.stdout.flush()
    if args.only_steps:
        return
    extra = (["--quick"] if args.quick else []) + ["--threads", str(args.threads)]
    for script in ("compare_conv.py", "compare_rnn.py"):
        print(f"\n## {script}")
        sys.stdout.flush()
        subprocess.run([sys.executable, str(HERE / script), *extra], check=True)


if __name__ == "__main__":
    main()
