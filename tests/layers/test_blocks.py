"""ResidualBlock and InceptionBlock (scratchnet/layers/blocks.py): gradient checks (float64), composition,
PyTorch parity (float32), errors."""

import numpy as np
import pytest
from layer_checks import TOL, assert_close, import_torch, rand

from scratchnet.gradcheck import gradcheck
from scratchnet.layers.blocks import InceptionBlock, ResidualBlock


# -- gradient checks -------------------------------------------------------------------------------------------
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


# -- composition -----------------------------------------------------------------------------------------------
def test_blocks_compose_children_and_shapes():
    res = ResidualBlock(4, 8, stride=2)
    names = [name for name, _ in res.named_layers()]
    assert names == ["", "conv1", "bn1", "relu1", "conv2", "bn2", "proj", "proj_bn", "relu_out"]
    y = res(rand(2, 4, 9, 9).astype(np.float32))
    assert y.shape == (2, 8, 5, 5) == res.output_shape((2, 4, 9, 9)) and y.dtype == np.float32
    assert np.all(y >= 0)
    inc = InceptionBlock(3, 4, 2, 5, 1, 2, 3)
    y = inc(rand(2, 3, 7, 6).astype(np.float32))
    assert y.shape == (2, 14, 7, 6)
    assert inc.backprop(np.ones_like(y)).shape == (2, 3, 7, 6)
    inc.eval()
    assert not any(layer.training for _, layer in inc.named_layers())


def test_identity_block_passes_gradient_through_shortcut():
    block = ResidualBlock(2, 2)
    for conv in (block.conv1, block.conv2):
        conv.params["W"][...] = 0  # main path outputs BN(0) = beta = 0
    x = np.abs(rand(2, 2, 3, 3)).astype(np.float32) + 0.1
    y = block(x)
    np.testing.assert_allclose(y, x, rtol=1e-6)
    g = rand(*y.shape, seed=3).astype(np.float32)
    np.testing.assert_allclose(block.backprop(g), g, rtol=1e-5, atol=1e-6)


# -- PyTorch parity (float32) ----------------------------------------------------------------------------------
def test_residual_block_matches_torch():
    torch = import_torch()
    torch.set_num_threads(2)
    F = torch.nn.functional
    block = ResidualBlock(3, 4, stride=2, rng=np.random.default_rng(0))
    for name, layer in block.named_layers():
        if name.startswith(("bn", "proj_bn")):
            layer.params["gamma"][...] = 1 + 0.1 * rand(4, seed=len(name))
            layer.params["beta"][...] = 0.1 * rand(4, seed=len(name) + 1)
    x = rand(4, 3, 6, 7, seed=1).astype(np.float32)
    y = block(x)
    g = rand(*y.shape, seed=2).astype(np.float32)
    dx = block.backprop(g)

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


# -- errors ----------------------------------------------------------------------------------------------------
def test_block_errors():
    with pytest.raises(ValueError, match="InceptionBlock"):
        InceptionBlock(3, 0, 1, 1, 1, 1, 1)
    with pytest.raises(ValueError, match=r"ResidualBlock.*4 channels"):
        ResidualBlock(4, 4)(np.zeros((1, 3, 4, 4), np.float32))
