"""Attention's softmax kernel (``pyx/softmax.pyx``) held to its twin (``scratchnet/fast/softmax.py``): equal to
rounding (its own vectorised exp in float32, row sums in fixed lanes), causal rows zero past their query,
bit-identical at every thread count, the twin for what the kernel does not take."""

from __future__ import annotations

import numpy as np
import pytest
from compiled import compiled_or_skip

from scratchnet import backend
from scratchnet.fast import softmax as twin

compiled = compiled_or_skip("softmax")

# absolute (probabilities are at most 1; the gradient relative to its largest entry)
BOUND = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-14}


def scores(seed: int, dtype, square: bool = True):
    rng = np.random.default_rng(seed)
    t = int(rng.integers(1, 90))
    lead = tuple(int(s) for s in rng.integers(1, 6, rng.integers(0, 3)))
    shape = (*lead, t, t) if square else (*lead, int(rng.integers(1, 40)), t)
    return (rng.standard_normal(shape) * rng.choice([0.1, 3.0, 40.0])).astype(dtype), rng


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(6))
def test_the_kernel_equals_its_twin_to_rounding(causal, dtype, seed):
    s, rng = scores(seed, dtype, square=causal or seed % 2 == 0)
    p = compiled.softmax_in_place(s.copy(), causal)
    p_twin = twin.softmax_in_place(s.copy(), causal)
    assert p.dtype == dtype and p.shape == s.shape
    assert np.abs(p - p_twin).max() <= BOUND[np.dtype(dtype)]
    if causal:
        t = s.shape[-1]
        assert not p[..., np.triu_indices(t, 1)[0], np.triu_indices(t, 1)[1]].any()
    dp = rng.standard_normal(s.shape).astype(dtype)
    ds = compiled.softmax_backward_in_place(dp.copy(), p_twin)
    ds_twin = twin.softmax_backward_in_place(dp.copy(), p_twin)
    assert np.abs(ds - ds_twin).max() <= BOUND[np.dtype(dtype)] * max(np.abs(ds_twin).max(), 1e-30)


def test_the_bound_catches_a_wrong_kernel():
    s, _ = scores(0, np.float32)
    p = twin.softmax_in_place(s.copy(), False)
    assert np.abs(p * np.float32(1 + 1e-5) + 1e-5 - p).max() > BOUND[np.dtype(np.float32)]


def test_results_do_not_depend_on_the_thread_count():
    s = np.random.default_rng(3).standard_normal((8, 4, 100, 100)).astype(np.float32)
    dp = np.random.default_rng(4).standard_normal(s.shape).astype(np.float32)
    before, runs = backend.num_threads(), []
    try:
        for threads in (1, 2, 3):
            backend.set_num_threads(threads)
            p = compiled.softmax_in_place(s.copy(), True)
            runs.append((p, compiled.softmax_backward_in_place(dp.copy(), p)))
    finally:
        backend.set_num_threads(before)
    for p, ds in runs[1:]:
        np.testing.assert_array_equal(p, runs[0][0])
        np.testing.assert_array_equal(ds, runs[0][1])


def test_extreme_scores_give_probabilities_without_nan():
    s = np.array([[[0.0, -1e30, 1e30], [-1e30, -1e30, -1e30], [-80.0, -100.0, 0.0]]], np.float32)
    p = compiled.softmax_in_place(s.copy(), False)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p, twin.softmax_in_place(s.copy(), False), atol=2e-6)


def test_arrays_the_kernel_does_not_take_go_to_the_twin():
    base = np.random.default_rng(5).standard_normal((4, 6, 12))
    s, s_twin = base.copy()[:, :, ::2], base.copy()[:, :, ::2]  # not contiguous, written in place
    np.testing.assert_array_equal(compiled.softmax_in_place(s, True), twin.softmax_in_place(s_twin, True))
    np.testing.assert_array_equal(s, s_twin)
    empty = np.zeros((0, 3, 3), np.float32)
    assert compiled.softmax_in_place(empty, True).shape == (0, 3, 3)
