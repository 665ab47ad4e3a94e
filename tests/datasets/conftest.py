"""Every dataset test starts offline: empty cache, no data dir, downloads that fail."""

from __future__ import annotations

import pytest

from scratchnet.datasets import _fetch


def _no_network(url, known_hash, dest):
    raise ConnectionError(f"no network in tests ({url})")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Empty cache, no data dir, downloads that fail: every test starts offline with nothing at hand."""
    monkeypatch.delenv("SCRATCHNET_DATA", raising=False)
    monkeypatch.delenv("SCRATCHNET_OFFLINE", raising=False)
    monkeypatch.setenv("SCRATCHNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(_fetch, "_download", _no_network)
    return tmp_path
