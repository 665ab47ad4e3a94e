"""Exact resumption after a hard kill: a training process is SIGKILLed at random points (mid-batch, mid-save,
after a random delay), resumed from its checkpoint until it finishes, and must end with the same weights,
optimizer state and history, bit for bit, as a run that was never interrupted."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

WORKER = r"""
import io, json, os, signal, sys
import numpy as np
import scratchnet as sn
from scratchnet import optim
from scratchnet.layers import BatchNorm1D, Dense, Dropout, ReLU
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.training import EarlyStopping, Trainer

config = json.loads(sys.argv[1])
kill_at_call, kill_in_save = config.get("kill_at_call"), config.get("kill_in_save")


def blobs(n, seed):
    r = np.random.default_rng(seed)
    centres = np.array([[2, 0], [-2, 1], [0, -2]], dtype=np.float32)
    y = r.integers(0, 3, n)
    return (centres[y] + 0.9 * r.standard_normal((n, 2))).astype(np.float32), y


calls = 0


def calls_so_far(pred, target):  # a metric run on every batch: the hook for dying at a chosen one
    global calls
    calls += 1
    if calls == kill_at_call:
        os.kill(os.getpid(), signal.SIGKILL)
    return 0.0


real_savez, saves = np.savez, 0


def savez_dying_midway(file, *args, **arrays):
    global saves
    saves += 1
    if saves == kill_in_save:
        buffer = io.BytesIO()
        real_savez(buffer, *args, **arrays)
        file.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        file.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    real_savez(file, *args, **arrays)


np.savez = savez_dying_midway
sn.seed(0)
model = sn.Sequential([Dense(2, 16), BatchNorm1D(16), ReLU(), Dropout(0.3), Dense(16, 3)])
if config["optimizer"] == "sgd":
    opt = optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
else:
    opt = optim.Adam(model.parameters(), lr=0.05)
schedule = {
    "plateau": lambda: optim.ReduceLROnPlateau(opt, factor=0.5, patience=1),
    "lambda": lambda: optim.LambdaLR(opt, lambda e: 0.8**e),
}[config["schedule"]]()
trainer = Trainer(model, SoftmaxCrossEntropy(), opt, metrics=("accuracy", calls_so_far), scheduler=schedule)
x, y = blobs(192, 0)
history = trainer.fit(
    x, y, epochs=config["epochs"], batch_size=32, validation_data=blobs(64, 1), seed=3, progress=False,
    early_stopping=EarlyStopping(patience=3), checkpoint_dir=config.get("checkpoint_dir"), resume="checkpoint_dir" in config,
)
np.savez = real_savez
arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
arrays.update({f"optim/{k}": v for k, v in opt.state_dict().items()})
records = [{k: v for k, v in r.items() if k != "time"} for r in history.records]
arrays["history"] = np.array(json.dumps({"records": records, "stop_reason": history.stop_reason}))
np.savez(config["out"], **arrays)
"""

CALLS_PER_EPOCH = 192 // 32 + 1  # training batches and one validation batch


def launch(config):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps(config)], env=env, stderr=subprocess.PIPE, text=True
    )


def results(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("optimizer, schedule", [("sgd", "plateau"), ("adam", "lambda")])
def test_killed_and_resumed_run_matches_an_uninterrupted_one(tmp_path, optimizer, schedule):
    seed = int.from_bytes(os.urandom(4), "little")
    chance = random.Random(seed)
    base = {"optimizer": optimizer, "schedule": schedule, "epochs": 14}
    reference = launch({**base, "out": str(tmp_path / "reference.npz")})
    checkpoint_dir = tmp_path / "run"
    checkpoint = checkpoint_dir / "checkpoint.npz"
    kills = []
    for launches in range(12):
        config = {**base, "out": str(tmp_path / "resumed.npz"), "checkpoint_dir": str(checkpoint_dir)}
        if launches == 0:  # mid-save, leaving a half-written temporary file behind
            how, config["kill_in_save"] = "save", chance.randint(1, 4)
        elif launches == 1:  # anywhere up to the end, knowing the uninterrupted run's length
            _, err = reference.communicate(timeout=120)
            assert reference.returncode == 0, err[-2000:]
            total = len(json.loads(str(results(tmp_path / "reference.npz")["history"]))["records"])
            done = json.loads(str(results(checkpoint)["meta"]))["epoch"] if checkpoint.exists() else 0
            left = max(1, total - done)
            how = chance.choice(["batch", "save", "timer"])
            if how == "batch":
                config["kill_at_call"] = chance.randint(1, left * CALLS_PER_EPOCH)
            elif how == "save":  # late, when early stopping is close to ending the run
                config["kill_in_save"] = chance.randint(max(1, left - 2), left)
        else:
            how = "none"
        proc = launch(config)
        if how == "timer":
            time.sleep(chance.uniform(0.4, 1.2))
            proc.kill()
        _, err = proc.communicate(timeout=120)
        kills.append((how, config.get("kill_at_call") or config.get("kill_in_save"), proc.returncode))
        if proc.returncode == 0 and how == "none":
            break
        assert proc.returncode in (0, -signal.SIGKILL), f"seed {seed}, {kills}: {err[-2000:]}"
        if checkpoint.exists():  # a kill never leaves a damaged checkpoint
            assert "meta" in results(checkpoint), f"seed {seed}, {kills}"
    assert proc.returncode == 0, f"seed {seed}: never finished after {kills}"

    expected, got = results(tmp_path / "reference.npz"), results(tmp_path / "resumed.npz")
    context = f"seed {seed}, kills {kills}"
    assert sorted(got) == sorted(expected), context
    for key in expected:
        assert got[key].dtype == expected[key].dtype, f"{context}: {key}"
        np.testing.assert_array_equal(got[key], expected[key], err_msg=f"{context}: {key}")
    history = json.loads(str(expected["history"]))
    assert history["stop_reason"] is None or history["stop_reason"].startswith("early stopping")
    assert not [name for name in os.listdir(checkpoint_dir) if name.endswith(".tmp")], context
