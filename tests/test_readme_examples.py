"""The README's examples run as printed, and the model file of "Your own experiment" loads in a new process
with the validation accuracy its checkpoint was chosen for."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.S)


def _run(code: str, cwd: Path) -> str:
    env_code = "import matplotlib; matplotlib.use('Agg')\n" + code
    proc = subprocess.run(
        [sys.executable, "-c", env_code], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout


def test_the_readme_has_its_two_examples():
    blocks = _python_blocks()
    assert len(blocks) == 2 and "load_mnist_5k(flatten=True" in blocks[0] and "ModelCheckpoint" in blocks[1]


def test_the_readme_examples_run_and_the_best_model_loads_in_a_new_process(tmp_path):
    first, experiment = _python_blocks()
    _run(first, tmp_path)
    assert (tmp_path / "mlp.npz").is_file()
    out = _run(experiment, tmp_path)
    assert [line.split(" - ")[0] for line in out.splitlines() if line.startswith("epoch ")] == [
        "epoch 1/3",
        "epoch 2/3",
        "epoch 3/3",
    ]
    rows = list(csv.DictReader((tmp_path / "cnn-log.csv").open()))
    assert len(rows) == 3 and all(float(r["top_k_accuracy"]) >= float(r["accuracy"]) for r in rows)
    best = max(float(r["val_accuracy"]) for r in rows)
    assert best > 0.8
    check = (
        "import scratchnet as sn\n"
        "from scratchnet.datasets import load_mnist_5k, train_test_split\n"
        "data = load_mnist_5k(as_images=True)\n"
        "_, x_val, _, y_val = train_test_split(data.x, data.y, test_size=0.2, seed=0)\n"
        "model = sn.load_model('cnn-best.npz')\n"
        "print((model.predict(x_val).argmax(1) == y_val).mean())\n"
    )
    assert abs(float(_run(check, tmp_path).strip()) - best) < 1e-9
