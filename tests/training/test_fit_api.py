"""What ``Trainer.fit`` offers a user coming from Keras or PyTorch: epochs counted per call, a line per epoch,
metrics by name that follow the loss, DataLoaders and other batch iterables as data, clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from toy_data import blobs

import scratchnet as sn
from scratchnet.datasets import DataLoader
from scratchnet.layers import Dense, Embedding, ReLU, TimeDistributed
from scratchnet.losses import MeanSquaredError, SequenceCrossEntropy, SoftmaxCrossEntropy
from scratchnet.optim import SGD, Adam
from scratchnet.training import Trainer


def classifier(seed: int = 0) -> tuple[sn.Sequential, Trainer]:
    sn.seed(seed)
    model = sn.Sequential([Dense(2, 16), ReLU(), Dense(16, 3)])
    return model, Trainer(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1e-2), seed=seed)


def weights(model) -> list[np.ndarray]:
    return [p.value.copy() for p in model.parameters()]


def test_each_fit_call_trains_its_own_epochs():
    x, y = blobs()
    model, trainer = classifier()
    trainer.fit(x, y, epochs=1, verbose=0)
    after_one = weights(model)
    trainer.fit(x, y, epochs=1, verbose=0)
    assert trainer.epoch == 2 and len(trainer.history) == 2
    assert [r["epoch"] for r in trainer.history.records] == [1, 2]
    assert any(not np.array_equal(a, b) for a, b in zip(after_one, weights(model)))
    # and two calls of one epoch are one call of two: same batches, same weights
    model2, trainer2 = classifier()
    trainer2.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(weights(model), weights(model2)):
        np.testing.assert_array_equal(a, b)


def test_a_call_with_nothing_to_train_warns_and_changes_nothing():
    x, y = blobs()
    model, trainer = classifier()
    before = weights(model)
    with pytest.warns(RuntimeWarning, match="nothing to train"):
        trainer.fit(x, y, epochs=0, verbose=0)
    assert trainer.epoch == 0 and all(np.array_equal(a, b) for a, b in zip(before, weights(model)))


def test_one_line_per_epoch_by_default(capsys):
    x, y = blobs()
    _, trainer = classifier()
    trainer.fit(x, y, epochs=2, validation_data=(x[:50], y[:50]), progress=False)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2
    assert lines[1].startswith("epoch 2/2 - ") and " - loss " in lines[1] and " - val_accuracy " in lines[1]


@pytest.mark.parametrize("verbose", [0, False])
def test_verbose_zero_is_silent(capsys, verbose):
    x, y = blobs()
    _, trainer = classifier()
    trainer.fit(x, y, epochs=1, verbose=verbose)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize("verbose", [3, -1, "loud", 1.0])
def test_bad_verbose_is_refused(verbose):
    x, y = blobs()
    _, trainer = classifier()
    with pytest.raises(ValueError, match="verbose"):
        trainer.fit(x, y, epochs=1, verbose=verbose)


def test_metrics_by_name_are_recorded_with_their_values():
    x, y = blobs()
    model, _ = classifier()
    trainer = Trainer(
        model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.0), metrics=["accuracy", "top_k_accuracy"]
    )
    record = trainer.fit(x, y, epochs=1, batch_size=len(x), verbose=0).records[-1]
    pred = model.predict(x)
    assert record["accuracy"] == pytest.approx(float((pred.argmax(1) == y).mean()))
    assert record["top_k_accuracy"] == 1.0  # 3 classes, k = 5: every label is in the top 5
    top2 = (np.argsort(-pred, axis=1)[:, :2] == y[:, None]).any(axis=1).mean()
    named = Trainer(
        model,
        SoftmaxCrossEntropy(),
        SGD(model.parameters(), lr=0.0),
        metrics={"top2": lambda p, t: sn.training.metrics.top_k_accuracy(p, t, k=2)},
    )
    assert named.evaluate(x, y)["top2"] == pytest.approx(top2)


def test_regression_metrics_by_name():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    t = rng.standard_normal((64, 2)).astype(np.float32)
    model = sn.Sequential([Dense(3, 2)])
    trainer = Trainer(model, MeanSquaredError(), SGD(model.parameters(), lr=0.0), metrics=["mae", "mse"])
    scores = trainer.evaluate(x, t)
    pred = model.predict(x)
    assert scores["mae"] == pytest.approx(float(np.abs(pred - t).mean()), rel=1e-6)
    assert scores["mse"] == pytest.approx(float(((pred - t) ** 2).mean()), rel=1e-6)
    assert "accuracy" not in Trainer(model, MeanSquaredError(), SGD(model.parameters(), lr=0.1)).metrics


def test_perplexity_follows_a_sequence_loss_and_is_the_exponential_of_the_epoch_loss():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 7, (32, 5))
    model = sn.Sequential([Embedding(7, 4), TimeDistributed(Dense(4, 7))])
    trainer = Trainer(model, SequenceCrossEntropy(), Adam(model.parameters(), lr=1e-2), seed=0)
    assert "accuracy" in trainer.metrics and trainer.derived_metrics == ["perplexity"]
    record = trainer.fit(ids, ids, epochs=1, batch_size=8, validation_data=(ids, ids), verbose=0).records[-1]
    assert record["perplexity"] == math.exp(record["loss"])
    assert record["val_perplexity"] == math.exp(record["val_loss"])
    with pytest.raises(ValueError, match="perplexity"):
        Trainer(model, MeanSquaredError(), SGD(model.parameters(), lr=0.1), metrics=["perplexity"])


@pytest.mark.parametrize(
    ("metrics", "error", "match"),
    [
        (["acuracy"], ValueError, r"unknown metric 'acuracy'.*top_k_accuracy"),
        ([lambda p, t: 0.0], ValueError, "no name"),
        (["accuracy", "accuracy"], ValueError, "taken"),
        ([("loss", lambda p, t: 0.0)], ValueError, "taken"),
        ([3], TypeError, "a name, a function"),
    ],
)
def test_bad_metrics_are_refused_when_the_trainer_is_built(metrics, error, match):
    model, _ = classifier()
    with pytest.raises(error, match=match):
        Trainer(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), metrics=metrics)


def test_a_named_function_is_recorded_under_its_name():
    def half(pred, target):
        return 0.5

    x, y = blobs()
    model, _ = classifier()
    trainer = Trainer(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), metrics=[half])
    assert trainer.fit(x, y, epochs=1, verbose=0).records[-1]["half"] == 0.5


def test_a_loss_or_optimizer_class_instead_of_an_instance_is_refused_at_once():
    model, _ = classifier()
    with pytest.raises(TypeError, match=r"instance.*SoftmaxCrossEntropy"):
        Trainer(model, SoftmaxCrossEntropy, SGD(model.parameters(), lr=0.1))
    with pytest.raises(TypeError, match=r"optimizer must be an instance, got the class Adam"):
        Trainer(model, SoftmaxCrossEntropy(), Adam)


def test_a_data_loader_trains_as_the_same_batches_given_as_arrays():
    x, y = blobs()
    model, trainer = classifier()
    trainer.fit(x, y, epochs=2, batch_size=32, shuffle=False, validation_data=(x, y), verbose=0)
    model2, trainer2 = classifier()
    loader = DataLoader(x, y, batch_size=32, shuffle=False)
    trainer2.fit(
        loader, epochs=2, validation_data=DataLoader(x, y, batch_size=1024, shuffle=False), verbose=0
    )
    for a, b in zip(weights(model), weights(model2)):
        np.testing.assert_array_equal(a, b)
    for r1, r2 in zip(trainer.history.records, trainer2.history.records):
        assert r1["loss"] == r2["loss"] and r1["val_loss"] == r2["val_loss"]
    assert trainer2.evaluate(loader) == pytest.approx(trainer2.evaluate(x, y))
    np.testing.assert_array_equal(trainer2.predict(loader), trainer2.predict(x))


def test_a_list_of_batches_is_data_too():
    x, y = blobs()
    _, trainer = classifier()
    batches = [(x[i : i + 50], y[i : i + 50]) for i in range(0, len(x), 50)]
    history = trainer.fit(batches, epochs=3, verbose=0)
    assert len(history) == 3 and history["loss"][-1] < history["loss"][0]


def test_data_errors_are_clear():
    x, y = blobs()
    _, trainer = classifier()
    with pytest.raises(TypeError, match="one-pass iterator"):
        trainer.fit(((x[i : i + 50], y[i : i + 50]) for i in range(0, 300, 50)), epochs=2, verbose=0)
    with pytest.raises(ValueError, match="no targets"):
        trainer.fit(DataLoader(x, batch_size=10), epochs=1, verbose=0)
    with pytest.raises(TypeError, match="y is missing"):
        trainer.fit(x, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="300 samples but y has 299"):
        trainer.fit(x, y[:-1], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="not an \\(x, y\\) pair"):
        trainer.fit([x[:10], x[10:20]], epochs=1, verbose=0)
    assert trainer.epoch == 0


def test_a_per_step_scheduler_is_stepped_after_every_batch():
    class CountingSchedule:
        per_step = True

        def __init__(self):
            self.steps = 0

        def step(self):
            self.steps += 1

    x, y = blobs()
    model, _ = classifier()
    schedule = CountingSchedule()
    trainer = Trainer(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), scheduler=schedule)
    trainer.fit(x, y, epochs=2, batch_size=100, verbose=0)
    assert schedule.steps == 6
