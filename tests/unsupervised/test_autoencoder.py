"""Autoencoders (untied, tied, denoising), the Corruption layer and PCA."""

import numpy as np
import pytest

import scratchnet
from scratchnet.gradcheck import gradcheck
from scratchnet.losses import BinaryCrossEntropy, MeanSquaredError
from scratchnet.optim import Adam
from scratchnet.training import Trainer
from scratchnet.unsupervised.autoencoder import (
    Autoencoder,
    Corruption,
    DenoisingAutoencoder,
    TiedAutoencoder,
    make_activation,
)
from scratchnet.unsupervised.pca import PCA, pca


def low_rank_data(n=256, d=16, rank=3, seed=0):
    """Points in [0, 1] that live near a rank-3 subspace: an autoencoder with a 3-unit code can learn them."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, rank))
    mix = rng.normal(size=(rank, d))
    return (1 / (1 + np.exp(-z @ mix))).astype(np.float32)


def assert_small(errors):
    assert all(e < 1e-6 for e in errors.values()), errors


# -- gradients ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"activation": "tanh", "code_activation": "linear", "output_activation": None},
        {"decoder_sizes": [3, 5, 6], "activation": "softplus"},
    ],
)
def test_untied_gradcheck(kwargs):
    scratchnet.seed(0)
    ae = Autoencoder([6, 4, 3], dtype=np.float64, **kwargs)
    x = np.random.default_rng(1).random((3, 6))
    errors = gradcheck(ae, x)
    assert {"x", "enc0.W", "enc0.b", "enc1.W", "dec0.W", "dec1.b"} <= set(errors)
    assert_small(errors)


@pytest.mark.parametrize("sizes", [[6, 4, 3], [5, 2]])
def test_tied_gradcheck(sizes):
    scratchnet.seed(0)
    ae = TiedAutoencoder(sizes, dtype=np.float64)
    x = np.random.default_rng(1).random((3, sizes[0]))
    errors = gradcheck(ae, x)
    assert set(errors) == {"x"} | {f"{p}{i}" for i in range(len(sizes) - 1) for p in "Wbc"}
    assert_small(errors)


def test_tied_gradient_is_sum_of_both_uses():
    """An untied net whose decoder weights equal the encoder's transposed: the tied dW is enc dW + dec dW^T."""
    scratchnet.seed(0)
    tied = TiedAutoencoder([5, 3], activation="tanh", output_activation="sigmoid", dtype=np.float64)
    untied = Autoencoder([5, 3], activation="tanh", output_activation="sigmoid", dtype=np.float64)
    W = tied.params["W0"]
    tied.params["b0"][...] = 0.1
    tied.params["c0"][...] = -0.2
    enc, dec = untied.encoder[0], untied.decoder[0]
    enc.params["W"][...], enc.params["b"][...] = W, 0.1
    dec.params["W"][...], dec.params["b"][...] = W.T, -0.2
    x = np.random.default_rng(2).random((4, 5))
    np.testing.assert_allclose(tied(x), untied(x), atol=1e-12)
    g = np.random.default_rng(3).normal(size=(4, 5))
    np.testing.assert_allclose(tied.backprop(g), untied.backprop(g), atol=1e-12)
    np.testing.assert_allclose(tied.grads["W0"], enc.grads["W"] + dec.grads["W"].T, atol=1e-12)
    np.testing.assert_allclose(tied.grads["c0"], dec.grads["b"], atol=1e-12)


@pytest.mark.parametrize("kind", ["mask", "gaussian"])
@pytest.mark.parametrize("tied", [False, True])
def test_denoising_gradcheck_replays_the_noise(kind, tied):
    scratchnet.seed(0)
    if tied:
        ae = TiedAutoencoder([6, 4], corruption=kind, corruption_level=0.4, dtype=np.float64)
    else:
        ae = DenoisingAutoencoder([6, 4], corruption=kind, corruption_level=0.4, dtype=np.float64)
    x = np.random.default_rng(1).random((4, 6))
    assert_small(gradcheck(ae, x))
    if kind == "mask":  # the masked inputs get no gradient
        out = ae(x)
        dx = ae.backprop(np.ones_like(out))
        assert np.all(dx[ae.corrupt._mask == 0] == 0) and np.any(ae.corrupt._mask == 0)


# -- corruption -----------------------------------------------------------------------------------------
def test_corruption_only_in_training_mode():
    scratchnet.seed(0)
    dae = DenoisingAutoencoder([20, 5])
    x = np.random.default_rng(0).random((50, 20)).astype(np.float32)
    train_out = dae(x)
    assert not np.allclose(train_out, dae.reconstruct(x))
    dae.eval()
    np.testing.assert_allclose(dae(x), dae.reconstruct(x))
    layer = Corruption("mask", 0.3)
    y = layer(np.ones((200, 50)))
    assert abs((y == 0).mean() - 0.3) < 0.02
    g = Corruption("gaussian", 0.5)(np.zeros((200, 50)))
    assert abs(g.std() - 0.5) < 0.02
    np.testing.assert_array_equal(layer.eval()(np.ones((2, 3))), np.ones((2, 3)))


def test_corruption_is_seeded():
    def draw(seed):
        scratchnet.seed(seed)
        return DenoisingAutoencoder([8, 3])(np.ones((4, 8)))

    np.testing.assert_array_equal(draw(5), draw(5))
    assert not np.array_equal(draw(5), draw(6))


# -- training with the library's losses and optimizers ------------------------------------------------
@pytest.mark.parametrize(
    "make, loss",
    [
        (lambda: Autoencoder([16, 8, 3]), MeanSquaredError()),
        (lambda: Autoencoder([16, 8, 3]), BinaryCrossEntropy()),
        (lambda: TiedAutoencoder([16, 8, 3]), MeanSquaredError()),
        (lambda: DenoisingAutoencoder([16, 8, 3], corruption_level=0.2), BinaryCrossEntropy()),
    ],
)
def test_training_reduces_reconstruction_loss(make, loss):
    scratchnet.seed(0)
    model = make()
    x = low_rank_data()
    trainer = Trainer(model, loss, Adam(model, lr=0.01), metrics=())
    before = trainer.evaluate(x, x)["loss"]
    history = trainer.fit(x, x, epochs=30, batch_size=32, seed=0, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    after = trainer.evaluate(x, x)["loss"]
    if isinstance(loss, MeanSquaredError):
        assert after < 0.5 * before
    else:
        assert after < before - 0.01


def test_api_shapes_names_and_dtypes():
    scratchnet.seed(0)
    ae = Autoencoder([784, 256, 128])
    # the course's 784-256-128-256-784 network
    assert ae.decoder_sizes == [128, 256, 784]
    n_params = sum(r.value.size for r in ae.parameters())
    assert n_params == (784 * 256 + 256) + (256 * 128 + 128) + (128 * 256 + 256) + (256 * 784 + 784)
    x = np.random.default_rng(0).random((5, 784)).astype(np.float32)
    assert ae.encode(x).shape == (5, 128) and ae.decode(ae.encode(x)).shape == (5, 784)
    assert ae(x).dtype == np.float32 and np.all((ae(x) > 0) & (ae(x) < 1))
    assert "784" in repr(ae)
    tied = TiedAutoencoder([10, 4, 2], code_activation="linear").astype(np.float64)
    assert tied.encode(np.ones((3, 10))).dtype == np.float64
    assert tied.decode(np.zeros((3, 2))).shape == (3, 10)
    assert sum(r.value.size for r in tied.parameters()) == (10 * 4 + 4 + 10) + (4 * 2 + 2 + 4)
    np.testing.assert_allclose(tied.reconstruct(np.ones((1, 10))), tied(np.ones((1, 10))))


def test_bad_input():
    ae = Autoencoder([6, 3])
    with pytest.raises(ValueError, match=r"Autoencoder.*last dimension 6"):
        ae(np.ones((2, 5)))
    with pytest.raises(ValueError, match="codes"):
        ae.decode(np.ones((2, 4)))
    with pytest.raises(ValueError, match="2-D"):
        TiedAutoencoder([6, 3])(np.ones(6))
    with pytest.raises(TypeError, match="TiedAutoencoder"):
        TiedAutoencoder([6, 3])(np.array([["x"] * 6]))
    with pytest.raises(ValueError, match="decoder_sizes"):
        Autoencoder([6, 3], decoder_sizes=[3, 5])
    with pytest.raises(ValueError, match="sizes"):
        TiedAutoencoder([6])
    with pytest.raises(ValueError, match="positive ints"):
        Autoencoder([6, 0])
    with pytest.raises(ValueError, match="unknown activation"):
        make_activation("swishy")
    with pytest.raises(ValueError, match="kind"):
        Corruption("salt", 0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Corruption("mask", 1.0)
    with pytest.raises(RuntimeError):
        TiedAutoencoder([6, 3]).backprop(np.ones((1, 6)))


# -- PCA ----------------------------------------------------------------------------------------------------
def test_pca_matches_covariance_eigenvectors():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    model = PCA(3).fit(x)
    comps = model.components_
    np.testing.assert_allclose(comps @ comps.T, np.eye(3), atol=1e-10)
    evals, evecs = np.linalg.eigh(np.cov(x, rowvar=False))
    order = np.argsort(evals)[::-1][:3]
    np.testing.assert_allclose(model.explained_variance_, evals[order], rtol=1e-8)
    np.testing.assert_allclose(np.abs(comps @ evecs[:, order]), np.eye(3), atol=1e-8)
    # the rank-3 reconstruction error is the variance left in the discarded directions
    rec = model.inverse_transform(model.transform(x))
    left = np.sort(evals)[:3].sum() * (len(x) - 1) / len(x)
    np.testing.assert_allclose(((x - rec) ** 2).sum(axis=1).mean(), left, rtol=1e-8)
    assert np.all(np.abs(comps).max(axis=1) == comps[np.arange(3), np.abs(comps).argmax(axis=1)])


def test_pca_codes_and_errors():
    x = low_rank_data(n=100, d=10)
    codes = pca(x, 2)
    assert codes.shape == (100, 2) and codes.dtype == np.float32
    np.testing.assert_allclose(codes.mean(axis=0), 0, atol=1e-5)
    assert codes[:, 0].var() >= codes[:, 1].var()
    with pytest.raises(ValueError, match="n_components"):
        PCA(0)
    with pytest.raises(ValueError, match="min"):
        PCA(20).fit(x)
    with pytest.raises(RuntimeError, match="fit"):
        PCA(2).transform(x)
    with pytest.raises(ValueError, match="columns"):
        PCA(2).fit(x).transform(x[:, :5])
