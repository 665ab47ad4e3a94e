"""Token vocabularies and character-level text (Tiny Shakespeare or any text file).

A :class:`Vocabulary` numbers tokens by frequency, most frequent first, ties broken by the token itself, so the
ids do not depend on where a token first appears. For characters, ``load_text`` returns ``ids`` int64 ``(T,)``
with ``T = len(text)``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scratchnet.datasets._fetch import fetch
from scratchnet.datasets._parse import decode_text
from scratchnet.datasets.errors import DatasetFormatError


class Vocabulary:
    """Bidirectional token <-> id map. ``unk`` (if set and present) absorbs unknown tokens in ``encode``."""

    def __init__(self, tokens: Sequence[str], unk: str | None = None):
        if len(set(tokens)) != len(tokens):
            raise ValueError("Vocabulary: tokens must be unique")
        self.id_to_word: list[str] = list(tokens)
        self.word_to_id: dict[str, int] = {t: i for i, t in enumerate(self.id_to_word)}
        self.unk = unk if unk is not None and unk in self.word_to_id else None

    @classmethod
    def from_tokens(
        cls, tokens: Iterable[str], unk: str | None = None, extra: Sequence[str] = ()
    ) -> Vocabulary:
        """Frequency-ordered vocabulary of ``tokens`` (most frequent first, ties by token); ``extra`` appended."""
        counts = Counter(tokens)
        ordered = sorted(counts, key=lambda t: (-counts[t], t))
        ordered += [t for t in extra if t not in counts]
        return cls(ordered, unk=unk)

    def __len__(self) -> int:
        return len(self.id_to_word)

    def __contains__(self, token: str) -> bool:
        return token in self.word_to_id

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Token ids, int64. Unknown tokens map to ``unk``; without one they raise a KeyError naming the token."""
        ids = []
        unk_id = self.word_to_id[self.unk] if self.unk is not None else None
        for t in tokens:
            i = self.word_to_id.get(t, unk_id)
            if i is None:
                raise KeyError(f"token {t!r} is not in the vocabulary and it has no unknown token")
            ids.append(i)
        return np.asarray(ids, dtype=np.int64)

    def decode(self, ids: Iterable[int], sep: str = "") -> str:
        """Joins the tokens of ``ids`` with ``sep`` ("" for characters, " " for words).

        An id outside ``0..len(self)-1`` is an IndexError (a negative id would otherwise wrap around to the end).
        """
        size = len(self.id_to_word)
        words = []
        for i in ids:
            index = int(i)
            if not 0 <= index < size:
                raise IndexError(f"Vocabulary.decode: id {index} is outside 0..{size - 1}")
            words.append(self.id_to_word[index])
        return sep.join(words)

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self.id_to_word[:5])
        return f"Vocabulary(size={len(self)}, first=[{head}{', ...' if len(self) > 5 else ''}])"


@dataclass(repr=False)
class TextCorpus:
    """Character-level text: ``text``, its ``ids`` int64 ``(T,)`` under ``vocab``, and provenance.

    Unpacks as ``ids, vocab``. Its repr is a summary (``TextCorpus('tinyshakespeare', 1,115,394 characters,
    vocabulary 65, source='data_dir')``), not the text.
    """

    text: str
    ids: np.ndarray
    vocab: Vocabulary
    name: str
    source: str
    path: str | None = None

    def __iter__(self):
        yield self.ids
        yield self.vocab

    def __repr__(self) -> str:
        return (
            f"TextCorpus({self.name!r}, {len(self.text):,} characters, vocabulary {len(self.vocab):,}, "
            f"source={self.source!r})"
        )


_NAMED_TEXTS = {
    "tinyshakespeare": "tinyshakespeare/input.txt",
    "tiny_shakespeare": "tinyshakespeare/input.txt",
}


def read_text_file(path: str | os.PathLike, encoding: str = "utf-8") -> str:
    """The text of a file with newlines normalised to ``\\n`` (as ``open()`` does); bytes that are not valid
    ``encoding`` are a :class:`DatasetFormatError` naming the file and the offset."""
    text = decode_text(Path(path).read_bytes(), str(path), encoding)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def char_corpus(text: str, name: str = "text", source: str = "memory", path: str | None = None) -> TextCorpus:
    """Builds the frequency-ordered character vocabulary of ``text`` and encodes it."""
    if not text:
        raise DatasetFormatError(name, "some text", "an empty text")
    vocab = Vocabulary.from_tokens(text)
    return TextCorpus(text, vocab.encode(text), vocab, name, source, path)


def load_text(
    path_or_name: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
    encoding: str = "utf-8",
) -> TextCorpus:
    """A text file (an existing path) or a registered text by name ("tinyshakespeare"), at character level.

    Returns a :class:`TextCorpus`: ``text`` str of T characters (newlines normalised to ``\\n``), ``ids`` int64
    ``(T,)`` in ``0..len(vocab)-1``, ``vocab`` the frequency-ordered character :class:`Vocabulary`; it unpacks
    as ``ids, vocab``.
    """
    p = Path(path_or_name)
    if p.is_file():
        return char_corpus(read_text_file(p, encoding), p.stem, "file", str(p))
    key = str(path_or_name)
    if key not in _NAMED_TEXTS:
        raise FileNotFoundError(
            f"load_text: {key!r} is neither a file nor a known text ({sorted(_NAMED_TEXTS)})"
        )
    res = fetch(_NAMED_TEXTS[key], data_dir, download)
    return char_corpus(read_text_file(res.path, encoding), key, res.source, str(res.path))


def load_tiny_shakespeare(
    data_dir: str | os.PathLike | None = None, download: bool | None = None
) -> TextCorpus:
    """Karpathy's Tiny Shakespeare: a :class:`TextCorpus` (as :func:`load_text`) with ``ids`` int64
    ``(1115394,)`` over a vocabulary of 65 characters."""
    return load_text("tinyshakespeare", data_dir, download)
