"""The tile_raster_images helper: output shape, spacing, placement, scaling and bad input."""

import numpy as np
import pytest

from scratchnet.plotting.tiles import scale_to_unit_interval, tile_filters, tile_raster_images


def test_course_filter_grid_shape():
    W = np.random.default_rng(0).normal(size=(784, 50)).astype(np.float32)
    img = tile_raster_images(W.T, img_shape=(28, 28), tile_shape=(5, 10), tile_spacing=(1, 1))
    assert img.shape == (5 * 29 - 1, 10 * 29 - 1) and img.dtype == np.uint8
    # each tile is scaled on its own: it spans the full 0..255 range
    assert img[:28, :28].min() == 0 and img[:28, :28].max() == 255
    # spacing rows and columns are blank
    assert np.all(img[28, :] == 0) and np.all(img[:, 28] == 0)
    np.testing.assert_array_equal(tile_filters(W, tile_shape=(5, 10)), img)
    assert tile_filters(W).shape == img.shape  # 50 units default to a 5 x 10 grid


def test_placement_row_major_and_values():
    X = np.zeros((5, 6))
    for i in range(5):
        X[i] = (i + 1) / 10  # constant tiles keep their value when not rescaled
    img = tile_raster_images(
        X, (2, 3), (2, 3), tile_spacing=(2, 1), scale_rows_to_unit_interval=False, output_pixel_vals=False
    )
    assert img.shape == (2 * 4 - 2, 3 * 4 - 1)
    np.testing.assert_allclose(img[0:2, 0:3], 0.1)
    np.testing.assert_allclose(img[0:2, 4:7], 0.2)
    np.testing.assert_allclose(img[0:2, 8:11], 0.3)
    np.testing.assert_allclose(img[4:6, 0:3], 0.4)  # second grid row starts after 2 spacing rows
    np.testing.assert_allclose(img[4:6, 4:7], 0.5)
    np.testing.assert_allclose(img[4:6, 8:11], 0.0)  # the sixth tile is unused
    np.testing.assert_allclose(img[2:4, :], 0.0)
    # a single image round-trips through the layout unchanged
    x = np.random.default_rng(1).random((1, 12))
    one = tile_raster_images(x, (3, 4), (1, 1), scale_rows_to_unit_interval=False, output_pixel_vals=False)
    np.testing.assert_allclose(one, x.reshape(3, 4))


def test_scaling_and_pixel_values():
    x = np.array([[-2.0, 0.0, 4.0, 6.0]])
    img = tile_raster_images(x, (2, 2), (1, 1))
    np.testing.assert_array_equal(img, [[0, 64], [191, 255]])
    np.testing.assert_allclose(scale_to_unit_interval(np.full(4, 3.0)), 0.0)
    clipped = tile_raster_images(
        np.array([[-1.0, 0.5, 2.0, 1.0]]), (2, 2), (1, 1), scale_rows_to_unit_interval=False
    )
    np.testing.assert_array_equal(clipped, [[0, 128], [255, 255]])
    # images may come as (N, H, W); extra rows beyond the grid are left out
    imgs = np.random.default_rng(2).random((7, 4, 4))
    assert tile_raster_images(imgs, (4, 4), (2, 2), tile_spacing=(0, 0)).shape == (8, 8)


def test_bad_input():
    with pytest.raises(ValueError, match=r"\(N, 784\)"):
        tile_raster_images(np.zeros((3, 100)), (28, 28), (1, 3))
    with pytest.raises(ValueError, match="tile_shape"):
        tile_raster_images(np.zeros((3, 4)), (2, 2), (0, 3))
    with pytest.raises(ValueError, match="tile_spacing"):
        tile_raster_images(np.zeros((3, 4)), (2, 2), (1, 3), tile_spacing=(-1, 1))
    with pytest.raises(ValueError, match="img_shape"):
        tile_raster_images(np.zeros((3, 4)), 4, (1, 3))
    with pytest.raises(TypeError):
        tile_raster_images(np.array([["a"] * 4]), (2, 2), (1, 1))
    with pytest.raises(ValueError, match="tile_filters"):
        tile_filters(np.zeros(5))
