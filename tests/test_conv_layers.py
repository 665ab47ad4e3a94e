"""Conv2D, pooling, LRN and the CNN blocks: gradient checks, PyTorch parity, errors."""

import numpy as np
import pytest

from scratchnet import backend
from scratchnet.gradcheck import gradcheck
from scratchnet.layers.activations import ReLU
from scratchnet.layers.blocks import InceptionBlock, ResidualBlock
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.lrn import LocalResponseNorm
from scratchnet.layers.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D

TOL = 1e-6


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


CONV_VARIANTS = [
    dict(kernel_size=3),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=1),
    dict(kernel_size=3, stride=2, padding="same"),
    dict(kernel_size=(2, 3), padding="same"),
    dict(kernel_size=2, padding=(1, 0, 2, 1), bias=False),
    dict(kernel_size=3, padding="valid", stride=3),
    dict(kernel_size=(5, 6)),  # kernel as large as the input
]


# -- gradient checks --------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", CONV_VARIANTS)
def test_conv2d_gradcheck(kw, kernels):
    layer = Conv2D(2, 3, dtype=np.float64, rng=np.random.default_rng(0), **kw)
    if "b" in layer.params:
        layer.params["b"][...] = rand(3, seed=9)
    errors = gradcheck(layer, rand(2, 2, 5, 6))
    assert set(errors) == {"x", "W"} | ({"b"} if kw.get("bias", True) else set())
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize(
    "layer",
    [
        MaxPool2D(2),
        MaxPool2D(3, stride=2, padding="same"),
        MaxPool2D((2, 3), stride=1, padding=1),
        AvgPool2D(2),
        AvgPool2D(3, stride=2, padding="same"),
        AvgPool2D(3, stride=1, padding=1, count_include_pad=True),
        GlobalAvgPool2D(),
        LocalResponseNorm(3, alpha=0.5, beta=0.75, k=2.0),
        LocalResponseNorm(4, alpha=0.3, beta=0.6, k=1.0),
    ],
    ids=repr,
)
def test_parameter_free_layers_gradcheck(layer, kernels):
    # distinct values: ties in a max-pool window would make the numerical gradient ill-defined
    x = np.random.default_rng(1).permutation(2 * 5 * 5 * 6).reshape(2, 5, 5, 6) / 10.0
    errors = gradcheck(layer, x)
    assert errors["x"] < TOL, errors


@pytest.mark.parametrize(
    "block, shape",
    [
        (lambda: ResidualBlock(2, 2, dtype=np.float64), (3, 2, 4, 4)),
        (lambda: ResidualBlock(2, 3, stride=2, dtype=np.float64), (2, 2, 5, 5)),
        (lambda: InceptionBlock(2, 1, 1, 2, 1, 1, 1, dtype=np.float64), (2, 2, 4, 5)),
    ],
    ids=["residual-identity", "residual-projection", "inception"],
)
def test_blocks_gradcheck(block, shape):
    from scratchnet.random import seed

    seed(0)
    layer = block()
    errors = gradcheck(layer, rand(*shape, seed=2))
    assert "conv1.W" in errors or "b1_conv.W" in errors
    assert max(errors.values()) < TOL, errors


# -- shapes, dtypes, composition ----------------------------------------------------------------------
@pytest.mark.parametrize("n,k,s", [(28, 5, 1), (7, 3, 2), (8, 2, 3), (5, 4, 2)])
def test_same_padding_output_is_ceil(n, k, s):
    conv = Conv2D(1, 2, k, stride=s, padding="same")
    y = conv.forward(rand(1, 1, n, n + 1).astype(np.float32))
    assert y.shape == (1, 2, -(-n // s), -(-(n + 1) // s)) == conv.output_shape((1, 1, n, n + 1))
    pool = MaxPool2D(k, stride=s, padding="same")
    assert pool.forward(rand(1, 1, n, n + 1)).shape[2:] == y.shape[2:]


def test_float32_stays_float32(kernels):
    conv = Conv2D(3, 4, 3, padding="same")
    x = rand(2, 3, 6, 6).astype(np.float32)
    y = conv.forward(x)
    dx = conv.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == conv.grads["W"].dtype == conv.grads["b"].dtype == np.float32
    assert y.flags.c_contiguous and dx.flags.c_contiguous
    for layer in (MaxPool2D(2), AvgPool2D(2), GlobalAvgPool2D(), LocalResponseNorm(3)):
        out = layer.forward(x)
        assert out.dtype == np.float32 and layer.backward(np.ones_like(out)).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float16, ">f4", ">f8"], ids=["float16", "big-f4", "big-f8"])
@pytest.mark.parametrize(
    "make",
    [lambda: MaxPool2D(2), lambda: MaxPool2D(3, stride=2, padding=1), lambda: AvgPool2D(3, 2, 1)],
    ids=["max2", "max3-pad", "avg3-pad"],
)
def test_pools_take_the_dtypes_relu_takes(make, dtype, kernels):
    # parameter-free layers keep their input's precision; the pools compute in float32/float64
    x = rand(2, 3, 6, 7).astype(dtype)
    g_shape = make().output_shape(x.shape)
    g = rand(*g_shape, seed=1).astype(dtype)
    relu = ReLU()
    layer, wide = make(), make()
    y = layer.forward(x)
    dx = layer.backward(g)
    assert y.dtype == relu.forward(x).dtype and y.dtype.isnative
    assert dx.dtype == relu.backward(rand(*x.shape, seed=2).astype(dtype)).dtype
    compute = np.float32 if np.dtype(dtype).itemsize < 4 else np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(y, wide.forward(x.astype(compute)).astype(y.dtype))
    np.testing.assert_array_equal(dx, wide.backward(g.astype(compute)).astype(dx.dtype))


def test_pools_refuse_long_double_clearly():
    x = rand(1, 1, 4, 4).astype(np.longdouble)
    if np.dtype(np.longdouble).itemsize <= 8:
        pytest.skip("long double is float64 here")
    with pytest.raises(TypeError, match=r"MaxPool2D\(.*float32 or float64, got float128"):
        MaxPool2D(2).forward(x)


def test_empty_batch_and_planes_name_the_layer(kernels):
    with pytest.raises(ValueError, match=r"Conv2D\(3, 4.*must not be empty.*\(0, 3, 5, 5\)"):
        Conv2D(3, 4, 3).forward(np.zeros((0, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D\(3, 4.*must not be empty"):
        Conv2D(3, 4, 3, padding=2).forward(np.zeros((1, 3, 0, 5), np.float32))
    with pytest.raises(ValueError, match=r"AvgPool2D\(.*must not be empty"):
        AvgPool2D(2, padding=1).forward(np.zeros((2, 1, 5, 0)))
    with pytest.raises(ValueError, match=r"GlobalAvgPool2D\(\): expected H and W >= 1"):
        GlobalAvgPool2D().forward(np.zeros((2, 1, 0, 3)))
    with pytest.raises(ValueError, match=r"ResidualBlock\(2, 2.*must not be empty"):
        ResidualBlock(2, 2).forward(np.zeros((0, 2, 4, 4), np.float32))
    # a layer that can handle an empty batch keeps doing so
    assert GlobalAvgPool2D().forward(np.zeros((0, 3, 2, 2))).shape == (0, 3)


def test_blocks_compose_children_and_shapes():
    res = ResidualBlock(4, 8, stride=2)
    names = [name for name, _ in res.named_layers()]
    assert names == ["", "conv1", "bn1", "relu1", "conv2", "bn2", "proj", "proj_bn", "relu_out"]
    y = res.forward(rand(2, 4, 9, 9).astype(np.float32))
    assert y.shape == (2, 8, 5, 5) == res.output_shape((2, 4, 9, 9)) and y.dtype == np.float32
    assert np.all(y >= 0)
    inc = InceptionBlock(3, 4, 2, 5, 1, 2, 3)
    y = inc.forward(rand(2, 3, 7, 6).astype(np.float32))
    assert y.shape == (2, 14, 7, 6)
    assert inc.backward(np.ones_like(y)).shape == (2, 3, 7, 6)
    inc.eval()
    assert not any(layer.training for _, layer in inc.named_layers())


def test_identity_block_passes_gradient_through_shortcut():
    block = ResidualBlock(2, 2)
    for conv in (block.conv1, block.conv2):
        conv.params["W"][...] = 0  # main path outputs BN(0) = beta = 0
    x = np.abs(rand(2, 2, 3, 3)).astype(np.float32) + 0.1
    y = block.forward(x)
    np.testing.assert_allclose(y, x, rtol=1e-6)
    g = rand(*y.shape, seed=3).astype(np.float32)
    np.testing.assert_allclose(block.backward(g), g, rtol=1e-5, atol=1e-6)


# -- PyTorch parity (float32) -------------------------------------------------------------------------
def assert_close(ours, ref, what):
    ref = ref.detach().numpy() if hasattr(ref, "detach") else ref
    scale = max(float(np.max(np.abs(ref))), 1e-30)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * scale, err_msg=what)


def torch_conv(torch, x, w, b, stride, pad):
    pt, pb, pl, pr = pad
    x = torch.nn.functional.pad(x, (pl, pr, pt, pb))
    return torch.nn.functional.conv2d(x, w, b, stride=stride)


@pytest.mark.parametrize("kw", CONV_VARIANTS)
def test_conv2d_matches_torch(kw, kernels):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    layer = Conv2D(3, 4, rng=np.random.default_rng(0), **kw)
    if "b" in layer.params:
        layer.params["b"][...] = rand(4, seed=5)
    x = rand(2, 3, 5, 6, seed=1).astype(np.float32)
    y = layer.forward(x)
    g = rand(*y.shape, seed=2).astype(np.float32)
    pad = layer._cache[1]
    dx = layer.backward(g)

    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(layer.params["W"], requires_grad=True)
    tb = torch.tensor(layer.params["b"], requires_grad=True) if "b" in layer.params else None
    ty = torch_conv(torch, tx, tw, tb, layer.stride, pad)
    ty.backward(torch.tensor(g))
    assert_close(y, ty, "forward")
    assert_close(dx, tx.grad, "dx")
    assert_close(layer.grads["W"], tw.grad, "dW")
    if tb is not None:
        assert_close(layer.grads["b"], tb.grad, "db")


@pytest.mark.parametrize(
    "layer, ref",
    [
        (MaxPool2D(2), lambda F, x: F.max_pool2d(x, 2)),
        (MaxPool2D(3, stride=2, padding=1), lambda F, x: F.max_pool2d(x, 3, 2, 1)),
        (MaxPool2D((2, 3), stride=1), lambda F, x: F.max_pool2d(x, (2, 3), 1)),
        (
            MaxPool2D(2, stride=2, padding="same"),  # 'same' on odd sizes: one -inf row/column bottom/right
            lambda F, x: F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 2),
        ),
        (AvgPool2D(2), lambda F, x: F.avg_pool2d(x, 2)),
        (
            AvgPool2D(3, stride=2, padding=1, count_include_pad=True),
            lambda F, x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=True),
        ),
        (AvgPool2D(3, stride=1, padding=1), lambda F, x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)),
        (GlobalAvgPool2D(), lambda F, x: x.mean(dim=(2, 3))),
        (
            LocalResponseNorm(5, alpha=1e-2, beta=0.75, k=2.0),
            lambda F, x: F.local_response_norm(x, 5, 1e-2, 0.75, 2.0),
        ),
        (
            LocalResponseNorm(2, alpha=0.5, beta=0.5, k=1.0),
            lambda F, x: F.local_response_norm(x, 2, 0.5, 0.5, 1.0),
        ),
    ],
    ids=repr,
)
def test_parameter_free_layers_match_torch(layer, ref, kernels):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    x = rand(2, 6, 7, 9, seed=3).astype(np.float32)
    y = layer.forward(x)
    g = rand(*y.shape, seed=4).astype(np.float32)
    dx = layer.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    ty = ref(torch.nn.functional, tx)
    ty.backward(torch.tensor(g))
    assert_close(y, ty, "forward")
    assert_close(dx, tx.grad, "dx")


def test_residual_block_matches_torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    F = torch.nn.functional
    block = ResidualBlock(3, 4, stride=2, rng=np.random.default_rng(0))
    for name, layer in block.named_layers():
        if name.startswith(("bn", "proj_bn")):
            layer.params["gamma"][...] = 1 + 0.1 * rand(4, seed=len(name))
            layer.params["beta"][...] = 0.1 * rand(4, seed=len(name) + 1)
    x = rand(4, 3, 6, 7, seed=1).astype(np.float32)
    y = block.forward(x)
    g = rand(*y.shape, seed=2).astype(np.float32)
    dx = block.backward(g)

    t = {name: torch.tensor(v, requires_grad=True) for name, v in _named_params(block).items()}
    tx = torch.tensor(x, requires_grad=True)

    def bn(h, prefix):
        return F.batch_norm(h, None, None, t[f"{prefix}.gamma"], t[f"{prefix}.beta"], training=True, eps=1e-5)

    h = F.relu(bn(F.conv2d(tx, t["conv1.W"], stride=2, padding=1), "bn1"))
    h = bn(F.conv2d(h, t["conv2.W"], padding=1), "bn2")
    ty = F.relu(h + bn(F.conv2d(tx, t["proj.W"], stride=2), "proj_bn"))
    ty.backward(torch.tensor(g))
    assert_close(y, ty, "forward")
    assert_close(dx, tx.grad, "dx")
    grads = _named_params(block, grads=True)
    for name, tv in t.items():
        assert_close(grads[name], tv.grad, name)


def _named_params(layer, grads=False):
    out = {}
    for name, sub in layer.named_layers():
        for key, v in (sub.grads if grads else sub.params).items():
            out[f"{name}.{key}"] = v
    return out


# -- errors --------------------------------------------------------------------------------------------
def test_conv2d_errors():
    conv = Conv2D(3, 4, 3)
    with pytest.raises(ValueError, match=r"Conv2D\(3, 4.*3 channels"):
        conv.forward(np.zeros((1, 2, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D.*4-D"):
        conv.forward(np.zeros((3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D.*larger than the padded input"):
        conv.forward(np.zeros((1, 3, 2, 5), np.float32))
    with pytest.raises(RuntimeError, match="backward"):
        conv.backward(np.zeros((1, 4, 3, 3), np.float32))
    y = conv.forward(np.zeros((1, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"dout of shape \(1, 4, 3, 3\)"):
        conv.backward(np.zeros((1, 4, 3, 2), np.float32))
    conv.backward(np.zeros_like(y))
    if not backend.reference_mode():  # the fast path reuses the im2col buffer: one backward per forward
        with pytest.raises(RuntimeError, match="one backward"):
            conv.backward(np.zeros_like(y))
    for bad in (
        dict(kernel_size=0),
        dict(kernel_size=3, stride=0),
        dict(kernel_size=3, padding="full"),
        dict(kernel_size=3, padding=-1),
        dict(kernel_size=(3, 3, 3)),
    ):
        with pytest.raises(ValueError, match="Conv2D"):
            Conv2D(3, 4, **bad)
    with pytest.raises(ValueError, match="in_channels"):
        Conv2D(0, 4, 3)
    with pytest.raises(TypeError, match="float32 or float64"):
        Conv2D(1, 1, 1, dtype=np.int32)


def test_pooling_and_lrn_errors():
    with pytest.raises(
        ValueError, match=r"MaxPool2D: padding \(2, 2, 2, 2\) must be smaller than the kernel"
    ):
        MaxPool2D(2, padding=2)  # refused when built, before any input
    with pytest.raises(ValueError, match=r"AvgPool2D.*larger than the padded input"):
        AvgPool2D(3).forward(np.zeros((1, 1, 2, 4)))
    with pytest.raises(ValueError, match=r"MaxPool2D.*4-D"):
        MaxPool2D(2).forward(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="stride"):
        MaxPool2D(2, stride=0)
    with pytest.raises(RuntimeError, match="before forward"):
        GlobalAvgPool2D().backward(np.zeros((1, 1)))
    pool = MaxPool2D(2)
    pool.forward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="expected dout of shape"):
        pool.backward(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="size"):
        LocalResponseNorm(0)
    with pytest.raises(ValueError, match="InceptionBlock"):
        InceptionBlock(3, 0, 1, 1, 1, 1, 1)
    with pytest.raises(ValueError, match=r"ResidualBlock.*4 channels"):
        ResidualBlock(4, 4).forward(np.zeros((1, 3, 4, 4), np.float32))


def test_conv2d_column_pieces_match_single_gemm(monkeypatch, kernels):
    # layers with few weights split their GEMMs into serial column pieces; force that on a small layer
    import scratchnet.ops.conv as conv_module

    x, g = rand(3, 2, 9, 7, seed=11), rand(3, 4, 9, 7, seed=12)
    weights, columns = 4 * 2 * 3 * 3, 3 * 9 * 7

    def run():
        layer = Conv2D(2, 4, 3, padding="same", dtype=np.float64, rng=np.random.default_rng(0))
        layer.params["b"][...] = 0.5
        y = layer.forward(x)
        return y, layer.backward(g), layer.grads["W"].copy(), layer.grads["b"].copy()

    assert conv_module._column_piece(np, weights, columns) == 0  # one GEMM by default
    single = run()
    monkeypatch.setattr(conv_module, "_SERIAL_GEMM_MNK", weights * 64)
    assert conv_module._column_piece(np, weights, columns) == 64  # two pieces of 64 and a tail of 61
    assert conv_module._column_piece(object(), weights, columns) == 0  # device arrays: never cut
    for a, b in zip(single, run()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
