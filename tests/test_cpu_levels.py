"""The compiled kernels are built once per instruction-set level and one level is chosen at import from the
CPU's features (``scratchnet.backend.cpu_level``; setup.py builds them). Every level this machine runs is held
to the NumPy twins by the same twin tests; ``SCRATCHNET_CPU`` forces a level and refuses one that cannot run.
(``tests/test_wheel.py`` runs an installed wheel under QEMU with CPUs that lack AVX-512 and AVX2.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scratchnet import backend

REPO = Path(__file__).resolve().parents[1]
LEVELS = backend.built_levels()
needs_kernels = pytest.mark.skipif(not LEVELS, reason="the compiled kernels are not built")


def runs(level: str) -> bool:
    from scratchnet._kernels import openmp_info

    return openmp_info.cpu_runs(level)


def child(code: str, level: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SCRATCHNET_CPU"}
    if level is not None:
        env["SCRATCHNET_CPU"] = level
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


@needs_kernels
def test_the_highest_level_this_cpu_runs_is_chosen():
    level = backend.cpu_level()
    assert level in LEVELS and runs(level)
    assert not any(runs(higher) for higher in LEVELS[LEVELS.index(level) + 1 :])
    assert backend.compiled_kernel("relu").__name__ == f"scratchnet._kernels.{level}.relu"
    assert backend.info()["cpu_level"] == level


@needs_kernels
@pytest.mark.parametrize("level", LEVELS)
def test_scratchnet_cpu_forces_a_level_or_refuses_one_that_cannot_run(level):
    code = "from scratchnet import backend; print(backend.kernel('gelu').__name__)"
    proc = child(code, level)
    if runs(level):
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"scratchnet._kernels.{level}.gelu"
    else:
        assert proc.returncode != 0 and "does not run that level" in proc.stderr


@needs_kernels
def test_an_unknown_or_unbuilt_level_is_refused_by_name():
    proc = child("from scratchnet import backend; backend.cpu_level()", "sse9")
    assert proc.returncode != 0 and "SCRATCHNET_CPU='sse9'" in proc.stderr and str(LEVELS) in proc.stderr


@needs_kernels
@pytest.mark.parametrize("level", [lvl for lvl in LEVELS if lvl != backend.cpu_level()])
def test_the_twin_tests_pass_at_every_other_level_this_cpu_runs(level):
    """The suite's own run covers the default level; here the kernel and tier tests run at each other one."""
    if not runs(level):
        pytest.skip(f"this CPU does not run {level}")
    env = {**os.environ, "SCRATCHNET_CPU": level}
    tests = ["tests/fast", "tests/maths/test_kernels.py", "-k", "not fuzz"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
