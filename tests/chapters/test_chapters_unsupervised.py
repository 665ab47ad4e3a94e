"""Smoke tests for the unsupervised chapters (17-20): each runs with --quick, writes its figures and prints
its course-vs-ours table. Numbers that the course publishes and that must come out the same whatever the
data (the RBM toy example) are checked exactly; the rest only for being present and finite."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHAPTERS = REPO / "chapters"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    data = os.environ.get("SCRATCHNET_DATA") or (
        str(REPO.parent / "shared" / "datasets") if (REPO.parent / "shared" / "datasets").is_dir() else None
    )
    if data:
        env["SCRATCHNET_DATA"] = data
    env.setdefault("SCRATCHNET_OFFLINE", "1")  # never wait on a download in CI
    env.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matmuls on a shared machine: threads only contend
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_chapter(name: str, out: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, str(CHAPTERS / f"{name}.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        env=_env() if env is None else env,
        timeout=300,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "== course vs scratchnet" in proc.stdout
    return proc.stdout


def full_mnist() -> bool:
    data = _env().get("SCRATCHNET_DATA")
    return bool(data) and (Path(data) / "mnist" / "train-images-idx3-ubyte.gz").is_file()


def assert_results_md(out: Path, name: str, row_start: str) -> None:
    """The final table is also written to results.md, with the command that produced it."""
    text = (out / "results.md").read_text()
    assert f"python chapters/{name}.py --quick" in text
    assert "wall time" in text
    assert any(line.startswith(row_start) for line in text.splitlines()), text


def table_row(stdout: str, what: str) -> list[str]:
    table = stdout.split("== course vs scratchnet", 1)[1]
    for line in table.splitlines():
        if line.startswith(what):
            return [c.strip() for c in line.split(" | ")]
    raise AssertionError(f"no table row starting {what!r} in:\n{table}")


def first_float(text: str) -> float:
    match = re.search(r"-?\d+\.\d+(?:e-?\d+)?", text)
    assert match, f"no number in {text!r}"
    return float(match.group())


def assert_pngs(out: Path, names: list[str]) -> None:
    for name in names:
        path = out / name
        assert path.is_file() and path.stat().st_size > 1000, f"missing or empty figure {path}"


def test_ch17_rbm_mnist(tmp_path):
    out = run_chapter("ch17_rbm_mnist", tmp_path)
    assert_pngs(
        tmp_path,
        ["rbm_error_vs_batch.png", "rbm_filters_5x10.png", "rbm_repair_digit.png", "rbm_gibbs_samples.png"],
    )
    row = table_row(out, "toy p(h|v)")
    ph = [float(v) for v in re.findall(r"\d\.\d+", row[2])]
    assert ph == pytest.approx([0.2263973, 0.24373265], abs=1e-5)
    assert first_float(table_row(out, "toy p(input | h=0)")[2]) == pytest.approx(
        0.0059864253744900215, rel=1e-5
    )
    # the zero-initialised model resamples every pixel as a fair coin: ~0.48 on MNIST-like data
    start = table_row(out, "error before training")
    assert start[1] == "0.4814648"
    assert 0.45 < first_float(start[2]) < 0.51
    assert start[3].startswith("MNIST 55k/10k" if full_mnist() else "MNIST 5k subset")
    # the lab's update from exactly zero must still learn (its sampled hidden states break the symmetry)
    trained = first_float(table_row(out, "error after")[2])
    assert trained < 0.3, "one pass of the lab's CD-1 must cut the reconstruction error well below the start"
    assert first_float(table_row(out, "scratchnet RBM CD-1")[2]) < 0.3
    broken, repaired = (float(v) for v in re.findall(r"\d\.\d+", table_row(out, "erased-band error")[2]))
    assert repaired < broken
    assert_results_md(tmp_path, "ch17_rbm_mnist", "error before training")


def test_ch17_says_when_it_falls_back_to_the_subset(tmp_path):
    env = _env()
    env.pop("SCRATCHNET_DATA", None)
    env["SCRATCHNET_NO_SIBLING_DATA"] = "1"  # hide ../shared/datasets: only the embedded 5k subset is left
    out = run_chapter("ch17_rbm_mnist", tmp_path, env)
    assert "full MNIST was not found" in out
    data = table_row(out, "error before training")[3]
    assert data.startswith("MNIST 5k subset") and "full MNIST not found" in data and data.endswith(", train")
    assert "full MNIST not found" in (tmp_path / "results.md").read_text()


def test_ch18_rbm_recommender(tmp_path):
    out = run_chapter("ch18_rbm_recommender", tmp_path)
    assert_pngs(tmp_path, ["toy_8x7.png", "error_per_epoch.png"])
    assert "0.0595" in table_row(out, "error, first epoch")[1]
    first = first_float(table_row(out, "error, first epoch")[2])
    last = first_float(table_row(out, "error, epoch")[2])
    assert last < first
    share = first_float(table_row(out, "top-20 in planted favourite genre")[2])
    assert share > 0.5, "recommendations should follow the planted tastes (chance is ~0.17)"
    assert len(re.findall(r"^\s+\d+\. ", out, flags=re.M)) == 20  # the printed top-20 list
    assert_results_md(tmp_path, "ch18_rbm_recommender", "error, first epoch")


def test_ch19_dbn(tmp_path):
    out = run_chapter("ch19_dbn", tmp_path)
    assert_pngs(tmp_path, ["pretrain_errors.png", "rbm1_filters.png", "finetune_accuracy.png"])
    first = table_row(out, "RBM 784-500 error after pass 1")
    assert first[1] == "0.0600874"
    assert first[3].startswith("MNIST 55k/10k" if full_mnist() else "MNIST 5k subset")
    for what in (
        "RBM 784-500 error after pass 1",
        "RBM 500-200 error after pass 1",
        "RBM 200-50 error after pass 1",
    ):
        assert 0.0 < first_float(table_row(out, what)[2]) < 0.5
    for what in ("pre-trained: training-set accuracy", "random init: test accuracy"):
        assert 0.0 <= first_float(table_row(out, what)[2]) <= 1.0
    assert "random init" in out and "pre-trained DBN" in out
    assert_results_md(tmp_path, "ch19_dbn", "RBM 784-500 error after pass 1")


def test_ch20_autoencoders(tmp_path):
    out = run_chapter("ch20_autoencoders", tmp_path)
    assert_pngs(
        tmp_path,
        ["ae_cost_curve.png", "ae_reconstructions_2x10.png", "denoising.png", "code_space_ae_vs_pca.png"],
    )
    epoch1 = table_row(out, "AE cost, epoch 1")
    assert epoch1[1] == "0.218729958"
    assert "train batch" in epoch1[3]  # the course's costs are training-batch figures, and say so
    first = first_float(epoch1[2])
    last = first_float(table_row(out, "AE cost, epoch 3")[2])
    assert last < first < 1.0
    untied, tied = (int(v) for v in table_row(out, "parameters untied / tied")[2].split(" / "))
    assert untied == 2 * (784 * 256 + 256 * 128) + 256 + 128 + 256 + 784
    assert tied == 784 * 256 + 256 * 128 + 256 + 128 + 256 + 784
    for what in ("2-D code, 5-NN test accuracy", "2-D code, reconstruction MSE"):
        ae, pca = (float(v) for v in table_row(out, what)[2].split(" / "))
        assert 0.0 < ae < 1.0 and 0.0 < pca < 1.0
    assert_results_md(tmp_path, "ch20_autoencoders", "AE cost, epoch 1")
