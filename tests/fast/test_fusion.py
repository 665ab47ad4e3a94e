"""Conv2D -> ReLU fused in Sequential's fast forward (scratchnet/fast/fusion.py): bit-identical to running the
two layers one after the other, on every conv path, and applied only where it is exact."""

import copy

import numpy as np
import pytest
from compiled import compiled_or_skip

import scratchnet as sn
from scratchnet import backend
from scratchnet.fast import direct_conv as direct_twin
from scratchnet.fast import relu as relu_twin
from scratchnet.fast import winograd as winograd_twin
from scratchnet.layers import Conv2D, Dense, Flatten, LeakyReLU, MaxPool2D, ReLU

compiled_relu = compiled_or_skip("relu")
compiled_direct = compiled_or_skip("direct_conv")
compiled_winograd = compiled_or_skip("winograd")


def same_bits(a, b, what=""):
    assert a.dtype == b.dtype and a.shape == b.shape, what
    assert a.tobytes() == b.tobytes(), what


def with_specials(rng, x):
    """x with a few NaN and infinite pixels: their outputs must stay NaN through the fused maximum."""
    flat = x.reshape(-1)
    picks = rng.choice(flat.size, 3, replace=False)
    flat[picks] = np.array([np.nan, np.inf, -np.inf], dtype=x.dtype)
    return x


def one_by_one(model, x, dout):
    """The layers of ``model`` run by hand, one after the other (no fusion), forward then backward."""
    y = x
    for layer in model.layers:
        y = layer(y)
    g = dout
    for layer in reversed(model.layers):
        g = layer.backprop(g)
    return y, g


def count_relu_passes(monkeypatch):
    calls = []
    original = compiled_relu.relu

    def counting(x):
        calls.append(x.shape)
        return original(x)

    monkeypatch.setattr(compiled_relu, "relu", counting)
    return calls


CASES = [  # (algorithm, C, F, k, stride, H)
    ("direct", 1, 9, 5, 1, 13),
    ("direct", 2, 5, 3, 2, 11),
    ("winograd", 6, 7, 3, 1, 10),
    ("winograd", 4, 5, 5, 1, 9),
    ("im2col", 3, 6, 3, 1, 8),
    ("im2col", 2, 4, 3, 2, 9),
    ("auto", 1, 32, 5, 1, 28),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("algorithm,c,f,k,stride,h", CASES)
def test_fused_forward_and_backward_equal_the_layers_one_by_one(
    monkeypatch, algorithm, c, f, k, stride, h, bias, dtype
):
    calls = count_relu_passes(monkeypatch)
    rng = np.random.default_rng(hash((algorithm, c, f, k, stride, h)) % 2**32)
    conv = Conv2D(
        c, f, k, stride=stride, padding="same", bias=bias, rng=rng, dtype=dtype, algorithm=algorithm
    )
    if bias:
        conv.params["b"][...] = rng.standard_normal(f)
    model = sn.Sequential([conv, ReLU(), MaxPool2D(2)])
    twin = copy.deepcopy(model)
    x = with_specials(rng, rng.standard_normal((3, c, h, h)).astype(dtype))
    with np.errstate(invalid="ignore", over="ignore"):
        y = model(x)
        assert calls == []  # the conv rectified its own output
        dout = rng.standard_normal(y.shape).astype(dtype)
        dx = model.backprop(dout)
        y_ref, dx_ref = one_by_one(twin, x, dout)
    same_bits(y, y_ref, "y")
    same_bits(dx, dx_ref, "dx")
    for key in model.layers[0].grads:
        same_bits(model.layers[0].grads[key], twin.layers[0].grads[key], key)
    assert (y >= 0)[~np.isnan(y)].all()


def course_like_net(rng):
    return sn.Sequential(
        [
            Conv2D(1, 4, 3, padding="same", rng=rng),
            ReLU(),
            MaxPool2D(2),
            Flatten(),
            Dense(4 * 4 * 4, 3, rng=rng),
            ReLU(),
        ]
    )


def test_the_relu_after_a_conv_makes_no_pass_of_its_own(monkeypatch):
    calls = count_relu_passes(monkeypatch)
    rng = np.random.default_rng(1)
    model = course_like_net(rng)
    x = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    model(x)
    assert calls == [(2, 3)]  # only the ReLU after Dense ran its own pass
    calls.clear()
    with backend.reference():  # the reference runs every layer on its own (and its twins, not this kernel)
        model(x)
    assert calls == []
    unfused = x
    for layer in model.layers:  # the same fast paths one layer at a time: the ReLU makes its own pass
        unfused = layer(unfused)
    same_bits(model(x), unfused)


@pytest.mark.parametrize(
    "layers",
    [
        lambda rng: [Conv2D(1, 3, 3, rng=rng), LeakyReLU(), ReLU()],  # not a ReLU right after the conv
        lambda rng: [Conv2D(1, 3, 3, rng=rng)],  # the conv ends the model: its output is the model's
        lambda rng: [Conv2D(1, 3, 3, rng=rng), type("MyReLU", (ReLU,), {})()],  # a subclass may differ
    ],
)
def test_only_a_conv_directly_followed_by_a_relu_is_fused(monkeypatch, layers):
    rng = np.random.default_rng(2)
    model = sn.Sequential(layers(rng))
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    conv_alone = copy.deepcopy(model.layers[0])
    y = model(x)
    if len(model.layers) == 1:
        same_bits(y, conv_alone(x))  # not rectified
        assert (y < 0).any()
    # a later conv used on its own is not rectified either (the request does not outlive the pair)
    same_bits(model.layers[0](x), conv_alone(x))


def test_a_failed_conv_leaves_nothing_behind():
    rng = np.random.default_rng(3)
    model = sn.Sequential([Conv2D(2, 3, 3, rng=rng), ReLU()])
    with pytest.raises(ValueError):
        model(np.zeros((1, 3, 6, 6), np.float32))  # wrong channel count
    conv = copy.deepcopy(model.layers[0])
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    assert (conv(x) < 0).any()
    same_bits(model(x), np.maximum(conv(x), 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_rectify_as_the_relu_twin(dtype):
    """Each conv kernel's ``relu=True`` is its own output passed through ``np.maximum(., 0)``, bit for bit."""
    rng = np.random.default_rng(4)
    x = with_specials(rng, rng.standard_normal((2, 2, 11, 37)).astype(dtype))  # rows wider than a tile
    w = rng.standard_normal((9, 2, 5, 5)).astype(dtype)
    b = rng.standard_normal(9).astype(dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        for kernels in (direct_twin, compiled_direct):
            for stride in (1, 2):
                plain = kernels.conv_forward(x, w, b, stride, 2)
                same_bits(kernels.conv_forward(x, w, b, stride, 2, relu=True), relu_twin.relu(plain))
        for kernels in (winograd_twin, compiled_winograd):
            m, r, n, th, tw, oh, ow = 4, 3, 2, 3, 2, 10, 7
            mm = rng.standard_normal(((m + r - 1) ** 2, 5, n * th * tw)).astype(dtype)
            mm[0, 1, 2] = np.nan
            plain = kernels.output_transform(mm, m, r, n, th, tw, oh, ow, b[:5])
            same_bits(
                kernels.output_transform(mm, m, r, n, th, tw, oh, ow, b[:5], relu=True), relu_twin.relu(plain)
            )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_in_place_equals_the_twin(dtype):
    rng = np.random.default_rng(5)
    for shape in [(5,), (100, 33, 17), (32768 * 2 + 5,)]:
        x = with_specials(rng, rng.standard_normal(shape).astype(dtype))
        x[0] = -0.0
        expected = relu_twin.relu(x)
        a, b = x.copy(), x.copy()
        assert compiled_relu.relu_in_place(a) is a and relu_twin.relu_in_place(b) is b
        same_bits(a, expected)
        same_bits(b, expected)
    strided = rng.standard_normal((6, 8)).astype(dtype)[:, ::2]  # goes to the twin, still in place
    expected = relu_twin.relu(strided)
    same_bits(compiled_relu.relu_in_place(strided), expected)
    same_bits(strided, expected)


def count_relu_backward_passes(monkeypatch):
    calls = []
    original = compiled_relu.relu_backward

    def counting(dout, x):
        calls.append(dout.shape)
        return original(dout, x)

    monkeypatch.setattr(compiled_relu, "relu_backward", counting)
    return calls


@pytest.mark.parametrize("stride", [2, 3, 1])
def test_a_relu_before_a_max_pool_makes_no_backward_pass_of_its_own(monkeypatch, stride):
    """Fused where the pooling windows do not overlap (stride >= 2 for 2x2), not where they do; bit for bit
    the layers one by one either way, through ``backprop`` and a training step's ``params_only``."""
    calls = count_relu_backward_passes(monkeypatch)
    rng = np.random.default_rng(7)
    model = sn.Sequential(
        [Conv2D(2, 3, 3, padding="same", rng=rng), ReLU(), MaxPool2D(2, stride=stride), Flatten()]
    )
    twin = copy.deepcopy(model)
    x = with_specials(rng, rng.standard_normal((2, 2, 9, 9)).astype(np.float32))
    with np.errstate(invalid="ignore", over="ignore"):
        y = model(x)
        dout = rng.standard_normal(y.shape).astype(np.float32)
        dout.reshape(-1)[:2] = [np.inf, -0.0]
        dx = model.backprop(dout)
        fused_calls = list(calls)
        y_ref, dx_ref = one_by_one(twin, x, dout)
    assert fused_calls == ([] if stride >= 2 else [(2, 3, 9, 9)])
    same_bits(dx, dx_ref, "dx")
    for key in ("W", "b"):
        same_bits(model.layers[0].grads[key], twin.layers[0].grads[key], key)
    model(x)
    model.backprop(dout, params_only=True)  # a training step's backward: the first layer's parameters only
    for key in ("W", "b"):
        same_bits(model.layers[0].grads[key], twin.layers[0].grads[key], key)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fused_pool_and_relu_backward_kernel_equals_its_twin(dtype):
    from scratchnet.maths import pooling as twin

    rng = np.random.default_rng(8)
    pool = compiled_or_skip("pooling")
    for shape, k in (((3, 4, 8, 8), 2), ((2, 3, 9, 7), 3), ((1, 1, 5, 5), 2)):
        relu_x = np.maximum(rng.standard_normal(shape), 0).astype(dtype)
        relu_x.reshape(-1)[:3] = [np.nan, 0.0, -0.0]
        _, argmax = pool.maxpool_forward(relu_x, k, k)
        dout = rng.standard_normal(argmax.shape).astype(dtype)
        dout.reshape(-1)[:2] = [np.inf, -0.0]
        with np.errstate(invalid="ignore"):
            same_bits(
                pool.maxpool_relu_backward(dout, argmax, relu_x),
                twin.maxpool_relu_backward(dout, argmax, relu_x),
            )
