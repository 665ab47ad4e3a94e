"""The peer comparison: scratchnet vs PyTorch CPU vs scratchnet's tier-1 reference (pure NumPy), one run, same threads.

    python benchmarks/compare.py [--quick] [--threads 2]

Prints Markdown tables of medians and ratios: first one training step (forward, backward, Adam) of the
course's MNIST CNN and MLP, then one training step of a TransformerBlock (issue #30: N=32, T=128, D=256,
4 heads, causal; against ``torch.nn.TransformerEncoderLayer(norm_first=True)`` with the same weights) with
the peak memory of that step for each library, then the conv/pool table (``compare_conv.py``, with the
machine's sgemm rate as the ceiling), the LSTM/GRU table (``compare_rnn.py``) and one epoch through
``Trainer.fit`` against the idiomatic PyTorch loop, quiet and beside a busy process (``compare_epoch.py``),
each run as its own process with the same thread count. Each library is timed in blocks of back-to-back calls that start only once the other library's
idle threads have stopped spinning, alternating so every library sees the same load (``common.py``).

Peak memory of the transformer step: each library runs in a process of its own (``--peak-memory-of``), with
glibc's malloc told to map every block of 128 KiB or more on its own (``MALLOC_MMAP_THRESHOLD_``), so that a
freed array leaves the resident set at once, for both libraries alike. After one step (which creates the
optimizer state and any caches), the process's resident high-water mark is reset (``/proc/self/clear_refs``)
and one more step is run: the peak is the high-water mark minus the resident set before that step, i.e. what
the step holds at its fullest on top of the model, optimizer state and data (Linux only; '-' elsewhere).
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
from collections.abc import Callable
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
from scratchnet.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU, TransformerBlock  # noqa: E402
from scratchnet.losses import MeanSquaredError, SoftmaxCrossEntropy  # noqa: E402

# the issue-#30 shape: N, T, D, heads (--quick runs N=8: a smoke run, not a measurement)
TRANSFORMER = (32, 128, 256, 4)
LIBRARIES = ("scratchnet", "torch", "reference")


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


# -- a TransformerBlock training step --------------------------------------------------------------------------
def transformer_step(library: str, n: int, t: int, d: int, heads: int) -> Callable[[], None]:
    """One training step of a pre-norm, causal TransformerBlock(d, heads) (exact GELU, MLP 4d, no dropout) on
    float32 (n, t, d): forward, mean squared error against a fixed target, backward, Adam. ``library``:
    "scratchnet" (fast paths), "reference" (tier 1) or "torch" (nn.TransformerEncoderLayer, same weights)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, t, d), dtype=np.float32)
    target = rng.standard_normal((n, t, d), dtype=np.float32)
    sn.seed(0)
    model = sn.Sequential([TransformerBlock(d, heads)])
    if library != "torch":
        trainer = sn.Trainer(model, MeanSquaredError(), sn.optim.Adam(model.parameters()))
        if library == "scratchnet":
            return lambda: trainer.train_step(x, target)

        def reference_step() -> None:
            with backend.reference():
                trainer.train_step(x, target)

        return reference_step
    import torch

    block = model.layers[0]
    layer = torch.nn.TransformerEncoderLayer(
        d,
        heads,
        dim_feedforward=block.hidden,
        dropout=0.0,
        activation="gelu",
        batch_first=True,
        norm_first=True,
    )
    p, a = {q.name: q.value for q in model.parameters()}, "0.attn."
    with torch.no_grad():  # our W (in, out) are nn.Linear's transposes; in_proj stacks Wq, Wk, Wv
        layer.self_attn.in_proj_weight.copy_(
            torch.tensor(np.concatenate([p[a + w].T for w in ("Wq", "Wk", "Wv")]))
        )
        layer.self_attn.in_proj_bias.copy_(
            torch.tensor(np.concatenate([p[a + b] for b in ("bq", "bk", "bv")]))
        )
        layer.self_attn.out_proj.weight.copy_(torch.tensor(p[a + "Wo"].T))
        layer.self_attn.out_proj.bias.copy_(torch.tensor(p[a + "bo"]))
        for norm, name in ((layer.norm1, "ln1"), (layer.norm2, "ln2")):
            norm.weight.copy_(torch.tensor(p[f"0.{name}.gamma"]))
            norm.bias.copy_(torch.tensor(p[f"0.{name}.beta"]))
        for linear, name in ((layer.linear1, "fc1"), (layer.linear2, "fc2")):
            linear.weight.copy_(torch.tensor(p[f"0.{name}.W"].T))
            linear.bias.copy_(torch.tensor(p[f"0.{name}.b"]))
    opt = torch.optim.Adam(layer.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(target)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(t)

    def torch_step() -> None:
        opt.zero_grad()
        torch.nn.functional.mse_loss(layer(xt, src_mask=causal, is_causal=True), yt).backward()
        opt.step()

    return torch_step


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def peak_step_mib(step: Callable[[], None]) -> float | None:
    """What one call of ``step`` holds at its fullest, in MiB, above the resident set before it (the module
    docstring says how); None where /proc/self/clear_refs is not there to reset the high-water mark."""
    step()  # optimizer state, caches and lazily built buffers exist after the first step
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current resident set
        before = _status_kib("VmRSS")
    except OSError:
        return None
    step()
    return (_status_kib("VmHWM") - before) / 1024


def measure_peak_in_child(library: str, shape: tuple[int, int, int, int], threads: int) -> float | None:
    """``peak_step_mib`` of ``library``'s step, measured in a fresh process of its own."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")  # every block >= 128 KiB mapped on its own
    args = ["--peak-memory-of", library, "--shape", ",".join(map(str, shape)), "--threads", str(threads)]
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True, env=env
    )
    if result.returncode != 0:
        raise RuntimeError(f"peak-memory run of {library} failed:\n{result.stderr[-2000:]}")
    value = result.stdout.strip().splitlines()[-1]
    return None if value == "-" else float(value)


def transformer_table(torch: object, threads: int, quick: bool, repeats: int) -> None:
    """The TransformerBlock training-step row: times, ratios to PyTorch, and each library's peak memory."""
    n, t, d, heads = shape = (8, *TRANSFORMER[1:]) if quick else TRANSFORMER
    libraries = LIBRARIES if torch is not None else ("scratchnet", "reference")
    times = interleaved_medians({lib: transformer_step(lib, *shape) for lib in libraries}, repeats)
    peaks = {lib: measure_peak_in_child(lib, shape, threads) for lib in libraries}

    def ms(lib: str) -> str:
        return f"{1e3 * times[lib]:.1f}" if lib in times else "-"

    def ratio(lib: str) -> str:
        return f"{times[lib] / times['torch']:.2f}x" if "torch" in times else "-"

    def mib(lib: str) -> str:
        return "-" if peaks.get(lib) is None else f"{peaks[lib]:.0f}"

    print(
        "\n| transformer training step | scratchnet ms | torch ms | reference (tier 1) ms | scratchnet/torch "
        "| reference/torch | scratchnet peak MiB | torch peak MiB | reference peak MiB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| TransformerBlock({d}, {heads}) causal, N={n} T={t}, MSE + Adam | {ms('scratchnet')} | {ms('torch')} | "
        f"{ms('reference')} | {ratio('scratchnet')} | {ratio('reference')} | {mib('scratchnet')} | "
        f"{mib('torch')} | {mib('reference')} |"
    )
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few repeats: a smoke run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only-steps", action="store_true", help="skip the conv and LSTM tables")
    parser.add_argument("--peak-memory-of", choices=LIBRARIES, help=argparse.SUPPRESS)  # the child's job
    parser.add_argument("--shape", default=",".join(map(str, TRANSFORMER)), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_memory_of:
        if args.peak_memory_of == "torch":
            import torch

            torch.set_num_threads(args.threads)
        backend.set_num_threads(args.threads)
        shape = tuple(int(v) for v in args.shape.split(","))
        peak = peak_step_mib(transformer_step(args.peak_memory_of, *shape))
        print("-" if peak is None else f"{peak:.1f}")
        return
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
    transformer_table(torch, args.threads, args.quick, repeats)
    if args.only_steps:
        return
    extra = (["--quick"] if args.quick else []) + ["--threads", str(args.threads)]
    for script in ("compare_conv.py", "compare_rnn.py", "compare_epoch.py"):
        print(f"\n## {script}")
        sys.stdout.flush()
        subprocess.run([sys.executable, str(HERE / script), *extra], check=True)


if __name__ == "__main__":
    main()
