"""Chapter 21 (attention, a small transformer against chapter 15's LSTM) runs end to end with ``--quick``."""

from __future__ import annotations

import math
import os
import re
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
            "OPENBLAS_NUM_THREADS": "1",
            "SCRATCHNET_DATA": str(DATA),
            "SCRATCHNET_OFFLINE": "1",
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
    results = (out / "results.md").read_text()  # the final table, with the recipe column, kept
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


@needs_data("tinyshakespeare/input.txt")
def test_ch21_transformer(tmp_path):
    text = run_chapter("ch21_transformer", tmp_path)
    for f in ("lstm_vs_transformer.png", "attention_maps.png"):
        assert (tmp_path / f).is_file(), f
    # attention worked by hand equals the layer, forward and backward
    assert float(table_row(text, "attention by hand vs MultiHeadAttention")[2]) < 1e-12
    # the two models have about the same number of parameters (within 5%)
    lstm, transformer = (int(v.replace(",", "")) for v in table_row(text, "parameters: LSTM")[2].split(" / "))
    assert lstm == 279_873 and abs(transformer - lstm) < 0.05 * lstm
    for name in ("LSTM", "transformer"):
        loss, bits = (float(v) for v in table_row(text, f"{name}: held-out loss")[2].split(" / "))
        assert 0 < loss < 1.2 * math.log(65) and abs(bits - loss / math.log(2)) < 2e-3
        assert re.search(rf"\[{name}\]\nThe ", text), f"no {name} sample printed"
    assert table_row(text, "this run")[2] == f"python chapters/ch21_transformer.py --quick --out {tmp_path}"
