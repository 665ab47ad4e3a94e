"""scratchnet.datasets.ptb: the Penn Treebank splits and the vocabulary built from them."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from dataset_files import ptb_dir, register

from scratchnet.datasets.ptb import WordCorpus, load_ptb
from scratchnet.datasets.text import Vocabulary


def test_ptb_vocab_from_train(tmp_path, monkeypatch):
    data = ptb_dir(tmp_path, monkeypatch)
    train = load_ptb("train", data_dir=data)
    v = train.vocab
    # the: 3; <eos>, sat: 2 (tie broken by token); then the singletons; <unk> appended as it never occurs
    assert v.id_to_word == ["the", "<eos>", "sat", "cat", "dog", "mat", "on", "<unk>"]
    assert train.vocab_from == "train"
    assert train.ids.tolist() == v.encode("the cat sat on the mat <eos> the dog sat <eos>".split()).tolist()
    test = load_ptb("test", data_dir=data)
    assert test.vocab_from == "train" and test.vocab.id_to_word == v.id_to_word
    unk = v.word_to_id["<unk>"]
    assert test.ids.tolist() == [unk, v.word_to_id["cat"], unk, v.word_to_id["<eos>"]]
    with pytest.raises(ValueError, match="split"):
        load_ptb("dev", data_dir=data)


def test_ptb_without_train_builds_vocab_from_split(tmp_path, monkeypatch, caplog):
    data = ptb_dir(tmp_path, monkeypatch, with_train=False)
    register(monkeypatch, "ptb/ptb.train.txt", None)
    with caplog.at_level(logging.WARNING, logger="scratchnet.datasets"):
        ids, vocab = load_ptb("valid", data_dir=data)
    assert "ptb.train.txt is not available" in caplog.text
    assert vocab.decode(ids, sep=" ") == "the cat sat <eos> the dog <unk> <eos>"
    test = load_ptb("test", vocab=vocab, data_dir=data)
    assert test.vocab_from == "given" and test.ids[0] == vocab.word_to_id["<unk>"]
    with pytest.raises(ValueError, match="<unk>"):
        load_ptb("test", vocab=Vocabulary(["a"]), data_dir=data)


def test_word_corpus_repr_is_a_summary(tmp_path, monkeypatch):
    data = ptb_dir(tmp_path, monkeypatch)
    train = load_ptb("train", data_dir=data)
    assert repr(train) == "WordCorpus('train', 11 tokens, vocabulary 8 from 'train', source='data_dir')"
    big = WordCorpus(np.zeros(2_000_000, np.int64), train.vocab, "train", "file", "train")
    assert repr(big) == "WordCorpus('train', 2,000,000 tokens, vocabulary 8 from 'train', source='file')"
