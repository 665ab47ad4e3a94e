r"""A fingerprint of an array's contents: the NumPy twin of ``pyx/fingerprint.pyx``.

The layer base class fingerprints what a forward received and returned and checks them again at backward,
so an array changed in place between the two raises instead of silently giving wrong gradients (NumPy
arrays have no version counter, as PyTorch's tensors do).

The array's bytes are read as 32-bit words :math:`w_i` (the last one zero-padded), each word is paired
with its index and mixed by MurmurHash3's 64-bit finaliser :math:`\mu` (a bijection), and the results are
summed modulo :math:`2^{64}`:

.. math::
    h = \sum_i \mu\left(w_i + 2^{32} (i \bmod 2^{32})\right) \bmod 2^{64}

Changing one word changes exactly one term, to a different value, so it always changes :math:`h`; swapping
two words changes their indices' terms. A sum is the same in any order, so the compiled kernel's threads
give the same bits as this twin at any thread count.
"""

from __future__ import annotations

from typing import Any

from scratchnet.backend import get_array_module

__all__ = ["fingerprint"]

_M1 = 0xFF51AFD7ED558CCD
_M2 = 0xC4CEB9FE1A85EC53


def _words(a: Any, xp: Any) -> Any:
    """The array's bytes in C order as uint32 words, the last one zero-padded."""
    raw = xp.ascontiguousarray(a).reshape(-1).view(xp.uint8)
    pad = -raw.size % 4
    if pad:
        raw = xp.concatenate([raw, xp.zeros(pad, dtype=xp.uint8)])
    return raw.view(xp.uint32)


def fingerprint(a: Any) -> int:
    """The fingerprint of ``a``'s contents (any dtype and layout; C order), as a Python int."""
    xp = get_array_module(a)
    words = _words(a, xp)
    index = xp.arange(words.size, dtype=xp.uint64) & xp.uint64(0xFFFFFFFF)
    h = words.astype(xp.uint64) | (index << xp.uint64(32))
    h ^= h >> xp.uint64(33)
    h *= xp.uint64(_M1)
    h ^= h >> xp.uint64(33)
    h *= xp.uint64(_M2)
    h ^= h >> xp.uint64(33)
    return int(h.sum(dtype=xp.uint64))
