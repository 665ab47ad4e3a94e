# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The fingerprint of an array's contents in one pass (see ``scratchnet/fast/fingerprint.py`` for the
definition and the twin). A sum modulo 2^64 is the same in any order, so it equals the twin's bit for bit.
It runs on the calling thread only: it is memory-bound, and an OpenMP team woken here keeps spinning for
milliseconds after it, taking a core from the OpenBLAS products the next layer runs (a GRU's per-step products
ran 20-300% slower behind it). Arrays that are not C-contiguous go to the twin (which copies them).
"""

import numpy as np

from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

from scratchnet.fast import fingerprint as twin

__all__ = ["fingerprint"]

cdef extern from "fingerprint.h":
    uint64_t sn_fingerprint_words(const uint32_t* w, uint64_t first, Py_ssize_t n) noexcept nogil


cdef uint64_t _fingerprint(const uint8_t* data, Py_ssize_t nbytes) noexcept nogil:
    cdef Py_ssize_t words = nbytes // 4
    cdef uint64_t total = sn_fingerprint_words(<const uint32_t*>data, 0, words)
    cdef uint32_t last = 0
    if nbytes % 4:  # the tail, zero-padded to a word
        memcpy(&last, data + words * 4, nbytes % 4)
        total += sn_fingerprint_words(&last, words, 1)
    return total


def fingerprint(a):
    """The fingerprint of ``a``'s contents (any dtype and layout; C order), as a Python int."""
    if not isinstance(a, np.ndarray) or not a.flags.c_contiguous:
        return twin.fingerprint(a)
    cdef const uint8_t[::1] raw = a.reshape(-1).view(np.uint8)
    cdef Py_ssize_t nbytes = raw.shape[0]
    if nbytes == 0:
        return 0
    cdef uint64_t h
    with nogil:
        h = _fingerprint(&raw[0], nbytes)
    return int(h)
