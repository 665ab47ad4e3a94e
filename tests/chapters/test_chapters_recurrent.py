"""Chapters 12-16 (recurrent networks) run end to end with ``--quick`` as a user would start them."""

from __future__ import annotations

import math
import re

from chapter_runs import DATA, needs_data, run_chapter, table_row


def test_ch12_rnn_basics(tmp_path):
    text = run_chapter("ch12_rnn_basics", tmp_path)
    for f in ("char_losses.png", "vanishing_gradients.png"):
        assert (tmp_path / f).is_file(), f
    assert table_row(text, "hi-hello: prediction")[2] == "ihello"
    assert table_row(text, "if-you: prediction")[2] == "if you want you"
    assert float(table_row(text, "layer vs hand-unrolled")[2].split()[-1]) < 1e-12
    # the vanilla RNN's gradient 20 steps back is far smaller than the LSTM's
    rnn = float(table_row(text, "RNN: gradient 20 steps back")[2])
    lstm = float(table_row(text, "LSTM: gradient 20 steps back")[2])
    assert rnn < lstm / 3
    first = float(table_row(text, "hi-hello: first loss")[2])
    assert abs(first - math.log(5)) < 0.3  # near-uniform scores over 5 characters at the start


def test_ch13_lstm_mnist(tmp_path):
    # full MNIST when the shared copy is there, else the embedded 5k subset: the chapter runs either way
    text = run_chapter("ch13_lstm_mnist", tmp_path)
    for f in ("mnist_lstm_curve.png", "mnist_lstm_predictions.png", "results.md"):
        assert (tmp_path / f).is_file(), f
    full = (DATA / "mnist" / "train-images-idx3-ubyte.gz").is_file()
    row = table_row(text, "test accuracy, 1,000 test images")
    assert row[3] == "MNIST 55k/10k, test" if full else row[3].startswith("MNIST 5k subset")
    assert 0.3 < float(row[2]) <= 1.0  # 40 Adam steps already beat chance (0.1) clearly
    # the course's figures are training-batch accuracies, printed next to ours at the same example count
    course, ours = table_row(text, "batch at example 1000")[1:3]
    assert course == "0.46 / 1.743"
    acc, loss = (float(v) for v in ours.split(" / "))
    assert 0.0 <= acc <= 1.0 and 0.0 < loss < 10.0
    results = (tmp_path / "results.md").read_text()
    assert "python chapters/ch13_lstm_mnist.py --quick" in results
    assert any(line.startswith("batch at example 1000") for line in results.splitlines())


@needs_data("ptb/ptb.valid.txt", "ptb/ptb.test.txt")
def test_ch14_ptb_language_model(tmp_path):
    text = run_chapter("ch14_ptb_language_model", tmp_path)
    assert (tmp_path / "perplexity.png").is_file()
    untrained = float(table_row(text, "untrained loss per word")[2])
    assert abs(untrained - math.log(10000)) < 0.05
    cells = table_row(text, "epoch 1 (lr 1)")[2].split("/")
    train_ppl, test_ppl = float(cells[0]), float(cells[1])
    assert math.isfinite(train_ppl) and 1 < test_ppl < 10000  # a few SGD steps already beat uniform


@needs_data("tinyshakespeare/input.txt")
def test_ch15_char_model(tmp_path):
    text = run_chapter("ch15_char_model", tmp_path)
    assert (tmp_path / "char_loss.png").is_file()
    assert abs(float(table_row(text, "untrained loss")[2]) - math.log(65)) < 0.05
    for mode in ("greedy", "weighted", "weighted at spaces", "temperature 0.5", "temperature 1.5"):
        match = re.search(rf"\[{mode}\]\n(The [^\n]*)", text)
        assert match, f"no {mode} sample printed"


@needs_data("data-02-stock_daily.csv")
def test_ch16_time_series(tmp_path):
    text = run_chapter("ch16_time_series", tmp_path)
    assert (tmp_path / "stock_test_prediction.png").is_file()
    cell = table_row(text, "LSTM(10) + Dense, Adam: test RMSE")[2]
    rmse = float(cell.split()[0])
    assert 0 < rmse < 0.3  # scaled units; a model that learnt nothing is off by ~0.5
