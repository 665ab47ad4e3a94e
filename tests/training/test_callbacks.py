"""``scratchnet.callbacks`` with ``Trainer.fit``: when each hook runs, the built-ins, failures that roll back,
and callback progress kept in checkpoints so that a resumed run ends bit for bit where an unbroken one does."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from toy_data import blobs

import scratchnet as sn
from scratchnet.callbacks import Callback, CSVLogger, LearningRateScheduler, ModelCheckpoint
from scratchnet.layers import Dense, ReLU
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.optim import SGD, StepLR
from scratchnet.training import EarlyStopping, Trainer


def classifier(seed: int = 0, lr: float = 0.05) -> tuple[sn.Sequential, Trainer]:
    sn.seed(seed)
    model = sn.Sequential([Dense(2, 16), ReLU(), Dense(16, 3)])
    return model, Trainer(
        model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=lr, momentum=0.9), seed=seed
    )


def weights(model) -> list[np.ndarray]:
    return [p.value.copy() for p in model.parameters()]


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, logs):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_end(self, batch, logs):
        assert set(logs) >= {"loss", "accuracy", "mean_loss", "lr"}
        self.calls.append(("batch_end", batch))

    def on_epoch_end(self, epoch, logs):
        assert logs["epoch"] == epoch and "val_loss" in logs
        self.calls.append(("epoch_end", epoch))

    def on_train_end(self, logs):
        self.calls.append(("train_end",))


def test_hooks_run_in_order_with_their_logs():
    x, y = blobs()
    _, trainer = classifier()
    recorder = Recorder()
    trainer.fit(x, y, epochs=2, batch_size=100, validation_data=(x, y), callbacks=[recorder], verbose=0)
    epoch = [("batch_end", 1), ("batch_end", 2), ("batch_end", 3)]
    expected = [("train_begin",), ("epoch_begin", 1), *epoch, ("epoch_end", 1)]
    expected += [("epoch_begin", 2), *epoch, ("epoch_end", 2), ("train_end",)]
    assert recorder.calls == expected
    assert recorder.trainer is trainer


def test_a_callback_can_stop_training_after_the_epoch():
    class StopAtTwo(Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 2:
                self.trainer.stop_training = True

    x, y = blobs()
    _, trainer = classifier()
    history = trainer.fit(x, y, epochs=5, callbacks=[StopAtTwo()], verbose=0)
    assert len(history) == 2 and "stopped by a callback" in history.stop_reason


def test_a_callback_that_raises_leaves_the_trainer_at_the_last_good_epoch():
    class Boom(Callback):
        def on_batch_end(self, batch, logs):
            if self.trainer.epoch == 1 and batch == 2:
                raise RuntimeError("boom")

    x, y = blobs()
    model, trainer = classifier()
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(x, y, epochs=1, batch_size=100, verbose=0)  # one good epoch first
        trainer.fit(x, y, epochs=2, batch_size=100, callbacks=[Boom()], verbose=0)
    reference, reference_trainer = classifier()
    reference_trainer.fit(x, y, epochs=1, batch_size=100, verbose=0)
    assert trainer.epoch == 1 and len(trainer.history) == 1
    for a, b in zip(weights(model), weights(reference)):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_saves_the_best_model_only(tmp_path):
    x, y = blobs()
    model, trainer = classifier()
    saver = ModelCheckpoint(tmp_path / "best-{epoch}.npz", monitor="val_loss", save_best_only=True)
    trainer.fit(x, y, epochs=6, validation_data=(x[:60], y[:60]), callbacks=[saver], verbose=0)
    val = trainer.history["val_loss"]
    improved = [e + 1 for e in range(len(val)) if val[e] == min(val[: e + 1])]
    assert [p.split("best-")[1] for p in saver.saved] == [f"{e}.npz" for e in improved]
    assert saver.best == min(val)
    best = sn.Sequential([Dense(2, 16), ReLU(), Dense(16, 3)])
    best.load(saver.saved[-1])
    assert Trainer(best, SoftmaxCrossEntropy(), SGD(best.parameters(), lr=0.1)).evaluate(x[:60], y[:60])[
        "loss"
    ] == pytest.approx(min(val), rel=1e-6)


def test_model_checkpoint_every_epoch_and_its_errors(tmp_path):
    x, y = blobs()
    _, trainer = classifier()
    every = ModelCheckpoint(tmp_path / "m-{epoch:02d}-{loss:.3f}.npz")
    trainer.fit(x, y, epochs=2, callbacks=[every], verbose=0)
    assert len(every.saved) == 2 and every.saved[0].endswith(f"m-01-{trainer.history['loss'][0]:.3f}.npz")
    with pytest.raises(KeyError, match="val_loss"):
        trainer.fit(
            x, y, epochs=1, callbacks=[ModelCheckpoint(tmp_path / "x.npz", save_best_only=True)], verbose=0
        )
    assert trainer.epoch == 2
    with pytest.raises(ValueError, match="mode"):
        ModelCheckpoint(tmp_path / "x.npz", mode="best")


def test_csv_logger_matches_the_history(tmp_path):
    x, y = blobs()
    _, trainer = classifier()
    path = tmp_path / "log.csv"
    trainer.fit(x, y, epochs=3, callbacks=[CSVLogger(path)], verbose=0)
    rows = list(csv.DictReader(path.open()))
    assert [int(float(r["epoch"])) for r in rows] == [1, 2, 3]
    assert [float(r["loss"]) for r in rows] == pytest.approx(trainer.history["loss"])


def test_learning_rate_scheduler_per_batch_and_per_epoch():
    x, y = blobs()
    _, trainer = classifier(lr=0.1)
    halving = LearningRateScheduler(lambda count, lr: 0.1 * 0.5**count, per="batch")
    trainer.fit(x, y, epochs=2, batch_size=100, callbacks=[halving], verbose=0)
    assert halving.count == 6 and trainer.optimizer.lr == pytest.approx(0.1 * 0.5**6)
    # a schedule object per epoch is what Trainer(scheduler=...) does
    model_a, trainer_a = classifier()
    trainer_a.fit(
        x, y, epochs=3, callbacks=[LearningRateScheduler(StepLR(trainer_a.optimizer, 1, 0.5))], verbose=0
    )
    model_b, _ = classifier()
    opt_b = SGD(model_b.parameters(), lr=0.05, momentum=0.9)
    trainer_b = Trainer(model_b, SoftmaxCrossEntropy(), opt_b, scheduler=StepLR(opt_b, 1, 0.5), seed=0)
    trainer_b.fit(x, y, epochs=3, verbose=0)
    for a, b in zip(weights(model_a), weights(model_b)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="not a learning rate"):
        trainer.fit(x, y, epochs=1, callbacks=[LearningRateScheduler(lambda c, lr: float("nan"))], verbose=0)
    with pytest.raises(ValueError, match="per must be"):
        LearningRateScheduler(lambda c, lr: lr, per="step")


def test_early_stopping_is_a_callback_too():
    x, y = blobs()
    _, a = classifier()
    a.fit(x, y, epochs=30, validation_data=(x[:50], y[:50]), callbacks=[EarlyStopping(patience=1)], verbose=0)
    _, b = classifier()
    b.fit(
        x, y, epochs=30, validation_data=(x[:50], y[:50]), early_stopping=EarlyStopping(patience=1), verbose=0
    )
    assert a.history.records == [
        dict(r, time=r2["time"]) for r, r2 in zip(b.history.records, a.history.records)
    ]
    with pytest.raises(ValueError, match="two EarlyStopping"):
        a.fit(x, y, epochs=1, early_stopping=EarlyStopping(), callbacks=[EarlyStopping()], verbose=0)
    with pytest.raises(TypeError, match="not a callback"):
        a.fit(x, y, epochs=1, callbacks=[print], verbose=0)


def _resumable(tmp_path, seed=0):
    model, trainer = classifier(seed)
    callbacks = [
        ModelCheckpoint(tmp_path / "best.npz", save_best_only=True),
        LearningRateScheduler(lambda count, lr: 0.05 * 0.9**count, per="batch"),
    ]
    return model, trainer, callbacks


def test_callback_progress_is_kept_in_checkpoints_and_resume_is_exact(tmp_path):
    x, y = blobs()
    val = (x[:60], y[:60])
    straight, trainer, callbacks = _resumable(tmp_path / "a")
    trainer.fit(x, y, epochs=4, batch_size=100, validation_data=val, callbacks=callbacks, verbose=0)

    class KillAfterTwo(Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 2:
                raise KeyboardInterrupt

    model, first, first_callbacks = _resumable(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        first.fit(
            x, y, epochs=4, batch_size=100, validation_data=val, callbacks=[*first_callbacks, KillAfterTwo()],
            checkpoint_dir=tmp_path / "ckpt", verbose=0,
        )  # fmt: skip
    resumed_model, resumed, resumed_callbacks = _resumable(
        tmp_path / "b", seed=1
    )  # other weights, other order
    resumed.fit(
        x, y, epochs=4, batch_size=100, validation_data=val, callbacks=resumed_callbacks,
        checkpoint_dir=tmp_path / "ckpt", resume=True, verbose=0,
    )  # fmt: skip
    for a, b in zip(weights(straight), weights(resumed_model)):
        np.testing.assert_array_equal(a, b)
    assert (
        resumed_callbacks[0].best == callbacks[0].best
        and resumed_callbacks[1].count == callbacks[1].count == 12
    )
    assert resumed.optimizer.lr == trainer.optimizer.lr


def test_resume_with_other_callbacks_is_refused_and_changes_nothing(tmp_path):
    x, y = blobs()
    _, trainer, callbacks = _resumable(tmp_path)
    trainer.fit(
        x, y, epochs=1, validation_data=(x, y), callbacks=callbacks, checkpoint_dir=tmp_path / "c", verbose=0
    )
    model, other = classifier(seed=3)
    before = weights(model)
    with pytest.raises(
        ValueError, match=r"callbacks keeping state \['ModelCheckpoint', 'LearningRateScheduler'\]"
    ):
        other.fit(
            x, y, epochs=2, validation_data=(x, y), callbacks=[CSVLogger(tmp_path / "l.csv")],
            checkpoint_dir=tmp_path / "c", resume=True, verbose=0,
        )  # fmt: skip
    assert other.epoch == 0 and all(np.array_equal(a, b) for a, b in zip(before, weights(model)))
