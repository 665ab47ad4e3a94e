"""The course's signal functions: published numbers, numpy.convolve/correlate, and the identities between them."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnet.maths.signal import convolve1d, convolve2d, correlate1d, correlate2d, tf_conv2d

IMAGE = [[255, 7, 3], [212, 240, 4], [218, 216, 230]]  # the course's 3x3 example


def test_published_1d_examples():
    np.testing.assert_array_equal(convolve1d([3, 4, 5], [2, 1, 0]), [6, 11, 14, 5, 0])
    x, h = [6, 2], [1, 2, 5, 4]
    np.testing.assert_array_equal(convolve1d(x, h, "full"), [6, 14, 34, 34, 8])
    np.testing.assert_array_equal(convolve1d(x, h, "same"), [6, 14, 34, 34])
    np.testing.assert_array_equal(convolve1d(x, h, "valid"), [14, 34, 34])


def test_published_2d_examples():
    np.testing.assert_array_equal(convolve2d(IMAGE, [[-1, 1]], "valid"), [[248, 4], [-28, 236], [2, -14]])
    np.testing.assert_array_equal(
        convolve2d(IMAGE, [[-1, 1]]), [[-255, 248, 4, 3], [-212, -28, 236, 4], [-218, 2, -14, 230]]
    )
    full = convolve2d(IMAGE, [[-1, 1], [2, 3]], "full")
    # the course text prints 1066 here; 3*218 + 2*216 = 1086, so the text has a misprint
    np.testing.assert_array_equal(
        full, [[-255, 248, 4, 3], [298, 751, 263, 13], [206, 1118, 714, 242], [436, 1086, 1108, 690]]
    )
    assert full[3, 1] == 3 * 218 + 2 * 216 == 1086
    np.testing.assert_array_equal(
        convolve2d(IMAGE, [[-1, 1], [2, 3]], "same"), [[-255, 248, 4], [298, 751, 263], [206, 1118, 714]]
    )


def test_published_tensorflow_examples():
    x, k = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], np.ones((2, 2))
    np.testing.assert_array_equal(tf_conv2d(x, k, padding="valid"), [[12, 16], [24, 28]])
    np.testing.assert_array_equal(tf_conv2d(x, k, padding="same"), [[12, 16, 9], [24, 28, 15], [15, 17, 9]])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-9, 9), min_size=1, max_size=12),
    st.lists(st.integers(-9, 9), min_size=1, max_size=12),
    st.sampled_from(["full", "same", "valid"]),
)
def test_convolve1d_matches_numpy(x, k, mode):
    np.testing.assert_array_equal(convolve1d(x, k, mode), np.convolve(x, k, mode))
    if len(x) >= len(k):
        np.testing.assert_array_equal(correlate1d(x, k, mode), np.correlate(x, k, mode))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4), st.integers(1, 4), st.integers(0, 1000))
def test_2d_identities(h, w, kh, kw, seed):
    rng = np.random.default_rng(seed)
    x, k = rng.integers(-5, 6, (h, w)), rng.integers(-5, 6, (kh, kw))
    full = convolve2d(x, k, "full")
    # a separable check: convolving with an outer product = 1-D convolutions along each axis
    u, v = rng.integers(-3, 4, kh), rng.integers(-3, 4, kw)
    rows = np.array([convolve1d(r, v) for r in x])
    sep = np.array([convolve1d(c, u) for c in rows.T]).T
    np.testing.assert_array_equal(convolve2d(x, np.outer(u, v)), sep)
    assert full.shape == (h + kh - 1, w + kw - 1)
    same = convolve2d(x, k, "same")
    assert same.shape == x.shape
    np.testing.assert_array_equal(same, full[(kh - 1) // 2 :][:h, (kw - 1) // 2 :][:, :w])
    np.testing.assert_array_equal(correlate2d(x, k), convolve2d(x, k[::-1, ::-1]))
    if kh <= h and kw <= w:
        valid = convolve2d(x, k, "valid")
        assert valid.shape == (h - kh + 1, w - kw + 1)
        # valid cross-correlation is TensorFlow's 'valid' conv2d
        np.testing.assert_array_equal(correlate2d(x, k, "valid"), tf_conv2d(x, k, padding="valid"))
        # direct definition: y[r, c] = sum_ij x[r + i, c + j] * flipped k
        kf = k[::-1, ::-1]
        direct = np.array(
            [[np.sum(x[r : r + kh, c : c + kw] * kf) for c in range(w - kw + 1)] for r in range(h - kh + 1)]
        )
        np.testing.assert_array_equal(valid, direct)
    for s in (1, 2, 3):
        assert tf_conv2d(x, k, stride=s, padding="same").shape == (-(-h // s), -(-w // s))


def test_bad_input():
    with pytest.raises(ValueError, match="mode"):
        convolve1d([1, 2], [1], "wide")
    with pytest.raises(ValueError, match="1-D"):
        convolve1d([[1, 2]], [1])
    with pytest.raises(ValueError, match="non-empty"):
        convolve1d([], [1])
    with pytest.raises(ValueError, match="2-D"):
        convolve2d([1, 2], [[1]])
    with pytest.raises(ValueError, match="fit inside"):
        convolve2d([[1, 2]], [[1], [1]], "valid")
    with pytest.raises(ValueError, match="padding"):
        tf_conv2d([[1, 2]], [[1]], padding="full")
    with pytest.raises(ValueError, match="stride"):
        tf_conv2d([[1, 2]], [[1]], stride=0)
