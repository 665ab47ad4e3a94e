"""Winograd's accuracy guard (scratchnet/fast/winograd.py, "Accuracy"): what ``Conv2D(algorithm="auto")`` runs
is within AUTO_ACCURACY of each entry's own sum of |w| |x| (plus |b|) and finite wherever im2col's is, for
every input; explicit ``algorithm="winograd"`` is held to its tile bound (relative to the largest value of
the tile). References are float64 convolutions through im2col."""

import numpy as np
import pytest
from compiled import compiled_or_skip

from scratchnet import backend
from scratchnet.fast import winograd as twin
from scratchnet.fast.winograd import AUTO_ACCURACY, TILE_ERROR, WinogradConv, contrast_limit
from scratchnet.layers import Conv2D
from scratchnet.maths.im2col import col2im, im2col

pytestmark = pytest.mark.skipif(
    not backend.kernel("batched_gemm").available(), reason="auto runs Winograd only with the batched products"
)


def reference(layer, x, dout=None):
    """float64 (y, sum |w||x| + |b|) and, given dout, (dx, sum |w||dout|) of ``layer`` at x."""
    w = layer.params["W"].astype(np.float64)
    b = layer.params["b"].astype(np.float64) if layer.use_bias else np.zeros(w.shape[0])
    f, _, r, _ = w.shape
    pad = layer.pad_for(*x.shape[2:])
    n, _, oh, ow = layer.output_shape(x.shape)
    cols = im2col(x.astype(np.float64), r, r, 1, pad)
    y = (w.reshape(f, -1) @ cols + b[:, None]).reshape(f, n, oh, ow).transpose(1, 0, 2, 3)
    s = (
        (np.abs(w).reshape(f, -1) @ np.abs(cols) + np.abs(b)[:, None])
        .reshape(f, n, oh, ow)
        .transpose(1, 0, 2, 3)
    )
    if dout is None:
        return y, s
    g = dout.astype(np.float64).transpose(1, 0, 2, 3).reshape(f, -1)
    dx = col2im(w.reshape(f, -1).T @ g, x.shape, r, r, 1, pad)
    sdx = col2im(np.abs(w).reshape(f, -1).T @ np.abs(g), x.shape, r, r, 1, pad)
    return y, s, dx, sdx


def worst_ratio(got, want, scale):
    """The largest |got - want| / scale over the finite entries of want (0/0 counts as 0, x/0 as inf)."""
    err = np.abs(got.astype(np.float64) - want)
    keep = np.isfinite(want)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err == 0, 0.0, err / scale)
    return float(ratio[keep].max(initial=0.0))


def used_winograd(layer):
    return isinstance(layer._cache[2], WinogradConv)


def half_scaled(rng, shape, split, big=1e4, small=1e-4, dtype=np.float32):
    """The issue's image: columns left of ``split`` scaled by ``big``, the rest by ``small``."""
    x = rng.standard_normal(shape)
    x[..., :split] *= big
    x[..., split:] *= small
    return x.astype(dtype)


@pytest.fixture
def count_winograd_backward(monkeypatch):
    """The number of WinogradConv.backward calls since the test began (a list of one int)."""
    calls = [0]
    original = WinogradConv.backward

    def counted(self, *args, **kwargs):
        calls[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(WinogradConv, "backward", counted)
    return calls


# -- the cases (#25, item 8), through the layer ---------------------------------------------------
@pytest.mark.parametrize("r, splits", [(5, (4, 5, 8, 9, 12)), (3, (5, 6, 9, 10))])
def test_auto_is_within_the_per_output_bound_where_large_and_small_values_meet(r, splits):
    # a 32-channel 16x16 image, the left columns scaled by 1e4 and the rest by 1e-4: F(4x4, .) put up to
    # 45x the true value of error into the outputs whose windows read only the small half
    rng = np.random.default_rng(r)
    for split in splits:
        layer = Conv2D(32, 64, r, padding="same", rng=np.random.default_rng(split))
        x = half_scaled(rng, (2, 32, 16, 16), split)
        y = layer(x)
        want, s = reference(layer, x)
        assert worst_ratio(y, want, s) <= AUTO_ACCURACY, f"split {split}: {worst_ratio(y, want, s):.2e}"
        small = want[..., split + r // 2 :]  # the columns whose windows read only the small half
        assert (
            np.abs(y[..., split + r // 2 :] - small).max()
            <= AUTO_ACCURACY * np.abs(s[..., split + r // 2 :]).max()
        )


@pytest.mark.parametrize("r", [3, 5])
def test_auto_is_finite_wherever_im2col_is_near_the_top_of_float32(r):
    # |x| = 3e36: the true outputs are well inside float32's range, F(4x4, 5x5)'s transforms were not
    rng = np.random.default_rng(0)
    layer = Conv2D(32, 64, r, padding="same", rng=np.random.default_rng(1))
    x = (rng.standard_normal((2, 32, 16, 16)) * 3e36).astype(np.float32)
    y = layer(x)
    y_im2col = Conv2D(32, 64, r, padding="same", rng=np.random.default_rng(1), algorithm="im2col")(x)
    assert np.isfinite(y_im2col).all() and np.isfinite(y).all()
    want, s = reference(layer, x)
    assert worst_ratio(y, want, s) <= AUTO_ACCURACY
    dout = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backprop(dout)
    assert np.isfinite(dx).all() and np.isfinite(layer.grads["W"]).all()


@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf])
def test_auto_output_is_non_finite_exactly_where_im2col_is(special):
    # Winograd spreads a NaN or inf over whole tiles (and inf - inf makes more NaN); im2col over windows
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 32, 12, 12)).astype(np.float32)
    x[0, 3, 3, 3] = special  # padded (5, 5): an inner point of tile 1, which mixes it into all its outputs
    auto = Conv2D(32, 32, 5, padding="same", rng=np.random.default_rng(3))
    plain = Conv2D(32, 32, 5, padding="same", rng=np.random.default_rng(3), algorithm="im2col")
    with np.errstate(invalid="ignore"):
        y, y_im2col = auto(x), plain(x)
    np.testing.assert_array_equal(np.isfinite(y), np.isfinite(y_im2col))
    np.testing.assert_array_equal(np.isnan(y), np.isnan(y_im2col))


def test_auto_backward_is_within_the_per_pixel_bound_for_a_half_scaled_gradient(count_winograd_backward):
    # x ordinary (the forward runs by Winograd), dout with the contrast: dx's adjoint mixes dout over
    # whole output tiles the same way, so this backward runs by im2col
    rng = np.random.default_rng(4)
    for r in (3, 5):
        layer = Conv2D(32, 64, r, padding="same", rng=np.random.default_rng(r))
        x = rng.standard_normal((2, 32, 16, 16)).astype(np.float32)
        y = layer(x)
        assert used_winograd(layer)
        dout = half_scaled(rng, y.shape, 9)
        dx = layer.backprop(dout)
        _, _, want, s = reference(layer, x, dout)
        assert worst_ratio(dx, want, s) <= AUTO_ACCURACY, f"r={r}: {worst_ratio(dx, want, s):.2e}"
    assert count_winograd_backward[0] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_auto_is_within_the_bound_in_both_dtypes_across_contrasts(dtype):
    # the same layer on half-scaled images of growing contrast: auto keeps Winograd while the tile contrast is
    # within contrast_limit, and every output and input gradient stays within the bound on both sides of it
    rng = np.random.default_rng(5)
    seen = set()
    for exponent in np.linspace(0, 12, 13):
        for r in (3, 5):
            layer = Conv2D(32, 32, r, padding="same", dtype=dtype, rng=np.random.default_rng(r))
            layer.params["b"][...] = rng.standard_normal(32).astype(dtype)
            x = half_scaled(rng, (1, 32, 13, 13), 6, 10 ** (exponent / 2), 10 ** (-exponent / 2), dtype)
            y = layer(x)
            path = used_winograd(layer)
            seen.add(path)
            dout = rng.standard_normal(y.shape).astype(dtype)
            dx = layer.backprop(dout)
            want, s, want_dx, s_dx = reference(layer, x, dout)
            for name, got, ref, scale in (("y", y, want, s), ("dx", dx, want_dx, s_dx)):
                err = worst_ratio(got, ref, scale)
                assert err <= AUTO_ACCURACY, f"{name} r={r} 1e{exponent:.0f} winograd={path}: {err:.2e}"
    if dtype == np.float32:
        assert seen == {True, False}  # both sides of the limit were exercised


# -- the speed side: ordinary inputs keep Winograd ---------------------------------------------------------
@pytest.mark.parametrize("kind", ["normal", "relu", "uniform", "course"])
@pytest.mark.parametrize("r", [3, 5])
def test_auto_keeps_winograd_forward_and_backward_on_ordinary_inputs(kind, r, count_winograd_backward):
    rng = np.random.default_rng(6)
    if kind == "course":  # the course CNN's second conv: conv 1->32, ReLU, 2x2 max-pool of uniform images
        from scratchnet.layers import MaxPool2D, ReLU

        first = Conv2D(1, 32, 3, padding="same", rng=np.random.default_rng(7))
        x = MaxPool2D(2)(ReLU()(first(rng.random((8, 1, 28, 28), dtype=np.float32))))
    else:
        x = rng.standard_normal((8, 32, 14, 14))
        x = np.maximum(x, 0) if kind == "relu" else rng.random(x.shape) if kind == "uniform" else x
        x = x.astype(np.float32)
    layer = Conv2D(32, 64, r, padding="same", rng=np.random.default_rng(8))
    y = layer(x)
    assert used_winograd(layer)
    # dout as a ReLU and a 2x2 max-pool after the layer hand it back: three quarters zeros
    dout = rng.standard_normal(y.shape).astype(np.float32) * (rng.random(y.shape) < 0.25)
    dx = layer.backprop(dout)
    assert count_winograd_backward[0] == 1
    want, s, want_dx, s_dx = reference(layer, x, dout)
    assert worst_ratio(y, want, s) <= AUTO_ACCURACY and worst_ratio(dx, want_dx, s_dx) <= AUTO_ACCURACY


def test_explicit_winograd_keeps_winograd_whatever_the_input():
    rng = np.random.default_rng(9)
    layer = Conv2D(32, 32, 5, padding="same", algorithm="winograd")
    x = half_scaled(rng, (1, 32, 12, 12), 6)
    layer(x)
    assert used_winograd(layer)


# -- the bounds the guard is derived from --------------------------------------------------------------------
def tile_maxima(z, m, r, pad, size, adjoint):
    """Per output (forward) or input pixel (adjoint): the M of the tile bound (largest |z| over all channels of
    the output's input tile; for the adjoint, the largest |dout| over the output tiles the pixel's gradient is
    built from)."""
    n, _, h, w = z.shape
    alpha = m + r - 1
    pt, pl = pad[0], pad[2]
    if not adjoint:
        oh, ow = size
        th, tw = -(-oh // m), -(-ow // m)
        grid = np.zeros((n, max(th * m + alpha, pt + h), max(tw * m + alpha, pl + w)))
        grid[:, pt : pt + h, pl : pl + w] = np.abs(z).max(axis=1)
        out = np.zeros((n, th * m, tw * m))
        for ty in range(th):
            for tx in range(tw):
                peak = grid[:, ty * m : ty * m + alpha, tx * m : tx * m + alpha].max(axis=(1, 2))
                out[:, ty * m : ty * m + m, tx * m : tx * m + m] = peak[:, None, None]
        return out[:, :oh, :ow]
    xh, xw = size
    th, tw = -(-h // m), -(-w // m)
    grid = np.zeros((n, th * m, tw * m))
    grid[:, :h, :w] = np.abs(z).max(axis=1)
    out = np.zeros((n, max(th * m + alpha, pt + xh), max(tw * m + alpha, pl + xw)))
    for ty in range(th):
        for tx in range(tw):
            peak = grid[:, ty * m : ty * m + m, tx * m : tx * m + m].max(axis=(1, 2))
            block = out[:, ty * m : ty * m + alpha, tx * m : tx * m + alpha]
            np.maximum(block, peak[:, None, None], out=block)
    return out[:, pt : pt + xh, pl : pl + xw]


def families(rng, shape, dtype):
    z = rng.standard_normal(shape)
    yield "normal", z
    yield "relu", np.maximum(z, 0)
    yield "sign", np.sign(z)
    yield "uniform", rng.random(shape)
    yield "sparse", z * (rng.random(shape) < 0.1)
    scaled = z.copy()
    scaled[..., : shape[-1] // 2] *= 1e4
    scaled[..., shape[-1] // 2 :] *= 1e-4
    yield "halves", scaled
    yield "channel scales", z * 10 ** rng.uniform(-2, 2, (1, shape[1], 1, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, r", sorted(TILE_ERROR))
def test_explicit_winograd_is_within_its_tile_bound(m, r, dtype):
    # |error| <= E u M ||w||_1 for outputs (E, M, ||w_f||_1 of the output's filter) and input gradients
    # (E, M over the output tiles, ||w_c||_1 of the pixel's channel), layers of 32 channels and more
    rng = np.random.default_rng(10 * m + r)
    u = float(np.finfo(dtype).eps) / 2
    e_out, e_in = TILE_ERROR[(m, r)]
    for c, f in [(32, 32), (32, 64), (64, 32)]:
        w = (rng.standard_normal((f, c, r, r)) * np.sqrt(2 / (c * r * r))).astype(dtype)
        w1_out = np.abs(w.astype(np.float64)).reshape(f, -1).sum(axis=1)[None, :, None, None]
        w1_in = (
            np.abs(w.astype(np.float64)).transpose(1, 0, 2, 3).reshape(c, -1).sum(axis=1)[None, :, None, None]
        )
        pad = ((r - 1) // 2, r // 2, (r - 1) // 2, r // 2)
        for (kind, x), (_, dout) in zip(
            families(rng, (2, c, 13, 13), dtype), families(rng, (2, f, 13, 13), dtype)
        ):
            x, dout = x.astype(dtype), dout.astype(dtype)
            conv = WinogradConv(m, r)
            y = conv.forward(x, w, None, pad)
            dx, _, _ = conv.backward(dout)
            cols = im2col(x.astype(np.float64), r, r, 1, pad)
            want = (w.astype(np.float64).reshape(f, -1) @ cols).reshape(f, 2, 13, 13).transpose(1, 0, 2, 3)
            g = dout.astype(np.float64).transpose(1, 0, 2, 3).reshape(f, -1)
            want_dx = col2im(w.astype(np.float64).reshape(f, -1).T @ g, x.shape, r, r, 1, pad)
            bound = e_out * u * tile_maxima(x, m, r, pad, (13, 13), False)[:, None] * w1_out
            assert (np.abs(y - want) <= bound).all(), f"forward {kind} C={c}"
            bound = e_in * u * tile_maxima(dout, m, r, pad, (13, 13), True)[:, None] * w1_in
            assert (np.abs(dx - want_dx) <= bound).all(), f"input gradient {kind} C={c}"


def test_contrast_limit_is_the_tile_bound_solved_for_the_accuracy():
    for (m, r), (e_out, e_in) in TILE_ERROR.items():
        for dtype in (np.float32, np.float64):
            u = float(np.finfo(dtype).eps) / 2
            assert contrast_limit(m, r, dtype) * e_out * u == pytest.approx(AUTO_ACCURACY)
            assert contrast_limit(m, r, dtype, adjoint=True) * e_in * u == pytest.approx(AUTO_ACCURACY)
    # the values the docs quote for float32's F(4x4, .)
    assert 40 < contrast_limit(4, 3, np.float32) < 50 and 60 < contrast_limit(4, 5, np.float32, True) < 80


# -- the statistic ---------------------------------------------------------------------------------------------
def contrast_by_definition(z, m, r, pt, pl, size, adjoint):
    """tile_contrast's rho, by loops over tiles and windows."""
    n, c, h, w = z.shape
    a = np.abs(z.astype(np.float64))
    alpha = m + r - 1
    rho = 0.0
    if not adjoint:
        oh, ow = size
        grid = np.zeros((n, c, -(-oh // m) * m + alpha + h + pt, -(-ow // m) * m + alpha + w + pl))
        grid[:, :, pt : pt + h, pl : pl + w] = a
        for k in range(n):
            for ty in range(-(-oh // m)):
                for tx in range(-(-ow // m)):
                    peak = grid[k, :, ty * m : ty * m + alpha, tx * m : tx * m + alpha].max()
                    sums = [
                        grid[k, :, i : i + r, j : j + r].sum()
                        for i in range(ty * m, min(ty * m + m, oh))
                        for j in range(tx * m, min(tx * m + m, ow))
                    ]
                    if peak > 0:
                        rho = max(rho, np.inf if min(sums) == 0 else peak * c * r * r / min(sums))
        return rho
    xh, xw = size
    for k in range(n):
        for ty in range(-(-h // m)):
            for tx in range(-(-w // m)):
                peak = a[k, :, ty * m : ty * m + m, tx * m : tx * m + m].max()
                sums = [
                    a[k, :, max(0, i + pt - r + 1) : i + pt + 1, max(0, j + pl - r + 1) : j + pl + 1].sum()
                    for i in range(xh)
                    for j in range(xw)
                    if ty * m <= i + pt < ty * m + alpha and tx * m <= j + pl < tx * m + alpha
                ]
                if peak > 0 and sums:
                    rho = max(rho, np.inf if min(sums) == 0 else peak * c * r * r / min(sums))
    return rho


@pytest.mark.parametrize("module", ["compiled", "twin"])
def test_tile_contrast_matches_its_definition(module):
    kernels = compiled_or_skip("winograd") if module == "compiled" else twin
    rng = np.random.default_rng(11)
    for trial in range(120):
        m, r = sorted(TILE_ERROR)[trial % 4]
        dtype = (np.float32, np.float64)[trial % 2]
        n, c = (int(v) for v in rng.integers(1, 4, 2))
        h, w = (int(v) for v in rng.integers(1, 12, 2))
        pt, pb, pl, pr = (int(v) for v in rng.integers(0, 2 * r, 4))  # paddings wider than a tile, too
        oh, ow = h + pt + pb - r + 1, w + pl + pr - r + 1
        if min(oh, ow) < 1:
            continue
        scale = 10.0 ** rng.integers(-4, 5, (n, c, h, w))
        x = (rng.standard_normal((n, c, h, w)) * scale * (rng.random((n, c, h, w)) < 0.7)).astype(dtype)
        rho, top = kernels.tile_contrast(x, m, r, pt, pl, oh, ow)
        assert top == np.abs(x).max()
        assert rho == pytest.approx(contrast_by_definition(x, m, r, pt, pl, (oh, ow), False), rel=1e-5)
        dout = (rng.standard_normal((n, 3, oh, ow)) * (rng.random((n, 3, oh, ow)) < 0.5)).astype(dtype)
        rho, top = kernels.tile_contrast(dout, m, r, pt, pl, h, w, adjoint=True)
        assert top == np.abs(dout).max()
        assert rho == pytest.approx(contrast_by_definition(dout, m, r, pt, pl, (h, w), True), rel=1e-5)


@pytest.mark.parametrize("module", ["compiled", "twin"])
def test_tile_contrast_flags_non_finite_input_and_overflowing_sums(module):
    kernels = compiled_or_skip("winograd") if module == "compiled" else twin
    x = np.ones((3, 4, 6, 6), np.float32)
    assert kernels.tile_contrast(x, 4, 3, 1, 1, 6, 6) == (pytest.approx(9 * 4 * 1.0 / (4 * 4)), 1.0)
    assert kernels.tile_contrast(np.zeros_like(x), 4, 3, 1, 1, 6, 6) == (0.0, 0.0)
    for special in (np.nan, np.inf):
        bad = x.copy()
        bad[2, 1, 4, 0] = special
        rho, top = kernels.tile_contrast(bad, 4, 3, 1, 1, 6, 6)
        assert rho == np.inf and (np.isnan(top) if np.isnan(special) else top == np.inf)
    huge = np.full((1, 4, 6, 6), 3e38, np.float32)  # the channel sums overflow float32: no certificate
    assert kernels.tile_contrast(huge, 4, 3, 1, 1, 6, 6) == (np.inf, pytest.approx(3e38))


@pytest.mark.parametrize("module", ["compiled", "twin"])
def test_tile_contrast_refuses_bad_arguments(module):
    kernels = compiled_or_skip("winograd") if module == "compiled" else twin
    x = np.ones((1, 2, 5, 5), np.float32)
    with pytest.raises(TypeError, match="float32 or float64"):
        kernels.tile_contrast(x.astype(int), 4, 3, 1, 1, 5, 5)
    with pytest.raises(ValueError, match="must be 4-D"):
        kernels.tile_contrast(x[0], 4, 3, 1, 1, 5, 5)
    with pytest.raises(ValueError, match="must not be empty"):
        kernels.tile_contrast(x[:0], 4, 3, 1, 1, 5, 5)
    with pytest.raises(ValueError, match="m \\+ r - 1 must be at most 8"):
        kernels.tile_contrast(x, 6, 5, 1, 1, 5, 5)
    for bad in ({"m": 0}, {"r": -1}, {"pad_top": -1}, {"size_h": 0}, {"size_w": 2.5}):
        args = {"m": 4, "r": 3, "pad_top": 1, "pad_left": 1, "size_h": 5, "size_w": 5, **bad}
        with pytest.raises(ValueError, match="tile_contrast: "):
            kernels.tile_contrast(x, **args)
    # paddings so wide that no tile meets the image: nothing to compare, max|z| still reported
    assert kernels.tile_contrast(x * 2, 4, 3, 50, 50, 5, 5) == (0.0, 2.0)
    assert kernels.tile_contrast(x * 2, 4, 3, 50, 50, 5, 5, adjoint=True) == (0.0, 2.0)
    strided = np.ones((1, 2, 5, 10), np.float32)[..., ::2]  # any layout is accepted (copied)
    assert kernels.tile_contrast(strided, 4, 3, 1, 1, 5, 5) == kernels.tile_contrast(x, 4, 3, 1, 1, 5, 5)
