"""DBN: greedy pre-training is layer-wise RBM training, and the transfer into a Sequential classifier."""

import numpy as np
import pytest

import scratchnet
from scratchnet.gradcheck import gradcheck
from scratchnet.layers.activations import Sigmoid, Softmax
from scratchnet.layers.dense import Dense
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.model import Sequential
from scratchnet.optim import SGD
from scratchnet.training import Trainer
from scratchnet.unsupervised.dbn import DBN
from scratchnet.unsupervised.rbm import RBM


def labelled_bits(n=300, seed=0):
    """Three noisy binary prototypes of 16 bits; the label is the prototype."""
    rng = np.random.default_rng(seed)
    protos = (rng.random((3, 16)) < 0.5).astype(np.float32)
    y = rng.integers(0, 3, n)
    x = np.abs(protos[y] - (rng.random((n, 16)) < 0.1)).astype(np.float32)
    return x, y


def test_pretrain_is_greedy_layerwise_rbm_training():
    x, _ = labelled_bits()
    scratchnet.seed(0)
    dbn = DBN([16, 8, 4])
    seen = []
    histories = dbn.pretrain(
        x,
        epochs=[3, 2],
        batch_size=50,
        lr=0.5,
        callback=lambda i, epoch, rbm: seen.append((i, epoch, rbm.name)),
    )
    assert [len(h) for h in histories] == [3 * 6, 2 * 6]
    assert seen == [(0, 0, "rbm0"), (0, 1, "rbm0"), (0, 2, "rbm0"), (1, 0, "rbm1"), (1, 1, "rbm1")]
    # the same thing by hand: RBM 1 trained on RBM 0's hidden probabilities
    scratchnet.seed(0)
    r0, r1 = RBM(16, 8), RBM(8, 4)
    e0 = r0.fit(x, epochs=3, batch_size=50, lr=0.5)
    e1 = r1.fit(r0.transform(x), epochs=2, batch_size=50, lr=0.5)
    for mine, ref in ((dbn.rbms[0], r0), (dbn.rbms[1], r1)):
        for name in ("W", "vb", "hb"):
            np.testing.assert_array_equal(mine.params[name], ref.params[name])
    assert histories == [e0, e1]
    np.testing.assert_allclose(dbn.transform(x), r1.transform(r0.transform(x)))
    np.testing.assert_allclose(dbn.transform(x, n_layers=1), r0.transform(x))


def test_pretraining_lowers_first_rbm_error():
    x, _ = labelled_bits()
    scratchnet.seed(1)
    dbn = DBN([16, 12, 6])
    first = dbn.rbms[0].reconstruction_error(x)
    histories = dbn.pretrain(x, epochs=10, batch_size=20, lr=0.5)
    assert np.mean(histories[0][-15:]) < np.mean(histories[0][:15])
    assert dbn.rbms[0].reconstruction_error(x) < 0.6 * first


def test_to_sequential_copies_rbm_weights_and_fine_tunes():
    x, y = labelled_bits()
    scratchnet.seed(2)
    dbn = DBN([16, 10, 6])
    dbn.pretrain(x, epochs=5, batch_size=20, lr=0.5)
    net = dbn.to_sequential(3)
    assert isinstance(net, Sequential) and len(net) == 5
    assert [type(layer) for layer in net.layers] == [Dense, Sigmoid, Dense, Sigmoid, Dense]
    for dense, rbm in zip(net.layers[0:4:2], dbn.rbms):
        np.testing.assert_array_equal(dense.params["W"], rbm.params["W"])
        np.testing.assert_array_equal(dense.params["b"], rbm.params["hb"])
    assert net.layers[-1].params["W"].shape == (6, 3)
    # the hidden part of the network is the DBN's upward pass
    np.testing.assert_allclose(Sequential(net.layers[:4])(x), dbn.transform(x), atol=1e-6)
    before = dbn.rbms[0].params["W"].copy()
    trainer = Trainer(net, SoftmaxCrossEntropy(), SGD(net, lr=0.5, momentum=0.9))
    history = trainer.fit(x, y, epochs=15, batch_size=20, seed=0, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    assert trainer.evaluate(x, y)["accuracy"] > 0.95
    np.testing.assert_array_equal(dbn.rbms[0].params["W"], before)  # fine-tuning worked on copies


def test_to_sequential_options():
    scratchnet.seed(3)
    dbn = DBN([16, 8, 4]).astype(np.float64)
    fresh = dbn.to_sequential(2, pretrained=False, output_activation="softmax")
    assert isinstance(fresh.layers[-1], Softmax) and fresh.layers[0].params["W"].dtype == np.float64
    assert not np.allclose(fresh.layers[0].params["W"], dbn.rbms[0].params["W"])
    out = fresh(np.ones((3, 16)))
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="n_classes"):
        dbn.to_sequential(0)


def test_dbn_as_a_layer_gradcheck():
    scratchnet.seed(4)
    dbn = DBN([5, 4, 3], dtype=np.float64)
    for rbm in dbn.rbms:
        rbm.params["W"][...] = np.random.default_rng(0).normal(0, 0.5, rbm.params["W"].shape)
    errors = gradcheck(dbn, np.random.default_rng(1).random((3, 5)))
    assert {"x", "rbm0.W", "rbm0.hb", "rbm1.W", "rbm1.hb"} <= set(errors)
    assert all(e < 1e-6 for e in errors.values()), errors


def test_bad_input():
    with pytest.raises(ValueError, match="layer_sizes"):
        DBN([784])
    with pytest.raises(ValueError, match="positive ints"):
        DBN([784, 0])
    dbn = DBN([6, 3, 2])
    with pytest.raises(ValueError, match="last dimension 6"):
        dbn.pretrain(np.ones((4, 5)), epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        dbn.pretrain(np.ones((4, 6)), epochs=[1, 2, 3])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dbn.pretrain(np.full((4, 6), 3.0), epochs=1)
    with pytest.raises(ValueError, match="n_layers"):
        dbn.transform(np.ones((1, 6)), n_layers=3)
