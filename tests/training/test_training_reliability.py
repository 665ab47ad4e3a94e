"""Issue #25, items 9 and 10: the Trainer's randomness follows ``scratchnet.seed``; its default metrics follow
the loss; a metric that cannot take the model's output is refused before any update; an exception during an
epoch leaves the trainer as at the end of the last good epoch."""

import numpy as np
import pytest
from toy_data import blobs

import scratchnet as sn
from scratchnet import optim
from scratchnet.layers import LSTM, Dense, Dropout, Embedding, ReLU, Sigmoid, TimeDistributed
from scratchnet.losses import BinaryCrossEntropy, MeanSquaredError, SequenceCrossEntropy, SoftmaxCrossEntropy
from scratchnet.training import Trainer, accuracy, binary_accuracy


def classifier(seed=0, **kwargs):
    sn.seed(seed)
    model = sn.Sequential([Dense(2, 16), ReLU(), Dropout(0.2), Dense(16, 3)])
    return Trainer(model, SoftmaxCrossEntropy(), optim.Adam(model.parameters(), lr=0.01), **kwargs)


def sequence_trainer(**kwargs):
    """Logits (N, T, V) = (N, 5, 7) for integer targets (N, 5)."""
    sn.seed(0)
    model = sn.Sequential(
        [Embedding(7, 6), LSTM(6, 8, return_sequences=True), Dropout(0.2), TimeDistributed(Dense(8, 7))]
    )
    return Trainer(model, SequenceCrossEntropy(), optim.Adam(model.parameters(), lr=0.01), **kwargs)


def sequences(n=32):
    r = np.random.default_rng(3)
    x = r.integers(0, 7, (n, 5))
    return x, (x + 1) % 7  # predict the next symbol


def without_time(history):
    return [{k: v for k, v in r.items() if k != "time"} for r in history.records]


def snapshot(trainer):
    """Everything a failed epoch must leave as it was: weights, optimizer, history, random streams."""
    return {
        "model": {k: v.copy() for k, v in trainer.model.state_dict().items()},
        "optim": {k: np.array(v, copy=True) for k, v in trainer.optimizer.state_dict().items()},
        "history": without_time(trainer.history),
        "epoch": trainer.epoch,
        "rng": trainer.rng.bit_generator.state,
        "layer_rngs": trainer.model.get_rng_state(),
    }


def assert_same_snapshot(a, b):
    for group in ("model", "optim"):
        assert sorted(a[group]) == sorted(b[group])
        for k in a[group]:
            np.testing.assert_array_equal(a[group][k], b[group][k], err_msg=f"{group}/{k}")
    for key in ("history", "epoch", "rng", "layer_rngs"):
        assert a[key] == b[key], key


# -- item 9: scratchnet.seed makes fit reproducible -----------------------------------------------------------
def run_seeded(seed):
    x, y = blobs()
    trainer = classifier(seed)  # sn.seed(seed), then the model and the trainer
    trainer.fit(x, y, epochs=2, batch_size=32, progress=False)  # no fit(seed=...)
    return trainer


def test_library_seed_makes_fit_reproducible():
    first, second, other = run_seeded(0), run_seeded(0), run_seeded(1)
    for k, v in first.model.state_dict().items():
        np.testing.assert_array_equal(second.model.state_dict()[k], v, err_msg=k)
    assert without_time(first.history) == without_time(second.history)
    assert not np.array_equal(first.model.state_dict()["0.W"], other.model.state_dict()["0.W"])


def test_library_seed_gives_the_batch_order_even_from_the_same_initial_weights():
    """Only the trainer's stream differs between these runs (same weights, no dropout): seeding the library
    differently must change the batch order, seeding it the same must not."""
    x, y = blobs()
    weights = []
    for seed in (0, 0, 1):
        sn.seed(5)
        model = sn.Sequential([Dense(2, 8), ReLU(), Dense(8, 3)])
        sn.seed(seed)
        Trainer(model, SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr=0.1)).fit(
            x, y, epochs=1, batch_size=16, progress=False
        )
        weights.append(model.state_dict()["0.W"])
    np.testing.assert_array_equal(weights[0], weights[1])
    assert not np.array_equal(weights[0], weights[2])


def test_building_a_trainer_leaves_later_initial_weights_unchanged():
    sn.seed(0)
    Dense(2, 3)
    alone = Dense(3, 4).params["W"].copy()
    sn.seed(0)
    first = Dense(2, 3)
    Trainer(first, MeanSquaredError(), optim.SGD(first.parameters(), lr=0.1))
    np.testing.assert_array_equal(Dense(3, 4).params["W"], alone)


# -- item 10: default metrics follow the loss ---------------------------------------------------------------
def test_regression_and_autoencoder_histories_have_no_accuracy():
    r = np.random.default_rng(0)
    x = r.standard_normal((64, 4)).astype(np.float32)
    y = (x @ r.standard_normal((4, 2))).astype(np.float32)
    sn.seed(0)
    regression = sn.Sequential([Dense(4, 8), ReLU(), Dense(8, 2)])
    trainer = Trainer(regression, MeanSquaredError(), optim.Adam(regression.parameters(), lr=0.01))
    history = trainer.fit(x, y, epochs=2, batch_size=16, validation_data=(x, y), progress=False)
    assert set(history.records[0]) == {"epoch", "loss", "val_loss", "lr", "time"}
    assert set(trainer.evaluate(x, y)) == {"loss"}

    images = (r.random((64, 6)) > 0.5).astype(np.float32)
    autoencoder = sn.Sequential([Dense(6, 3), ReLU(), Dense(3, 6), Sigmoid()])
    trainer = Trainer(autoencoder, MeanSquaredError(), optim.Adam(autoencoder.parameters(), lr=0.01))
    history = trainer.fit(images, images, epochs=2, batch_size=16, progress=False)
    assert set(history.records[0]) == {"epoch", "loss", "lr", "time"}


def test_classification_losses_still_report_accuracy():
    x, y = blobs()
    history = classifier().fit(x, y, epochs=1, batch_size=32, validation_data=blobs(50, 1), progress=False)
    assert {"accuracy", "val_accuracy"} <= set(history.records[0])

    sn.seed(0)
    model = sn.Sequential([Dense(2, 1)])
    binary = Trainer(model, BinaryCrossEntropy(from_logits=True), optim.SGD(model.parameters(), lr=0.1))
    history = binary.fit(x, (y == 0).astype(np.float32), epochs=1, batch_size=32, progress=False)
    assert 0.0 <= history.records[0]["accuracy"] <= 1.0


def test_an_explicit_accuracy_is_kept_for_any_loss():
    """A classifier trained with MSE on one-hot targets (the DBN chapter) asks for accuracy by name."""
    x, y = blobs()
    sn.seed(0)
    model = sn.Sequential([Dense(2, 3), Sigmoid()])
    trainer = Trainer(model, MeanSquaredError(), optim.SGD(model.parameters(), lr=0.5), metrics=("accuracy",))
    history = trainer.fit(x, np.eye(3, dtype=np.float32)[y], epochs=3, batch_size=32, progress=False)
    assert history.records[-1]["accuracy"] > 0.5


def test_sequence_logits_get_a_per_step_accuracy():
    x, y = sequences()
    history = sequence_trainer().fit(x, y, epochs=2, batch_size=8, progress=False)
    assert "accuracy" in history.records[0] and 0.0 <= history.records[-1]["accuracy"] <= 1.0


def test_binary_cross_entropy_accuracy_scores_every_output():
    """Multi-label outputs (N, K) are K yes/no decisions per sample, not one arg-max class."""
    sn.seed(0)
    model = sn.Sequential([Dense(2, 3)])
    trainer = Trainer(model, BinaryCrossEntropy(from_logits=True), optim.SGD(model.parameters(), lr=0.1))
    logits = np.array([[2.0, -1.0, 3.0], [-2.0, -1.0, 1.0]], dtype=np.float32)
    target = np.array([[1, 0, 0], [0, 0, 1]], dtype=np.float32)
    assert trainer.metrics["accuracy"](logits, target) == pytest.approx(5 / 6)


def test_accuracy_names_the_shapes_it_cannot_score():
    logits = np.zeros((4, 5, 7), dtype=np.float32)
    logits[..., 2] = 1
    labels = np.full((4, 5), 2)
    labels[0, 0] = 3
    assert accuracy(logits, labels) == pytest.approx(19 / 20)
    assert accuracy(logits, np.eye(7)[labels]) == pytest.approx(19 / 20)
    assert accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([[1], [0]])) == 1.0  # (N, 1) labels
    with pytest.raises(ValueError, match=r"\(4, 7\).*\(4, 5, 7\)"):
        accuracy(logits, np.zeros((4, 7)))
    with pytest.raises(ValueError, match=r"\(4, 5, 6, 7\).*\(4, 5, 6\)"):
        accuracy(np.zeros((4, 5, 6, 7)), np.zeros((4, 5, 6)))
    with pytest.raises(ValueError, match=r"targets \(3,\) do not fit scores \(4, 1\)"):
        accuracy(np.zeros((4, 1)), np.zeros(3))
    with pytest.raises(ValueError, match=r"binary_accuracy: targets \(4, 2\).*\(4, 3\)"):
        binary_accuracy(np.zeros((4, 3)), np.zeros((4, 2)))


# -- item 10: a metric that cannot take the output is refused before any update -----------------------------
def per_row_top1(pred, target):
    """A metric written for (N, C) logits: on (N, T, V) it fails with a bare broadcasting error."""
    return float((pred.argmax(axis=1) == target).mean())


def test_a_metric_that_cannot_take_the_output_is_refused_before_any_update():
    x, y = sequences()
    trainer = sequence_trainer(metrics=("accuracy", per_row_top1))
    before = snapshot(trainer)
    with pytest.raises(ValueError, match=r"metric 'per_row_top1'.*\(8, 5, 7\).*\(8, 5\)"):
        trainer.fit(x, y, epochs=2, batch_size=8, progress=False)
    assert_same_snapshot(snapshot(trainer), before)


def test_a_metric_refused_later_leaves_the_trainer_at_its_last_epoch():
    x, y = blobs()
    trainer = classifier()
    trainer.fit(x, y, epochs=1, batch_size=32, seed=0, progress=False)
    after_one = snapshot(trainer)
    trainer.metrics["top1"] = lambda pred, target: pred.argmax(axis=0) == target  # an array, not a number
    with pytest.raises(ValueError, match=r"metric 'top1'.*\(32, 3\).*\(32,\)"):
        trainer.fit(x, y, epochs=3, batch_size=32, progress=False)
    assert_same_snapshot(snapshot(trainer), after_one)


# -- item 10: an exception in an epoch leaves the trainer at the end of the last good epoch -----------------
class FailingData:
    """Array-like samples whose ``fail_at``-th batch read raises ``error`` (a flaky disk, a bad record)."""

    def __init__(self, x, fail_at, error):
        self.x, self.fail_at, self.error, self.reads = x, fail_at, error, 0
        self.shape = x.shape

    def __len__(self):
        return len(self.x)

    def __getitem__(self, idx):
        self.reads += 1
        if self.reads == self.fail_at:
            raise self.error
        return self.x[idx]


def interrupt_on_call(n):
    calls = []

    def counted(pred, target):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return 0.0

    return counted


class FailsOnSecondStep:
    """A schedule (with state, so checkpoints can hold it) that raises at the end of epoch 2."""

    def __init__(self):
        self.steps = 0

    def step(self):
        self.steps += 1
        if self.steps == 2:
            raise RuntimeError("schedule failed")

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["steps"]


# 300 samples in batches of 32: 10 batches an epoch, so the 13th read is batch 3 of epoch 2 (validation, in
# batches of 1024, is read once an epoch). Each case: (x, y, validation, extra metrics, scheduler, error).
FAILURES = {
    "data": lambda x, y, v: (FailingData(x, 13, OSError("read error")), y, v, {}, None, OSError),
    "interrupt in a metric": lambda x, y, v: (
        x,
        y,
        v,
        {"counted": interrupt_on_call(13)},
        None,
        KeyboardInterrupt,
    ),
    "validation data": lambda x, y, v: (
        x,
        y,
        (FailingData(v[0], 2, RuntimeError("bad record")), v[1]),
        {},
        None,
        RuntimeError,
    ),
    "scheduler": lambda x, y, v: (x, y, v, {}, FailsOnSecondStep(), RuntimeError),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_an_exception_in_epoch_two_leaves_the_trainer_at_the_end_of_epoch_one(tmp_path, failure):
    x, y = blobs()
    validation = blobs(64, 1)
    reference = classifier()
    reference.fit(x, y, epochs=1, batch_size=32, validation_data=validation, seed=0, progress=False)
    after_one = snapshot(reference)

    trainer = classifier()
    x_run, y_run, val_run, metrics, scheduler, error = FAILURES[failure](x, y, validation)
    trainer.metrics.update(metrics)
    trainer.scheduler = scheduler
    with pytest.raises(error):
        trainer.fit(
            x_run,
            y_run,
            epochs=3,
            batch_size=32,
            validation_data=val_run,
            seed=0,
            progress=False,
            checkpoint_dir=tmp_path,
        )
    state = snapshot(trainer)
    assert trainer.epoch == 1 and len(trainer.history) == 1
    for group in ("model", "optim"):
        for k, v in after_one[group].items():
            np.testing.assert_array_equal(state[group][k], v, err_msg=f"{group}/{k}")
    assert state["rng"] == after_one["rng"] and state["layer_rngs"] == after_one["layer_rngs"]
    assert trainer.history["loss"] == [r["loss"] for r in after_one["history"]]
    if scheduler is not None:
        assert scheduler.steps == 1
    with np.load(tmp_path / "checkpoint.npz") as data:  # the checkpoint of epoch 1 agrees
        np.testing.assert_array_equal(data["model/0.W"], after_one["model"]["0.W"])

    # and it goes on from there exactly as a run that never failed
    trainer.metrics = dict(reference.metrics)
    trainer.scheduler = None
    trainer.fit(x, y, epochs=3, batch_size=32, validation_data=validation, progress=False)
    reference.fit(x, y, epochs=3, batch_size=32, validation_data=validation, progress=False)
    went_on, straight = snapshot(trainer), snapshot(reference)
    assert trainer.history["loss"] == reference.history["loss"]  # (epoch 1 may hold the extra metric)
    went_on["history"] = straight["history"] = None
    assert_same_snapshot(went_on, straight)
