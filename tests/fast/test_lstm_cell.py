"""The fused LSTM step (pyx/lstm_cell.pyx) against its NumPy twin (scratchnet/fast/lstm_cell.py): the backward
bit for bit, the float32 forward within the stated error of its tanh, odd arrays through the twin."""

import numpy as np
import pytest
from compiled import compiled_or_skip

from scratchnet.fast import lstm_cell as twin

compiled = compiled_or_skip("lstm_cell")


def test_tanh_is_within_the_stated_error_over_float32():
    # every 4099th float32 bit pattern of either sign (about a million values, all exponents)
    bits = np.arange(0, 2**31, 4099, dtype=np.int64).astype(np.uint32).view(np.float32)
    x = np.concatenate([bits, -bits])
    x = x[np.isfinite(x)]
    exact = np.tanh(x.astype(np.float64))
    err = np.abs(compiled.tanh(x).astype(np.float64) - exact)
    assert err.max() <= twin.TANH_ERROR
    normal = np.abs(x) > 1e-37
    assert (err[normal] / np.abs(exact[normal])).max() <= 1.5e-7
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, 9.5, 100.0, -100.0], np.float32)
    got = compiled.tanh(special)
    assert np.isnan(got[0]) and got[1:3].tolist() == [1.0, -1.0] and got[7:].tolist() == [1.0, -1.0]
    assert np.signbit(got[4]) and not np.signbit(got[3]) and got[5] == np.float32(1e-40)


def step_arrays(rng, n, h, dtype, masked):
    state = {
        name: rng.standard_normal((n, h)).astype(dtype) for name in ("c_prev", "h_prev", "tc", "dh", "dc")
    }
    state["g4"] = rng.standard_normal((n, 4 * h)).astype(dtype) * 3
    state["hw"] = rng.standard_normal((n, 4 * h)).astype(dtype)
    state["mask"] = (rng.random((n, 1)) < 0.6).astype(dtype) if masked else None
    return state


def run_forward(module, s, dtype):
    g4, outs = s["g4"].copy(), [np.empty_like(s["c_prev"]) for _ in range(3)]
    module.forward_step(g4, s["hw"], s["c_prev"], s["h_prev"], *outs, s["mask"])
    return [g4, *outs]


def run_backward(module, s):
    gates = 1 / (1 + np.exp(-s["g4"]))  # gate values in (0, 1), as the forward leaves them
    dh, dc, d = s["dh"].copy(), s["dc"].copy(), np.empty_like(s["g4"])
    module.backward_step(gates, s["tc"], s["c_prev"], dh, dc, d, s["mask"])
    return [dh, dc, d]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("masked", [False, True])
def test_backward_step_equals_the_twin_bit_for_bit(dtype, masked):
    rng = np.random.default_rng(0)
    for _ in range(5):
        n, h = (int(v) for v in rng.integers(1, 40, 2))
        s = step_arrays(rng, n, h, dtype, masked)
        for got, want in zip(run_backward(compiled, s), run_backward(twin, s), strict=True):
            assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("masked", [False, True])
def test_float32_forward_step_is_the_twin_within_the_tanh_error(masked):
    rng = np.random.default_rng(1)
    for _ in range(5):
        n, h = (int(v) for v in rng.integers(1, 40, 2))
        s = step_arrays(rng, n, h, np.float32, masked)
        got, want = run_forward(compiled, s, np.float32), run_forward(twin, s, np.float32)
        # gates, c and h are sums of a few terms of size <= |c_prev| + 1, each off by a tanh error or a rounding
        bound = 4 * (twin.TANH_ERROR + np.finfo(np.float32).eps) * (1 + np.abs(s["c_prev"]).max())
        for name, a, b in zip(("gates", "c", "tanh c", "h"), got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=bound, err_msg=name)
        if masked:  # padded rows keep the previous state exactly
            rows = s["mask"][:, 0] == 0
            assert (got[1][rows] == s["c_prev"][rows]).all() and (got[3][rows] == s["h_prev"][rows]).all()


def test_arrays_the_kernel_does_not_take_go_to_the_twin():
    rng = np.random.default_rng(2)
    s = step_arrays(rng, 3, 5, np.float64, masked=True)  # float64 forward: the twin's own arithmetic
    for got, want in zip(run_forward(compiled, s, np.float64), run_forward(twin, s, np.float64), strict=True):
        assert got.tobytes() == want.tobytes()
    s = step_arrays(rng, 3, 5, np.float32, masked=False)
    wide = np.zeros((3, 10), np.float32)
    wide[:, ::2] = s["dh"]
    s["dh"] = wide[:, ::2]  # not contiguous
    for got, want in zip(run_backward(compiled, s), run_backward(twin, s), strict=True):
        assert got.tobytes() == want.tobytes()


def test_mismatched_shapes_are_refused():
    rng = np.random.default_rng(3)
    s = step_arrays(rng, 3, 5, np.float32, masked=False)
    with pytest.raises(ValueError, match="lstm_cell"):
        compiled.backward_step(
            s["g4"][:, :-1].copy(), s["tc"], s["c_prev"], s["dh"], s["dc"], np.empty((3, 19), np.float32)
        )
    with pytest.raises(ValueError, match="mask"):
        compiled.forward_step(
            s["g4"], s["hw"], s["c_prev"], s["h_prev"], s["tc"], s["dh"], s["dc"], np.ones((2, 1), np.float32)
        )


def sequence_arrays(rng, t, n, h, with_dhs=True):
    """Inputs of one forward and one backward time loop: pre-activations, W_h, initial state, gradients."""
    g = 4 * h
    s = {
        "a": (rng.standard_normal((t, n, g)) * 2).astype(np.float32),
        "wh": (rng.standard_normal((h, g)) / np.sqrt(h)).astype(np.float32),
        "h0": rng.standard_normal((n, h)).astype(np.float32),
        "c0": rng.standard_normal((n, h)).astype(np.float32),
        "dhs": rng.standard_normal((t, n, h)).astype(np.float32) if with_dhs else None,
        "dh": rng.standard_normal((n, h)).astype(np.float32),
        "dc": rng.standard_normal((n, h)).astype(np.float32),
    }
    return s


def run_sequences(module, s):
    """forward_sequence then backward_sequence of ``module`` on copies of ``s``: (hs, cs, a, da, dh, dc)."""
    t, n, g = s["a"].shape
    h = g // 4
    a = s["a"].copy()
    hs, cs = np.empty((t + 1, n, h), np.float32), np.empty((t + 1, n, h), np.float32)
    hs[0], cs[0] = s["h0"], s["c0"]
    tc = np.empty((t, n, h), np.float32)
    module.forward_sequence(a, s["wh"], hs, cs, tc)
    dh, dc, da = s["dh"].copy(), s["dc"].copy(), np.empty_like(a)
    module.backward_sequence(a, tc, cs, s["dhs"], dh, dc, da, np.ascontiguousarray(s["wh"].T))
    return hs, cs, a, da, dh, dc


@pytest.mark.parametrize("seed", range(8))
def test_time_loops_equal_the_twin_to_rounding(seed):
    """The compiled forward and backward time loops (one parallel region, register-tile products) against
    the twin's loop of NumPy products and steps, on shapes with partial row tiles and column panels."""
    rng = np.random.default_rng(seed)
    t, n, h = int(rng.integers(1, 9)), int(rng.integers(1, 13)), int(rng.integers(1, 90))
    s = sequence_arrays(rng, t, n, h, with_dhs=bool(seed % 2))
    got, ref = run_sequences(compiled, s), run_sequences(twin, s)
    for name, x, y in zip(("hs", "cs", "gates", "da", "dh", "dc"), got, ref, strict=True):
        assert x.shape == y.shape and x.dtype == np.float32, name
        np.testing.assert_allclose(
            x, y, rtol=2e-4, atol=2e-5 * max(1.0, float(np.abs(y).max())), err_msg=name
        )


def test_time_loops_do_not_depend_on_the_thread_count():
    from scratchnet import backend

    s = sequence_arrays(np.random.default_rng(7), 6, 11, 70)
    runs = []
    for threads in (1, 2):
        backend.set_num_threads(threads)
        runs.append(run_sequences(compiled, s))
    backend.set_num_threads(2)
    for x, y in zip(*runs, strict=True):
        assert x.tobytes() == y.tobytes()


def test_time_loops_hand_other_arrays_to_the_twin():
    s = sequence_arrays(np.random.default_rng(3), 3, 4, 5)
    s64 = {k: None if v is None else v.astype(np.float64) for k, v in s.items()}
    t, n, g = s64["a"].shape
    a, hs, cs = s64["a"].copy(), np.zeros((t + 1, n, 5)), np.zeros((t + 1, n, 5))
    tc, a_ref, hs_ref, cs_ref = np.empty((t, n, 5)), a.copy(), hs.copy(), cs.copy()
    compiled.forward_sequence(a, s64["wh"], hs, cs, tc)  # float64: the twin, exactly
    twin.forward_sequence(a_ref, s64["wh"], hs_ref, cs_ref, np.empty_like(tc))
    assert hs.tobytes() == hs_ref.tobytes() and a.tobytes() == a_ref.tobytes()
