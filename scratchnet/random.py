"""One seeded source of randomness for the whole library.

``seed(s)`` resets it; layers created afterwards draw their initial weights, and stochastic layers their
private generators, from it, and a ``Trainer`` its batch order, so the same seed gives a bit-identical run.
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


def child_rng() -> np.random.Generator:
    """A new independent generator spawned from the global one's seed sequence, without drawing from it.

    The k-th child since ``seed`` is the same in every run, and making one leaves the numbers the global
    generator gives unchanged: a ``Trainer`` takes its batch order from here, so building one does not change
    the initial weights of a model built after it.
    """
    try:
        return _global_rng.spawn(1)[0]
    except TypeError:  # a bit generator set up without a seed sequence cannot spawn: draw a seed instead
        return spawn_rng()
