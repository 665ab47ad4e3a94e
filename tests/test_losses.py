import numpy as np
import pytest

import scratchnet as sn
from scratchnet.losses import BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy


@pytest.mark.parametrize("n,c", [(1, 2), (4, 3), (7, 10)])
def test_softmax_cross_entropy_gradcheck(n, c, rng):
    logits = rng.standard_normal((n, c)) * 3
    labels = rng.integers(0, c, n)
    assert sn.gradcheck(SoftmaxCrossEntropy(), logits, target=labels)["x"] < 1e-6
    soft = rng.dirichlet(np.ones(c), n)
    assert sn.gradcheck(SoftmaxCrossEntropy(), logits, target=soft)["x"] < 1e-6


@pytest.mark.parametrize("from_logits", [False, True])
def test_bce_gradcheck(from_logits, rng):
    z = rng.standard_normal((5, 2))
    pred = z if from_logits else 1 / (1 + np.exp(-z))
    target = rng.integers(0, 2, (5, 2)).astype(float)
    assert sn.gradcheck(BinaryCrossEntropy(from_logits=from_logits), pred, target=target)["x"] < 1e-6


def test_mse_gradcheck_and_value(rng):
    pred, target = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    assert MeanSquaredError().forward(pred, target) == pytest.approx(((pred - target) ** 2).mean())
    assert sn.gradcheck(MeanSquaredError(), pred, target=target)["x"] < 1e-6


def test_softmax_cross_entropy_is_stable():
    loss = SoftmaxCrossEntropy()
    value = loss.forward(np.array([[1e4, 0.0, -1e4]], dtype=np.float32), np.array([1]))
    assert value == pytest.approx(1e4, rel=1e-6)
    grad = loss.backward()
    assert np.isfinite(grad).all()
    np.testing.assert_allclose(grad, [[1, -1, 0]], atol=1e-6)


def test_bce_from_logits_is_stable():
    loss = BinaryCrossEntropy(from_logits=True)
    value = loss.forward(np.array([[800.0], [-800.0]]), np.array([[0.0], [1.0]]))
    assert value == pytest.approx(800.0)
    assert np.isfinite(loss.backward()).all()


def test_bce_accepts_label_vector_for_single_output():
    loss = BinaryCrossEntropy()
    a = loss.forward(np.array([[0.9], [0.2]]), np.array([1, 0]))
    b = loss.forward(np.array([[0.9], [0.2]]), np.array([[1.0], [0.0]]))
    assert a == b == pytest.approx(-(np.log(0.9) + np.log(0.8)) / 2)


def test_loss_errors():
    loss = SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        loss.forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="3 labels for a batch of 2"):
        loss.forward(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="integers"):
        loss.forward(np.zeros((2, 3)), np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        loss.forward(np.zeros(3), np.array([0]))
    with pytest.raises(RuntimeError, match="before forward"):
        MeanSquaredError().backward()
    with pytest.raises(ValueError, match="does not match"):
        MeanSquaredError().forward(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(TypeError):
        MeanSquaredError().forward(np.array(["a"]), np.array(["b"]))
