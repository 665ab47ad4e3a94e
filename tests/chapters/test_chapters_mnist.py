"""Chapters 7 and 8 run end to end (``--quick``) as a user would start them, on full MNIST when its files are
found and on the copy of the 5k MNIST subset embedded in the package when nothing else is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHAPTERS = REPO / "chapters"
DATA = Path(os.environ.get("SCRATCHNET_DATA") or REPO.parent / "shared" / "datasets")


def run_chapter(name: str, out: Path, *extra: str, env_update: dict[str, str] | None = None) -> str:
    env = dict(os.environ)
    env.update({"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    env.update(env_update or {})
    proc = subprocess.run(
        [sys.executable, str(CHAPTERS / f"{name}.py"), "--quick", "--out", str(out), *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{name} failed ({proc.returncode}):\n{text[-4000:]}"
    return text


def needs_data(*files: str):
    missing = [f for f in files if not (DATA / f).is_file()]
    return pytest.mark.skipif(bool(missing), reason=f"real data files not found in {DATA}: {missing}")


def check_accuracies(results: dict, names: list[str]) -> None:
    for name in names:
        acc = results["models"][name]["test_accuracy"]
        assert 0.0 <= acc <= 1.0, (name, acc)


MODELS = [
    "softmax",
    "relu_256x2_normal",
    "relu_256_128_64_normal",
    "relu_256_128_64_xavier",
    "relu_512x4_xavier_dropout",
    "five_sigmoid",
    "five_relu",
    "five_relu_lr_decay",
]


def table_rows(text: str) -> dict[str, list[str]]:
    """The final table's rows, by their first cell."""
    table = text[text.rindex("\n== course") :].split("\nnotes:")[0]
    lines = [ln for ln in table.splitlines()[3:] if " | " in ln]  # after the title, header and rule
    return {cells[0]: cells for cells in ([c.strip() for c in ln.split(" | ")] for ln in lines)}


@needs_data("mnist/train-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz")
def test_ch07_on_full_mnist(tmp_path):
    text = run_chapter("ch07_mnist_mlp", tmp_path, env_update={"SCRATCHNET_DATA": str(DATA)})
    for f in (
        "ladder.png",
        "five_layers.png",
        "predictions.png",
        "confusion.png",
        "results.json",
        "results.md",
    ):
        assert (tmp_path / f).is_file() and (tmp_path / f).stat().st_size > 0, f
    results = json.loads((tmp_path / "results.json").read_text())
    # the course's data: TensorFlow's 55k training split of full MNIST and the 10k test set (quick: subsets)
    assert results["full_mnist"] is True and results["data"] == "MNIST 55k/10k, subset 800/300"
    check_accuracies(results, MODELS)
    assert results["models"]["relu_256_128_64_xavier"]["recipe"] == "Adam lr 0.01, batch 100, 1 ep"
    history = json.loads((tmp_path / "history_softmax.json").read_text())
    assert len(history) == 1 and {"cost", "test_accuracy"} <= set(history[0])
    rows = table_rows(text)
    for what, course in (
        ("softmax regression: accuracy", "0.9035 (test)"),
        ("784-256-256-10 N(0,1): epoch-1 cost", "141.2 (train)"),
        ("784-256-256-10 N(0,1): accuracy", "0.9455 (test)"),
        ("784-256-128-64-10 Xavier: accuracy", "0.9769 (test)"),
        ("784-512x4-10 Xavier + dropout: accuracy", "0.9818 (test)"),
    ):
        cells = rows[what]
        assert cells[1] == course and cells[3] == "MNIST 55k/10k, subset 800/300" and "Adam" in cells[4], (
            cells
        )
    md = (tmp_path / "results.md").read_text()
    assert (
        "command: `python chapters/ch07_mnist_mlp.py --quick" in md and "wall time:" in md and "0.9818" in md
    )


def test_ch07_falls_back_to_the_embedded_5k_subset(tmp_path):
    # An empty data folder and cache, downloads off: nothing but the package's own copy is left. (Leaving
    # SCRATCHNET_DATA unset is not enough here: the chapters also look in the sibling ../shared/datasets.)
    empty = tmp_path / "nothing"
    empty.mkdir()
    env = {"SCRATCHNET_DATA": str(empty), "SCRATCHNET_CACHE": str(empty), "SCRATCHNET_OFFLINE": "1"}
    text = run_chapter("ch07_mnist_mlp", tmp_path / "out", env_update=env)
    assert "NOTE full MNIST was not found" in text  # the fallback is announced...
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["source"] == "embedded" and results["full_mnist"] is False
    assert results["data"] == "MNIST 5k subset 4000/1000, subset 800/300 (full MNIST not found)"
    check_accuracies(results, ["softmax", "relu_256_128_64_xavier"])
    assert (tmp_path / "out" / "confusion.png").is_file()
    # ...and every table row names the stand-in data
    rows = table_rows(text)
    assert rows and all(cells[3].endswith("(full MNIST not found)") for cells in rows.values())


def test_ch08_training_tips(tmp_path):
    text = run_chapter("ch08_training_tips", tmp_path)
    out = tmp_path
    for f in (
        "init_activations_tanh.png",
        "init_activations_relu.png",
        "init_training.png",
        "optimizers.png",
        "overfitting.png",
        "batchnorm.png",
        "lr_schedules.png",
        "results.json",
    ):
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    results = json.loads((out / "results.json").read_text())
    assert set(results["optimizers"]) == {
        "SGD 0.01",
        "Momentum 0.01/0.9",
        "AdaGrad 0.01",
        "RMSProp 0.001",
        "Adam 0.001",
    }
    stats = results["init_stats"]
    # physics of the initialisations, independent of training: std 0.01 shrinks the signal layer by layer,
    # He keeps a ReLU net's activations at unit scale, std 1 blows them up
    assert stats["tanh"]["std 0.01"][-1] < 1e-3 < stats["tanh"]["Xavier"][-1]
    assert 0.3 < stats["relu"]["He"][-1] < 3.0 < stats["relu"]["std 1"][-1]
    assert len(stats["relu"]["He"]) == 5
    for key in ("no regularisation", "L2 weight decay 0.1", "dropout 0.15"):
        assert 0.0 <= results["overfitting"][key]["test"] <= 1.0
    assert "lr schedule StepLR(step 4, x0.3): test acc" in text
    assert "init He, with BatchNorm: test acc" in text
    assert results["data"].startswith("MNIST") and (out / "results.md").is_file()
