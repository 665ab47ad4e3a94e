"""One seeded source of randomness for the whole library.

``seed(s)`` resets it; layers created afterwards draw their initial weights, and stochastic layers their
private generators, from it, so the same seed gives a bit-identical run.
"""

from __future__ import annotations

import numpy as np

_global_rng = np.random.default_rng()


def seed(value: int) -> None:
    """Reseeds the library's global generator."""
    global _global_rng
    _global_rng = np.random.default_rng(value)


def get_rng() -> np.random.Generator:
    """The library's global generator (changes after ``seed``)."""
    return _global_rng


def spawn_rng() -> np.random.Generator:
    """A new independent generator derived from the global one (for a layer's private stream)."""
    return np.random.default_rng(_global_rng.integers(0, 2**63 - 1))
