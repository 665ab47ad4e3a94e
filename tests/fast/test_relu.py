"""The ReLU kernel (pyx/relu.pyx) against its NumPy twin (scratchnet/fast/relu.py): bit for bit, special values
included, on any thread count; inputs it does not take go to the twin."""

import numpy as np
import pytest
from compiled import compiled_or_skip

from scratchnet import backend
from scratchnet.fast import relu as twin
from scratchnet.layers import ReLU

compiled = compiled_or_skip("relu")

SPECIAL = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1e-45, -1e-45, 1.0, -1.0]


def random_values(rng, shape, dtype):
    """Normal values with every special value sprinkled in."""
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    picks = rng.integers(0, flat.size, min(flat.size, 4 * len(SPECIAL)))
    flat[picks] = np.array(SPECIAL * 4, dtype=dtype)[: picks.size]
    return x


def same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equals_the_twin_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    for shape in [(1,), (7,), (3, 5), (2, 3, 4, 5), (100, 32, 28, 28), (32768 + 3,)]:
        x, dout = random_values(rng, shape, dtype), random_values(rng, shape, dtype)
        with np.errstate(invalid="ignore"):  # inf * 0
            same_bits(compiled.relu(x), twin.relu(x))
            same_bits(compiled.relu_backward(dout, x), twin.relu_backward(dout, x))


def test_results_do_not_depend_on_the_thread_count():
    rng = np.random.default_rng(1)
    x, dout = random_values(rng, (300_001,), np.float32), random_values(rng, (300_001,), np.float32)
    runs = []
    for threads in (1, 2):
        backend.set_num_threads(threads)
        with np.errstate(invalid="ignore"):
            runs.append((compiled.relu(x), compiled.relu_backward(dout, x)))
    backend.set_num_threads(2)
    for a, b in zip(*runs, strict=True):
        same_bits(a, b)


def test_arrays_the_kernel_does_not_take_go_to_the_twin():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 8))
    cases = [
        (x[:, ::2], rng.standard_normal((6, 4))),  # not contiguous
        (x.astype(np.float16), x.astype(np.float16)),  # another dtype
        (x.astype(np.float32), x),  # dout of another precision than x
        (np.empty((0, 3)), np.empty((0, 3))),  # empty
    ]
    for xi, dout in cases:
        same_bits(compiled.relu(xi), twin.relu(xi))
        same_bits(compiled.relu_backward(dout, xi), twin.relu_backward(dout, xi))


def test_relu_layer_fast_path_equals_the_reference():
    rng = np.random.default_rng(3)
    x, dout = random_values(rng, (4, 3, 9, 9), np.float32), random_values(rng, (4, 3, 9, 9), np.float32)
    results = []
    for reference in (False, True):
        layer = ReLU()
        with backend.reference(reference), np.errstate(invalid="ignore"):
            results.append((layer(x), layer.backprop(dout)))
    for fast, ref in zip(*results, strict=True):
        same_bits(fast, ref)
