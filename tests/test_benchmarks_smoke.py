"""Smoke run of the asv suites and the comparison scripts: every benchmark executes once (quick settings) and
what it reports is checked -- the tables have their rows and columns, every time is a finite positive number
and every printed ratio is the ratio of the printed times. No speed is asserted."""

import importlib
import inspect
import itertools
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from scratchnet import backend

SUITES = ["bench_dense", "bench_conv", "bench_recurrent", "bench_training"]

REPO = Path(__file__).resolve().parents[1]


def benchmark_cases():
    sys.path.insert(0, str(REPO))
    for module_name in SUITES:
        module = importlib.import_module(f"benchmarks.{module_name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            methods = [m for m in dir(cls) if m.startswith(("time_", "peakmem_"))]
            params = getattr(cls, "params", None)
            if params is None:
                grid = [()]
            elif isinstance(params, tuple):
                grid = list(itertools.product(*params))
            else:
                grid = [(p,) for p in params]
            for method in methods:
                yield pytest.param(cls, method, grid, id=f"{module_name}.{cls.__name__}.{method}")


def held_arrays(obj, path="bench", depth=0, seen=None):
    """(path, array) for every float array a benchmark holds: its own attributes and, through its layers,
    models, trainers and optimizers, their parameters, gradients, buffers and caches."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 5:
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc":
            yield path, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from held_arrays(value, f"{path}[{key!r}]", depth + 1, seen)
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from held_arrays(value, f"{path}[{i}]", depth + 1, seen)
    elif not isinstance(obj, (types.ModuleType, type)) and (
        depth == 0 or type(obj).__module__.startswith("scratchnet")
    ):
        for name, value in vars(obj).items() if hasattr(obj, "__dict__") else ():
            yield from held_arrays(value, f"{path}.{name}", depth + 1, seen)


def test_asv_param_names_match_params():
    """asv labels each result with ``param_names``: one name per axis of ``params``, none without params."""
    classes = {case.values[0] for case in benchmark_cases()}
    assert {cls.__module__ for cls in classes} == {f"benchmarks.{name}" for name in SUITES}
    for cls in classes:
        params = getattr(cls, "params", None)
        axes = 0 if params is None else len(params) if isinstance(params, tuple) else 1
        assert len(getattr(cls, "param_names", [])) == axes, cls.__name__
        if params is not None:
            axis_values = params if isinstance(params, tuple) else (params,)
            assert all(len(values) > 0 for values in axis_values), cls.__name__


@pytest.mark.parametrize("cls,method,grid", list(benchmark_cases()))
def test_asv_benchmark_runs(cls, method, grid):
    """Each case runs; what it computed (the arrays it holds, its layers' gradients and caches) is finite,
    and teardown leaves the backend's kernel switches as it found them (the rest of the suite runs after)."""
    switches = {k: backend.info()[k] for k in ("compiled_kernels_in_use", "reference")}
    for args in grid:
        bench = cls()
        if hasattr(bench, "setup"):
            bench.setup(*args)
        try:
            # an np.empty buffer may hold NaN bit patterns before the run: it counts only if the run wrote to it
            garbage = {id(a): a.tobytes() for _, a in held_arrays(bench) if not np.isfinite(a).all()}
            getattr(bench, method)(*args)
            bad = [
                p
                for p, a in held_arrays(bench)
                if not np.isfinite(a).all() and garbage.get(id(a)) != a.tobytes()
            ]
            assert not bad, f"{method}{args} left non-finite values in {bad}"
        finally:
            if hasattr(bench, "teardown"):
                bench.teardown(*args)
        assert {k: backend.info()[k] for k in switches} == switches, f"{cls.__name__}{args} teardown"


# ---------------------------------------------------------------------------------------- the scripts


def run_script(name: str, *args: str) -> str:
    """stdout of ``benchmarks/<name>``, run against this checkout's scratchnet (not an installed copy)."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def markdown_table(stdout: str, first_column: str) -> tuple[list[str], list[list[str]]]:
    """(header cells, data rows' cells) of the Markdown table whose first column is ``first_column``."""
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(f"| {first_column} |")]
    assert len(starts) == 1, stdout
    i = starts[0]
    assert set(lines[i + 1]) <= set("|-:"), lines[i + 1]

    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.strip().strip("|").split("|")]

    header = cells(lines[i])
    rows = []
    for line in lines[i + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(cells(line))
        assert len(rows[-1]) == len(header), line
    return header, rows


def time_cell(cell: str, allow_zero: bool = False) -> float:
    value = float(cell)
    assert math.isfinite(value) and (value >= 0 if allow_zero else value > 0), cell
    return value


def assert_ratio(printed: float, num: float, den: float, time_step: float, ratio_step: float) -> None:
    """``printed`` (rounded to ``ratio_step``) is num/den, for times rounded to ``time_step``."""
    lo = (num - time_step / 2) / (den + time_step / 2) - ratio_step / 2
    hi = (num + time_step / 2) / (den - time_step / 2) + ratio_step / 2
    assert math.isfinite(printed) and printed > 0 and lo - 1e-9 <= printed <= hi + 1e-9, (printed, num, den)


def ratio_cell(cell: str) -> float:
    assert cell.endswith("x"), cell
    return float(cell[:-1])


def test_comparison_script_quick():
    """compare.py --only-steps: one row per course network, scratchnet and tier-1 times, their ratio, and the
    PyTorch column measured exactly when PyTorch is installed."""
    out = run_script("compare.py", "--quick", "--only-steps", "--threads", "1")
    assert out.startswith("threads=1;")
    torch_absent = "torch absent" in out.splitlines()[0]
    header, rows = markdown_table(out, "case")
    assert header == [
        "case",
        "scratchnet ms",
        "torch ms",
        "reference (tier 1) ms",
        "scratchnet/torch",
        "reference/scratchnet",
    ]
    assert [row[0] for row in rows] == [
        "course CNN train step (batch 100, Adam)",
        "course MLP 784-256-256-10 train step (batch 100, Adam)",
    ]
    for _, ours, torch_ms, reference, vs_torch, vs_reference in rows:
        ours, reference = time_cell(ours), time_cell(reference)
        assert_ratio(ratio_cell(vs_reference), reference, ours, 0.01, 0.01)
        if torch_absent:
            assert torch_ms == vs_torch == "-"
        else:
            assert_ratio(ratio_cell(vs_torch), ours, time_cell(torch_ms), 0.01, 0.01)
    assert "## compare_conv.py" not in out and "## compare_rnn.py" not in out  # --only-steps


def test_thread_comparison_script_quick():
    """compare_threads.py --quick: one row (H=64) of four times and the two ratios of those times."""
    out = run_script("compare_threads.py", "--quick")
    lines = out.splitlines()
    assert lines[0].startswith("usable CPUs: ") and int(lines[0].split(";")[0].split(": ")[1]) >= 1
    assert lines[1].split() == ["H", "right", "4x", "4x/right", "1", "(busy)", "2", "(busy)", "2/1"]
    rows = [line.split() for line in lines[2:] if line.strip()]
    assert len(rows) == 1 and rows[0][0] == "64", out
    right, over, over_ratio, one, two, two_ratio = rows[0][1:]
    right, over, one, two = (time_cell(ms) for ms in (right, over, one, two))
    over_ratio, two_ratio = float(over_ratio), float(two_ratio)
    assert_ratio(over_ratio, over, right, 0.1, 0.01)
    assert_ratio(two_ratio, two, one, 0.1, 0.01)


def test_layer_profile_script_runs():
    """profile_layers.py: one row per layer of the course CNN, in order, and a total that is their sum."""
    from benchmarks.bench_training import course_cnn

    out = run_script("profile_layers.py", "--repeats", "1", "--batch", "4")
    assert out.startswith("course CNN, batch 4, threads 2, medians of 1;")
    header, rows = markdown_table(out, "layer")
    assert header == ["layer", "forward ms", "backward ms"]
    assert [row[0] for row in rows] == [repr(layer) for layer in course_cnn().layers] + ["total"]
    times = [(time_cell(f, allow_zero=True), time_cell(b, allow_zero=True)) for _, f, b in rows]
    assert all(f > 0 and b > 0 for (name, _, _), (f, b) in zip(rows, times) if name.startswith("Conv2D"))
    *layers, (total_f, total_b) = times
    slack = 0.005 * (len(layers) + 1) + 1e-9
    assert (
        abs(total_f - sum(f for f, _ in layers)) <= slack
        and abs(total_b - sum(b for _, b in layers)) <= slack
    )


def test_gpu_comparison_script_quick():
    """Runs everywhere; without a GPU it must say so and report no GPU figure (every GPU cell "not measured",
    no ratio); with one, the CuPy and PyTorch times are positive and the ratios are those of the times."""
    out = run_script("compare_gpu.py", "--quick")
    header, rows = markdown_table(out, "case")
    assert header == [
        "case",
        "scratchnet CuPy ms",
        "scratchnet NumPy ms",
        "PyTorch CUDA ms",
        "NumPy / CuPy",
        "CuPy / PyTorch",
    ]
    assert [row[0] for row in rows] == [
        "course CNN train step (batch 100, Adam)",
        "LSTM N=20 T=35 D=H=32 fwd+bwd",
    ]
    no_gpu = "No GPU was used" in out
    if no_gpu:
        assert out.startswith("No GPU was used: ")
    else:
        assert out.startswith("GPU: ")
    torch_measured = not no_gpu and "PyTorch CUDA not measured" not in out
    for _, cupy_ms, numpy_ms, torch_ms, speedup, vs_torch in rows:
        numpy_ms = time_cell(numpy_ms)  # the NumPy column is always measured
        if no_gpu:
            assert (cupy_ms, torch_ms, speedup, vs_torch) == ("not measured", "not measured", "-", "-")
            continue
        cupy_ms = time_cell(cupy_ms)
        assert_ratio(ratio_cell(speedup), numpy_ms, cupy_ms, 0.01, 0.1)
        if torch_measured:
            assert_ratio(ratio_cell(vs_torch), cupy_ms, time_cell(torch_ms), 0.01, 0.01)
        else:
            assert (torch_ms, vs_torch) == ("not measured", "-")
