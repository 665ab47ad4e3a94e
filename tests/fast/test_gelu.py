"""GELU's fast path (``pyx/gelu.pyx``, ``scratchnet/fast/gelu.py``) held to its twin and to the layer's own
code within the stated bound (``fast.gelu.RTOL``/``ATOL``: the C library's erf against Cody's), whatever the
thread count, shape or special value."""

from __future__ import annotations

import numpy as np
import pytest
from compiled import compiled_or_skip

from scratchnet import backend
from scratchnet.fast import gelu as twin
from scratchnet.layers import GELU

compiled = compiled_or_skip("gelu")

SPECIAL = [0.0, -0.0, 1e-30, -1e-30, 5.0, -5.0, 8.5, -8.5, 40.0, -40.0, np.inf, -np.inf, np.nan]


def close(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> None:
    """Within the twin's stated bound; NaN and infinities where the twin has them."""
    finite = np.isfinite(b)
    np.testing.assert_array_equal(a[~finite], b[~finite])
    bound = twin.BOUND[b.dtype] * (1 + np.abs(x.astype(b.dtype)[finite]))
    assert np.all(np.abs(a[finite] - b[finite]) <= bound), np.max(np.abs(a[finite] - b[finite]) / bound)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(4))
def test_the_kernel_equals_its_twin_within_the_stated_bound(dtype, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 40, rng.integers(1, 4)))
    x = (rng.standard_normal(shape) * rng.choice([0.5, 3.0, 12.0])).astype(dtype)
    x.reshape(-1)[: len(SPECIAL)] = np.array(SPECIAL, dtype)[: x.size]
    dout = rng.standard_normal(shape).astype(dtype)
    y, phi = compiled.gelu(x)
    y_twin, phi_twin = twin.gelu(x)
    close(y, y_twin, x)
    close(phi, phi_twin, x)
    close(compiled.gelu_backward(dout, x, phi), twin.gelu_backward(dout, x, phi), x * dout)
    assert y.dtype == phi.dtype == dtype


def test_the_bound_is_tight_enough_to_catch_a_wrong_kernel():
    x = np.linspace(-4, 4, 1001).astype(np.float32)
    y, _ = twin.gelu(x)
    with pytest.raises(AssertionError):
        close(y + np.float32(2e-6), y, x)


def test_the_result_does_not_depend_on_the_thread_count():
    x = np.random.default_rng(0).standard_normal(300_000).astype(np.float32)
    before = backend.num_threads()
    try:
        backend.set_num_threads(1)
        one = compiled.gelu(x)
        backend.set_num_threads(2)
        two = compiled.gelu(x)
    finally:
        backend.set_num_threads(before)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


def test_arrays_the_kernel_does_not_take_go_to_the_twin():
    x = np.random.default_rng(1).standard_normal((6, 8))[:, ::2]  # not contiguous
    y, phi = compiled.gelu(x)
    np.testing.assert_array_equal(y, twin.gelu(x)[0])
    assert compiled.gelu(np.zeros((0, 3), np.float32))[0].shape == (0, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_layer_on_its_fast_path_matches_its_own_code(dtype):
    rng = np.random.default_rng(2)
    x = (3 * rng.standard_normal((4, 7, 33))).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    fast = GELU()
    y = fast(x)
    dx = fast.backprop(g)
    with backend.reference():
        ref = GELU()
        y_ref = ref(x)
        dx_ref = ref.backprop(g)
    close(y, y_ref, x)
    close(dx, dx_ref, x * g)
    assert backend.fast_path(fast, "forward") is not None


def test_the_tanh_form_and_float16_run_the_layers_own_code():
    rng = np.random.default_rng(3)
    for layer, x in (
        (GELU("tanh"), rng.standard_normal((5, 9))),
        (GELU(), rng.standard_normal((5, 9)).astype(np.float16)),
    ):
        y = layer(x)
        with backend.reference():
            twin_layer = GELU(layer.approximate)
            np.testing.assert_array_equal(y, twin_layer(x))
