"""The one exception every dataset parser raises for bad content: :class:`DatasetFormatError`.

A parser never lets a decoder's own exception (``UnicodeDecodeError``, ``EOFError``, ``zlib.error``,
``BadZipFile``, ``tarfile.ReadError``, ``OverflowError``, ...) escape: it names the file, what it expected and what
it found. Format-specific subclasses (``IDXFormatError``, ``UnsafeArchiveError``) keep older ``except`` clauses
working; the base class is a ``ValueError`` for the same reason.
"""

from __future__ import annotations

import os


class DatasetFormatError(ValueError):
    """A data file's content is not what its format promises.

    ``file`` names the file (or member, or ``"<memory>"``), ``expected`` what the format requires and ``found``
    what is there instead; ``str(err)`` reads ``"<file>: expected <expected>, found <found>"``.
    """

    def __init__(self, file: str | os.PathLike, expected: str, found: str):
        self.file, self.expected, self.found = str(file), expected, found
        super().__init__(f"{self.file}: expected {expected}, found {found}")

    def __reduce__(self):
        # the default reduce passes only the message back to __init__, which takes three arguments
        return type(self), (self.file, self.expected, self.found)


def describe(err: BaseException) -> str:
    """``"TypeName: message"`` of a decoder's exception, for the ``found`` part of a DatasetFormatError."""
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
