"""``History``: one record per epoch (loss, metrics, validation, learning rate, seconds), saved as JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from scratchnet.model_io import (
    atomic_write,
)


class History:
    """Per-epoch records: ``history.records`` is a list of dicts; ``history["loss"]`` a column."""

    def __init__(self, records: list[dict[str, float]] | None = None) -> None:
        self.records: list[dict[str, float]] = list(records or [])
        self.stop_reason: str | None = None

    def __getitem__(self, key: str) -> list[float]:
        return [r[key] for r in self.records if key in r]

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"History({len(self.records)} epochs, stop_reason={self.stop_reason!r})"

    def to_json(self, path: str | os.PathLike) -> None:
        """Writes the records and stop reason as JSON (atomically, like model files)."""
        text = json.dumps({"records": self.records, "stop_reason": self.stop_reason}, indent=1)
        atomic_write(path, lambda f: f.write(text.encode()))

    def to_csv(self, path: str | os.PathLike) -> None:
        """Writes one row per epoch, one column per key seen in any record (atomically)."""
        keys: list[str] = []
        for r in self.records:
            keys.extend(k for k in r if k not in keys)
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.records)
        atomic_write(path, lambda f: f.write(text.getvalue().encode()))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> History:
        data = json.loads(Path(path).read_text())
        history = cls(data["records"])
        history.stop_reason = data.get("stop_reason")
        return history
