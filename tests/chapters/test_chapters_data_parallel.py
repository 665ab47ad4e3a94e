"""Chapter 22 (data parallelism over MPI) runs end to end with ``--quick``: alone, and under ``mpiexec -n 2``
when mpi4py and an ``mpiexec`` are there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scratchnet import distributed

REPO = Path(__file__).resolve().parents[2]
CHAPTER = REPO / "chapters" / "ch22_data_parallel.py"
DATA = Path(os.environ.get("SCRATCHNET_DATA") or REPO.parent / "shared" / "datasets")
MPIEXEC = shutil.which("mpiexec")


def run(out: Path, ranks: int) -> tuple[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "SCRATCHNET_DATA": str(DATA),
            "SCRATCHNET_OFFLINE": "1",
        }
    )
    for name in ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"):
        env.pop(name, None)  # a test run under mpiexec must not make the chapter think it is a rank
    command = [sys.executable, str(CHAPTER), "--quick", "--out", str(out)]
    if ranks > 1:
        command = [MPIEXEC, "-n", str(ranks), *command]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"ch22 on {ranks} rank(s) failed ({proc.returncode}):\n{text[-4000:]}"
    assert "course vs scratchnet" in text and "mpiexec -n 2 python chapters/ch22_data_parallel.py" in text
    results = (out / "results.md").read_text()
    assert "python chapters/ch22_data_parallel.py --quick" in results and "| recipe" in results
    for f in ("ring_allreduce.png", "loss_curves.png"):
        assert (out / f).is_file(), f
    return text, results


def row(text: str, what: str) -> list[str]:
    for line in text.splitlines():
        if line.startswith(what):
            return [c.strip() for c in line.split("|")]
    raise AssertionError(f"no table row {what!r}")


def check_common(results: str, ranks: int) -> None:
    assert float(row(results, "identity: 3 slices summed by hand")[2]) < 1e-5
    assert float(row(results, f"identity: {ranks} rank(s) by Allreduce")[2]) < 1e-5
    assert row(results, "ranks x slice of each batch")[2] == f"{ranks} x {100 // ranks}"
    assert float(row(results, "steps/s (median step), measured")[2]) > 0
    first, last = (float(v) for v in row(results, "first / last step loss")[2].split(";")[0].split(" / "))
    assert last < first
    for p in (8, 64):
        for net in ("10 Gb/s", "100 Gb/s"):
            assert "efficient" in row(results, f"modelled: {p} ranks, {net}")[2]
    vote = float(row(results, "ensemble of 2, one per rank, vote")[2])
    assert 0.1 < vote <= 1.0


def test_ch22_alone(tmp_path):
    text, results = run(tmp_path, 1)
    check_common(results, 1)
    assert float(row(results, "Allreduce ms per step, measured")[2]) == 0.0
    assert "2 ranks vs one process" not in results


@pytest.mark.skipif(MPIEXEC is None or not distributed.is_available(), reason="needs mpiexec and mpi4py")
def test_ch22_on_two_ranks(tmp_path):
    alone, _ = run(tmp_path / "one", 1)
    text, results = run(tmp_path / "two", 2)
    check_common(results, 2)
    assert "mpiexec -n 2" in row(results, "this run")[2]
    loss_diff, weight_diff = (float(v) for v in row(results, "2 ranks vs one process")[2].split(" / "))
    assert loss_diff < 1e-4 and weight_diff < 1e-4  # float32, only the order of the additions differs
    # the 2-rank run follows the one-process run (the table's 4 decimals), and the members are the same
    for what in ("first / last step loss", "ensemble of 2"):
        ours = [float(v) for v in row(results, what)[2].replace(";", " /").split(" / ")]
        theirs = [float(v) for v in row(alone, what)[2].replace(";", " /").split(" / ")]
        assert max(abs(a - b) for a, b in zip(ours, theirs)) < 2e-3, what
