import os

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers import BatchNorm1D, Dense, Dropout, ReLU, Sigmoid


def small_model():
    sn.seed(3)
    return sn.Sequential([Dense(4, 8), BatchNorm1D(8), ReLU(), Dropout(0.25), Dense(8, 3), Sigmoid()])


def test_sequential_chains_layers(rng):
    model = small_model().eval()
    x = rng.standard_normal((5, 4)).astype(np.float32)
    manual = x
    for layer in model.layers:
        manual = layer.forward(manual)
    np.testing.assert_array_equal(model.forward(x), manual)


def test_sequential_gradcheck_whole_network(rng):
    errors = sn.gradcheck(small_model(), rng.standard_normal((6, 4)))
    assert set(errors) == {"x", "0.W", "0.b", "1.gamma", "1.beta", "4.W", "4.b"}
    assert max(errors.values()) < 1e-6


def test_parameters_are_live_handles():
    model = small_model()
    refs = model.parameters()
    assert [r.name for r in refs] == ["0.W", "0.b", "1.gamma", "1.beta", "4.W", "4.b"]
    assert refs[0].value is model[0].params["W"]
    assert model.num_parameters() == 4 * 8 + 8 + 8 + 8 + 8 * 3 + 3


def test_summary_reports_shapes_and_counts():
    lines = []
    rows = small_model().summary((4,), print_fn=lines.append)
    assert [r[1] for r in rows] == [(None, 8)] * 4 + [(None, 3)] * 2
    assert [r[2] for r in rows] == [40, 16, 0, 0, 27, 0]
    assert "83" in lines[-1]


def test_save_load_roundtrip(tmp_path, rng):
    model = small_model()
    x = rng.standard_normal((16, 4)).astype(np.float32)
    model.forward(x)  # moves the running statistics away from their initial values
    path = tmp_path / "model.npz"
    model.save(path)
    other = small_model()
    other.params = {}
    sn.seed(99)
    other = sn.Sequential([Dense(4, 8), BatchNorm1D(8), ReLU(), Dropout(0.25), Dense(8, 3), Sigmoid()])
    other.load(path)
    model.eval()
    other.eval()
    np.testing.assert_array_equal(model.forward(x), other.forward(x))
    with np.load(path, allow_pickle=False) as data:
        assert "1.running_mean" in data.files


def test_load_rejects_mismatch_and_changes_nothing(tmp_path):
    model = small_model()
    path = tmp_path / "m.npz"
    model.save(path)
    other = sn.Sequential([Dense(4, 8), BatchNorm1D(8), ReLU(), Dropout(0.25), Dense(8, 2), Sigmoid()])
    before = {k: v.copy() for k, v in other.state_dict().items()}
    with pytest.raises(ValueError, match=r"4.W.*shape \(8, 3\).*\(8, 2\)"):
        other.load(path)
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(ValueError, match="missing"):
        sn.Sequential([Dense(4, 8)]).load(path)


def test_save_is_atomic(tmp_path, monkeypatch):
    model = small_model()
    path = tmp_path / "model.npz"
    model.save(path)
    original = path.read_bytes()

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        small_model().save(path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind


def test_sequential_rejects_non_layers():
    with pytest.raises(TypeError, match="expected a Layer"):
        sn.Sequential([Dense(2, 2), "relu"])


def test_predict_restores_mode(rng):
    model = small_model()
    out = model.predict(rng.standard_normal((2500, 4)).astype(np.float32), batch_size=1000)
    assert out.shape == (2500, 3) and model.training


def test_summary_leaves_no_state_behind(rng):
    from scratchnet.layers import LSTM

    model = sn.Sequential([LSTM(3, 4, stateful=True), Dense(4, 2)])
    model.summary((6, 3), print_fn=lambda *_: None)
    assert model.forward(rng.standard_normal((5, 6, 3))).shape == (5, 6, 2)  # no carried batch of 2
    dense = Dense(3, 2)
    sn.Sequential([dense]).summary((3,), print_fn=lambda *_: None)
    with pytest.raises(RuntimeError, match="before forward"):
        dense.backward(np.ones((1, 2)))
