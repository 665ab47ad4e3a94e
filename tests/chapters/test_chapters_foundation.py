"""The foundation chapters (ch01-ch06) run end to end with --quick, write their figures and results.md, and
print the course's reference numbers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHAPTERS = REPO / "chapters"


def _data_dir() -> str | None:
    env = os.environ.get("SCRATCHNET_DATA")
    if env:
        return env
    shared = REPO.parent / "shared" / "datasets"
    return str(shared) if shared.is_dir() else None


def run_chapter(name: str, out: Path, use_data: bool = True) -> str:
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["SCRATCHNET_OFFLINE"] = "1"  # never try the network from tests
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    data = _data_dir()
    if use_data and data:
        env["SCRATCHNET_DATA"] = data
    else:
        env.pop("SCRATCHNET_DATA", None)
        env["SCRATCHNET_NO_SIBLING_DATA"] = "1"
    proc = subprocess.run(
        [sys.executable, str(CHAPTERS / f"{name}.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert_results(out, name)
    return proc.stdout


def assert_results(out: Path, name: str) -> None:
    """The chapter saved its final table (with the course's figure, ours, the data and the recipe)."""
    results = out / "results.md"
    assert results.is_file(), f"{name} wrote no results.md"
    text = results.read_text()
    assert text.startswith(f"# {name}") and "--quick" in text
    assert "| course reports" in text and "| recipe" in text and "notes:" in text


def assert_pngs(out: Path, names: list[str]) -> None:
    for n in names:
        p = out / n
        assert p.is_file(), f"missing figure {n}; have {sorted(x.name for x in out.iterdir())}"
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 2000


def row(stdout: str, what: str) -> list[str]:
    """The cells of the report-table row that starts with ``what``."""
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split(" | ")]
        if cells and cells[0] == what:
            return cells
    raise AssertionError(f"no table row {what!r} in output:\n{stdout[-2000:]}")


def test_ch01_tensors(tmp_path):
    out = run_chapter("ch01_tensors", tmp_path)
    assert_pngs(tmp_path, ["graph_f_wx_b.png"])
    assert row(out, "constant add 3 + 4")[2] == "7"
    assert row(out, "feed a=3, b=4.5")[2] == "7.5"
    assert row(out, "feed a=[1,3], b=[2,4]")[2] == "[3.,7.]"
    assert row(out, "constant add [2] + [3]")[2] == "[5]"
    assert row(out, "feed a=3.5 to a * 2")[2] == "7"
    assert row(out, "reduce_mean([1,2,3,4])")[2] == "2.5"
    assert row(out, "[[2,3],[3,4]] @ [[2,3],[3,4]]")[2] == "[[13,18],[18,25]]"
    assert row(out, "Variable counter")[2] == "0 1 2 3"
    assert row(out, "df/dw, df/dx, df/db")[2] == "2, 3, 1"
    assert row(out, "same via Dense.backward")[2] == "2, 3, 1"
    assert float(row(out, "gradcheck max rel. error")[2]) < 1e-6


def test_ch02_linear_regression(tmp_path):
    out = run_chapter("ch02_linear_regression", tmp_path)
    assert_pngs(tmp_path, ["cost_curve.png", "fit_loss_xy123.png", "regression_lines.png"])
    assert row(out, "cost(W=1)")[2] == "0"
    assert row(out, "cost(W=0)")[2] == "4.67"
    assert row(out, "cost(W=2)")[2] == "4.67"
    assert abs(float(row(out, "hand GD W after 21 steps (lr 0.1, W0=5)")[2]) - 1) < 1e-3
    # the quick fit is shorter but already close to the line y = x
    assert abs(float(row(out, "H(5)")[2]) - 5) < 0.3
    assert (tmp_path / "fit_log.csv").is_file()


def test_ch03_logistic_regression(tmp_path):
    out = run_chapter("ch03_logistic_regression", tmp_path)
    assert_pngs(tmp_path, ["cost_curves.png", "iris_curves.png"])
    assert row(out, "toy: accuracy")[2] == "1"
    assert float(row(out, "diabetes: accuracy on the table")[2]) > 0.65
    assert float(row(out, "iris: test accuracy")[2]) > 0.7


def test_ch04_softmax(tmp_path):
    out = run_chapter("ch04_softmax", tmp_path)
    assert_pngs(tmp_path, ["toy_loss.png", "zoo_confusion.png", "zoo_curves.png", "grade_ovr_vs_softmax.png"])
    assert row(out, "softmax([2, 1, 0.1])")[2] == "[0.659, 0.242, 0.099]"
    assert row(out, "sigmoid([2, 1, 0.1])")[2] == "[0.881, 0.731, 0.525]"
    assert row(out, "toy: argmax of the 3 test rows")[2] == "[1,0,2]"
    assert float(row(out, "zoo: training accuracy")[2]) > 0.85


def test_ch05_activations(tmp_path):
    out = run_chapter("ch05_activations", tmp_path)
    assert_pngs(tmp_path, ["activations.png", "activation_surfaces.png"])
    assert row(out, "sigmoid'(0)")[2] == "0.25"
    assert row(out, "tanh'(0)")[2] == "1"
    assert float(row(out, "max |backward - finite diff.|")[2]) < 1e-6
    assert row(out, "surface grid (w x b)")[2] == "20 x 20"


def test_ch06_xor_backprop(tmp_path):
    out = run_chapter("ch06_xor_backprop", tmp_path)
    assert_pngs(
        tmp_path,
        [
            "grad_norms_first_step.png",
            "grad_norms_sigmoid9.png",
            "grad_norms_relu9.png",
            "activations_sigmoid9.png",
        ],
    )
    # the course's hand-set weights reproduce its forward table
    assert row(out, "hand-set y1 = sigmoid(-8, -3, -3, 2)")[2] == "0.000335, 0.0474, 0.0474, 0.881"
    assert row(out, "hand-set output, hidden rounded")[2] == "0.006693, 0.9975, 0.9975, 0.006693"
    assert row(out, "hand-set net accuracy")[2] == "1"
    assert re.search(r"1\s+1\s+\|\s+\+2 0\.880797 \|\s+-11 0\.000017", out)
    assert row(out, "2-2-1 net: accuracy")[2] == "1"
    assert row(out, "2-10-10-10-1 net: accuracy")[2] == "1"
    # vanishing gradients: the first sigmoid layer gets far less gradient than the last
    assert float(row(out, "|grad layer 1| / |grad layer 9|, sigmoid")[2]) < 1e-2


def test_chapters_fall_back_to_embedded_data(tmp_path):
    """Without a data folder the loaders use the copies shipped in the package."""
    out = run_chapter("ch04_softmax", tmp_path, use_data=False)
    assert "(embedded)" in out or "(cache)" in out
    assert row(out, "toy: argmax of the 3 test rows")[2] == "[1,0,2]"


@pytest.mark.parametrize("name", ["ch01_tensors"])
def test_help_lists_quick_and_out(name):
    proc = subprocess.run(
        [sys.executable, str(CHAPTERS / f"{name}.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode == 0 and "--quick" in proc.stdout and "--out" in proc.stdout
