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
        manual = layer(manual)
    np.testing.assert_array_equal(model(x), manual)


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
    model(x)  # moves the running statistics away from their initial values
    path = tmp_path / "model.npz"
    model.save(path)
    other = small_model()
    other.params = {}
    sn.seed(99)
    other = sn.Sequential([Dense(4, 8), BatchNorm1D(8), ReLU(), Dropout(0.25), Dense(8, 3), Sigmoid()])
    other.load(path)
    model.eval()
    other.eval()
    np.testing.assert_array_equal(model(x), other(x))
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
    assert model(rng.standard_normal((5, 6, 3))).shape == (5, 6, 2)  # no carried batch of 2
    dense = Dense(3, 2)
    sn.Sequential([dense]).summary((3,), print_fn=lambda *_: None)
    with pytest.raises(RuntimeError, match="before forward"):
        dense.backprop(np.ones((1, 2)))


def _entries_with(model, name, value):
    arrays = model.state_dict()
    arrays[name] = value
    return arrays


@pytest.mark.parametrize(
    "make_bad",
    [
        lambda shape: np.full(shape, "x"),
        lambda shape: np.zeros(shape, dtype=np.complex64),
        lambda shape: np.zeros(shape, dtype=[("a", np.float32), ("b", np.float32)]),
    ],
    ids=["strings", "complex", "structured"],
)
def test_load_with_unusable_last_entry_changes_nothing(tmp_path, make_bad):
    source = small_model()
    last = list(source.state_dict())[-1]
    path = tmp_path / "bad.npz"
    np.savez(path, **_entries_with(source, last, make_bad(source.state_dict()[last].shape)))
    sn.seed(42)
    target = sn.Sequential([Dense(4, 8), BatchNorm1D(8), ReLU(), Dropout(0.25), Dense(8, 3), Sigmoid()])
    before = {k: v.copy() for k, v in target.state_dict().items()}
    with pytest.raises(ValueError, match=rf"{last!r}.*dtype"):
        target.load(path)
    with pytest.raises(ValueError, match="dtype"):
        target.load_state_dict(_entries_with(source, last, make_bad(source.state_dict()[last].shape)))
    for k, v in target.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def _write_npz_claiming(path, real_arrays, name, shape, dtype=np.float32):
    """An .npz holding ``real_arrays`` plus entry ``name`` whose header claims ``shape`` with all its data,
    deflated (zeros compress well, so the file stays small whatever the claim)."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, value in real_arrays.items():
            with archive.open(f"{key}.npy", "w") as f:
                np.lib.format.write_array(f, np.asarray(value))
        with archive.open(f"{name}.npy", "w", force_zip64=True) as f:
            header = {
                "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                "fortran_order": False,
                "shape": shape,
            }
            np.lib.format.write_array_header_1_0(f, header)
            chunk = bytes(1 << 20)
            remaining = int(np.prod(shape)) * np.dtype(dtype).itemsize
            while remaining:
                f.write(chunk[: min(remaining, len(chunk))])
                remaining -= min(remaining, len(chunk))


@pytest.mark.parametrize("name, shape", [("extra", (10_000, 1_000)), ("0.W", (10_000, 1_000))])
def test_load_rejects_from_headers_before_reading_data(tmp_path, name, shape):
    import tracemalloc

    model = small_model()
    arrays = model.state_dict()
    arrays.pop(name, None)
    path = tmp_path / "claims.npz"
    _write_npz_claiming(path, arrays, name, shape)  # 40 MB claimed, a few kB on disk
    assert path.stat().st_size < 200_000
    before = {k: v.copy() for k, v in model.state_dict().items()}
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=name.replace(".", r"\.")):
            model.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000, f"rejecting the file took {peak} bytes"
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_load_refuses_object_arrays_and_non_npz(tmp_path):
    model = small_model()
    path = tmp_path / "objects.npz"
    arrays = model.state_dict()
    arrays["0.W"] = np.empty(arrays["0.W"].shape, dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="pickle"):
        model.load(path)
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="junk.npz"):
        model.load(tmp_path / "junk.npz")


def test_save_honours_the_umask(tmp_path):
    model = small_model()
    old = os.umask(0o022)
    try:
        model.save(tmp_path / "shared.npz")
        os.umask(0o077)
        model.save(tmp_path / "private.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "shared.npz").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "private.npz").stat().st_mode & 0o777 == 0o600


def test_save_through_a_symlink_replaces_the_target(tmp_path):
    model = small_model()
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "model-v1.npz"
    target.write_bytes(b"old")
    link = tmp_path / "latest.npz"
    link.symlink_to(target)
    model.save(link)
    assert link.is_symlink() and link.resolve() == target.resolve()
    np.testing.assert_array_equal(small_model().load(target)[0].params["W"], model[0].params["W"])
    assert sorted(os.listdir(tmp_path / "runs")) == ["model-v1.npz"]


def test_save_removes_only_its_own_stale_temporaries(tmp_path):
    import fcntl

    names = {
        ".model.npz.ab12cd34.tmp": False,  # left by a killed save of model.npz: removed
        ".model.npz.q_z90abc.tmp": False,  # mkstemp's alphabet, as earlier versions named them
        ".model.npz.ab12cd34.tmp.keep": True,
        ".model.npz.short.tmp": True,
        ".other.npz.ab12cd34.tmp": True,
        ".model.npz.locked00.tmp": True,  # a save still running holds its lock
    }
    for name in names:
        (tmp_path / name).write_bytes(b"partial")
    running = os.open(tmp_path / ".model.npz.locked00.tmp", os.O_RDONLY)
    try:
        fcntl.flock(running, fcntl.LOCK_EX)
        small_model().save(tmp_path / "model.npz")
    finally:
        os.close(running)
    left = set(os.listdir(tmp_path))
    assert left == {"model.npz"} | {name for name, kept in names.items() if kept}


def test_state_and_file_functions_keep_their_old_import_path(tmp_path):
    from scratchnet import model, model_io

    for name in (
        "state_dict",
        "load_state_dict",
        "prepare_load_state",
        "check_state_entries",
        "atomic_write",
        "save_arrays",
        "load_arrays",
        "remove_stale_temporaries",
        "ArrayHeader",
        "USABLE_KINDS",
    ):
        assert getattr(model, name) is getattr(model_io, name), name
    saved = small_model()
    saved.save(tmp_path / "m.npz")
    arrays = model.load_arrays(tmp_path / "m.npz")
    assert sorted(arrays) == sorted(saved.state_dict())
