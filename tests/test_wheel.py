"""The wheel users get runs on any x86-64: ``python -m build`` (an sdist, then the wheel built from it in a
clean environment), installed into a fresh virtual environment (not editable), then the kernel smoke test
(``tests/support/kernel_smoke.py``) natively and under QEMU's user-mode emulator with CPU models that lack
AVX-512 (Haswell: the ``avx2`` kernels) and AVX2 (Nehalem: the ``baseline`` kernels). Each run must pick the
level its CPU has and agree with the twins.

It builds three levels of every kernel and downloads the build requirements, so it runs only when asked:
``SCRATCHNET_WHEEL_TEST=1 pytest tests/test_wheel.py`` (``.ci/run`` does, after installing ``qemu-user``).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "tests" / "support" / "kernel_smoke.py"
pytestmark = [
    pytest.mark.skipif(os.environ.get("SCRATCHNET_WHEEL_TEST") != "1", reason="set SCRATCHNET_WHEEL_TEST=1"),
    pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86-64 wheels only"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(sdist, wheel, venv python): built by ``python -m build``, the wheel installed in a fresh venv."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (sdist,), (wheel,) = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sdist, wheel, python


def smoke(command: list[str], cwd: Path) -> dict:
    proc = subprocess.run([*command, str(SMOKE)], capture_output=True, text=True, cwd=cwd, timeout=1200)
    assert proc.returncode == 0 and "SMOKE-OK" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(proc.stdout.splitlines()[0])


def test_the_wheel_and_sdist_carry_the_metadata_and_sources(built):
    sdist, wheel, _ = built
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        meta = Parser().parsestr(
            whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        )
    assert meta["Name"] == "scratchnet" and meta["Version"] and meta["License"] == "MIT"
    assert meta["Requires-Python"] == ">=3.10" and "numpy>=2" in meta.get_all("Requires-Dist")
    assert {"test", "docs", "mpi", "gpu"} <= set(meta.get_all("Provides-Extra"))
    assert "scratchnet" in meta.get_payload()  # the README as the long description
    for level in ("baseline", "avx2", "avx512"):
        assert any(n.startswith(f"scratchnet/_kernels/{level}/relu.") for n in names), level
    with tarfile.open(sdist) as tar:
        members = {Path(m).relative_to(Path(m).parts[0]).as_posix() for m in tar.getnames() if "/" in m}
    assert {
        "setup.py",
        "pyproject.toml",
        "README.md",
        "pyx/gelu.pyx",
        "pyx/gelu.h",
        "pyx/kernel_helpers.pxd",
    } <= members


def test_the_installed_wheel_runs_natively_at_this_cpus_level(built, tmp_path):
    *_, python = built
    info = smoke([str(python)], tmp_path)  # not the repository: the installed package, not the sources
    from scratchnet import backend

    assert info["cpu_level"] == backend.cpu_level() and info["compiled_kernels_in_use"]


@pytest.mark.parametrize("cpu, level", [("Haswell", "avx2"), ("Nehalem", "baseline")])
def test_the_installed_wheel_runs_under_qemu_without_avx512_or_avx2(built, tmp_path, cpu, level):
    qemu = shutil.which("qemu-x86_64") or shutil.which("qemu-x86_64-static")
    if qemu is None:
        pytest.skip("qemu-user is not installed (apt-get install qemu-user)")
    *_, python = built
    info = smoke([qemu, "-cpu", cpu, str(python)], tmp_path)
    assert info["cpu_level"] == level, info
