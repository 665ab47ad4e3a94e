"""Smoke run of the asv suites and the comparison script: every benchmark executes once, no timing asserted."""

import importlib
import inspect
import itertools
import subprocess
import sys

import pytest
from conftest import REPO

SUITES = ["bench_dense", "bench_conv", "bench_recurrent", "bench_training"]


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


@pytest.mark.parametrize("cls,method,grid", list(benchmark_cases()))
def test_asv_benchmark_runs(cls, method, grid):
    for args in grid:
        bench = cls()
        if hasattr(bench, "setup"):
            bench.setup(*args)
        try:
            getattr(bench, method)(*args)
        finally:
            if hasattr(bench, "teardown"):
                bench.teardown(*args)


def test_comparison_script_quick():
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "compare.py"),
            "--quick",
            "--only-steps",
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "| course CNN train step" in result.stdout


def test_thread_comparison_script_quick():
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "compare_threads.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("64 ")]
    assert len(rows) == 1 and all(float(cell) > 0 for cell in rows[0][1:])


def test_layer_profile_script_runs():
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "profile_layers.py"), "--repeats", "1", "--batch", "4"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| Conv2D")]
    assert len(rows) == 2 and all(float(cell) > 0 for row in rows for cell in row.split("|")[2:4])


def test_gpu_comparison_script_quick():
    """Runs everywhere; without a GPU it must say so and report no GPU figure."""
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "compare_gpu.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| course CNN")]
    assert len(rows) == 1 and float(rows[0].split("|")[3]) > 0  # the NumPy column is always measured
    if "No GPU was used" in result.stdout:
        assert rows[0].split("|")[2].strip() == "not measured"
    else:
        assert result.stdout.startswith("GPU: ")
