"""LayerNorm's kernel (``pyx/layernorm.pyx``) held to its twin (``scratchnet/fast/layernorm.py``) and the layer's
fast path to the layer's own code: equal to rounding (the kernel's row sums are in fixed lanes, NumPy's
pairwise), bit-identical at every thread count, the twin for what the kernel does not take."""

from __future__ import annotations

import numpy as np
import pytest
from compiled import compiled_or_skip

from scratchnet import backend
from scratchnet.fast import layernorm as twin
from scratchnet.layers import LayerNorm

compiled = compiled_or_skip("layernorm")

# relative to the compared array's largest entry, times the rows' conditioning 1 + |mean| / std: a row far
# from zero and narrow loses digits to the centring in both implementations, neither more than the other
BOUND = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-13}


def conditioning(x: np.ndarray) -> float:
    x = x.astype(np.float64)
    return 1.0 + float(np.max(np.abs(x.mean(axis=-1)) / (x.std(axis=-1) + 1e-30), initial=0.0))


def close(a: np.ndarray, b: np.ndarray, cond: float = 1.0) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype
    scale = max(float(np.abs(b).max(initial=0.0)), 1e-30)
    assert float(np.abs(a - b).max(initial=0.0)) <= BOUND[b.dtype] * scale * cond


def random_case(seed: int, dtype):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 300))
    lead = tuple(int(s) for s in rng.integers(1, 70, rng.integers(0, 3)))
    x = (rng.standard_normal((*lead, d)) * rng.choice([0.01, 1.0, 30.0]) + rng.normal(0, 5)).astype(dtype)
    gamma, beta = rng.standard_normal(d).astype(dtype), rng.standard_normal(d).astype(dtype)
    return x, gamma, beta, rng.standard_normal(x.shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(8))
def test_the_kernel_equals_its_twin_to_rounding(dtype, seed):
    x, gamma, beta, dout = random_case(seed, dtype)
    fast, slow = compiled.layer_norm(x, gamma, beta, 1e-5), twin.layer_norm(x, gamma, beta, 1e-5)
    for a, b in zip(fast, slow):
        close(a, b, conditioning(x))
    for a, b in zip(
        compiled.layer_norm_backward(dout, fast[1], fast[2], gamma),
        twin.layer_norm_backward(dout, fast[1], fast[2], gamma),
    ):
        close(a, b)


def test_the_bound_catches_a_wrong_kernel():
    x, gamma, beta, _ = random_case(0, np.float32)
    y = twin.layer_norm(x, gamma, beta, 1e-5)[0]
    with pytest.raises(AssertionError):
        close(y * np.float32(1 + 1e-4), y)


def test_results_do_not_depend_on_the_thread_count():
    x, gamma, beta, dout = random_case(1, np.float32)
    x = np.repeat(x.reshape(-1, x.shape[-1]), 30, axis=0)  # rows for several blocks and threads
    dout = np.repeat(dout.reshape(-1, x.shape[-1]), 30, axis=0)
    before, runs = backend.num_threads(), []
    try:
        for threads in (1, 2, 3):
            backend.set_num_threads(threads)
            y, x_hat, inv_std = compiled.layer_norm(x, gamma, beta, 1e-5)
            runs.append((y, x_hat, inv_std, *compiled.layer_norm_backward(dout, x_hat, inv_std, gamma)))
    finally:
        backend.set_num_threads(before)
    for run in runs[1:]:
        for a, b in zip(run, runs[0]):
            np.testing.assert_array_equal(a, b)


def test_arrays_the_kernel_does_not_take_go_to_the_twin():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 16))[:, ::2]  # not contiguous
    gamma, beta = np.ones(8), np.zeros(8)
    for a, b in zip(compiled.layer_norm(x, gamma, beta, 1e-5), twin.layer_norm(x, gamma, beta, 1e-5)):
        np.testing.assert_array_equal(a, b)
    y, x_hat, inv_std = compiled.layer_norm(np.zeros((0, 8)), gamma, beta, 1e-5)
    assert y.shape == x_hat.shape == (0, 8) and inv_std.shape == (0, 1)
    constant = compiled.layer_norm(np.full((3, 8), 7.0), gamma, beta, 1e-5)[0]  # var 0: x_hat 0, no NaN
    np.testing.assert_array_equal(constant, np.zeros((3, 8)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_layer_on_its_fast_path_matches_its_own_code(dtype):
    x, gamma, beta, dout = random_case(5, dtype)
    layers = []
    for reference in (False, True):
        with backend.reference(reference):
            layer = LayerNorm(x.shape[-1], dtype=dtype)
            layer.params["gamma"][...], layer.params["beta"][...] = gamma, beta
            layers.append((layer(x), layer.backprop(dout), dict(layer.grads)))
    (y, dx, grads), (y_ref, dx_ref, grads_ref) = layers
    close(y, y_ref, conditioning(x))
    close(dx, dx_ref, conditioning(x))
    for name in ("gamma", "beta"):
        close(grads[name], grads_ref[name], conditioning(x))
    assert backend.fast_path(LayerNorm(4), "forward") is not None
