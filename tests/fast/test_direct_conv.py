"""Direct (im2col-free) convolution for few input channels: the compiled kernels against the NumPy twin, and
both against im2col's products, on randomized geometry."""

import numpy as np
import pytest
from compiled import compiled_or_skip

from scratchnet.fast import direct_conv as twin
from scratchnet.maths.im2col import col2im, im2col

compiled = compiled_or_skip("direct_conv")


def im2col_reference(x, w, b, stride, pad, dout):
    f, c, kh, kw = w.shape
    cols = im2col(x, kh, kw, stride, pad)
    oh, ow = dout.shape[2:]
    y = (w.reshape(f, -1) @ cols + (0 if b is None else b[:, None])).reshape(f, x.shape[0], oh, ow)
    g = dout.transpose(1, 0, 2, 3).reshape(f, -1)
    dw = (g @ cols.T).reshape(w.shape)
    dx = col2im(w.reshape(f, -1).T @ g, x.shape, kh, kw, stride, pad)
    return y.transpose(1, 0, 2, 3), dw, dx


def random_case(rng, dtype):
    n, c, f = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 6))
    kh, kw = (int(v) for v in rng.integers(1, 6, 2))
    stride = tuple(int(v) for v in rng.integers(1, 4, 2))
    pad = tuple(int(v) for v in rng.integers(0, 4, 4))
    h, w = (
        int(rng.integers(max(1, kh - pad[0] - pad[1]), 12)),
        int(rng.integers(max(1, kw - pad[2] - pad[3]), 12)),
    )
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    weights = rng.standard_normal((f, c, kh, kw)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if rng.integers(2) else None
    oh, ow = (h + pad[0] + pad[1] - kh) // stride[0] + 1, (w + pad[2] + pad[3] - kw) // stride[1] + 1
    dout = rng.standard_normal((n, f, oh, ow)).astype(dtype)
    return x, weights, b, stride, pad, dout


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("seed", range(12))
def test_direct_convolution_equals_im2col_products(seed, dtype, tol):
    x, w, b, stride, pad, dout = random_case(np.random.default_rng(seed), dtype)
    y_ref, dw_ref, dx_ref = im2col_reference(x, w, b, stride, pad, dout)
    for kernels in (twin, compiled):
        got = (
            kernels.conv_forward(x, w, b, stride, pad),
            kernels.conv_backward_weights(x, dout, w.shape[2:], stride, pad),
            kernels.conv_backward_input(dout, w, x.shape, stride, pad),
        )
        for name, a, ref in zip(("y", "dW", "dx"), got, (y_ref, dw_ref, dx_ref)):
            assert a.dtype == dtype and a.shape == ref.shape, name
            scale = max(float(np.abs(ref).max()), 1e-30)
            assert float(np.abs(a - ref).max()) <= tol * scale, f"{kernels.__name__} {name}"


@pytest.mark.parametrize("seed", range(6))
def test_wide_rows_and_many_channels(seed):
    """Rows wider than the kernels' 32-column chunks, more channels and filters than their blocks, mostly
    stride 1 (where the spans are used) and pads on either side up to the kernel's size."""
    rng = np.random.default_rng(100 + seed)
    n, c, f = 2, int(rng.integers(1, 40)), int(rng.integers(1, 40))
    kh, kw = (int(v) for v in rng.integers(1, 8, 2))
    stride = (1, 1) if seed < 4 else (1, 2)
    pad = tuple(int(v) for v in rng.integers(0, 8, 4))
    h, w = int(rng.integers(max(1, kh - pad[0] - pad[1]), 9)), int(rng.integers(max(33, kw), 80))
    x = rng.standard_normal((n, c, h, w))
    weights = rng.standard_normal((f, c, kh, kw))
    oh, ow = (h + pad[0] + pad[1] - kh) // stride[0] + 1, (w + pad[2] + pad[3] - kw) // stride[1] + 1
    dout = rng.standard_normal((n, f, oh, ow))
    y_ref, dw_ref, dx_ref = im2col_reference(x, weights, None, stride, pad, dout)
    got = (
        compiled.conv_forward(x, weights, None, stride, pad),
        compiled.conv_backward_weights(x, dout, (kh, kw), stride, pad),
        compiled.conv_backward_input(dout, weights, x.shape, stride, pad),
    )
    for name, a, ref in zip(("y", "dW", "dx"), got, (y_ref, dw_ref, dx_ref)):
        np.testing.assert_allclose(a, ref, rtol=0, atol=1e-12 * np.abs(ref).max(), err_msg=name)


def test_compiled_results_do_not_depend_on_the_thread_count():
    from scratchnet import backend

    x = np.random.default_rng(1).standard_normal((16, 2, 30, 30)).astype(np.float32)
    w = np.random.default_rng(2).standard_normal((8, 2, 5, 5)).astype(np.float32)
    dout = np.random.default_rng(3).standard_normal((16, 8, 30, 30)).astype(np.float32)
    runs = []
    for threads in (1, 2):
        backend.set_num_threads(threads)
        runs.append(
            (
                compiled.conv_forward(x, w, None, 1, 2),
                *compiled.conv_backward_params(x, dout, (5, 5), 1, 2),
                compiled.conv_backward_input(dout, w, x.shape, 1, 2),
            )
        )
    backend.set_num_threads(2)
    for a, b_ in zip(*runs):
        np.testing.assert_array_equal(a, b_)


@pytest.mark.parametrize("kernels", [twin, compiled], ids=["twin", "compiled"])
def test_bad_arguments_are_refused(kernels):
    x = np.zeros((1, 2, 5, 5), np.float32)
    with pytest.raises(ValueError, match=r"w must have shape \(F, 2, kh, kw\)"):
        kernels.conv_forward(x, np.zeros((3, 1, 3, 3), np.float32), None)
    with pytest.raises(TypeError, match="w must have x's dtype"):
        kernels.conv_forward(x, np.zeros((3, 2, 3, 3)), None)
    with pytest.raises(ValueError, match="b must be"):
        kernels.conv_forward(x, np.zeros((3, 2, 3, 3), np.float32), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="larger than the padded input"):
        kernels.conv_forward(x, np.zeros((3, 2, 7, 7), np.float32), None)
    with pytest.raises(ValueError, match=r"dout must be a float32 array of shape \(1, F, 3, 3\)"):
        kernels.conv_backward_weights(x, np.zeros((1, 3, 4, 4), np.float32), (3, 3))
    with pytest.raises(ValueError, match=r"dout must be a float32 array of shape \(1, 3, 3, 3\)"):
        kernels.conv_backward_input(
            np.zeros((1, 3, 4, 4), np.float32), np.zeros((3, 2, 3, 3), np.float32), x.shape
        )


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-6), (np.float64, 1e-12)])
@pytest.mark.parametrize(
    "shape",
    [
        (3, 1, 32, 5, 28, 2),
        (2, 3, 17, 3, 33, 1),
        (2, 2, 9, 7, 13, 0),
        (2, 1, 8, 3, 16, 1),  # dx tiles of 8 rows (16 = 2 x 8) with the 3-row kernel's own tile
        (2, 2, 5, 5, 16, 2),  # ... and the 5-row kernel's
        (1, 1, 4, 3, 14, 1),  # 7-row tiles (14 = 2 x 7), 3-row kernel
    ],
)
def test_stride_one_tiles_on_layer_shapes(shape, dtype, tol):
    """The stride-1 register tiles on whole layers: the course's first layer (28 columns: a partial
    vector), more columns than a tile, filters and rows that leave partial blocks, 'valid' padding."""
    n, c, f, k, size, pad = shape
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((n, c, size, size)).astype(dtype)
    w = rng.standard_normal((f, c, k, k)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    out = size + 2 * pad - k + 1
    dout = rng.standard_normal((n, f, out, out)).astype(dtype)
    y_ref, dw_ref, dx_ref = im2col_reference(x, w, b, 1, pad, dout)
    got = (
        compiled.conv_forward(x, w, b, 1, pad),
        compiled.conv_backward_weights(x, dout, (k, k), 1, pad),
        compiled.conv_backward_input(dout, w, x.shape, 1, pad),
    )
    for name, a, ref in zip(("y", "dW", "dx"), got, (y_ref, dw_ref, dx_ref)):
        assert a.dtype == dtype and a.shape == ref.shape, name
        assert float(np.abs(a - ref).max()) <= tol * float(np.abs(ref).max()), name


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("seed", range(8))
def test_weight_and_bias_gradients_in_one_pass(seed, dtype, tol):
    """``conv_backward_params``: dW as ``conv_backward_weights`` and db = dout summed over (N, OH, OW)."""
    x, w, _, stride, pad, dout = random_case(np.random.default_rng(200 + seed), dtype)
    _, dw_ref, _ = im2col_reference(x, w, None, stride, pad, dout)
    db_ref = dout.astype(np.float64).sum(axis=(0, 2, 3))
    for kernels in (twin, compiled):
        dw, db = kernels.conv_backward_params(x, dout, w.shape[2:], stride, pad)
        assert dw.dtype == db.dtype == dtype and dw.shape == w.shape and db.shape == (w.shape[0],)
        np.testing.assert_allclose(
            dw, dw_ref, rtol=0, atol=tol * np.abs(dw_ref).max(), err_msg=kernels.__name__
        )
        np.testing.assert_allclose(
            db, db_ref, rtol=0, atol=tol * np.abs(db_ref).max(), err_msg=kernels.__name__
        )
        np.testing.assert_array_equal(dw, kernels.conv_backward_weights(x, dout, w.shape[2:], stride, pad))


def test_stride_one_weight_and_bias_sums_stay_accurate_over_long_batches():
    """The stride-1 kernel sums each image in float32 lanes and the images in float64: over a batch of 256
    course-sized images its float32 dW and db stay within 2 float32 epsilons (of the largest entry) of the
    float64 sums, where summing the whole batch in float32 does not (NumPy's own float32 sum: ~3 epsilons)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((256, 1, 28, 28)).astype(np.float32) + 1
    dout = rng.standard_normal((256, 32, 28, 28)).astype(np.float32) + 0.5
    dw, db = compiled.conv_backward_params(x, dout, (5, 5), 1, 2)
    dw64, db64 = twin.conv_backward_params(x.astype(np.float64), dout.astype(np.float64), (5, 5), 1, 2)
    eps = np.finfo(np.float32).eps
    for got, ref in ((dw, dw64), (db, db64)):
        assert np.abs(got - ref).max() <= 2 * eps * np.abs(ref).max()
    assert np.abs(dout.sum(axis=(0, 2, 3)) - db64).max() > 2 * eps * np.abs(db64).max()
