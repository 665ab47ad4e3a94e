"""Chapters 7 and 8 run end to end (``--quick``) as a user would start them, on the real data files and on the
copy of the 5k MNIST subset embedded in the package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
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


@needs_data("fashion-mnist/train-images-idx3-ubyte.gz", "fashion-mnist/t10k-labels-idx1-ubyte.gz")
def test_ch07_on_fashion_mnist(tmp_path):
    text = run_chapter(
        "ch07_mnist_mlp", tmp_path, "--data", "fashion", env_update={"SCRATCHNET_DATA": str(DATA)}
    )
    out = tmp_path / "fashion"
    for f in (
        "ladder.png",
        "five_layers.png",
        "predictions.png",
        "confusion.png",
        "curves_softmax.png",
        "history_relu_xavier.json",
        "history_relu_xavier.csv",
        "results.json",
    ):
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    assert (out / "checkpoints" / "relu_xavier_512x4_dropout" / "checkpoint.npz").is_file()
    results = json.loads((out / "results.json").read_text())
    assert results["data"].startswith("Fashion-MNIST 60k/10k")
    names = [
        "softmax",
        "relu_normal",
        "relu_xavier",
        "relu_xavier_512x4_dropout",
        "five_sigmoid",
        "five_relu",
        "five_relu_lr_decay",
    ]
    check_accuracies(results, names)
    history = json.loads((out / "history_softmax.json").read_text())
    assert len(history["records"]) == 1 and "val_accuracy" in history["records"][0]
    # the table names our data next to the course's MNIST figures
    assert "course reports" in text and "0.9455" in text and "0.9818" in text
    assert "784-256-256-10 N(0,1): test accuracy" in text and "Fashion-MNIST 60k/10k" in text


def test_ch07_falls_back_to_the_embedded_5k_subset(tmp_path):
    # An empty data folder and cache, downloads off: nothing but the package's own copy is left. (Leaving
    # SCRATCHNET_DATA unset is not enough here: the chapters also look in the sibling ../shared/datasets.)
    empty = tmp_path / "nothing"
    empty.mkdir()
    env = {"SCRATCHNET_DATA": str(empty), "SCRATCHNET_CACHE": str(empty), "SCRATCHNET_OFFLINE": "1"}
    text = run_chapter("ch07_mnist_mlp", tmp_path / "out", env_update=env)
    assert "full MNIST is not available" in text
    assert "embedded in scratchnet" in text  # the fallback is announced
    results = json.loads((tmp_path / "out" / "mnist5k" / "results.json").read_text())
    assert results["source"] == "embedded" and "MNIST 5k subset" in results["data"]
    check_accuracies(results, ["softmax", "relu_xavier"])
    assert (tmp_path / "out" / "mnist5k" / "confusion.png").is_file()
    assert "MNIST 5k subset" in text.split("course reports")[-1]


@needs_data("mnist_5k.csv.gz")
def test_ch08_training_tips(tmp_path):
    text = run_chapter("ch08_training_tips", tmp_path, env_update={"SCRATCHNET_DATA": str(DATA)})
    out = tmp_path / "mnist5k"
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
