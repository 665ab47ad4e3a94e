"""Chapters 9-11 (convolutions, CNNs on MNIST, architectures) run end to end with ``--quick``, as a user
would start them, and print the course's published numbers."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchnet.fast.winograd import ERROR_BOUND

REPO = Path(__file__).resolve().parents[2]
CHAPTERS = REPO / "chapters"
_SIBLING = REPO.parent / "shared" / "datasets"
DATA = os.environ.get("SCRATCHNET_DATA") or (str(_SIBLING) if _SIBLING.is_dir() else None)


def run_chapter(name: str, out: Path) -> str:
    env = dict(os.environ)
    env.update({"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    if DATA:
        env["SCRATCHNET_DATA"] = DATA
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
    return text


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def table_row(text: str, what: str) -> list[str]:
    """The cells of the final table's row that starts with ``what``."""
    table = text[text.rindex("\n== course") :]
    for line in table.splitlines():
        if line.startswith(what):
            return [c.strip() for c in line.split(" | ")]
    raise AssertionError(f"no table row {what!r} in:\n{table}")


def assert_pngs(out: Path, names: list[str]) -> None:
    for name in names:
        path = out / name
        assert path.is_file() and path.stat().st_size > 1000, name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_ch09_convolutions(tmp_path):
    text = run_chapter("ch09_convolutions", tmp_path)
    flat = squash(text)
    for expected in (
        "[6,11,14,5,0]",
        "[6,14,34,34,8]",
        "[6,14,34,34]",
        "[14,34,34]",
        "[436,1086,1108,690]",
        "[[248,4],[-28,236],[2,-14]]",
        "[[12,16],[24,28]]",
        "[[12,16,9],[24,28,15],[15,17,9]]",
        "[[120,160,90],[240,280,150],[150,170,90]]",
        "[[-12,-16,-9],[-24,-28,-15],[-15,-17,-9]]",
    ):
        assert expected in flat, expected
    # our value next to the course's misprint, and the note saying so
    last = table_row(text, "2-D g=[[-1,1],[2,3]], full, last row")
    assert "1066" in last[1] and squash(last[2]) == "[436,1086,1108,690]"
    assert "misprint" in text and "1086" in text
    # TF 'SAME' through the Conv2D layer gives the same map as the reference function
    assert squash(table_row(text, "Conv2D layer, 'same'")[2]) == "[[12,16,9],[24,28,15],[15,17,9]]"
    assert squash(table_row(text, "max pool 2x2 s2 on 4x4 slice")[2]) == "[[6,8],[3,4]]"
    # the Laplacian is exactly zero on the smooth ramp and large on edges
    lap = table_row(text, "Laplacian on flat/ramp regions")[2]
    assert lap.startswith("0 ") and float(re.search(r"edges: (\d+)", lap).group(1)) > 100
    assert_pngs(tmp_path, ["three_filters.png", "edges_blur.png", "feature_maps.png"])
    check_ch09_fast_convolution(text)


def correlate_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The direct 'valid' cross-correlation, as four loops: the test's own oracle for the worked examples."""
    image, kernel = np.atleast_2d(image), np.atleast_2d(kernel)
    (h, w), (kh, kw) = image.shape, kernel.shape
    return np.array(
        [
            [(image[y : y + kh, x : x + kw] * kernel).sum() for x in range(w - kw + 1)]
            for y in range(h - kh + 1)
        ]
    )


def check_ch09_fast_convolution(text: str) -> None:
    """The worked im2col and Winograd examples equal the direct convolution; the timed algorithms' errors
    against float64 are ordered as the maths says (Winograd within its bound, im2col below Winograd)."""

    def value(what: str) -> np.ndarray:
        return np.array(ast.literal_eval(table_row(text, what)[2]), dtype=np.float64)

    toy = np.arange(1, 10).reshape(3, 3)
    expected = correlate_valid(toy, np.array([[1, 2], [3, 4]]))
    assert np.array_equal(value("im2col by hand: row @ cols"), expected)
    assert np.array_equal(value("im2col by hand: direct"), expected)
    # cols: one printed line per kernel tap, one column per window of the toy image
    taps = [line.split(")", 1)[1].split() for line in text.splitlines() if line.strip().startswith("tap (")]
    windows = [toy[y : y + 2, x : x + 2].ravel() for y in range(2) for x in range(2)]
    assert np.array_equal(np.array(taps, dtype=np.float64), np.array(windows).T), taps
    expected = correlate_valid(np.array([1, 2, 3, 4]), np.array([1, 0, -1]))[0]
    assert np.array_equal(value("Winograd F(2,3) by hand: y"), expected)
    assert np.array_equal(value("Winograd F(2,3) by hand: direct"), expected)
    assert table_row(text, "Winograd F(2,3): multiplications")[2] == "4 vs 6"
    g2 = np.array([[1, 2, 0], [0, 1, -1], [2, 0, 1]])
    expected = correlate_valid(np.arange(1, 17).reshape(4, 4), g2)
    assert np.array_equal(value("Winograd F(2x2,3x3) by hand: Y"), expected)
    assert np.array_equal(value("Winograd F(2x2,3x3) by hand: direct"), expected)
    for m, r in ((2, 3), (4, 3), (4, 5)):
        counts = table_row(text, f"F({m}x{m},{r}x{r}) multiplications/tile")[2]
        assert counts == f"{(m + r - 1) ** 2} vs {m * m * r * r}", counts

    for layer, m, k, extra in (
        ("conv 1->32 5x5 28x28", 4, 5, ("direct kernel",)),  # the few-channel kernel: only where auto uses it
        ("conv 32->64 5x5 14x14", 4, 5, ()),
        ("conv 64->128 3x3 16x16", 4, 3, ()),
    ):
        errors = {}
        for algorithm in ("NumPy reference", "im2col kernel", f"Winograd F({m}x{m},{k}x{k})", *extra):
            cells = table_row(text, f"{layer}: {algorithm}")
            found = re.fullmatch(r"([\d.]+) ms, ([\d.]+)x, err ([\d.e+-]+)", cells[2])
            assert found and float(found.group(1)) > 0 and cells[3].startswith("N=4,"), cells
            errors[algorithm] = float(found.group(3))
        winograd = errors.pop(f"Winograd F({m}x{m},{k}x{k})")
        assert 0 < winograd < ERROR_BOUND[(m, k)][np.float32], (layer, winograd)
        for (
            algorithm,
            err,
        ) in errors.items():  # im2col and direct: exact up to the float32 rounding of each sum
            assert 0 < err < winograd, (layer, algorithm, err, winograd)


def test_ch10_cnn_mnist(tmp_path):
    text = run_chapter("ch10_cnn_mnist", tmp_path)
    full = DATA is not None and (Path(DATA) / "mnist" / "train-images-idx3-ubyte.gz").is_file()
    data = "MNIST 55k/10k, subset 300/200" if full else "MNIST 5k subset 4000/1000, subset 300/200"
    for what, course in (
        ("simple CNN accuracy", "0.9885 (test)"),
        ("deep CNN accuracy", "0.9938 (test)"),
        ("ensemble of 2, summed probabilities", "0.9952 (test, 7 members)"),
        ("tutorial CNN: accuracy", "(not printed)"),
    ):
        cells = table_row(text, what)
        assert cells[1] == course, cells
        assert 0.0 <= float(cells[2]) <= 1.0
        assert cells[3].startswith(data), cells  # every row names its data...
        assert "Adam" in cells[4] and "min]" in cells[4], cells  # ...and its recipe and run time
    # the ensemble runs 2 of the course's 7 members by default and states what all 7 would take here
    assert len(re.findall(r"member \d: test accuracy", text)) == 2
    full_recipe = table_row(text, "full recipe here: 7 members x 15 ep")
    assert (
        re.fullmatch(r"[\d.]+ h \(\d+ s/epoch measured\)", full_recipe[2])
        and full_recipe[4] == "--recipe course"
    )
    # the architectures as the course prints them: 7x7x64 -> 3136 and 4x4x128 -> 2048 into the dense layers
    assert "(None, 64, 7, 7)" in text and "(None, 3136)" in text and "(None, 2048)" in text
    md = (tmp_path / "results.md").read_text()
    assert "command: `python chapters/ch10_cnn_mnist.py --quick" in md and "0.9952" in md
    assert_pngs(
        tmp_path,
        ["ensemble.png", "curves_deep.png", "filters_5x5.png", "filters_3x3.png", "feature_maps.png"],
    )


def test_ch11_architectures(tmp_path):
    text = run_chapter("ch11_architectures", tmp_path)
    assert table_row(text, "AlexNet CONV1 output")[2] == "55x55x96"
    assert table_row(text, "AlexNet CONV1 weights")[2] == "34,848"
    assert table_row(text, "AlexNet POOL1 output / params")[2] == "27x27x96, 0"
    # published totals: VGG-16 and ResNet-18/34 (torchvision counts), LeNet-5 layer counts
    assert table_row(text, "VGG-16 total parameters")[2] == "138,357,544"
    assert table_row(text, "ResNet-18 / 34 parameters")[2] == "11,689,512 / 21,797,672"
    assert table_row(text, "ResNet-18 mult-adds")[2].startswith("1.8")
    assert table_row(text, "ResNet-34 mult-adds")[2].startswith("3.6")
    assert "C1 156, C5 48,120, F6 10,164" in table_row(text, "LeNet-5 parameters")[2]
    assert table_row(text, "AlphaGo policy: output, parameters")[2].startswith("19x19x1")
    # the calculator agrees with real scratchnet models
    for what in ("LeNet-5 (28x28) parameters", "small ResNet parameters"):
        a, b = table_row(text, what)[2].split(" vs ")
        assert a == b, what
    for what in ("LeNet-5 test accuracy", "small ResNet test accuracy"):
        cells = table_row(text, what)
        assert 0.0 <= float(cells[2]) <= 1.0 and cells[3].startswith("MNIST"), cells
    assert_pngs(tmp_path, ["architectures.png", "training.png", "curves_resnet.png"])


@pytest.mark.parametrize("name", ["ch09_convolutions", "ch10_cnn_mnist", "ch11_architectures"])
def test_chapter_help(name):
    proc = subprocess.run(
        [sys.executable, str(CHAPTERS / f"{name}.py"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "--quick" in proc.stdout
    if name == "ch10_cnn_mnist":
        assert "--recipe" in proc.stdout and "--members" in proc.stdout
