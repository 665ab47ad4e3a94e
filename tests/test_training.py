import json
import warnings

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import optim
from scratchnet.layers import Dense, Dropout, ReLU
from scratchnet.losses import MeanSquaredError, SoftmaxCrossEntropy
from scratchnet.training import EarlyStopping, History, Trainer, accuracy


def blobs(n=300, seed=0):
    r = np.random.default_rng(seed)
    centres = np.array([[2, 0], [-2, 1], [0, -2]], dtype=np.float32)
    y = r.integers(0, 3, n)
    x = (centres[y] + 0.6 * r.standard_normal((n, 2))).astype(np.float32)
    return x, y


def make_trainer(lr=0.05, seed=0):
    sn.seed(seed)
    model = sn.Sequential([Dense(2, 16), ReLU(), Dropout(0.2), Dense(16, 3)])
    return Trainer(model, SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr=lr, momentum=0.9))


def test_fit_learns_and_records_history():
    x, y = blobs()
    trainer = make_trainer()
    history = trainer.fit(
        x, y, epochs=15, batch_size=32, validation_data=blobs(100, 1), seed=0, progress=False
    )
    assert len(history) == 15
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history.records[-1]["val_accuracy"] > 0.9
    assert set(history.records[0]) >= {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"}
    assert trainer.evaluate(x, y)["accuracy"] > 0.9


def test_same_seed_is_bit_identical():
    x, y = blobs()
    runs = []
    for _ in range(2):
        trainer = make_trainer()
        trainer.fit(x, y, epochs=3, batch_size=16, seed=7, progress=False)
        runs.append(trainer.model.state_dict())
    for k in runs[0]:
        np.testing.assert_array_equal(runs[0][k], runs[1][k])
    other = make_trainer()
    other.fit(x, y, epochs=3, batch_size=16, seed=8, progress=False)
    assert not np.array_equal(other.model.state_dict()["0.W"], runs[0]["0.W"])


def test_checkpoint_resume_is_exact(tmp_path):
    x, y = blobs()
    straight = make_trainer()
    straight.fit(x, y, epochs=4, batch_size=32, seed=5, progress=False)
    first = make_trainer()
    first.fit(x, y, epochs=2, batch_size=32, seed=5, progress=False, checkpoint_dir=tmp_path)
    resumed = make_trainer(seed=123)  # different initial weights: all must come from the checkpoint
    history = resumed.fit(x, y, epochs=4, batch_size=32, progress=False, checkpoint_dir=tmp_path, resume=True)
    assert [r["epoch"] for r in history.records] == [1, 2, 3, 4]
    for k, v in straight.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[k], v)
    assert [r["loss"] for r in history.records] == straight.history["loss"]


def test_non_finite_loss_stops_and_keeps_checkpoint(tmp_path):
    x, y = blobs()
    trainer = make_trainer()
    trainer.fit(x, y, epochs=1, batch_size=32, seed=0, progress=False, checkpoint_dir=tmp_path)
    saved = (tmp_path / "checkpoint.npz").read_bytes()
    bad_x = x.copy()
    bad_x[5] = np.nan
    with pytest.warns(RuntimeWarning, match="non-finite loss in epoch 2"):
        history = trainer.fit(bad_x, y, epochs=3, batch_size=32, progress=False, checkpoint_dir=tmp_path)
    assert history.stop_reason.startswith("non-finite loss")
    assert len(history) == 1
    assert (tmp_path / "checkpoint.npz").read_bytes() == saved
    assert all(np.isfinite(v).all() for v in trainer.model.state_dict().values())


def test_early_stopping_restores_best():
    x, y = blobs()
    trainer = make_trainer(lr=0.5)
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    history = trainer.fit(
        x,
        y,
        epochs=200,
        batch_size=32,
        validation_data=blobs(100, 1),
        seed=0,
        progress=False,
        early_stopping=stopper,
    )
    assert len(history) < 200 and history.stop_reason.startswith("early stopping")
    assert trainer.evaluate(*blobs(100, 1))["loss"] == pytest.approx(stopper.best, rel=1e-5)


def test_early_stopping_needs_the_monitored_key():
    x, y = blobs()
    with pytest.raises(KeyError, match="val_loss"):
        make_trainer().fit(x, y, epochs=2, progress=False, early_stopping=EarlyStopping())


def test_history_json_and_csv(tmp_path):
    history = History([{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25, "val_loss": 0.3}])
    history.to_json(tmp_path / "h.json")
    assert History.from_json(tmp_path / "h.json").records == history.records
    assert json.loads((tmp_path / "h.json").read_text())["records"][1]["val_loss"] == 0.3
    history.to_csv(tmp_path / "h.csv")
    assert (tmp_path / "h.csv").read_text().splitlines() == ["epoch,loss,val_loss", "1,0.5,", "2,0.25,0.3"]


def test_scheduler_is_stepped_per_epoch():
    x, y = blobs()
    trainer = make_trainer()
    trainer.scheduler = optim.StepLR(trainer.optimizer, step_size=1, gamma=0.5)
    history = trainer.fit(x, y, epochs=3, batch_size=64, seed=0, progress=False)
    assert history["lr"] == [0.05, 0.025, 0.0125]


def test_accuracy_metric_variants():
    assert accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1])) == 0.5
    assert accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.eye(2)[[1, 0]]) == 1.0
    assert accuracy(np.array([[0.7], [0.2]]), np.array([1, 0])) == 1.0


def test_fit_input_errors():
    trainer = Trainer(
        sn.Sequential([Dense(2, 1)]), MeanSquaredError(), optim.SGD(Dense(1, 1), lr=0.1), metrics=()
    )
    with pytest.raises(ValueError, match="3 samples but y has 2"):
        trainer.fit(np.zeros((3, 2)), np.zeros((2, 1)), epochs=1)
    with pytest.raises(ValueError, match="batch_size"):
        trainer.fit(np.zeros((3, 2)), np.zeros((3, 1)), epochs=1, batch_size=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="unknown metric"):
            Trainer(
                sn.Sequential([Dense(2, 1)]),
                MeanSquaredError(),
                optim.SGD(Dense(1, 1), lr=0.1),
                metrics=["f1"],
            )
