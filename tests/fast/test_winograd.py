"""Winograd convolution (scratchnet/fast/winograd.py): the transforms' identities, and the layer-level
forward/backward against a float64 direct convolution within the stated error bounds."""

import numpy as np
import pytest
from compiled import compiled_or_skip

from scratchnet.fast.winograd import ERROR_BOUND, WinogradConv, transforms
from scratchnet.maths.im2col import col2im, im2col

VARIANTS = [(2, 3), (4, 3), (2, 5), (4, 5)]


@pytest.mark.parametrize("m,r", VARIANTS)
def test_one_dimensional_identity(m, r):
    # y_i = sum_k g_k d_{i+k} for every d and g, exactly (float64 rounding)
    AT, G, BT = transforms(m, r)
    rng = np.random.default_rng(m * 10 + r)
    for _ in range(20):
        d, g = rng.standard_normal(m + r - 1), rng.standard_normal(r)
        direct = np.array([g @ d[i : i + r] for i in range(m)])
        np.testing.assert_allclose(AT @ ((G @ g) * (BT @ d)), direct, rtol=1e-12, atol=1e-12)


def test_f2_3_matches_the_paper_up_to_row_scaling():
    # Lavin and Gray's F(2, 3): AT = [[1, 1, 1, 0], [0, 1, -1, -1]]; our rows of G/BT may carry the
    # interpolation weights on the other side, but the element-wise products (G g) * (BT d) are the same
    AT, G, BT = transforms(2, 3)
    paper_g = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
    paper_bt = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal(4), rng.standard_normal(3)
    paper = np.array([[1, 1, 1, 0], [0, 1, -1, -1]]) @ ((paper_g @ g) * (paper_bt @ d))
    np.testing.assert_allclose(AT @ ((G @ g) * (BT @ d)), paper, rtol=1e-12)


def direct_conv(x, w, b, pad):
    """float64 convolution through im2col: the reference Winograd is measured against."""
    n, c, h, wd = x.shape
    f, _, r, _ = w.shape
    oh, ow = h + pad[0] + pad[1] - r + 1, wd + pad[2] + pad[3] - r + 1
    cols = im2col(x, r, r, 1, pad)
    y = (w.reshape(f, -1) @ cols + b[:, None]).reshape(f, n, oh, ow).transpose(1, 0, 2, 3)
    return y, cols


def direct_grads(x, w, cols, dout, pad):
    f, c, r, _ = w.shape
    g = dout.transpose(1, 0, 2, 3).reshape(f, -1)
    dw = (g @ cols.T).reshape(w.shape)
    dx = col2im(w.reshape(f, -1).T @ g, x.shape, r, r, 1, pad)
    return dx, dw, g.sum(axis=1)


def relative_error(a, ref):
    return float(np.abs(np.asarray(a, np.float64) - ref).max() / np.abs(ref).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,r", VARIANTS)
@pytest.mark.parametrize("seed", range(4))
def test_winograd_matches_direct_convolution_within_its_bound(m, r, seed, dtype):
    rng = np.random.default_rng(seed)
    n, c, f = (int(v) for v in rng.integers(1, 5, 3))
    h, wd = (int(v) for v in rng.integers(r, 12, 2))
    pad = tuple(int(v) for v in rng.integers(0, r, 4))  # asymmetric, as TensorFlow's 'same' can be
    x, w, b = rng.standard_normal((n, c, h, wd)), rng.standard_normal((f, c, r, r)), rng.standard_normal(f)
    y_ref, cols = direct_conv(x, w, b, pad)
    dout = rng.standard_normal(y_ref.shape)
    dx_ref, dw_ref, db_ref = direct_grads(x, w, cols, dout, pad)
    conv = WinogradConv(m, r)
    y = conv.forward(x.astype(dtype), w.astype(dtype), b.astype(dtype), pad)
    dx, dw, db = conv.backward(dout.astype(dtype))
    bound = ERROR_BOUND[(m, r)][dtype]
    for name, got, ref in (("y", y, y_ref), ("dx", dx, dx_ref), ("dW", dw, dw_ref), ("db", db, db_ref)):
        assert got.dtype == dtype and got.shape == ref.shape, name
        assert relative_error(got, ref) <= bound, f"{name}: {relative_error(got, ref):.2e} > {bound:.0e}"


@pytest.mark.parametrize(
    "m,r,c,f,hw,n", [(4, 3, 64, 128, 16, 8), (2, 3, 64, 128, 16, 8), (2, 5, 32, 64, 14, 8)]
)
def test_error_on_course_shapes_in_float32(m, r, c, f, hw, n):
    # the course's layer shapes with He-initialised weights and unit-variance input (batch cut to 8)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, hw, hw))
    w = rng.standard_normal((f, c, r, r)) * np.sqrt(2 / (c * r * r))
    b = np.zeros(f)
    pad = ((r - 1) // 2, r // 2, (r - 1) // 2, r // 2)
    y_ref, cols = direct_conv(x, w, b, pad)
    dout = rng.standard_normal(y_ref.shape)
    dx_ref, dw_ref, _ = direct_grads(x, w, cols, dout, pad)
    conv = WinogradConv(m, r)
    y = conv.forward(x.astype(np.float32), w.astype(np.float32), None, pad)
    dx, dw, _ = conv.backward(dout.astype(np.float32))
    bound = ERROR_BOUND[(m, r)][np.float32]
    for name, got, ref in (("y", y, y_ref), ("dx", dx, dx_ref), ("dW", dw, dw_ref)):
        assert relative_error(got, ref) <= bound, f"{name}: {relative_error(got, ref):.2e} > {bound:.0e}"


def test_compiled_transforms_equal_their_twins():
    # the compiled kernels apply the small matrices separably, the twins as one Kronecker product: the same
    # sums in another order, so they agree to rounding
    compiled = compiled_or_skip("winograd")
    from scratchnet.fast import winograd as twin

    rng = np.random.default_rng(0)
    for trial in range(30):
        m, r = VARIANTS[trial % len(VARIANTS)]
        a2 = (m + r - 1) ** 2
        n, c = (int(v) for v in rng.integers(1, 4, 2))
        h, w = (int(v) for v in rng.integers(1, 11, 2))
        pt, pl = (int(v) for v in rng.integers(0, 4, 2))
        th, tw = (int(v) for v in rng.integers(1, 5, 2))
        oh, ow = int(rng.integers(1, th * m + 1)), int(rng.integers(1, tw * m + 1))
        for dtype, tol in ((np.float32, 2e-6), (np.float64, 1e-14)):
            x = rng.standard_normal((n, c, h, w)).astype(dtype)
            mm = rng.standard_normal((a2, c, n * th * tw)).astype(dtype)
            dout = rng.standard_normal((n, c, oh, ow)).astype(dtype)
            bias = rng.standard_normal(c).astype(dtype)
            calls = [
                ("input_transform", (x, m, r, pt, pl, th, tw)),
                ("output_transform", (mm, m, r, n, th, tw, oh, ow)),
                ("output_transform", (mm, m, r, n, th, tw, oh, ow, bias)),
                ("output_transform_adjoint", (dout, m, r, th, tw)),
                ("input_transform_adjoint", (mm, x.shape, m, r, pt, pl, th, tw)),
            ]
            for name, args in calls:
                got, ref = getattr(compiled, name)(*args), getattr(twin, name)(*args)
                assert got.dtype == ref.dtype == dtype and got.shape == ref.shape, name
                scale = max(float(np.abs(ref).max()), 1e-30)
                assert float(np.abs(got - ref).max()) <= tol * scale


@pytest.mark.parametrize("m, r", VARIANTS)
@pytest.mark.parametrize("n, oh, ow", [(70, 14, 14), (5, 30, 9), (3, 1, 61)])
def test_compiled_output_adjoint_over_many_images_and_threads(m, r, n, oh, ow):
    # the compiled output adjoint works on groups of images at a time (512 values per phase plane): batches
    # of several groups and a short last one, tiles hanging over the edge, thread counts 1 and 2
    compiled = compiled_or_skip("winograd")
    from scratchnet import backend
    from scratchnet.fast import winograd as twin

    th, tw = -(-oh // m), -(-ow // m)
    rng = np.random.default_rng(n + oh)
    for dtype, tol in ((np.float32, 2e-6), (np.float64, 1e-14)):
        dout = rng.standard_normal((n, 40, oh, ow)).astype(dtype)
        ref = twin.output_transform_adjoint(dout, m, r, th, tw)
        before, results = backend.num_threads(), []
        try:
            for threads in (1, 2):
                backend.set_num_threads(threads)
                results.append(compiled.output_transform_adjoint(dout, m, r, th, tw))
        finally:
            backend.set_num_threads(before)
        assert results[0].tobytes() == results[1].tobytes()
        assert float(np.abs(results[0] - ref).max()) <= tol * float(np.abs(ref).max())


@pytest.mark.parametrize("module", ["compiled", "twin"])
def test_transforms_refuse_bad_arguments(module):
    if module == "compiled":
        kernels = compiled_or_skip("winograd")
    else:
        from scratchnet.fast import winograd as kernels
    x = np.zeros((1, 2, 5, 5), np.float32)
    with pytest.raises(ValueError, match="input_transform: m must be"):
        kernels.input_transform(x, 0, 3, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="input_transform: m \\+ r - 1 must be at most 8"):
        kernels.input_transform(x, 6, 5, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="input_transform: pad_top"):
        kernels.input_transform(x, 2, 3, -1, 0, 1, 1)
    with pytest.raises(TypeError, match="float32 or float64"):
        kernels.input_transform(x.astype(int), 2, 3, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="input_transform: out must be"):
        kernels.input_transform(x, 2, 3, 0, 0, 1, 1, out=np.zeros((16, 2, 2), np.float32))
    with pytest.raises(ValueError, match="output_transform: mm must have shape"):
        kernels.output_transform(np.zeros((9, 1, 1), np.float32), 2, 3, 1, 1, 1, 2, 2)
    with pytest.raises(ValueError, match="do not cover"):
        kernels.output_transform(np.zeros((16, 1, 1), np.float32), 2, 3, 1, 1, 1, 3, 2)
    with pytest.raises(ValueError, match="do not cover"):
        kernels.output_transform_adjoint(np.zeros((1, 1, 5, 5), np.float32), 2, 3, 2, 2)
    with pytest.raises(ValueError, match="input_transform_adjoint: dv must have shape"):
        kernels.input_transform_adjoint(np.zeros((16, 3, 1), np.float32), (1, 2, 5, 5), 2, 3, 0, 0, 1, 1)
