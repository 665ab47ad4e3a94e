"""Compiled im2col/pooling kernels against their NumPy twins, thread-count determinism, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnet import backend
from scratchnet.maths import im2col as twin_im2col
from scratchnet.maths import pooling as twin_pool


def _compiled(name):
    try:
        return backend.compiled_kernel(name)
    except ImportError:
        return None


C_IM2COL, C_POOL = _compiled("im2col"), _compiled("pooling")
needs_compiled = pytest.mark.skipif(C_IM2COL is None or C_POOL is None, reason="compiled kernels not built")
SETTINGS = settings(max_examples=40, deadline=None)
DTYPES = st.sampled_from([np.float32, np.float64])


@st.composite
def conv_case(draw, pool: bool = False):
    """A random (x, kh, kw, stride, pad) where the kernel fits into the padded input."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    if pool:  # pooling: each side's padding smaller than the kernel
        pad = tuple(draw(st.integers(0, k - 1)) for k in (kh, kh, kw, kw))
    else:
        pad = tuple(draw(st.integers(0, 3)) for _ in range(4))
    kh, kw = min(kh, h + pad[0] + pad[1]), min(kw, w + pad[2] + pad[3])
    if pool:
        pad = (min(pad[0], kh - 1), min(pad[1], kh - 1), min(pad[2], kw - 1), min(pad[3], kw - 1))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dtype = draw(DTYPES)
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    if pool and draw(st.booleans()):  # ties, infinities and NaNs: the tie-breaking rules must agree too
        x = np.round(x)
        x[rng.random(x.shape) < 0.2] = -np.inf
        x[rng.random(x.shape) < 0.05] = np.nan
        x[rng.random(x.shape) < 0.05] = np.inf
    return x, kh, kw, stride, pad


@needs_compiled
@SETTINGS
@given(conv_case())
def test_im2col_col2im_match_twin(case):
    x, kh, kw, stride, pad = case
    cols = C_IM2COL.im2col(x, kh, kw, stride, pad)
    ref = twin_im2col.im2col(x, kh, kw, stride, pad)
    assert cols.dtype == x.dtype and cols.shape == ref.shape
    np.testing.assert_array_equal(cols, ref)
    d = np.random.default_rng(1).standard_normal(cols.shape).astype(x.dtype)
    dx = C_IM2COL.col2im(d, x.shape, kh, kw, stride, pad)
    assert dx.dtype == x.dtype and dx.shape == x.shape
    np.testing.assert_array_equal(dx, twin_im2col.col2im(d, x.shape, kh, kw, stride, pad))


HUGE = st.sampled_from([2**31 - 1, 2**31, 2**31 + 1, 2**62])


@SETTINGS
@given(
    count=st.integers(0, 6),
    stride=st.one_of(st.integers(1, 4), HUGE),
    tap=st.integers(0, 5),
    pad=st.one_of(st.integers(0, 6), HUGE),
    size=st.integers(1, 6),
)
def test_real_range_is_the_run_of_real_reads(count, stride, tap, pad, size):
    # the twins' real_range mirrors the compiled kernels' _first_real/_end_real: the output positions o
    # whose read o*stride + tap - pad lands inside the image form one run [lo, hi)
    lo, hi = twin_im2col.real_range(count, stride, tap, pad, size)
    assert list(range(lo, hi)) == [o for o in range(count) if 0 <= o * stride + tap - pad < size]


@SETTINGS
@given(
    count=st.integers(1, 6),
    stride=st.one_of(st.integers(1, 4), HUGE),
    pad=st.one_of(st.integers(0, 6), HUGE),
    size=st.integers(1, 5),
    k=st.integers(1, 12),
)
def test_live_taps_are_the_taps_that_reach_a_real_pixel(count, stride, pad, size, k):
    # average pooling loops over these taps only, in ascending order (the order that fixes the sums)
    expected = [t for t in range(k) if any(0 <= o * stride + t - pad < size for o in range(count))]
    assert twin_pool.live_taps(count, stride, pad, size, k) == expected


@SETTINGS
@given(conv_case())
def test_col2im_is_adjoint_of_im2col(case):
    # <im2col(x), d> == <x, col2im(d)> for every x, d: col2im is exactly the transpose of im2col
    x, kh, kw, stride, pad = case
    x = x.astype(np.float64)
    cols = twin_im2col.im2col(x, kh, kw, stride, pad)
    d = np.random.default_rng(2).standard_normal(cols.shape)
    lhs = np.sum(cols * d)
    rhs = np.sum(x * twin_im2col.col2im(d, x.shape, kh, kw, stride, pad))
    assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-10)


@SETTINGS
@given(conv_case())
def test_im2col_gemm_equals_direct_convolution(case):
    x, kh, kw, stride, pad = case
    x = x.astype(np.float64)
    w = np.random.default_rng(3).standard_normal((2, x.shape[1], kh, kw))
    cols = twin_im2col.im2col(x, kh, kw, stride, pad)
    oh, ow = twin_im2col.output_size(x.shape[2], x.shape[3], kh, kw, stride, pad)
    y = (w.reshape(2, -1) @ cols).reshape(2, x.shape[0], oh, ow).transpose(1, 0, 2, 3)
    xp = np.pad(x, ((0, 0), (0, 0), pad[:2], pad[2:]))
    ref = np.zeros_like(y)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride[0] : i * stride[0] + kh, j * stride[1] : j * stride[1] + kw]
            ref[:, :, i, j] = np.einsum("nchw,fchw->nf", patch, w)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


@needs_compiled
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # inf - inf in an average is NaN
@SETTINGS
@given(conv_case(pool=True), st.booleans())
def test_pooling_matches_twin(case, count_include_pad):
    x, kh, kw, stride, pad = case
    out, arg = C_POOL.maxpool_forward(x, kh, kw, stride, pad)
    ref_out, ref_arg = twin_pool.maxpool_forward(x, kh, kw, stride, pad)
    assert out.dtype == x.dtype and arg.dtype == np.int32
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(arg, ref_arg)
    g = np.random.default_rng(4).standard_normal(out.shape).astype(x.dtype)
    np.testing.assert_array_equal(
        C_POOL.maxpool_backward(g, arg, x.shape), twin_pool.maxpool_backward(g, ref_arg, x.shape)
    )
    a = C_POOL.avgpool_forward(x, kh, kw, stride, pad, count_include_pad)
    assert a.dtype == x.dtype
    np.testing.assert_array_equal(a, twin_pool.avgpool_forward(x, kh, kw, stride, pad, count_include_pad))
    np.testing.assert_array_equal(
        C_POOL.avgpool_backward(g, x.shape, kh, kw, stride, pad, count_include_pad),
        twin_pool.avgpool_backward(g, x.shape, kh, kw, stride, pad, count_include_pad),
    )


def test_maxpool_ties_and_nan_follow_argmax():
    x = np.array([[[[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, np.nan, np.nan]]]], dtype=np.float32)
    for mod in filter(None, (twin_pool, C_POOL)):
        out, arg = mod.maxpool_forward(x, 2, 2)
        assert out[0, 0, 0, 0] == 3.0 and arg[0, 0, 0, 0] == 1  # first of the tied maxima
        assert np.isnan(out[0, 0, 0, 1]) and arg[0, 0, 0, 1] == 6  # first NaN wins


def _maxpool_by_definition(x, kh, kw, stride, pad):
    """Each window's real pixels in row-major order; a strictly greater value or the first NaN wins."""
    n, c, h, w = x.shape
    oh = (h + pad[0] + pad[1] - kh) // stride[0] + 1
    ow = (w + pad[2] + pad[3] - kw) // stride[1] + 1
    arg = np.zeros((n, c, oh, ow), np.int32)
    for idx in np.ndindex(n, c, oh, ow):
        y, xo = idx[2] * stride[0] - pad[0], idx[3] * stride[1] - pad[2]
        pixels = [(r, q) for r in range(y, y + kh) for q in range(xo, xo + kw) if 0 <= r < h and 0 <= q < w]
        best = pixels[0]
        for r, q in pixels:
            v, b = x[idx[0], idx[1], r, q], x[idx[0], idx[1], best[0], best[1]]
            if v > b or (np.isnan(v) and not np.isnan(b)):
                best = (r, q)
        arg[idx] = best[0] * w + best[1]
    return arg


def test_padding_never_wins_even_against_minus_infinity():
    # padding counts as -inf, but a window of real -inf values must still name one of its real pixels
    x = np.full((1, 2, 3, 4), -np.inf, np.float32)
    x[0, 1, 2, 3] = np.nan
    x[0, 1, 0, 0] = -1.0
    stride, pad = (1, 2), (1, 1, 2, 2)
    expected = _maxpool_by_definition(x, 2, 3, stride, pad)
    for mod in filter(None, (twin_pool, C_POOL)):
        out, arg = mod.maxpool_forward(x, 2, 3, stride, pad)
        np.testing.assert_array_equal(arg, expected)
        np.testing.assert_array_equal(
            out, np.take_along_axis(x.reshape(1, 2, -1), arg.reshape(1, 2, -1), -1).reshape(out.shape)
        )
        dx = mod.maxpool_backward(np.ones_like(out), arg, x.shape)
        assert dx.sum() == out.size


def test_maxpool_backward_accumulates_overlapping_windows():
    x = np.zeros((1, 1, 3, 3), dtype=np.float64)
    x[0, 0, 1, 1] = 5.0  # the centre wins all four overlapping 2x2 windows
    for mod in filter(None, (twin_pool, C_POOL)):
        out, arg = mod.maxpool_forward(x, 2, 2, 1, 0)
        assert np.all(arg == 4)
        dx = mod.maxpool_backward(np.ones_like(out), arg, x.shape)
        assert dx[0, 0, 1, 1] == 4.0 and dx.sum() == 4.0


@needs_compiled
def test_bit_identical_with_one_and_two_threads():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 4, 40, 36)).astype(np.float32)  # big enough for a 2-thread team
    before = backend.num_threads()
    results = []
    try:
        for threads in (1, 2):
            backend.set_num_threads(threads)
            cols = C_IM2COL.im2col(x, 3, 2, (2, 1), (1, 2, 0, 1))
            dx = C_IM2COL.col2im(cols * 1.5, x.shape, 3, 2, (2, 1), (1, 2, 0, 1))
            out, arg = C_POOL.maxpool_forward(x, 3, 3, 1, 1)
            dmax = C_POOL.maxpool_backward(out, arg, x.shape)
            avg = C_POOL.avgpool_forward(x, 3, 3, 2, 1)
            davg = C_POOL.avgpool_backward(avg, x.shape, 3, 3, 2, 1)
            results.append([cols, dx, out, arg, dmax, avg, davg])
    finally:
        backend.set_num_threads(before)
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("mod", [twin_im2col, C_IM2COL], ids=["twin", "compiled"])
def test_im2col_rejects_bad_input(mod):
    if mod is None:
        pytest.skip("compiled kernels not built")
    x = np.zeros((1, 2, 4, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="4-D"):
        mod.im2col(np.zeros((2, 4, 4), np.float32), 2, 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        mod.im2col(x.astype(np.int64), 2, 2)
    with pytest.raises(TypeError, match="array"):
        mod.im2col([[1.0]], 1, 1)
    with pytest.raises(ValueError, match="larger than the padded input"):
        mod.im2col(x, 5, 2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        mod.im2col(x, 7, 2, 1, (1, 1, 0, 0))
    for stride in (0, -1, (1, 0)):
        with pytest.raises(ValueError, match="stride"):
            mod.im2col(x, 2, 2, stride)
    with pytest.raises(ValueError, match="pad"):
        mod.im2col(x, 2, 2, 1, -1)
    with pytest.raises(ValueError, match="kernel size"):
        mod.im2col(x, 0, 2)
    with pytest.raises(ValueError, match="out must be"):
        mod.im2col(x, 2, 2, out=np.empty((8, 8), np.float32))
    with pytest.raises(ValueError, match="cols must have shape"):
        mod.col2im(np.zeros((8, 10), np.float32), x.shape, 2, 2)
    with pytest.raises(ValueError, match="x_shape"):
        mod.col2im(np.zeros((8, 9), np.float32), (1, 2, 4), 2, 2)


@pytest.mark.parametrize("mod", [twin_pool, C_POOL], ids=["twin", "compiled"])
def test_pooling_rejects_bad_input(mod):
    if mod is None:
        pytest.skip("compiled kernels not built")
    x = np.zeros((1, 2, 4, 4), dtype=np.float64)
    with pytest.raises(ValueError, match="4-D"):
        mod.maxpool_forward(x[0], 2, 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        mod.avgpool_forward(x.astype(np.float16), 2, 2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        mod.maxpool_forward(x, 5, 5)
    with pytest.raises(ValueError, match="smaller than the kernel"):
        mod.maxpool_forward(x, 2, 2, 2, 2)
    with pytest.raises(ValueError, match="stride"):
        mod.avgpool_forward(x, 2, 2, 0)
    out, arg = mod.maxpool_forward(x, 2, 2)
    with pytest.raises(TypeError, match="int32"):
        mod.maxpool_backward(out, arg.astype(np.int64), x.shape)
    with pytest.raises(ValueError, match="outside"):
        mod.maxpool_backward(out, arg + 100, x.shape)
    with pytest.raises(ValueError, match="same shape"):
        mod.maxpool_backward(out[:, :1], arg, x.shape)
    with pytest.raises(ValueError, match="dout must have shape"):
        mod.avgpool_backward(out[:, :1], x.shape, 2, 2)


@pytest.mark.parametrize("mod", [twin_im2col, C_IM2COL], ids=["twin", "compiled"])
def test_non_contiguous_input_is_handled(mod):
    if mod is None:
        pytest.skip("compiled kernels not built")
    x = np.random.default_rng(6).standard_normal((2, 3, 6, 10)).astype(np.float32)
    view = x[:, :, :, ::2]  # strided
    np.testing.assert_array_equal(mod.im2col(view, 3, 3, 1, 1), mod.im2col(view.copy(), 3, 3, 1, 1))
    t = np.asfortranarray(x)
    np.testing.assert_array_equal(mod.im2col(t, 2, 2, 2, 0), mod.im2col(x, 2, 2, 2, 0))


def test_same_padding_matches_tensorflow_rule():
    # TF: out = ceil(n / s), total pad = max((out - 1) * s + k - n, 0), odd pixel at the bottom/right
    assert twin_im2col.same_padding(28, 28, 5, 5, 1) == (2, 2, 2, 2)
    assert twin_im2col.same_padding(3, 3, 2, 2, 1) == (0, 1, 0, 1)
    assert twin_im2col.same_padding(7, 8, 3, 3, 2) == (1, 1, 0, 1)
    for n in range(1, 12):
        for k in range(1, 6):
            for s in range(1, 4):
                t, b, _, _ = twin_im2col.same_padding(n, n, k, k, s)
                assert twin_im2col.output_size(n, n, k, k, s, (t, b, t, b))[0] == -(-n // s)
                assert 0 <= b - t <= 1


def test_backend_switch_selects_twin():
    before = backend.info()["compiled_kernels_in_use"]
    backend.use_compiled(False)
    try:
        assert backend.kernel("im2col") is twin_im2col
        assert backend.kernel("pooling") is twin_pool
        if C_IM2COL is not None:
            backend.use_compiled(True)
            assert backend.kernel("im2col") is C_IM2COL
    finally:
        backend.use_compiled(before)


@needs_compiled
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 28, 28), (1, 2, 9, 71), (3, 1, 14, 33), (1, 1, 2, 2)])
def test_maxpool_2x2_rows_match_twin_and_definition(shape, dtype):
    """The vectorised 2x2 stride-2 rows: whole rows of windows (wider than a vector, odd sizes that leave a
    last row/column out) with ties, signed zeros, infinities and NaNs, bit for bit and by definition."""
    rng = np.random.default_rng(sum(shape))
    x = np.round(rng.standard_normal(shape)).astype(dtype)
    x[rng.random(shape) < 0.2] = -0.0
    x[rng.random(shape) < 0.1] = -np.inf
    x[rng.random(shape) < 0.05] = np.nan
    x[rng.random(shape) < 0.05] = np.inf
    out, arg = C_POOL.maxpool_forward(x, 2, 2)
    ref_out, ref_arg = twin_pool.maxpool_forward(x, 2, 2)
    assert out.tobytes() == ref_out.tobytes()
    np.testing.assert_array_equal(arg, ref_arg)
    np.testing.assert_array_equal(arg, _maxpool_by_definition(x, 2, 2, (2, 2), (0, 0, 0, 0)))
