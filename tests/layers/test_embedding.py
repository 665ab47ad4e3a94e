"""Embedding (scratchnet/layers/embedding.py): gradient check (float64) and scatter-add, PyTorch parity
(float32), errors."""

import numpy as np
import pytest
from layer_checks import (
    argument_ids,
    assert_refused_clearly,
    assert_small,
    close,
    import_torch,
    make_recurrent,
)

from scratchnet.gradcheck import gradcheck
from scratchnet.layers.dense import Dense
from scratchnet.layers.embedding import Embedding
from scratchnet.layers.recurrent import LSTM
from scratchnet.layers.time_distributed import TimeDistributed
from scratchnet.model import Sequential


# -- gradient checks -------------------------------------------------------------------------------------------
def test_embedding_gradcheck_and_scatter_add():
    rng = np.random.default_rng(12)
    emb = Embedding(6, 3, rng=rng)
    ids = np.array([[1, 4, 1], [0, 1, 5]])
    errs = gradcheck(emb, ids)
    assert set(errs) == {"W"}
    assert_small(errs)
    out = emb(ids)
    assert out.shape == (2, 3, 3) and out.dtype == np.float32
    dout = rng.standard_normal(out.shape).astype(np.float32)
    assert emb.backprop(dout) is None
    np.testing.assert_allclose(emb.grads["W"][1], dout[0, 0] + dout[0, 2] + dout[1, 1], rtol=1e-6)
    assert np.all(emb.grads["W"][[2, 3]] == 0)
    assert emb(np.array([2, 3])).shape == (2, 3)


def test_embedding_into_lstm_model():
    """Embedding -> LSTM -> TimeDistributed(Dense): the token model of the language-model chapters."""
    rng = np.random.default_rng(14)
    model = Sequential(
        [Embedding(7, 3, rng=rng), make_recurrent(LSTM, 3, 4), TimeDistributed(Dense(4, 7, rng=rng))]
    )
    ids = rng.integers(0, 7, size=(2, 5))
    errs = gradcheck(model, ids)
    assert "0.W" in errs and "1.Wh" in errs
    assert_small(errs)


# -- PyTorch parity (float32) ----------------------------------------------------------------------------------
def test_embedding_torch_parity():
    torch = import_torch()
    rng = np.random.default_rng(13)
    emb = Embedding(10, 4, rng=rng)
    ref = torch.nn.Embedding(10, 4)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(emb.params["W"]))
    ids = rng.integers(0, 10, size=(3, 7))
    dout = rng.standard_normal((3, 7, 4)).astype(np.float32)
    out_t = ref(torch.tensor(ids))
    out_t.backward(torch.tensor(dout))
    close(emb(ids), out_t, "out")
    emb.backprop(dout)
    close(emb.grads["W"], ref.weight.grad, "dW")


# -- errors ----------------------------------------------------------------------------------------------------
def test_embedding_bad_input():
    emb = Embedding(5, 2)
    with pytest.raises(TypeError, match="integer"):
        emb(np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        emb(np.array([[0, 5]]))
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        emb(np.array([[-1, 2]]))
    with pytest.raises(ValueError, match="Embedding"):
        emb(np.zeros((2, 2, 2), np.int64))
    with pytest.raises(ValueError):
        Embedding(0, 3)


# (constructor call, exception, words the message must contain: the owner, the argument, the value given)
BAD_ARGUMENTS = [
    (lambda: Embedding(True, 3), TypeError, ["Embedding", "num_embeddings", "True"]),
    (lambda: Embedding(10, 2.5), TypeError, ["Embedding", "dim", "2.5"]),
    (lambda: Embedding(5, 2, rng=np.random.RandomState(0)), TypeError, ["Embedding", "rng", "RandomState"]),
    (
        lambda: Embedding(5, 2, weight_init=lambda shape, **kw: None),
        ValueError,
        ["Embedding", "W", "NoneType"],
    ),
]


@pytest.mark.parametrize("construct,error,words", BAD_ARGUMENTS, ids=argument_ids(BAD_ARGUMENTS))
def test_bad_constructor_argument_is_refused_with_a_clear_message(construct, error, words):
    assert_refused_clearly(construct, error, words)
