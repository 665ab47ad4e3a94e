import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from toy_data import blobs

import scratchnet as sn
from scratchnet import optim
from scratchnet.layers import Dense, Dropout, ReLU
from scratchnet.losses import MeanSquaredError, SoftmaxCrossEntropy
from scratchnet.training import EarlyStopping, History, Trainer, accuracy


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


DETERMINISM_SCRIPT = """
import sys
import numpy as np
import scratchnet as sn
from scratchnet import optim
from scratchnet.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.training import Trainer

r = np.random.default_rng(0)
x = r.standard_normal((96, 1, 8, 8)).astype(np.float32)
y = r.integers(0, 3, 96)
sn.seed(0)
model = sn.Sequential(
    [Conv2D(1, 4, 3, padding=1), ReLU(), MaxPool2D(2), Flatten(), Dropout(0.2), Dense(64, 3)]
)
trainer = Trainer(model, SoftmaxCrossEntropy(), optim.Adam(model.parameters(), lr=0.01))
trainer.fit(x, y, epochs=2, batch_size=16, seed=7, progress=False)
np.savez(sys.argv[1], **model.state_dict())
"""


def test_same_seed_is_bit_identical_at_a_fixed_blas_thread_count(tmp_path):
    """The README's promise, under its condition: OpenBLAS at one thread count (its reductions depend on
    it); the OpenMP kernels may use any number of threads."""
    procs = []
    for omp_threads in ("1", "2"):
        out = tmp_path / f"omp{omp_threads}.npz"
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": omp_threads}
        procs.append((out, subprocess.Popen([sys.executable, "-c", DETERMINISM_SCRIPT, str(out)], env=env)))
    runs = []
    for out, proc in procs:
        assert proc.wait(timeout=120) == 0
        with np.load(out) as data:
            runs.append({k: data[k] for k in data.files})
    assert sorted(runs[0]) == sorted(runs[1])
    for k in runs[0]:
        np.testing.assert_array_equal(runs[0][k], runs[1][k])


def test_different_seeds_differ():
    x, y = blobs()
    weights = []
    for seed in (7, 8):
        trainer = make_trainer()
        trainer.fit(x, y, epochs=1, batch_size=16, seed=seed, progress=False)
        weights.append(trainer.model.state_dict()["0.W"])
    assert not np.array_equal(weights[0], weights[1])


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
    trainer = make_trainer()
    with pytest.raises(KeyError, match="val_loss"):
        trainer.fit(x, y, epochs=2, progress=False, early_stopping=EarlyStopping())
    assert trainer.epoch == 0 and len(trainer.history) == 0  # refused before training, not after an epoch


def test_checkpoints_need_a_scheduler_with_state(tmp_path):
    class Halving:
        def __init__(self, opt):
            self.opt = opt

        def step(self):
            self.opt.lr /= 2

    x, y = blobs()
    trainer = make_trainer()
    trainer.scheduler = Halving(trainer.optimizer)
    with pytest.raises(TypeError, match="Halving has no state_dict"):
        trainer.fit(x, y, epochs=2, progress=False, checkpoint_dir=tmp_path)
    assert trainer.epoch == 0 and not list(tmp_path.iterdir())
    assert trainer.fit(x, y, epochs=2, progress=False)["lr"] == [0.05, 0.025]  # fine without checkpoints


def test_history_json_and_csv(tmp_path):
    history = History([{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25, "val_loss": 0.3}])
    history.to_json(tmp_path / "h.json")
    assert History.from_json(tmp_path / "h.json").records == history.records
    assert json.loads((tmp_path / "h.json").read_text())["records"][1]["val_loss"] == 0.3
    history.to_csv(tmp_path / "h.csv")
    assert (tmp_path / "h.csv").read_text().splitlines() == ["epoch,loss,val_loss", "1,0.5,", "2,0.25,0.3"]


def test_history_files_are_written_atomically(tmp_path):
    class Unprintable:
        def __str__(self):
            raise RuntimeError("no text for this value")

    History([{"epoch": 1, "loss": 0.5}]).to_csv(tmp_path / "h.csv")
    History([{"epoch": 1, "loss": 0.5}]).to_json(tmp_path / "h.json")
    saved = {name: (tmp_path / name).read_bytes() for name in ("h.csv", "h.json")}
    broken = History([{"epoch": 1, "loss": 0.75}, {"epoch": 2, "loss": Unprintable()}])
    with pytest.raises(RuntimeError, match="no text"):
        broken.to_csv(tmp_path / "h.csv")
    with pytest.raises(TypeError):
        broken.to_json(tmp_path / "h.json")
    assert {name: (tmp_path / name).read_bytes() for name in saved} == saved
    assert sorted(os.listdir(tmp_path)) == ["h.csv", "h.json"]


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


# -- exact resume, failure safety ---------------------------------------------------------------------------
SCHEDULES = {
    "none": None,
    "step": lambda opt: optim.StepLR(opt, step_size=2, gamma=0.5),
    "exponential": lambda opt: optim.ExponentialLR(opt, decay_rate=0.8),
    "lambda": lambda opt: optim.LambdaLR(opt, lambda e: 1 / (1 + e)),
    "plateau": lambda opt: optim.ReduceLROnPlateau(opt, factor=0.5, patience=1),
}


def scheduled_trainer(schedule, seed=0):
    trainer = make_trainer(lr=0.5, seed=seed)
    if SCHEDULES[schedule] is not None:
        trainer.scheduler = SCHEDULES[schedule](trainer.optimizer)
    return trainer


def without_time(history):
    return [{k: v for k, v in r.items() if k != "time"} for r in history.records]


def assert_same_state(a, b):
    for one, other in (
        (a.model.state_dict(), b.model.state_dict()),
        (a.optimizer.state_dict(), b.optimizer.state_dict()),
    ):
        assert sorted(one) == sorted(other)
        for k in one:
            np.testing.assert_array_equal(one[k], other[k], err_msg=k)
    assert without_time(a.history) == without_time(b.history)
    assert a.history.stop_reason == b.history.stop_reason


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_resume_with_early_stopping_is_exact_for_every_schedule(tmp_path, schedule):
    x, y = blobs()
    val = blobs(100, 1)
    kwargs = dict(batch_size=32, validation_data=val, progress=False)
    straight = scheduled_trainer(schedule)
    straight.fit(x, y, epochs=40, seed=3, early_stopping=EarlyStopping(patience=2), **kwargs)
    assert straight.history.stop_reason.startswith("early stopping")
    stop = len(straight.history)
    first = scheduled_trainer(schedule)
    first.fit(
        x,
        y,
        epochs=stop - 1,
        seed=3,
        early_stopping=EarlyStopping(patience=2),
        checkpoint_dir=tmp_path,
        **kwargs,
    )
    resumed = scheduled_trainer(schedule, seed=123)
    resumed.fit(
        x,
        y,
        epochs=40,
        early_stopping=EarlyStopping(patience=2),
        checkpoint_dir=tmp_path,
        resume=True,
        **kwargs,
    )
    assert_same_state(resumed, straight)
    if schedule != "none":
        assert resumed.scheduler.state_dict() == straight.scheduler.state_dict()


def test_resuming_a_finished_run_returns_it_unchanged(tmp_path):
    x, y = blobs()
    kwargs = dict(batch_size=32, validation_data=blobs(100, 1), progress=False, checkpoint_dir=tmp_path)
    straight = make_trainer(lr=0.5)
    straight.fit(x, y, epochs=40, seed=3, early_stopping=EarlyStopping(patience=2), **kwargs)
    assert straight.history.stop_reason.startswith("early stopping")
    saved = (tmp_path / "checkpoint.npz").read_bytes()
    again = make_trainer(lr=0.5, seed=99)
    history = again.fit(x, y, epochs=60, early_stopping=EarlyStopping(patience=2), resume=True, **kwargs)
    assert_same_state(again, straight)
    assert len(history) == len(straight.history)
    assert (tmp_path / "checkpoint.npz").read_bytes() == saved


def blow_up_trainer():
    """One batch per epoch; from the third epoch the rate is 1e38, so that epoch's loss (computed before the
    step) is finite but the step sends the weights to infinity."""
    r = np.random.default_rng(0)
    x = r.standard_normal((64, 4)).astype(np.float32)
    y = np.full((64, 1), 100.0, dtype=np.float32)
    sn.seed(0)
    model = sn.Sequential([Dense(4, 1)])
    opt = optim.SGD(model.parameters(), lr=0.01)
    schedule = optim.LambdaLR(opt, lambda count: 1.0 if count < 2 else 1e40)
    return Trainer(model, MeanSquaredError(), opt, metrics=(), scheduler=schedule), x, y


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_non_finite_weights_are_never_checkpointed(tmp_path):
    trainer, x, y = blow_up_trainer()
    with pytest.warns(RuntimeWarning, match="non-finite weight .* after epoch 3"):
        history = trainer.fit(x, y, epochs=5, batch_size=64, progress=False, checkpoint_dir=tmp_path)
    assert history.stop_reason.startswith("non-finite weight") and len(history) == 2
    assert trainer.epoch == 2 and trainer.scheduler.count == 2
    assert all(np.isfinite(v).all() for v in trainer.model.state_dict().values())
    with np.load(tmp_path / "checkpoint.npz") as data:
        assert json.loads(str(data["meta"]))["epoch"] == 2
        np.testing.assert_array_equal(data["model/0.W"], trainer.model[0].params["W"])
    resumed, _, _ = blow_up_trainer()
    resumed.load_checkpoint(tmp_path / "checkpoint.npz")
    assert resumed.epoch == 2 and np.isfinite(resumed.model[0].params["W"]).all()


def test_save_checkpoint_refuses_non_finite_state(tmp_path):
    trainer = make_trainer()
    trainer.model[0].params["W"][0, 0] = np.inf
    with pytest.raises(ValueError, match="0.W"):
        trainer.save_checkpoint(tmp_path / "c.npz")
    assert not (tmp_path / "c.npz").exists()


def nan_metric_from_epoch_two():
    calls = []

    def flaky(pred, target):
        calls.append(1)
        return float("nan") if len(calls) > 10 else 0.5

    return flaky


@pytest.mark.parametrize("where", ["val_loss", "metric"])
def test_non_finite_validation_loss_or_metric_stops_cleanly(tmp_path, where):
    x, y = blobs()
    val_x, val_y = blobs(100, 1)
    trainer = make_trainer()
    trainer.scheduler = optim.ReduceLROnPlateau(trainer.optimizer, patience=1)
    trainer.fit(
        x,
        y,
        epochs=1,
        batch_size=32,
        validation_data=(val_x, val_y),
        seed=0,
        progress=False,
        checkpoint_dir=tmp_path,
    )
    saved = (tmp_path / "checkpoint.npz").read_bytes()
    weights = {k: v.copy() for k, v in trainer.model.state_dict().items()}
    if where == "val_loss":
        val_x = val_x.copy()
        val_x[3] = np.nan
    else:
        trainer.metrics["flaky"] = nan_metric_from_epoch_two()
    with pytest.warns(RuntimeWarning, match="non-finite .*in epoch 2"):
        history = trainer.fit(
            x,
            y,
            epochs=3,
            batch_size=32,
            validation_data=(val_x, val_y),
            progress=False,
            checkpoint_dir=tmp_path,
        )
    assert len(history) == 1 and "non-finite" in history.stop_reason
    assert all(np.isfinite(v) for r in history.records for v in r.values())
    assert (tmp_path / "checkpoint.npz").read_bytes() == saved
    for k, v in trainer.model.state_dict().items():  # back at the end of epoch 1
        np.testing.assert_array_equal(v, weights[k])


# -- a failed resume changes nothing ------------------------------------------------------------------------
def checkpoint_with(tmp_path, edit_meta=None, edit_arrays=None):
    """A 2-epoch checkpoint (SGD with momentum, StepLR, EarlyStopping on val_loss), optionally edited."""
    x, y = blobs()
    trainer = make_trainer()
    trainer.scheduler = optim.StepLR(trainer.optimizer, step_size=1)
    trainer.fit(
        x,
        y,
        epochs=2,
        batch_size=32,
        validation_data=blobs(100, 1),
        seed=0,
        progress=False,
        early_stopping=EarlyStopping(patience=5),
        checkpoint_dir=tmp_path,
    )
    path = tmp_path / "checkpoint.npz"
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    if edit_meta:
        edit_meta(meta)
    if edit_arrays:
        edit_arrays(arrays)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    return path


def snapshot(trainer, stopper):
    return {
        "model": trainer.model.state_dict(),
        "optim": {k: np.array(v, copy=True) for k, v in trainer.optimizer.state_dict().items()},
        "epoch": trainer.epoch,
        "history": json.dumps(trainer.history.records),
        "rng": json.dumps(trainer.rng.bit_generator.state),
        "layer_rngs": json.dumps(trainer.model.get_rng_state()),
        "scheduler": json.dumps(trainer.scheduler.state_dict()) if trainer.scheduler else None,
        "stopper": (stopper.best, stopper.best_epoch, stopper.wait) if stopper else None,
    }


def assert_snapshot_equal(a, b):
    for group in ("model", "optim"):
        assert sorted(a[group]) == sorted(b[group])
        for k in a[group]:
            np.testing.assert_array_equal(a[group][k], b[group][k], err_msg=k)
    assert {k: v for k, v in a.items() if k not in ("model", "optim")} == {
        k: v for k, v in b.items() if k not in ("model", "optim")
    }


def _adam_trainer():
    trainer = make_trainer(seed=9)
    trainer.optimizer = optim.Adam(trainer.model.parameters(), lr=0.01)
    trainer.scheduler = optim.StepLR(trainer.optimizer, step_size=1)
    return trainer


def _wider_trainer():
    sn.seed(9)
    model = sn.Sequential([Dense(2, 8), ReLU(), Dropout(0.2), Dense(8, 3)])
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return Trainer(model, SoftmaxCrossEntropy(), opt, scheduler=optim.StepLR(opt, step_size=1))


def _trainer_with(schedule):
    trainer = make_trainer(seed=9)
    trainer.scheduler = schedule(trainer.optimizer) if schedule else None
    return trainer


FAILED_RESUMES = {
    "other optimizer": (
        dict(),
        _adam_trainer,
        lambda: EarlyStopping(patience=5),
        "SGD optimizer, not a Adam",
    ),
    "other architecture": (dict(), _wider_trainer, lambda: EarlyStopping(patience=5), "shape"),
    "bad trainer rng": (
        dict(edit_meta=lambda m: m.update(trainer_rng={"bit_generator": "PCG64", "state": "junk"})),
        lambda: _trainer_with(lambda o: optim.StepLR(o, step_size=1)),
        lambda: EarlyStopping(patience=5),
        "trainer random state",
    ),
    "bad layer rng": (
        dict(edit_meta=lambda m: m["layer_rngs"].update({"2": {"bit_generator": "MT19937"}})),
        lambda: _trainer_with(lambda o: optim.StepLR(o, step_size=1)),
        lambda: EarlyStopping(patience=5),
        "layer '2'",
    ),
    "other schedule": (
        dict(),
        lambda: _trainer_with(lambda o: optim.ExponentialLR(o, decay_rate=0.5)),
        lambda: EarlyStopping(patience=5),
        "StepLR, not a ExponentialLR",
    ),
    "no schedule": (dict(), lambda: _trainer_with(None), lambda: EarlyStopping(patience=5), "StepLR state"),
    "no early stopping": (
        dict(),
        lambda: _trainer_with(lambda o: optim.StepLR(o, step_size=1)),
        lambda: None,
        "EarlyStopping state",
    ),
    "other monitor": (
        dict(),
        lambda: _trainer_with(lambda o: optim.StepLR(o, step_size=1)),
        lambda: EarlyStopping(monitor="val_accuracy", patience=5),
        "monitor='val_loss'",
    ),
    "non-finite weight": (
        dict(edit_arrays=lambda a: a["model/3.b"].__setitem__(0, np.nan)),
        lambda: _trainer_with(lambda o: optim.StepLR(o, step_size=1)),
        lambda: EarlyStopping(patience=5),
        "non-finite",
    ),
    "epoch and history disagree": (
        dict(edit_meta=lambda m: m.update(epoch=5)),
        lambda: _trainer_with(lambda o: optim.StepLR(o, step_size=1)),
        lambda: EarlyStopping(patience=5),
        "history records",
    ),
    "unknown entry": (
        dict(edit_arrays=lambda a: a.update(extra=np.zeros(3))),
        lambda: _trainer_with(lambda o: optim.StepLR(o, step_size=1)),
        lambda: EarlyStopping(patience=5),
        "unknown checkpoint entry 'extra'",
    ),
}


@pytest.mark.parametrize("case", sorted(FAILED_RESUMES))
def test_failed_resume_changes_nothing(tmp_path, case):
    edits, make, make_stopper, message = FAILED_RESUMES[case]
    path = checkpoint_with(tmp_path, **edits)
    trainer, stopper = make(), make_stopper()
    x, y = blobs()
    val = blobs(100, 1)
    trainer.fit(
        x, y, epochs=1, batch_size=32, validation_data=val, seed=4, progress=False, early_stopping=stopper
    )
    before = snapshot(trainer, stopper)
    with pytest.raises(ValueError, match=message):
        trainer.fit(
            x,
            y,
            epochs=4,
            batch_size=32,
            validation_data=val,
            progress=False,
            early_stopping=stopper,
            checkpoint_dir=tmp_path,
            resume=True,
            seed=11,  # not applied either: the resume failed
        )
    assert_snapshot_equal(snapshot(trainer, stopper), before)
    with pytest.raises(ValueError, match=message):
        trainer.load_checkpoint(path, early_stopping=stopper)
    assert_snapshot_equal(snapshot(trainer, stopper), before)


def test_resume_with_fewer_epochs_than_the_checkpoint_holds_is_refused(tmp_path):
    x, y = blobs()
    make_trainer().fit(x, y, epochs=2, batch_size=32, seed=0, progress=False, checkpoint_dir=tmp_path)
    trainer = make_trainer(seed=5)
    before = snapshot(trainer, None)
    with pytest.raises(ValueError, match="2 epochs, more than the 1 asked for"):
        trainer.fit(x, y, epochs=1, batch_size=32, progress=False, checkpoint_dir=tmp_path, resume=True)
    assert_snapshot_equal(snapshot(trainer, None), before)


def stateful_trainer(seed=0):
    from scratchnet.layers import LSTM

    sn.seed(seed)
    model = sn.Sequential([LSTM(3, 8, stateful=True, return_sequences=False), Dense(8, 2)])
    return Trainer(model, SoftmaxCrossEntropy(), optim.Adam(model.parameters(), lr=0.01))


def test_resume_carries_a_stateful_layers_state(tmp_path):
    r = np.random.default_rng(0)
    x = r.standard_normal((64, 5, 3)).astype(np.float32)
    y = r.integers(0, 2, 64)
    kwargs = dict(batch_size=16, shuffle=False, progress=False)
    straight = stateful_trainer()
    straight.fit(x, y, epochs=4, **kwargs)
    first = stateful_trainer()
    first.fit(x, y, epochs=2, checkpoint_dir=tmp_path, **kwargs)
    resumed = stateful_trainer(seed=1)
    resumed.fit(x, y, epochs=4, checkpoint_dir=tmp_path, resume=True, **kwargs)
    assert_same_state(resumed, straight)
    with np.load(tmp_path / "checkpoint.npz") as data:
        assert data["carried/0/h"].shape == data["carried/0/c"].shape == (16, 8)
