"""Running a chapter as a user starts it (``python chapters/chNN_*.py --quick``), for the chapter tests: offline,
on the shared data set when it is there, one BLAS and kernel thread, and the final table kept in results.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHAPTERS = REPO / "chapters"
DATA = Path(os.environ.get("SCRATCHNET_DATA") or REPO.parent / "shared" / "datasets")


def run_chapter(name: str, out: Path) -> str:
    env = dict(os.environ)
    env.update(
        {
            "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",  # tiny GEMMs: BLAS threads only contend on a shared machine
            "SCRATCHNET_DATA": str(DATA),
            "SCRATCHNET_OFFLINE": "1",  # no download attempts for the files that are not there
        }
    )
    proc = subprocess.run(
        [sys.executable, str(CHAPTERS / f"{name}.py"), "--quick", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{name} failed ({proc.returncode}):\n{text[-4000:]}"
    assert "course vs scratchnet" in text
    # every chapter keeps its final table (with the recipe column) in results.md
    results = (out / "results.md").read_text()
    assert f"python chapters/{name}.py --quick" in results and "| recipe" in results
    return text


def needs_data(*files: str):
    missing = [f for f in files if not (DATA / f).is_file()]
    return pytest.mark.skipif(bool(missing), reason=f"data files not found in {DATA}: {missing}")


def table_row(text: str, what: str) -> list[str]:
    """The cells of the final table's row starting with ``what``."""
    for line in text.splitlines():
        if line.startswith(what):
            return [c.strip() for c in line.split("|")]
    raise AssertionError(f"no table row {what!r}")
