"""DataLoader batching, next_batch, one_hot, splits and scalers."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet.datasets.loader import (
    DataLoader,
    MinMaxScaler,
    StandardScaler,
    min_max_scale,
    one_hot,
    train_test_split,
    train_val_test_split,
)


def _data(n=10, d=3):
    x = np.arange(n * d, dtype=np.float32).reshape(n, d)
    y = np.arange(n)
    return x, y


def test_epoch_covers_every_sample_once_and_pairs_stay_aligned():
    x, y = _data(10)
    loader = DataLoader(x, y, batch_size=4, seed=0)
    batches = list(loader)
    assert [len(b[0]) for b in batches] == [4, 4, 2] and len(loader) == 3
    seen = np.concatenate([yb for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    for xb, yb in batches:
        np.testing.assert_array_equal(xb, x[yb])


def test_same_seed_same_order_new_permutation_each_epoch():
    x, y = _data(20)
    a, b = DataLoader(x, y, batch_size=5, seed=3), DataLoader(x, y, batch_size=5, seed=3)
    ea1 = np.concatenate([yb for _, yb in a])
    ea2 = np.concatenate([yb for _, yb in a])
    eb1 = np.concatenate([yb for _, yb in b])
    eb2 = np.concatenate([yb for _, yb in b])
    assert ea1.tolist() == eb1.tolist() and ea2.tolist() == eb2.tolist()
    assert ea1.tolist() != ea2.tolist()
    other = np.concatenate([yb for _, yb in DataLoader(x, y, batch_size=5, seed=4)])
    assert other.tolist() != ea1.tolist()


def test_drop_last_no_shuffle_and_no_targets():
    x, _ = _data(10)
    loader = DataLoader(x, batch_size=4, shuffle=False, drop_last=True)
    batches = list(loader)
    assert len(loader) == 2 and len(batches) == 2 and all(yb is None for _, yb in batches)
    np.testing.assert_array_equal(batches[1][0], x[4:8])


def test_loader_does_not_touch_global_numpy_rng():
    x, y = _data(8)
    np.random.seed(0)
    expected = np.random.rand()
    np.random.seed(0)
    list(DataLoader(x, y, batch_size=3, seed=1))
    assert np.random.rand() == expected


def test_next_batch_cycles_and_reshuffles():
    x, y = _data(10)
    loader = DataLoader(x, y, batch_size=4, seed=0)
    first = [loader.next_batch()[1] for _ in range(2)]  # 8 of epoch 0
    xb, yb = loader.next_batch(4)  # 2 left in epoch 0 + 2 from epoch 1
    assert loader.epochs_completed == 1 and xb.shape == (4, 3)
    epoch0 = np.concatenate([*first, yb[:2]])
    assert sorted(epoch0.tolist()) == list(range(10))
    rest = np.concatenate([yb[2:], loader.next_batch(8)[1]])
    assert sorted(rest.tolist()) == list(range(10))
    np.testing.assert_array_equal(xb, x[yb])
    with pytest.raises(ValueError, match="next_batch"):
        loader.next_batch(11)


@pytest.mark.parametrize(
    "kwargs, exc, msg",
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": 2.5}, ValueError, "batch_size"),
        ({"y": np.zeros(3)}, ValueError, "10 samples"),
    ],
)
def test_loader_bad_input(kwargs, exc, msg):
    x, _ = _data(10)
    with pytest.raises(exc, match=msg):
        DataLoader(x, **kwargs)


def test_one_hot():
    out = one_hot(np.array([2, 0, 1]), 4)
    assert out.dtype == np.float32 and out.shape == (3, 4)
    np.testing.assert_array_equal(out, np.eye(4, dtype=np.float32)[[2, 0, 1]])
    np.testing.assert_array_equal(one_hot(np.array([[1], [0]])), [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="0..2"):
        one_hot(np.array([3]), 3)
    with pytest.raises(ValueError, match="0..2"):
        one_hot(np.array([-1]), 3)
    with pytest.raises(TypeError, match="integers"):
        one_hot(np.array([0.5]), 3)
    with pytest.raises(ValueError, match="shape"):
        one_hot(np.zeros((2, 2), int), 3)


def test_train_test_split_is_a_seeded_partition():
    x, y = _data(50)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, seed=0)
    assert len(x_te) == 10 and len(x_tr) == 40
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == list(range(50))
    np.testing.assert_array_equal(x_te, x[y_te])
    again = train_test_split(x, y, test_size=0.2, seed=0)
    np.testing.assert_array_equal(again[3], y_te)
    assert train_test_split(x, y, test_size=0.2, seed=1)[3].tolist() != y_te.tolist()
    parts = train_test_split(x, test_size=7, shuffle=False)
    assert len(parts) == 2 and parts[1].shape == (7, 3)
    np.testing.assert_array_equal(parts[1], x[43:])
    with pytest.raises(ValueError, match="fractional"):
        train_test_split(x, y, test_size=1.5)


def test_train_val_test_split():
    x, y = _data(100)
    x_tr, x_va, x_te, y_tr, y_va, y_te = train_val_test_split(x, y, val_size=0.1, test_size=20, seed=0)
    assert (len(x_tr), len(x_va), len(x_te)) == (70, 10, 20)
    assert sorted(np.concatenate([y_tr, y_va, y_te]).tolist()) == list(range(100))
    np.testing.assert_array_equal(x_va, x[y_va])
    with pytest.raises(ValueError, match="exceed"):
        train_val_test_split(x, y, val_size=60, test_size=50)


def test_min_max_scaler_course_formula_and_inverse():
    rng = np.random.default_rng(0)
    x = rng.normal(5, 3, (30, 4))
    x[:, 2] = 7.0  # constant column: eps keeps it finite
    scaler = MinMaxScaler().fit(x)
    out = scaler.transform(x)
    expected = (x - x.min(0)) / (x.max(0) - x.min(0) + 1e-7)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_allclose(min_max_scale(x), expected, rtol=1e-12)
    assert np.all(out[:, 2] == 0) and out.max() < 1 and out.min() == 0
    np.testing.assert_allclose(scaler.inverse_transform(out), x, rtol=1e-10)
    ranged = MinMaxScaler(feature_range=(-1, 1)).fit_transform(x[:, :2])
    assert ranged.min() == -1 and 0.999 < ranged.max() <= 1
    f32 = MinMaxScaler().fit_transform(x.astype(np.float32))
    assert f32.dtype == np.float32
    with pytest.raises(ValueError, match="feature_range"):
        MinMaxScaler(feature_range=(1, 0))


def test_standard_scaler():
    rng = np.random.default_rng(1)
    x = rng.normal(2, 4, (200, 3))
    x[:, 1] = -3.0
    scaler = StandardScaler()
    z = scaler.fit_transform(x)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(0), [1, 0, 1], atol=1e-12)
    np.testing.assert_allclose(scaler.inverse_transform(z), x, rtol=1e-12)
    assert StandardScaler().fit_transform(np.arange(6).reshape(3, 2)).dtype == np.float64


def test_scalers_reject_misuse():
    with pytest.raises(RuntimeError, match="fit"):
        StandardScaler().transform(np.zeros((2, 2)))
    scaler = MinMaxScaler().fit(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        scaler.transform(np.zeros((4, 2)))
    with pytest.raises(TypeError, match="numeric"):
        StandardScaler().fit(np.array([["a"]]))


# ------------------------------------------------------------------- bad input: clear errors, no silent no-ops


@pytest.mark.parametrize(
    "x, kwargs, msg",
    [
        (np.zeros((0, 3)), {}, "no samples"),
        (np.zeros((5, 3)), {"batch_size": 6, "drop_last": True}, "leaves no batch"),
        (np.zeros((5, 3)), {"batch_size": True}, "batch_size"),
        (np.zeros((5, 3)), {"batch_size": np.float64(2.0)}, "batch_size"),
        (np.zeros((5, 3)), {"y": np.zeros(6)}, "5 samples but y has shape"),
    ],
)
def test_loader_refuses_empty_data_and_batches_that_never_come(x, kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        DataLoader(x, **kwargs)


def test_loader_batch_sizes_that_are_fine():
    x, y = _data(5)
    assert len(DataLoader(x, y, batch_size=np.int64(2))) == 3
    assert [len(b) for b, _ in DataLoader(x, y, batch_size=6, shuffle=False)] == [5]  # one short batch
    loader = DataLoader(x, y, batch_size=2, seed=0)
    for bad in (2.5, True, 0, 6, "2"):
        with pytest.raises(ValueError, match="next_batch"):
            loader.next_batch(bad)
    assert loader.next_batch(np.int32(5))[0].shape == (5, 3)


def test_split_fractions_of_any_float_type_and_degenerate_splits():
    x, y = _data(50)
    for frac in (0.2, np.float32(0.2), np.float64(0.2)):
        assert len(train_test_split(x, y, test_size=frac, seed=0)[1]) == 10  # np.float32 once meant 0 samples
    with pytest.raises(TypeError, match="fraction"):
        train_test_split(x, y, test_size=True)
    with pytest.raises(TypeError, match="fraction"):
        train_test_split(x, y, test_size="0.2")
    with pytest.raises(ValueError, match="fractional"):
        train_test_split(x, y, test_size=float("nan"))
    with pytest.raises(ValueError, match="leave none of the 50 for training"):
        train_test_split(x, y, test_size=50)
    with pytest.raises(ValueError, match="leave none"):
        train_test_split(x, y, test_size=0.995)  # rounds to all 50
    with pytest.raises(ValueError, match="no samples"):
        train_test_split(x[:0], y[:0])


def test_one_hot_refuses_labels_it_would_wrap_or_cannot_read():
    with pytest.raises(TypeError, match="integers"):
        one_hot(np.array([1e30, 0.0]), 3)  # astype(int64) would wrap it
    with pytest.raises(TypeError, match="integers"):
        one_hot(np.array([np.nan]), 3)
    with pytest.raises(TypeError, match="dtype <U1"):
        one_hot(np.array(["a"]), 3)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="num_classes"):
            one_hot(np.array([0, 1]), bad)
    np.testing.assert_array_equal(one_hot(np.array([1.0, 0.0]), 2), [[0, 1], [1, 0]])


def test_standard_scaler_constant_float32_column_maps_to_zero():
    x = np.full((1000, 2), 1234.567, dtype=np.float32)
    x[:, 1] = np.linspace(0, 1, 1000)
    # float32 rounding gives the constant column a computed std of about 0.006; dividing by it made +-1s
    assert x.std(axis=0)[0] > 0
    z = StandardScaler().fit_transform(x)
    np.testing.assert_array_equal(z[:, 0], 0)
    np.testing.assert_allclose(z[:, 1].std(), 1, rtol=1e-5)
    assert z.dtype == np.float32


def test_min_max_scaler_with_eps_zero_keeps_constant_columns_finite():
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    out = MinMaxScaler(feature_range=(-1, 1), eps=0).fit_transform(x)
    np.testing.assert_array_equal(out, [[-1, -1], [1, -1]])
    with pytest.raises(ValueError, match="eps"):
        MinMaxScaler(eps=-1e-3)
    with pytest.raises(ValueError, match="feature_range"):
        MinMaxScaler(feature_range=(0, np.inf))


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
def test_scalers_refuse_non_finite_and_empty_data(scaler):
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"finite, found nan at index \(2, 1\)"):
        scaler().fit(x)
    fitted = scaler().fit(np.arange(12.0).reshape(4, 3))
    with pytest.raises(ValueError, match="finite"):
        fitted.transform(np.array([[0.0, np.inf, 1.0]]))
    with pytest.raises(ValueError, match="no samples"):
        scaler().fit(np.zeros((0, 3)))
    with pytest.raises(TypeError, match="real numeric"):
        scaler().fit(np.ones((2, 2), dtype=complex))
