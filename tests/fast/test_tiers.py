"""Every tier-2 fast path against its tier-1 reference, on randomized shapes and options.

The fast paths compute the reference's sums with other operand layouts and in-place buffers, so they agree
to rounding, not bit for bit: float64 within 1e-10 and float32 within 2e-4 of the largest entry of the
compared array. A backward always runs on the tier of its forward, even when the mode changes in between.
"""

import numpy as np
import pytest
from layer_checks import rand

from scratchnet import backend
from scratchnet.layers import GRU, LSTM, RNN, Conv2D, Dense, LayerNorm, MultiHeadAttention, TransformerBlock

BOUNDS = {np.float64: 1e-10, np.float32: 2e-4}
SEEDS = range(8)


def assert_tiers_agree(fast, ref, dtype, what):
    fast, ref = np.asarray(fast), np.asarray(ref)
    assert fast.shape == ref.shape and fast.dtype == ref.dtype, what
    scale = max(float(np.abs(ref).max(initial=0.0)), 1e-30)
    err = float(np.abs(fast - ref).max(initial=0.0)) / scale
    assert err <= BOUNDS[dtype], f"{what}: relative difference {err:.2e} > {BOUNDS[dtype]:.0e}"


def run_tier(reference, make, forward, backward_args):
    """Builds a fresh layer, runs forward and backward on one tier; returns everything to compare."""
    layer = make()
    with backend.reference(reference):
        y = forward(layer)
        dx = layer.backprop(*backward_args(y))
    grads = {p.name: p.grad.copy() for p in layer.parameters()}  # a block's sub-layers' too
    extra = {
        k: getattr(layer, k)
        for k in ("h_last", "c_last", "dh0", "dc0")
        if getattr(layer, k, None) is not None
    }
    return {"y": y, "dx": dx, **{f"d{k}": v for k, v in grads.items()}, **extra}


def compare_tiers(make, forward, backward_args, dtype, what):
    fast = run_tier(False, make, forward, backward_args)
    ref = run_tier(True, make, forward, backward_args)
    assert fast.keys() == ref.keys()
    for key in ref:
        assert_tiers_agree(fast[key], ref[key], dtype, f"{key} of {what}")


def random_dout(seed, dtype):
    return lambda y: (np.random.default_rng(seed).standard_normal(y.shape).astype(dtype),)


@pytest.mark.parametrize("algorithm", ["auto", "im2col", "direct"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", SEEDS)
def test_conv2d_fast_path_equals_reference(seed, dtype, algorithm, kernels):
    rng = np.random.default_rng(seed)
    c, f, k, stride = (
        int(v) for v in (rng.integers(1, 5), rng.integers(1, 5), rng.integers(1, 4), rng.integers(1, 3))
    )
    padding = [0, 1, "same", "valid", (0, 2), (1, 0, 2, 1)][rng.integers(6)]
    x = rng.standard_normal((int(rng.integers(1, 4)), c, int(rng.integers(k, 9)), int(rng.integers(k, 9))))
    x = x.astype(dtype)
    kwargs = dict(
        kernel_size=k,
        stride=stride,
        padding=padding,
        bias=bool(rng.integers(2)),
        dtype=dtype,
        algorithm=algorithm,
    )
    seed_w = int(rng.integers(1 << 30))

    def make():
        layer = Conv2D(c, f, rng=np.random.default_rng(seed_w), **kwargs)
        if "b" in layer.params:
            layer.params["b"][...] = np.linspace(-1, 1, f)
        return layer

    compare_tiers(make, lambda layer: layer(x), random_dout(seed, dtype), dtype, f"Conv2D {kwargs}")


def test_conv2d_column_pieces_equal_reference(monkeypatch):
    # the fast path cuts long thin products into serial pieces (small layers on big batches); force it
    import scratchnet.fast.conv as fast_conv

    monkeypatch.setattr(fast_conv, "_SERIAL_GEMM_MNK", 4 * 2 * 9 * 64)
    x = np.random.default_rng(3).standard_normal((3, 2, 9, 7))
    make = lambda: Conv2D(2, 4, 3, padding="same", dtype=np.float64, rng=np.random.default_rng(0))  # noqa: E731
    assert fast_conv._column_piece(np, 4 * 2 * 9, 3 * 9 * 7) == 64
    compare_tiers(make, lambda layer: layer(x), random_dout(4, np.float64), np.float64, "pieces")


def test_conv2d_column_pieces_match_single_gemm(monkeypatch, kernels):
    # layers with few weights split their GEMMs into serial column pieces; force that on a small layer
    import scratchnet.fast.conv as conv_module

    x, g = rand(3, 2, 9, 7, seed=11), rand(3, 4, 9, 7, seed=12)
    weights, columns = 4 * 2 * 3 * 3, 3 * 9 * 7

    def run():
        layer = Conv2D(2, 4, 3, padding="same", dtype=np.float64, rng=np.random.default_rng(0))
        layer.params["b"][...] = 0.5
        y = layer(x)
        return y, layer.backprop(g), layer.grads["W"].copy(), layer.grads["b"].copy()

    assert conv_module._column_piece(np, weights, columns) == 0  # one GEMM by default
    single = run()
    monkeypatch.setattr(conv_module, "_SERIAL_GEMM_MNK", weights * 64)
    assert conv_module._column_piece(np, weights, columns) == 64  # two pieces of 64 and a tail of 61
    assert conv_module._column_piece(object(), weights, columns) == 0  # device arrays: never cut
    for a, b in zip(single, run()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_recurrent_fast_loops_equal_reference(cls, seed, dtype):
    rng = np.random.default_rng(seed)
    n, t, d, h = (
        int(v) for v in (rng.integers(1, 5), rng.integers(1, 7), rng.integers(1, 6), rng.integers(1, 7))
    )
    options = dict(return_sequences=bool(rng.integers(2)), dtype=dtype)
    x = rng.standard_normal((n, t, d)).astype(dtype)
    call = {}
    if rng.integers(2):
        call["lengths"] = rng.integers(0, t + 1, n)
    if rng.integers(2):
        call["h0"] = rng.standard_normal((n, h)).astype(dtype)
        if cls is LSTM:
            call["c0"] = rng.standard_normal((n, h)).astype(dtype)
    extra = {}
    if rng.integers(2):
        extra["dh_last"] = rng.standard_normal((n, h)).astype(dtype)
        if cls is LSTM:
            extra["dc_last"] = rng.standard_normal((n, h)).astype(dtype)
    seed_w = int(rng.integers(1 << 30))

    def make():
        layer = cls(d, h, rng=np.random.default_rng(seed_w), **options)
        for p in layer.params.values():  # non-zero biases, so every term of the equations is exercised
            p += np.random.default_rng(seed_w + 1).uniform(-0.3, 0.3, p.shape).astype(dtype)
        return layer

    def backward_args(y):
        return (random_dout(seed, dtype)(y)[0], *extra.values())

    what = f"{cls.__name__} N={n} T={t} D={d} H={h} {options} {sorted(call)} {sorted(extra)}"
    compare_tiers(make, lambda layer: layer(x, **call), backward_args, dtype, what)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_stateful_carry_is_the_same_on_both_tiers(cls):
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    runs = []
    for reference in (False, True):
        layer = cls(4, 5, stateful=True, dtype=np.float64, rng=np.random.default_rng(1))
        with backend.reference(reference):
            runs.append([layer(x).copy(), layer(x).copy()])
    for fast, ref in zip(*runs):
        assert_tiers_agree(fast, ref, np.float64, f"stateful {cls.__name__}")
    assert not np.allclose(runs[0][0], runs[0][1])  # the second call really started from the carried state


@pytest.mark.parametrize(
    "make",
    [
        lambda: Conv2D(
            2, 3, 3, padding=1, algorithm="im2col", dtype=np.float64, rng=np.random.default_rng(0)
        ),
        lambda: LSTM(3, 4, dtype=np.float64, rng=np.random.default_rng(0)),
    ],
)
def test_backward_follows_the_tier_of_its_forward(make):
    # reference mode also selects the kernels' NumPy twins; im2col's are bit-identical to the compiled ones
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5) if isinstance(make(), Conv2D) else (2, 3, 3))
    expected = run_tier(False, make, lambda layer: layer(x), random_dout(1, np.float64))
    layer = make()
    y = layer(x)  # fast
    with backend.reference():
        dx = layer.backprop(*random_dout(1, np.float64)(y))  # must still consume the fast path's cache
    np.testing.assert_array_equal(dx, expected["dx"])


def test_reference_mode_is_a_scoped_switch(monkeypatch):
    def refuse(*args):
        raise AssertionError("the fast path ran")

    monkeypatch.setattr("scratchnet.fast.conv.conv2d_forward", refuse)
    monkeypatch.setattr(backend, "_resolved", {})
    layer, x = Conv2D(1, 2, 3), np.ones((1, 1, 5, 5), np.float32)
    assert not backend.reference_mode()
    with backend.reference():
        assert backend.reference_mode() and backend.info()["reference"]
        assert layer(x).shape == (1, 2, 3, 3)  # the layer's own forward
        assert backend.kernel("im2col").__name__ == "scratchnet.maths.im2col"  # the NumPy twin
    assert not backend.reference_mode()
    assert backend.fast_path(layer, "forward") is refuse
    with pytest.raises(AssertionError, match="the fast path ran"):
        layer(x)
    with pytest.raises(RuntimeError), backend.reference():
        raise RuntimeError  # an exception inside the block still restores the mode
    assert not backend.reference_mode()


def test_every_fast_path_names_a_real_layer_method():
    import importlib

    for key, target in backend.FAST_PATHS.items():
        module, cls, method = key.rsplit(".", 2)
        layer_cls = getattr(importlib.import_module(module), cls)
        assert callable(getattr(layer_cls, method)), key
        fn_module, fn = target.split(":")
        assert callable(getattr(importlib.import_module(fn_module), fn)), target


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", SEEDS)
def test_conv2d_winograd_fast_path_equals_reference_within_its_bound(seed, dtype):
    from scratchnet.fast.conv import WINOGRAD_TILES
    from scratchnet.fast.winograd import ERROR_BOUND

    rng = np.random.default_rng(seed)
    k = [3, 5][seed % 2]
    c, f = (int(v) for v in rng.integers(1, 6, 2))
    padding = [0, 1, "same", "valid", (0, 2), (1, 0, 2, 1)][rng.integers(6)]
    x = rng.standard_normal((int(rng.integers(1, 4)), c, int(rng.integers(k, 12)), int(rng.integers(k, 12))))
    x = x.astype(dtype)
    seed_w = int(rng.integers(1 << 30))

    def make():
        layer = Conv2D(
            c, f, k, padding=padding, dtype=dtype, rng=np.random.default_rng(seed_w), algorithm="winograd"
        )
        layer.params["b"][...] = np.linspace(-1, 1, f)
        return layer

    fast = run_tier(False, make, lambda layer: layer(x), random_dout(seed, dtype))
    ref = run_tier(True, make, lambda layer: layer(x), random_dout(seed, dtype))
    bound = ERROR_BOUND[(WINOGRAD_TILES[k], k)][dtype]
    for key in ref:
        scale = max(float(np.abs(ref[key]).max()), 1e-30)
        err = float(np.abs(fast[key] - ref[key]).max()) / scale
        assert fast[key].dtype == ref[key].dtype and err <= bound, (
            f"{key} k={k} {padding}: {err:.1e} > {bound:.0e}"
        )


def test_auto_picks_direct_for_few_channels_winograd_for_wide_3x3_and_5x5_layers_else_im2col():
    from scratchnet import backend
    from scratchnet.fast.conv import DirectInput
    from scratchnet.fast.winograd import WinogradConv

    def algorithm_used(layer, x):
        layer(x)
        state = layer._cache[2]
        return (
            "winograd"
            if isinstance(state, WinogradConv)
            else "direct"
            if isinstance(state, DirectInput)
            else "im2col"
        )

    wide = "winograd" if backend.kernel("batched_gemm").available() else "im2col"
    x32 = np.zeros((1, 32, 6, 6), np.float32)
    for k in (3, 5):
        assert algorithm_used(Conv2D(32, 32, k, padding="same"), x32) == wide
        assert algorithm_used(Conv2D(32, 32, k, padding="same", algorithm="im2col"), x32) == "im2col"
        assert algorithm_used(Conv2D(32, 32, k, padding="same", algorithm="winograd"), x32) == "winograd"
    assert algorithm_used(Conv2D(32, 32, 3, padding="same", stride=2), x32) == "im2col"
    assert algorithm_used(Conv2D(32, 16, 3, padding="same"), x32) == "im2col"
    assert algorithm_used(Conv2D(32, 32, 7, padding="same"), x32) == "im2col"
    few = "direct" if backend.kernel("direct_conv").__name__.startswith("scratchnet._kernels.") else "im2col"
    for c in (1, 3):
        xc = np.zeros((1, c, 6, 6), np.float32)
        assert algorithm_used(Conv2D(c, 32, 5, padding=2), xc) == few
        assert algorithm_used(Conv2D(c, 32, 3, padding=1, stride=2), xc) == few
        assert algorithm_used(Conv2D(c, 32, 5, padding=2, algorithm="im2col"), xc) == "im2col"
    assert algorithm_used(Conv2D(4, 32, 3, padding=1), np.zeros((1, 4, 6, 6), np.float32)) == "im2col"
    assert algorithm_used(Conv2D(1, 32, 5, padding=2, stride=2, algorithm="direct"), x32[:, :1]) == "direct"
    before = backend.info()["compiled_kernels_in_use"]
    backend.use_compiled(False)
    try:  # the direct path's NumPy twin is slower than im2col: "auto" takes it only compiled
        assert algorithm_used(Conv2D(1, 32, 5, padding=2), x32[:, :1]) == "im2col"
    finally:
        backend.use_compiled(before)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", SEEDS)
def test_dense_fast_path_equals_reference(seed, dtype, kernels):
    rng = np.random.default_rng(seed)
    d_in, d_out = (int(v) for v in rng.integers(1, 300, 2))
    shape = [(int(rng.integers(0, 130)), d_in), (int(rng.integers(1, 9)), int(rng.integers(1, 9)), d_in)][
        seed % 2
    ]
    x = rng.standard_normal(shape).astype(dtype)
    seed_w = int(rng.integers(1 << 30))

    def make():
        layer = Dense(d_in, d_out, dtype=dtype, rng=np.random.default_rng(seed_w))
        layer.params["b"][...] = np.linspace(-1, 1, d_out)
        return layer

    compare_tiers(make, lambda layer: layer(x), random_dout(seed, dtype), dtype, f"Dense {shape} -> {d_out}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", SEEDS)
def test_attention_fast_path_equals_reference(seed, dtype):
    """Causal or not, with or without biases, a key padding mask (fully padded rows included) and dropout."""
    rng = np.random.default_rng(seed)
    heads = int(rng.integers(1, 5))
    dim, n, t = heads * int(rng.integers(1, 9)), int(rng.integers(1, 5)), int(rng.integers(1, 20))
    options = {"causal": seed % 2 == 0, "bias": seed % 3 != 0, "dropout": 0.3 if seed % 4 == 1 else 0.0}
    x = rng.standard_normal((n, t, dim)).astype(dtype)
    mask = rng.random((n, t)) < 0.3 if seed % 4 == 3 else None
    if mask is not None:
        mask[0] = True  # every key of one sequence padded: its rows are zeros
    seed_w = int(rng.integers(1 << 30))

    def make():
        rng_w = np.random.default_rng(seed_w)
        return MultiHeadAttention(dim, heads, dtype=dtype, rng=rng_w, **options)

    compare_tiers(
        make,
        lambda layer: layer(x, key_padding_mask=mask),
        random_dout(seed, dtype),
        dtype,
        f"MultiHeadAttention({dim}, {heads}, {options}) on {x.shape}, mask {mask is not None}",
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(4))
def test_layernorm_and_transformer_block_fast_paths_equal_reference(seed, dtype):
    rng = np.random.default_rng(seed)
    heads = int(rng.integers(1, 4))
    dim, n, t = heads * int(rng.integers(1, 7)), int(rng.integers(1, 4)), int(rng.integers(1, 17))
    x = (rng.standard_normal((n, t, dim)) + 2.0).astype(dtype)
    seed_w = int(rng.integers(1 << 30))

    def make_norm():
        layer = LayerNorm(dim, dtype=dtype)
        layer.params["gamma"][...] = np.linspace(0.5, 2, dim)
        layer.params["beta"][...] = np.linspace(-1, 1, dim)
        return layer

    compare_tiers(
        make_norm, lambda layer: layer(x), random_dout(seed, dtype), dtype, f"LayerNorm on {x.shape}"
    )
    compare_tiers(
        lambda: TransformerBlock(
            dim, heads, causal=seed % 2 == 0, rng=np.random.default_rng(seed_w), dtype=dtype
        ),
        lambda layer: layer(x),
        random_dout(seed, dtype),
        dtype,
        f"TransformerBlock({dim}, {heads}) on {x.shape}",
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_parameter_gradients_alone_are_those_of_the_full_backward(dtype):
    """A network's first layer skips dx on the fast path (``backward_params``): same grads, bit for bit."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((37, 300)).astype(dtype)
    g = rng.standard_normal((37, 129)).astype(dtype)
    grads = []
    for params_only in (False, True):
        layer = Dense(300, 129, dtype=dtype, rng=np.random.default_rng(5))
        layer(x)
        dx = layer.backprop(g, params_only=params_only)
        assert (dx is None) == params_only
        grads.append({k: v.copy() for k, v in layer.grads.items()})
    for name in ("W", "b"):
        np.testing.assert_array_equal(grads[0][name], grads[1][name])
    assert backend.fast_path(Dense(2, 2), "backward_params") is not None
