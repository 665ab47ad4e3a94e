"""One forward, one backward, on the arrays the forward saw: the same contract on every layer and tier.

* Changing in place what a forward received or returned, before its backward, makes that backward raise a
  RuntimeError (the layer may have kept either for its gradients: the fast Conv2D -> ReLU kept the array it
  returned, Dense and the direct conv keep their input). PyTorch raises too, from its version counters; the
  layer base class compares fingerprints of the arrays instead (``scratchnet/fast/fingerprint.py``).
* A second backward after one forward raises a RuntimeError (as PyTorch without ``retain_graph``): the fast
  Conv2D consumes its cache, the reference did not, and a user got different behaviour per tier.
* Neither check costs the arrays a model passes between its own layers: only what the caller handed in or
  got back is fingerprinted.
"""

from __future__ import annotations

import numpy as np
import pytest
from layer_catalog import CATALOG

from scratchnet import backend
from scratchnet.layers import Conv2D, Dense, Embedding, Flatten, MaxPool2D, ReLU
from scratchnet.model import Sequential


def _input(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal(shape).astype(np.float32)
    return x + np.sign(x) * 0.1  # away from the kinks, so a changed input changes what the layer keeps


def catalog_params():
    for entry in CATALOG:
        yield pytest.param(entry, id=repr(entry.make()))


def _gradients(layer, dx):
    return [np.asarray(dx).tobytes()] + [g.tobytes() for g in layer.grads.values()]


@pytest.mark.parametrize("entry", list(catalog_params()))
@pytest.mark.parametrize("what", ["input", "output"])
def test_an_array_changed_in_place_before_backward_is_refused_or_harmless(entry, what, kernels, rng):
    """The contract: the backward raises, or gives exactly the gradients of the untouched arrays. A layer
    that declares it keeps the array (``saved_for_backward``) must raise."""
    import copy

    layer = entry.make()
    twin = copy.deepcopy(layer)
    x = _input(entry.shape, rng)
    y = twin(x.copy())
    g = rng.standard_normal(y.shape).astype(y.dtype)
    expected = _gradients(twin, twin.backprop(g))
    y = layer(x)
    target = x if what == "input" else y
    target *= 100
    if what in layer.saved_for_backward:
        # (Identity and Flatten return their input, or a view of it: either name may come first)
        with pytest.raises(RuntimeError, match="(input|output) of forward was changed in place"):
            layer.backprop(g)
        # nothing was consumed by the refusal: a fresh forward and its backward work
        layer(_input(entry.shape, rng))
        layer.backprop(g)
    else:
        assert _gradients(layer, layer.backprop(g)) == expected


@pytest.mark.parametrize("entry", list(catalog_params()))
def test_a_second_backward_after_one_forward_is_refused(entry, kernels, rng):
    layer = entry.make()
    y = layer(_input(entry.shape, rng))
    g = rng.standard_normal(y.shape).astype(y.dtype)
    layer.backprop(g)
    with pytest.raises(RuntimeError, match="second time after one forward"):
        layer.backprop(g)
    layer(_input(entry.shape, rng))
    layer.backprop(g)


@pytest.mark.parametrize("entry", list(catalog_params()))
def test_untouched_arrays_and_changes_after_backward_are_fine(entry, kernels, rng):
    layer = entry.make()
    x = _input(entry.shape, rng)
    y = layer(x)
    layer.backprop(np.ones_like(y))
    x *= 2  # after the backward: the layer no longer needs either array
    y *= 2
    y = layer(x)
    layer.backprop(np.ones_like(y))


def test_backward_before_any_forward_is_refused(kernels):
    with pytest.raises(RuntimeError, match="before forward"):
        Dense(3, 2).backprop(np.ones((4, 2), np.float32))


def test_backward_after_a_failed_forward_is_refused(kernels):
    dense = Dense(3, 2)
    y = dense(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError):
        dense(np.ones((4, 5), np.float32))
    with pytest.raises(RuntimeError, match="last forward raised"):
        dense.backprop(np.ones_like(y))


def test_the_fused_conv_relu_output_changed_in_place(kernels, rng):
    """The issue's case: y -= 10 gave an all-zero dx on the fast tier and the right one on the reference."""
    model = Sequential([Conv2D(1, 4, 3, padding=1), ReLU(), MaxPool2D(2)])
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    y = model(x)
    y -= 10
    with pytest.raises(RuntimeError, match="output of forward was changed in place"):
        model.backprop(np.ones_like(y))


def test_the_direct_conv_input_changed_in_place(kernels, rng):
    """x *= 100 before backward changed dW by 1,765 on the direct kernel (it keeps x)."""
    conv = Conv2D(1, 4, 3, padding=1)
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    y = conv(x)
    x *= 100
    with pytest.raises(RuntimeError, match="input of forward was changed in place"):
        conv.backprop(np.ones_like(y), params_only=True)


def test_layers_inside_a_model_are_not_fingerprinted(kernels, rng, monkeypatch):
    """Only the model's own input and output are fingerprinted: the activations between its layers are the
    model's, not the caller's."""
    from scratchnet import backend

    seen = []
    real = backend.fingerprint
    monkeypatch.setattr(backend, "fingerprint", lambda a: seen.append(a.shape) or real(a))
    model = Sequential([Conv2D(1, 4, 3, padding=1), ReLU(), MaxPool2D(2), Flatten(), Dense(4 * 3 * 3, 2)])
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    y = model(x)
    model.backprop(np.ones_like(y))
    assert sorted(seen) == sorted([x.shape, y.shape, x.shape, y.shape])  # once at forward, once at backward


def test_embedding_indices_changed_in_place(kernels):
    emb = Embedding(10, 3)
    idx = np.array([[1, 2], [3, 4]])
    y = emb(idx)
    idx[0, 0] = 7
    with pytest.raises(RuntimeError, match="input of forward was changed in place"):
        emb.backprop(np.ones_like(y))


@pytest.mark.parametrize(
    "shape, dtype",
    [
        ((7,), np.uint8),
        ((3, 5), np.float32),
        ((4, 3), np.float64),
        ((2, 3, 5), np.int64),
        ((0,), np.float32),
        ((5, 4), np.float32),
    ],
)
def test_fingerprint_kernel_equals_its_twin_and_sees_every_change(shape, dtype, rng):
    from scratchnet.fast import fingerprint as twin

    try:
        compiled = backend.compiled_kernel("fingerprint")
    except ImportError:
        compiled = twin
    a = (rng.standard_normal(shape) * 50).astype(dtype)
    for view in (a, a.T, a[::-1]):
        assert compiled.fingerprint(view) == twin.fingerprint(view)
    before = compiled.fingerprint(a)
    flat = a.reshape(-1)
    for i in range(flat.size):  # every single-element change is seen
        old = flat[i].copy()
        flat[i] = old + 1
        assert compiled.fingerprint(a) != before
        flat[i] = old
    assert compiled.fingerprint(a) == before
    if flat.size >= 2 and flat[0] != flat[-1]:  # so is a swap
        flat[0], flat[-1] = flat[-1].copy(), flat[0].copy()
        assert compiled.fingerprint(a) != before
