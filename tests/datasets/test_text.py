"""scratchnet.datasets.text: character corpora and the Vocabulary."""

from __future__ import annotations

import numpy as np
import pytest
from dataset_files import ptb_dir, register

from scratchnet.datasets.errors import DatasetFormatError
from scratchnet.datasets.ptb import load_ptb
from scratchnet.datasets.text import Vocabulary, load_text


def test_char_vocabulary_frequency_order_and_roundtrip(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("abracadabra!")
    corpus = load_text(path)
    # a:5, b:2, r:2, then c, d, ! once each -> ties broken by character
    assert corpus.vocab.id_to_word == ["a", "b", "r", "!", "c", "d"]
    assert corpus.source == "file" and corpus.ids.dtype == np.int64 and corpus.ids.shape == (12,)
    assert corpus.vocab.decode(corpus.ids) == "abracadabra!"
    with pytest.raises(FileNotFoundError, match="neither a file"):
        load_text(tmp_path / "missing.txt")
    with pytest.raises(KeyError, match="'z'"):
        corpus.vocab.encode("z")


def test_text_with_bytes_that_are_not_utf8_is_a_format_error(tmp_path, monkeypatch):
    data = ptb_dir(tmp_path, monkeypatch)
    bad = data / "ptb" / "ptb.valid.txt"
    bad.write_bytes(b" the cat \n the \xff\xfe dog \n")
    register(monkeypatch, "ptb/ptb.valid.txt", bad)
    with pytest.raises(
        DatasetFormatError, match=r"ptb.valid.txt: expected utf-8 text, found .* at offset 15"
    ):
        load_ptb("valid", data_dir=data)
    with pytest.raises(DatasetFormatError, match="offset 15"):
        load_text(bad)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DatasetFormatError, match="empty"):
        load_text(tmp_path / "empty.txt")
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(b"ab\r\ncd\re")
    assert load_text(crlf).text == "ab\ncd\ne"  # newlines normalised as open() would


def test_vocabulary_decode_refuses_ids_out_of_range():
    vocab = Vocabulary(["a", "b", "c"])
    assert vocab.decode([2, 0, np.int64(1)]) == "cab"
    for bad in (-1, 3):
        with pytest.raises(IndexError, match=f"id {bad} is outside 0..2"):
            vocab.decode([0, bad])


def test_text_corpus_repr_is_a_summary_not_the_text(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("to be or not\n" * 100_000)  # 1.3 M characters
    corpus = load_text(path)
    assert repr(corpus) == "TextCorpus('big', 1,300,000 characters, vocabulary 8, source='file')"
    assert str(corpus) == repr(corpus) and f"{corpus}" == repr(corpus)
    ids, vocab = corpus  # still unpacks
    assert ids.shape == (1_300_000,) and ids.dtype == np.int64 and len(vocab) == 8
    assert repr(vocab).startswith("Vocabulary(size=8, first=[") and len(repr(vocab)) < 80
