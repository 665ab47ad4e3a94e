"""MovieLens 1M ratings (GroupLens, ``ml-1m.zip``): ``UserID::MovieID::Rating::Timestamp`` lines.

Members are read straight out of the zip by their fixed names (nothing is extracted, so no path can escape).
Arrays, one entry per rating: ``users`` int64, ``movies`` int64 (the original 1-based ids), ``ratings`` float32
(1..5), ``timestamps`` int64 (seconds since the epoch). :func:`ratings_matrix` pivots them to users x movies.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np

from scratchnet.datasets._fetch import fetch
from scratchnet.datasets.errors import DatasetFormatError, describe


@dataclass(repr=False)
class Ratings:
    """One entry per rating: ``users`` int64 ``(R,)``, ``movies`` int64 ``(R,)`` (MovieLens' 1-based ids),
    ``ratings`` float32 ``(R,)`` in 1..5, ``timestamps`` int64 ``(R,)`` (seconds since the epoch); ``titles``
    {movie id: title}. Unpacks as ``users, movies, ratings, timestamps``. Its repr is a summary
    (``Ratings(1,000,209 ratings, 6,040 users, 3,706 movies, 3,883 titles, source='data_dir')``).
    """

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

    def __repr__(self) -> str:
        return (
            f"Ratings({len(self):,} ratings, {np.unique(self.users).size:,} users, "
            f"{np.unique(self.movies).size:,} movies, {len(self.titles):,} titles, source={self.source!r})"
        )

    def to_matrix(self, fill: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return ratings_matrix(self.users, self.movies, self.ratings, fill)


_INT64_MAX = np.iinfo(np.int64).max
# field -> (lowest, highest) accepted value; ids are MovieLens' 1-based ids, timestamps seconds since the epoch
_FIELDS = (
    ("user id", 1, _INT64_MAX),
    ("movie id", 1, _INT64_MAX),
    ("rating", 1, 5),
    ("timestamp", 0, _INT64_MAX),
)


def parse_ratings(
    text: str, name: str = "ratings.dat"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parses ``::``-separated rating lines into (users, movies, ratings, timestamps).

    Every field must be a plain decimal integer in range (ids >= 1 and within int64, ratings 1..5, timestamps
    >= 0); anything else is a :class:`DatasetFormatError` naming the line.
    """
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("::")
        where = f"{name}:{lineno}"
        if len(parts) != 4:
            raise DatasetFormatError(where, "'user::movie::rating::timestamp'", repr(line[:60]))
        row = []
        for (what, low, high), part in zip(_FIELDS, parts):
            part = part.strip()
            # isdigit alone admits other scripts' digits ("٣", "²"); int() alone admits "+5", "-1" and "1_0"
            if not (part.isascii() and part.isdigit()):
                raise DatasetFormatError(where, f"the {what} as a non-negative integer", repr(part[:30]))
            value = int(part)
            if not low <= value <= high:
                raise DatasetFormatError(where, f"a {what} in {low}..{high}", repr(part[:30]))
            row.append(value)
        rows.append(row)
    if not rows:
        raise DatasetFormatError(name, "at least one rating line", "none")
    table = np.asarray(rows, dtype=np.int64)
    return table[:, 0], table[:, 1], table[:, 2].astype(np.float32), table[:, 3]


def parse_movies(text: str) -> dict[int, str]:
    """``MovieID::Title::Genres`` -> {id: title}; lines without a plain integer id are skipped."""
    titles = {}
    for line in text.splitlines():
        parts = line.split("::")
        movie_id = parts[0].strip()
        if len(parts) >= 2 and movie_id.isascii() and movie_id.isdigit():
            titles[int(movie_id)] = parts[1]
    return titles


# a damaged zip surfaces as any of these: a bad directory, a cut or corrupt deflate stream, a bad CRC, an
# encrypted member (RuntimeError) or an unsupported compression method (NotImplementedError)
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    EOFError,
    OSError,
    RuntimeError,
    NotImplementedError,
    ValueError,
)


def read_movielens_zip(path: str | os.PathLike) -> Ratings:
    """Ratings (and titles, when present) read straight out of ``ml-1m.zip``; a damaged or ambiguous archive
    is a :class:`DatasetFormatError`."""
    archive = str(path)
    with open(path, "rb") as fh:
        try:
            with zipfile.ZipFile(fh) as zf:
                listed = zf.namelist()
                names = set(listed)
                member = next((n for n in ("ml-1m/ratings.dat", "ratings.dat") if n in names), None)
                if member is None:
                    raise DatasetFormatError(archive, "a member ml-1m/ratings.dat", f"members {listed[:5]}")
                movies_member = member.replace("ratings.dat", "movies.dat")
                for wanted in (member, movies_member):
                    if listed.count(wanted) > 1:
                        raise DatasetFormatError(
                            archive, f"one member named {wanted!r}", f"{listed.count(wanted)}"
                        )
                # ratings.dat is ASCII and movies.dat Latin-1 in the original archive; Latin-1 decodes any byte
                ratings_text = zf.read(member).decode("latin-1")
                movies_text = zf.read(movies_member).decode("latin-1") if movies_member in names else ""
        except DatasetFormatError:
            raise
        except _ZIP_ERRORS as err:
            raise DatasetFormatError(archive, "a readable zip archive", describe(err)) from err
    users, movies, ratings, stamps = parse_ratings(ratings_text, f"{archive}:{member}")
    titles = parse_movies(movies_text)
    return Ratings(users, movies, ratings, stamps, "file", str(path), titles)


def load_movielens_1m(data_dir: str | os.PathLike | None = None, download: bool | None = None) -> Ratings:
    """All 1,000,209 ratings of 6,040 users on 3,706 movies. Offline without a copy: DatasetNotFoundError.

    Returns :class:`Ratings`: ``users``, ``movies`` int64 ``(R,)``, ``ratings`` float32 ``(R,)`` (1..5),
    ``timestamps`` int64 ``(R,)``, R = 1,000,209; ``titles`` {movie id: title}; ``to_matrix()`` pivots them.
    """
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
