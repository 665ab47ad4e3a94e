"""Adam's kernel (``pyx/adam.pyx``) bit-identical to its twin (``scratchnet/fast/adam.py``) and the optimizer's
fast path bit-identical to ``Adam.update_step``, over many steps, at every thread count; arrays the kernel does
not take (non-contiguous, other dtypes, overlapping) go to the twin."""

from __future__ import annotations

import numpy as np
import pytest
from compiled import compiled_or_skip

from scratchnet import backend
from scratchnet.fast import adam as twin
from scratchnet.layers import Dense
from scratchnet.optim import Adam, AdamW

compiled = compiled_or_skip("adam")


def arrays(seed: int, dtype, shape=(70_001,)):
    rng = np.random.default_rng(seed)
    p, g = (rng.standard_normal(shape) for _ in range(2))
    m, v = rng.standard_normal(shape) * 0.1, rng.random(shape) * 0.01
    return [a.astype(dtype) for a in (p, g, m, v)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(4))
def test_the_kernel_is_bit_identical_to_its_twin(dtype, seed):
    fast, slow = arrays(seed, dtype), arrays(seed, dtype)
    scalars = (0.9, 0.999, 1e-3 / (1 - 0.9**3), (1 - 0.999**3) ** 0.5, 1e-8)
    for _ in range(3):
        compiled.adam_update(*fast, *scalars)
        twin.adam_update(*slow, *scalars)
    for a, b in zip(fast, slow):
        assert a.tobytes() == b.tobytes()


def test_the_result_does_not_depend_on_the_thread_count():
    before, runs = backend.num_threads(), []
    try:
        for threads in (1, 2, 3):
            backend.set_num_threads(threads)
            run = arrays(7, np.float32, (300_000,))
            compiled.adam_update(*run, 0.9, 0.999, 1e-2, 0.5, 1e-8)
            runs.append(run)
    finally:
        backend.set_num_threads(before)
    for run in runs[1:]:
        for a, b in zip(run, runs[0]):
            assert a.tobytes() == b.tobytes()


def test_arrays_the_kernel_does_not_take_go_to_the_twin():
    p, g, m, v = arrays(1, np.float64, (10, 8))
    views = [a[:, ::2] for a in (p.copy(), g, m.copy(), v.copy())]  # not contiguous, updated in place
    expected = [a.copy() for a in views]
    compiled.adam_update(*views, 0.9, 0.999, 0.1, 0.5, 1e-8)
    twin.adam_update(*expected, 0.9, 0.999, 0.1, 0.5, 1e-8)
    for a, b in zip(views, expected):
        np.testing.assert_array_equal(a, b)
    p, g, m, v = arrays(2, np.float32, (64,))
    same = p.copy()
    compiled.adam_update(p, p, m, v, 0.9, 0.999, 0.1, 0.5, 1e-8)  # g is p: overlapping, the twin's result
    twin.adam_update(same, same, *arrays(2, np.float32, (64,))[2:], 0.9, 0.999, 0.1, 0.5, 1e-8)
    np.testing.assert_array_equal(p, same)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_optimizer_on_its_fast_path_is_bit_identical_to_its_own_code(dtype):
    results = []
    for reference in (False, True):
        rng = np.random.default_rng(3)
        layer = Dense(300, 200, dtype=dtype, rng=np.random.default_rng(4))
        opt = Adam(layer.parameters(), lr=1e-2, weight_decay=1e-3)
        with backend.reference(reference):
            for _ in range(5):
                for g in layer.grads.values():
                    g[...] = rng.standard_normal(g.shape)
                opt.step()
        results.append([layer.params[k].copy() for k in ("W", "b")])
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()
    params = Dense(2, 2).parameters()
    assert backend.fast_path(Adam(params), "update_step") is not None
    assert backend.fast_path(AdamW(params), "update_step") is None  # its own rule runs its own code
