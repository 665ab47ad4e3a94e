"""scratchnet.generate (scratchnet/sampling.py): reproducible from the seed, respects top-k and temperature,
draws from softmax(logits / T), runs an LSTM model step by step (the same tokens as running the whole
sequence), a transformer on a window of max_len, and refuses bad arguments clearly."""

from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers import (
    LSTM,
    Dense,
    Embedding,
    LayerNorm,
    PositionalEmbedding,
    TimeDistributed,
    TransformerBlock,
)

V = 7


class TableModel:
    """A callable 'model': the logits at each position are a fixed random row chosen by that position's token,
    so the next token's distribution depends on the last one only."""

    def __init__(self, seed: int = 0):
        self.table = np.random.default_rng(seed).standard_normal((V, V)) * 2

    def __call__(self, ids):
        return self.table[np.asarray(ids)]


def lstm_model(stateful: bool = True) -> sn.Sequential:
    sn.seed(0)
    return sn.Sequential([Embedding(V, 8), LSTM(8, 12, stateful=stateful), TimeDistributed(Dense(12, V))])


def transformer_model(max_len: int = 8) -> sn.Sequential:
    sn.seed(0)
    return sn.Sequential(
        [Embedding(V, 8), PositionalEmbedding(max_len, 8), TransformerBlock(8, 2), LayerNorm(8), Dense(8, V)]
    )


def test_the_same_seed_gives_the_same_tokens():
    model, prompt = TableModel(), np.array([[1, 2], [3, 4], [0, 0]])
    a = sn.generate(model, prompt, 20, seed=5)
    assert a.shape == (3, 22) and a.dtype == np.int64
    np.testing.assert_array_equal(a[:, :2], prompt)
    np.testing.assert_array_equal(sn.generate(model, prompt, 20, seed=5), a)
    assert not np.array_equal(sn.generate(model, prompt, 20, seed=6), a)
    # seed=None draws from scratchnet's seeded generator
    sn.seed(3)
    b = sn.generate(model, prompt, 20)
    sn.seed(3)
    np.testing.assert_array_equal(sn.generate(model, prompt, 20), b)
    # a Generator is used as given
    np.testing.assert_array_equal(sn.generate(model, prompt, 20, seed=np.random.default_rng(5)), a)


def test_a_1d_prompt_gives_a_1d_sequence():
    out = sn.generate(TableModel(), [2, 3, 1], 4, seed=0)
    assert out.shape == (7,) and list(out[:3]) == [2, 3, 1]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_every_token_drawn_is_among_the_top_k(k):
    model = TableModel(1)
    out = sn.generate(model, np.arange(V)[:, None].repeat(30, axis=0), 25, top_k=k, temperature=2.0, seed=1)
    prev, nxt = out[:, :-1].ravel(), out[:, 1:].ravel()
    top = np.argsort(-model.table, axis=1)[:, :k]  # the k most likely next tokens after each token
    assert all(t in top[p] for p, t in zip(prev, nxt))
    if k > 1:  # and the draw is not greedy: more than one of them occurs
        assert len({(p, t) for p, t in zip(prev, nxt)}) > V


def test_temperature_zero_and_top_1_are_greedy():
    model = TableModel(2)
    prompt = np.arange(V)[:, None]
    greedy = sn.generate(model, prompt, 6, temperature=0)
    np.testing.assert_array_equal(sn.generate(model, prompt, 6, top_k=1, seed=9), greedy)
    expected = [prompt[:, 0]]
    for _ in range(6):
        expected.append(model.table[expected[-1]].argmax(axis=1))
    np.testing.assert_array_equal(greedy, np.stack(expected, axis=1))


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_draws_follow_softmax_of_logits_over_temperature(temperature):
    model = TableModel(3)
    n = 20_000
    out = sn.generate(model, np.full((n, 1), 4), 1, temperature=temperature, seed=0)[:, 1]
    z = model.table[4] / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    freq = np.bincount(out, minlength=V) / n
    # binomial standard error at n = 20,000 is at most 0.0036: five of them
    np.testing.assert_allclose(freq, p, atol=0.018)


def test_an_lstm_runs_step_by_step_with_the_tokens_of_whole_sequence_runs():
    model = lstm_model(stateful=True)
    model.train()
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    lstm = model.layers[1]
    lstm(np.zeros((2, 3, 8), np.float32))  # a carried state, which generate must leave as it was
    carried = lstm._state[0].copy()
    fast = sn.generate(model, prompt, 12, seed=4)
    assert lstm.stateful and np.array_equal(lstm._state[0], carried)
    assert all(layer.training for _, layer in model.named_layers())

    whole = lstm_model(stateful=False)  # the same weights, run on the whole sequence at every step ...
    slow = sn.generate(lambda ids: whole(ids), prompt, 12, seed=4)  # ... (a callable: no step-by-step)
    np.testing.assert_array_equal(fast, slow)


def test_a_transformer_generates_past_its_max_len_on_a_window():
    model = transformer_model(max_len=8)
    prompt = np.array([[1, 2, 3]])
    out = sn.generate(model, prompt, 12, temperature=0)
    assert out.shape == (1, 15)
    # greedy by hand, on the last 8 tokens
    seq = prompt
    for _ in range(12):
        model.eval()
        logits = model(seq[:, -8:])
        seq = np.concatenate([seq, logits[:, -1].argmax(axis=1)[:, None]], axis=1)
    np.testing.assert_array_equal(out, seq)
    np.testing.assert_array_equal(
        sn.generate(model, prompt, 12, seed=1), sn.generate(model, prompt, 12, seed=1)
    )


def test_dropout_is_off_while_generating_and_the_mode_is_restored():
    sn.seed(0)
    model = sn.Sequential([Embedding(V, 8), TransformerBlock(8, 2, dropout=0.5), Dense(8, V)])
    model.train()
    a = sn.generate(model, [[1, 2]], 5, temperature=0)
    b = sn.generate(model, [[1, 2]], 5, temperature=0)
    np.testing.assert_array_equal(a, b)
    assert all(layer.training for _, layer in model.named_layers())


def _nan_model(ids):
    return np.full((*np.shape(ids), V), np.nan)


BAD = [
    (lambda: sn.generate("model", [[1]], 3), TypeError, "model must be a Layer or a callable"),
    (lambda: sn.generate(TableModel(), [[1.0]], 3), TypeError, "integer token ids"),
    (lambda: sn.generate(TableModel(), np.zeros((1, 0), int), 3), ValueError, "T >= 1"),
    (lambda: sn.generate(TableModel(), np.zeros((1, 2, 3), int), 3), ValueError, "(N, T) or (T,)"),
    (lambda: sn.generate(TableModel(), [[1, -2]], 3), ValueError, "non-negative token ids"),
    (lambda: sn.generate(TableModel(), [[1]], -1), ValueError, "steps"),
    (lambda: sn.generate(TableModel(), [[1]], 2.5), TypeError, "steps"),
    (lambda: sn.generate(TableModel(), [[1]], 3, temperature=-1), ValueError, "temperature"),
    (lambda: sn.generate(TableModel(), [[1]], 3, temperature=float("nan")), ValueError, "temperature"),
    (lambda: sn.generate(TableModel(), [[1]], 3, top_k=0), ValueError, "top_k"),
    (lambda: sn.generate(TableModel(), [[1]], 3, top_k=V + 1), ValueError, "at most the vocabulary size"),
    (lambda: sn.generate(TableModel(), [[1]], 3, seed="x"), TypeError, "seed"),
    (lambda: sn.generate(TableModel(), [[1]], 3, seed=-1), TypeError, "seed"),
    (lambda: sn.generate(lambda ids: np.zeros((1, V)), [[1]], 3), ValueError, "logits (N, T, V)"),
    (lambda: sn.generate(_nan_model, [[1]], 3), ValueError, "non-finite logits at step 0"),
    (lambda: sn.generate(transformer_model(), [[V]], 3), ValueError, "ids must lie in"),
]


@pytest.mark.parametrize("call,error,words", BAD, ids=[w for _, _, w in BAD])
def test_bad_arguments_are_refused_clearly(call, error, words):
    with pytest.raises(error, match=None) as info:
        call()
    assert words in str(info.value)
