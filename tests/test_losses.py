"""The losses (scratchnet/losses.py): gradient checks (float64), values, stability, PyTorch parity of the
sequence loss, errors. The other losses' PyTorch parity is in test_torch_parity.py."""

import numpy as np
import pytest
from layer_checks import assert_small, close, import_torch

import scratchnet as sn
from scratchnet.gradcheck import gradcheck
from scratchnet.losses import BinaryCrossEntropy, MeanSquaredError, SequenceCrossEntropy, SoftmaxCrossEntropy


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
    assert MeanSquaredError()(pred, target) == pytest.approx(((pred - target) ** 2).mean())
    assert sn.gradcheck(MeanSquaredError(), pred, target=target)["x"] < 1e-6


def test_softmax_cross_entropy_is_stable():
    loss = SoftmaxCrossEntropy()
    value = loss(np.array([[1e4, 0.0, -1e4]], dtype=np.float32), np.array([1]))
    assert value == pytest.approx(1e4, rel=1e-6)
    grad = loss.backward()
    assert np.isfinite(grad).all()
    np.testing.assert_allclose(grad, [[1, -1, 0]], atol=1e-6)


def test_bce_from_logits_is_stable():
    loss = BinaryCrossEntropy(from_logits=True)
    value = loss(np.array([[800.0], [-800.0]]), np.array([[0.0], [1.0]]))
    assert value == pytest.approx(800.0)
    assert np.isfinite(loss.backward()).all()


def test_bce_accepts_label_vector_for_single_output():
    loss = BinaryCrossEntropy()
    a = loss(np.array([[0.9], [0.2]]), np.array([1, 0]))
    b = loss(np.array([[0.9], [0.2]]), np.array([[1.0], [0.0]]))
    assert a == b == pytest.approx(-(np.log(0.9) + np.log(0.8)) / 2)


def test_loss_errors():
    loss = SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        loss(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="3 labels for a batch of 2"):
        loss(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="integers"):
        loss(np.zeros((2, 3)), np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        loss(np.zeros(3), np.array([0]))
    with pytest.raises(RuntimeError, match="before forward"):
        MeanSquaredError().backward()
    with pytest.raises(ValueError, match="does not match"):
        MeanSquaredError()(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(TypeError):
        MeanSquaredError()(np.array(["a"]), np.array(["b"]))


# -- sequence loss ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "logits,expected",
    [([[0, 1]] * 3, 0.313262), ([[1, 0]] * 3, 1.31326), ([[0, 1], [1, 0], [0, 1]], 0.646595)],
)
def test_sequence_loss_course_numbers(logits, expected):
    """The values the course prints for tf.contrib.seq2seq.sequence_loss with targets [[1, 1, 1]]."""
    loss = SequenceCrossEntropy()
    value = loss(np.array([logits], np.float32), np.array([[1, 1, 1]]))
    places = len(str(expected).split(".")[1])  # the course prints six significant digits
    assert round(value, places) == expected
    assert value == pytest.approx(
        loss(np.array([logits], np.float32), np.array([[1, 1, 1]]), np.ones((1, 3)))
    )


@pytest.mark.parametrize("across_t,across_b", [(True, True), (False, True), (True, False), (False, False)])
def test_sequence_loss_gradcheck(across_t, across_b):
    rng = np.random.default_rng(15)
    z = rng.standard_normal((3, 4, 5))
    y = rng.integers(0, 5, size=(3, 4))
    w = rng.uniform(0, 1, size=(3, 4))
    loss = SequenceCrossEntropy(across_t, across_b)
    assert_small(gradcheck(loss, z, target=y))

    def f(zz):
        return np.array(loss(zz, y, w))

    assert_small(gradcheck(f, z, backward=lambda g: loss.backward() * g, dout=np.ones(())))


def test_sequence_loss_torch_parity_and_masking():
    torch = import_torch()
    rng = np.random.default_rng(16)
    z = (3 * rng.standard_normal((4, 6, 9))).astype(np.float32)
    y = rng.integers(0, 9, size=(4, 6))
    w = (rng.uniform(size=(4, 6)) > 0.3).astype(np.float32)
    zt = torch.tensor(z, requires_grad=True)
    ce = torch.nn.functional.cross_entropy(zt.reshape(-1, 9), torch.tensor(y).reshape(-1), reduction="none")
    ref = (ce * torch.tensor(w).reshape(-1)).sum() / torch.tensor(w).sum()
    ref.backward()
    loss = SequenceCrossEntropy()
    assert loss(z, y, w) == pytest.approx(ref.item(), rel=1e-5)
    grad = loss.backward()
    assert grad.dtype == np.float32
    close(grad, zt.grad, "dlogits")
    assert np.all(grad[w == 0] == 0)
    # huge logits stay finite
    assert np.isfinite(loss(np.full((1, 2, 3), 1e4, np.float32), np.zeros((1, 2), np.int64)))


def test_sequence_loss_bad_input():
    loss = SequenceCrossEntropy()
    with pytest.raises(ValueError, match=r"\(N, T, C\)"):
        loss(np.zeros((2, 3)), np.zeros((2,), np.int64))
    with pytest.raises(ValueError, match="targets"):
        loss(np.zeros((2, 3, 4)), np.zeros((2, 2), np.int64))
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        loss(np.zeros((2, 3, 4)), np.full((2, 3), 4))
    with pytest.raises(TypeError, match="integer"):
        loss(np.zeros((2, 3, 4)), np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="weights"):
        loss(np.zeros((2, 3, 4)), np.zeros((2, 3), np.int64), np.ones((3, 2)))
    with pytest.raises(RuntimeError):
        SequenceCrossEntropy().backward()
