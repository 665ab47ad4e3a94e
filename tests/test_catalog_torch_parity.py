"""PyTorch parity (float32) for every catalog layer that has a PyTorch twin: the forward output, the input
gradient and every parameter gradient, on both kernel sets. Layers without a twin are listed as skipped,
with the catalog's reason.

Tolerance: ``rtol=1e-5`` plus an absolute ``1e-5`` times the largest entry of PyTorch's array (float32
sums taken in a different order differ by a few ulps of the largest term, not of each entry).
"""

import numpy as np
import pytest
from layer_catalog import CATALOG

RTOL = ATOL_SCALE = 1e-5


def close(ours, theirs, what: str) -> None:
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != PyTorch's {theirs.shape}"
    scale = max(float(np.max(np.abs(theirs), initial=0.0)), 1e-30)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL_SCALE * scale, err_msg=what)


def catalog_params():
    for entry in CATALOG:
        marks = () if entry.torch_twin else pytest.mark.skip(reason=f"no PyTorch twin: {entry.no_twin}")
        yield pytest.param(entry, marks=marks, id=repr(entry.make()))


def test_every_entry_has_a_twin_or_a_reason():
    for entry in CATALOG:
        assert (entry.torch_twin is None) != (entry.no_twin is None), repr(entry.make())


@pytest.mark.parametrize("entry", catalog_params())
def test_forward_and_gradients_match_torch(entry, kernels):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    layer = entry.make()
    rng = np.random.default_rng(0)
    for p in layer.parameters():  # random biases and scales too, so every gradient path carries weight
        p.value[...] = 0.5 * rng.standard_normal(p.value.shape)
    twin = entry.torch_twin(layer)

    x = rng.standard_normal(entry.shape).astype(np.float32)
    y = layer.forward(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(g)
    xt = torch.tensor(x, requires_grad=True)
    yt = twin.module(xt)
    yt.backward(torch.tensor(g))

    assert y.dtype == dx.dtype == np.float32
    close(y, yt, "forward")
    close(dx, xt.grad, "dx")
    ours = {p.name: p.grad for p in layer.parameters()}
    theirs = twin.grads()
    assert sorted(theirs) == sorted(ours), "the twin must give a gradient for every parameter"
    for name, grad in ours.items():
        assert grad.dtype == np.float32, name
        close(grad, theirs[name], name)
