"""scratchnet.datasets.movielens: the MovieLens 1M zip, its rating lines and the ratings matrix."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from dataset_files import register

from scratchnet.datasets.errors import DatasetFormatError
from scratchnet.datasets.movielens import load_movielens_1m, parse_ratings, ratings_matrix


def test_movielens_zip_and_matrix(tmp_path, monkeypatch):
    path = tmp_path / "data" / "ml-1m.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ml-1m/ratings.dat", "1::10::5::978300760\n1::20::3::978302109\n7::10::4::978301968\n")
        zf.writestr("ml-1m/movies.dat", "10::Caf\xe9 (1995)::Comedy\n20::B (1996)::Drama\n".encode("latin-1"))
    register(monkeypatch, "ml-1m.zip", path)
    r = load_movielens_1m(data_dir=tmp_path / "data")
    users, movies, ratings, stamps = r
    assert users.tolist() == [1, 1, 7] and movies.tolist() == [10, 20, 10] and ratings.dtype == np.float32
    assert (
        stamps.dtype == np.int64 and stamps[0] == 978300760 and len(r) == 3 and r.titles[10] == "Café (1995)"
    )
    matrix, uids, mids = r.to_matrix()
    assert uids.tolist() == [1, 7] and mids.tolist() == [10, 20]
    np.testing.assert_array_equal(matrix, [[5, 3], [4, 0]])
    with pytest.raises(ValueError, match="expected 'user::movie"):
        parse_ratings("1::2::3\n")
    with pytest.raises(ValueError, match="1..5"):
        parse_ratings("1::2::9::0\n")
    with pytest.raises(ValueError, match="equal length"):
        ratings_matrix(np.zeros(2), np.zeros(3), np.zeros(2))


@pytest.mark.parametrize(
    "line, found",
    [
        ("1::10::5", "user::movie::rating::timestamp"),
        ("99999999999999999999::10::5::0", "user id in 1..9223372036854775807"),
        ("1::99999999999999999999::5::0", "movie id in 1"),
        ("1::10::5::99999999999999999999", "timestamp in 0"),
        ("0::10::5::0", "user id in 1"),
        ("-1::10::5::0", "user id as a non-negative integer"),
        ("+1::10::5::0", "non-negative integer"),
        ("1_0::10::5::0", "non-negative integer"),
        ("\u0663::10::5::0", "non-negative integer"),  # an Arabic-Indic digit: int() would take it
        ("1::10::6::0", "rating in 1..5"),
        ("1::10::0::0", "rating in 1..5"),
        ("1::10::3.5::0", "rating as a non-negative integer"),
    ],
)
def test_movielens_rating_lines_are_checked(line, found):
    users, movies, ratings, stamps = parse_ratings("1::10::5::978300760\n", "r.dat")
    assert (users[0], movies[0], ratings[0], stamps[0]) == (1, 10, 5.0, 978300760)
    with pytest.raises(DatasetFormatError, match=f"r.dat:2: expected .*{found}".replace("+", r"\+")):
        parse_ratings("1::10::5::978300760\n" + line + "\n", "r.dat")


def test_movielens_damaged_or_ambiguous_zip(tmp_path):
    from scratchnet.datasets.movielens import parse_movies, read_movielens_zip

    good = tmp_path / "ml.zip"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ml-1m/ratings.dat", "1::10::5::978300760\n" * 200)
    assert len(read_movielens_zip(good)) == 200
    raw = good.read_bytes()
    for i, data in enumerate(
        [b"PK\x03\x04 not really a zip", raw[:-30], raw[:60] + b"\x00" * 40 + raw[100:]]
    ):
        bad = tmp_path / f"bad{i}.zip"
        bad.write_bytes(data)
        with pytest.raises(DatasetFormatError, match=f"bad{i}.zip"):
            read_movielens_zip(bad)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("ml-1m/ratings.dat", "\n")
    with pytest.raises(DatasetFormatError, match="at least one rating line"):
        read_movielens_zip(empty)
    dup = tmp_path / "dup.zip"
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(dup, "w") as zf:
        zf.writestr("ml-1m/ratings.dat", "1::10::5::0\n")
        zf.writestr("ml-1m/ratings.dat", "1::10::1::0\n")
    with pytest.raises(DatasetFormatError, match="one member named 'ml-1m/ratings.dat', found 2"):
        read_movielens_zip(dup)
    assert parse_movies("\u00b2::Squared (1999)::Drama\n7::Seven (1995)::Crime\n") == {7: "Seven (1995)"}


def test_ratings_repr_is_a_summary(tmp_path, monkeypatch):
    path = tmp_path / "data" / "ml-1m.zip"
    path.parent.mkdir()
    lines = "".join(f"{1 + i % 7}::{10 + i % 13}::{1 + i % 5}::{978300000 + i}\n" for i in range(20_000))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ml-1m/ratings.dat", lines)
        zf.writestr("ml-1m/movies.dat", "".join(f"{10 + j}::Movie {j} (1999)::Drama\n" for j in range(13)))
    register(monkeypatch, "ml-1m.zip", path)
    r = load_movielens_1m(data_dir=tmp_path / "data")
    assert repr(r) == "Ratings(20,000 ratings, 7 users, 13 movies, 13 titles, source='data_dir')"
    users, movies, ratings, stamps = r  # still unpacks
    assert users.dtype == movies.dtype == stamps.dtype == np.int64 and ratings.dtype == np.float32
