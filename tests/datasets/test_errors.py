"""scratchnet.datasets.errors: one error class for malformed files, saying file, expected and found."""

from __future__ import annotations

import pickle

from scratchnet.datasets.cifar import UnsafeArchiveError
from scratchnet.datasets.errors import DatasetFormatError
from scratchnet.datasets.idx import IDXFormatError


def test_format_errors_are_one_class_and_say_file_expected_found():
    for cls in (IDXFormatError, UnsafeArchiveError):
        assert issubclass(cls, DatasetFormatError) and issubclass(cls, ValueError)
    err = IDXFormatError("a/b.gz", "3 dimensions", "the header says 1")
    assert str(err) == "a/b.gz: expected 3 dimensions, found the header says 1"
    assert (err.file, err.expected, err.found) == ("a/b.gz", "3 dimensions", "the header says 1")
    back = pickle.loads(pickle.dumps(err))  # e.g. raised in a worker process
    assert type(back) is IDXFormatError and str(back) == str(err)
