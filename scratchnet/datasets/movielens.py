"""MovieLens 1M ratings (GroupLens, ``ml-1m.zip``): ``UserID::MovieID::Rating::Timestamp`` lines.

Members are read straight out of the zip by their fixed names (nothing is extracted, so no path can escape).
Arrays, one entry per rating: ``users`` int64, ``movies`` int64 (the original 1-based ids), ``ratings`` float32
(1..5), ``timestamps`` int64 (seconds since the epoch). :func:`ratings_matrix` pivots them to users x movies.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from scratchnet.datasets._fetch import fetch


@dataclass
class Ratings:
    users: np.ndarray
    movies: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    source: str
    path: str | None = None
    titles: dict[int, str] = field(default_factory=dict)

    def __iter__(self):
        yield from (self.users, self.movies, self.ratings, self.timestamps)

    def __len__(self) -> int:
        return int(self.ratings.shape[0])

    def to_matrix(self, fill: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return ratings_matrix(self.users, self.movies, self.ratings, fill)


def parse_ratings(
    text: str, name: str = "ratings.dat"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parses ``::``-separated rating lines into (users, movies, ratings, timestamps)."""
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("::")
        if len(parts) != 4:
            raise ValueError(f"{name}:{lineno}: expected 'user::movie::rating::timestamp', got {line[:60]!r}")
        try:
            rows.append([int(p) for p in parts])
        except ValueError as err:
            raise ValueError(f"{name}:{lineno}: non-integer field in {line[:60]!r}") from err
    table = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
    if table.size and (table[:, 2].min() < 1 or table[:, 2].max() > 5):
        raise ValueError(f"{name}: ratings must be 1..5")
    return table[:, 0], table[:, 1], table[:, 2].astype(np.float32), table[:, 3]


def parse_movies(text: str) -> dict[int, str]:
    """``MovieID::Title::Genres`` -> {id: title}."""
    titles = {}
    for line in text.splitlines():
        parts = line.split("::")
        if len(parts) >= 2 and parts[0].strip().isdigit():
            titles[int(parts[0])] = parts[1]
    return titles


def read_movielens_zip(path: str | os.PathLike) -> Ratings:
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        member = next((n for n in ("ml-1m/ratings.dat", "ratings.dat") if n in names), None)
        if member is None:
            raise ValueError(f"{path}: no ml-1m/ratings.dat member")
        users, movies, ratings, stamps = parse_ratings(zf.read(member).decode("latin-1"), member)
        movies_member = member.replace("ratings.dat", "movies.dat")
        # movies.dat titles are Latin-1 in the original archive
        titles = parse_movies(zf.read(movies_member).decode("latin-1")) if movies_member in names else {}
    return Ratings(users, movies, ratings, stamps, "file", str(path), titles)


def load_movielens_1m(data_dir: str | os.PathLike | None = None, download: bool | None = None) -> Ratings:
    """All 1,000,209 ratings of 6,040 users on 3,706 movies. Offline without a copy: DatasetNotFoundError."""
    res = fetch("ml-1m.zip", data_dir, download)
    out = read_movielens_zip(res.path)
    out.source = res.source
    return out


def ratings_matrix(
    users: np.ndarray, movies: np.ndarray, ratings: np.ndarray, fill: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pivot to a float32 (n_users, n_movies) matrix; returns (matrix, user_ids, movie_ids).

    Row ``i`` is user ``user_ids[i]`` and column ``j`` movie ``movie_ids[j]`` (sorted unique ids); unrated cells
    hold ``fill``. A repeated (user, movie) pair keeps the last rating.
    """
    users, movies, ratings = np.asarray(users), np.asarray(movies), np.asarray(ratings)
    if not (users.shape == movies.shape == ratings.shape) or users.ndim != 1:
        raise ValueError(
            f"ratings_matrix: users, movies, ratings must be 1-D of equal length, got "
            f"{users.shape}, {movies.shape}, {ratings.shape}"
        )
    user_ids, rows = np.unique(users, return_inverse=True)
    movie_ids, cols = np.unique(movies, return_inverse=True)
    matrix = np.full((user_ids.size, movie_ids.size), fill, dtype=np.float32)
    matrix[rows, cols] = ratings
    return matrix, user_ids, movie_ids
