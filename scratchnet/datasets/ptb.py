"""Penn Treebank, word level (Mikolov's preprocessed text: 10k words, rare ones already ``<unk>``).

Each line is a sentence; words are split on whitespace and ``<eos>`` is appended at every line end, so the corpus
is one long id sequence int64 ``(T,)``.

Which vocabulary: ``vocab=`` if given; else the one built from the training split when ``ptb.train.txt`` can be
had; else (offline, only valid/test at hand) from the split being loaded, with a warning. To give several
splits the same ids in that case, pass the first result's vocabulary: ``load_ptb("test", vocab=valid.vocab)``
(words it lacks become ``<unk>``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from scratchnet.datasets._fetch import DatasetNotFoundError, fetch
from scratchnet.datasets.text import Vocabulary, read_text_file

logger = logging.getLogger("scratchnet.datasets")

SPLITS = ("train", "valid", "test")
UNK, EOS = "<unk>", "<eos>"


@dataclass(repr=False)
class WordCorpus:
    """``ids`` int64 (T,), the ``vocab`` they refer to, where it came from (``vocab_from``) and provenance.

    Unpacks as ``ids, vocab``. Its repr is a summary (``WordCorpus('train', 929,589 tokens, vocabulary 10,000
    from 'train', source='data_dir')``), not the ids.
    """

    ids: np.ndarray
    vocab: Vocabulary
    split: str
    source: str
    vocab_from: str
    path: str | None = None

    def __iter__(self):
        yield self.ids
        yield self.vocab

    def __repr__(self) -> str:
        return (
            f"WordCorpus({self.split!r}, {self.ids.shape[0]:,} tokens, vocabulary {len(self.vocab):,} from "
            f"{self.vocab_from!r}, source={self.source!r})"
        )


def tokenize(text: str) -> list[str]:
    """Words of every line followed by ``<eos>``."""
    words: list[str] = []
    for line in text.splitlines():
        words.extend(line.split())
        words.append(EOS)
    return words


def build_vocab(words: list[str]) -> Vocabulary:
    """Frequency-ordered word vocabulary; ``<unk>`` and ``<eos>`` are always present."""
    return Vocabulary.from_tokens(words, unk=UNK, extra=(UNK, EOS))


def _read(split: str, data_dir, download) -> tuple[list[str], str, str]:
    res = fetch(f"ptb/ptb.{split}.txt", data_dir, download)
    return tokenize(read_text_file(res.path)), res.source, str(res.path)


def load_ptb(
    split: str = "train",
    vocab: Vocabulary | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
) -> WordCorpus:
    """Word ids of a PTB ``split`` ("train", "valid" or "test") and the vocabulary they use (see module doc).

    Returns a :class:`WordCorpus` (unpacks as ``ids, vocab``): ``ids`` int64 ``(T,)``, one id per word and per
    line end (``<eos>``), in ``0..len(vocab)-1`` (T = 929,589 / 73,760 / 82,430 for train / valid / test);
    ``vocab`` a :class:`Vocabulary` with ``<unk>`` and ``<eos>`` (10,000 words when built from train).
    """
    if split not in SPLITS:
        raise ValueError(f"load_ptb: split must be one of {SPLITS}, got {split!r}")
    words, source, path = _read(split, data_dir, download)
    vocab_from = "given"
    if vocab is None:
        if split == "train":
            vocab, vocab_from = build_vocab(words), "train"
        else:
            try:
                train_words, _, _ = _read("train", data_dir, download)
                vocab, vocab_from = build_vocab(train_words), "train"
            except DatasetNotFoundError:
                logger.warning(
                    "ptb.train.txt is not available; building the vocabulary from the %s split", split
                )
                vocab, vocab_from = build_vocab(words), split
    if vocab.unk is None:
        raise ValueError("load_ptb: the vocabulary must contain '<unk>'")
    return WordCorpus(vocab.encode(words), vocab, split, source, vocab_from, path)
