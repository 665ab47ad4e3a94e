"""Small data files and registry entries the dataset tests (tests/datasets) share."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from scratchnet.datasets import _fetch
from scratchnet.datasets._fetch import RemoteFile


def sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def register(
    monkeypatch, name: str, good: Path | None = None, url: str = "https://example.invalid/f"
) -> None:
    """Points the registry entry ``name`` at the checksum of ``good`` (a file the test made)."""
    hashes = (sha(good),) if good is not None else ()
    monkeypatch.setitem(_fetch.REGISTRY, name, RemoteFile(name, (url,), hashes, f"test file {name}"))


def idx_header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + np.asarray(dims, ">u4").tobytes()


def ptb_dir(root: Path, monkeypatch, with_train: bool = True) -> Path:
    d = root / "data" / "ptb"
    d.mkdir(parents=True)
    texts = {"valid": " the cat sat \n the dog <unk> \n", "test": " a cat ran \n"}
    if with_train:
        texts["train"] = " the cat sat on the mat \n the dog sat \n"
    for split, text in texts.items():
        (d / f"ptb.{split}.txt").write_text(text)
        register(monkeypatch, f"ptb/ptb.{split}.txt", d / f"ptb.{split}.txt")
    return root / "data"
