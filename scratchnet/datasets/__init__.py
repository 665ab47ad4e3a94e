"""Real data sets as NumPy arrays, with a data directory, a download cache and small embedded fallbacks.

Files are looked up in ``data_dir`` / ``$SCRATCHNET_DATA``, then the per-user cache (``$SCRATCHNET_CACHE`` or
``~/.cache/scratchnet``), then downloaded with a checksum; see :mod:`scratchnet.datasets._fetch`. Every loader
returns arrays with a documented shape and dtype and says where they came from (``.source``). A file whose
content is malformed raises :class:`DatasetFormatError` (a ``ValueError``) naming the file, what was expected and
what was found; no file without a matching published checksum is used.
"""

from scratchnet.datasets._fetch import REGISTRY, DatasetNotFoundError, cache_dir, data_dirs, fetch
from scratchnet.datasets.base import Dataset
from scratchnet.datasets.cifar import UnsafeArchiveError, load_cifar10, safe_extract
from scratchnet.datasets.csv_sets import (
    load_breast_cancer,
    load_diabetes,
    load_iris,
    load_stock_daily,
    load_test_scores,
    load_zoo,
)
from scratchnet.datasets.digits import load_digits
from scratchnet.datasets.errors import DatasetFormatError
from scratchnet.datasets.idx import IDXFormatError, parse_idx, read_idx, write_idx
from scratchnet.datasets.loader import (
    DataLoader,
    MinMaxScaler,
    StandardScaler,
    min_max_scale,
    one_hot,
    train_test_split,
    train_val_test_split,
)
from scratchnet.datasets.mnist import load_fashion_mnist, load_mnist, load_mnist_5k, load_mnist_with_fallback
from scratchnet.datasets.movielens import Ratings, load_movielens_1m, ratings_matrix
from scratchnet.datasets.ptb import WordCorpus, load_ptb
from scratchnet.datasets.text import TextCorpus, Vocabulary, load_text, load_tiny_shakespeare

__all__ = [
    "REGISTRY",
    "DataLoader",
    "Dataset",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "IDXFormatError",
    "MinMaxScaler",
    "Ratings",
    "StandardScaler",
    "TextCorpus",
    "UnsafeArchiveError",
    "Vocabulary",
    "WordCorpus",
    "cache_dir",
    "data_dirs",
    "fetch",
    "load_breast_cancer",
    "load_cifar10",
    "load_diabetes",
    "load_digits",
    "load_fashion_mnist",
    "load_iris",
    "load_mnist",
    "load_mnist_5k",
    "load_mnist_with_fallback",
    "load_movielens_1m",
    "load_ptb",
    "load_stock_daily",
    "load_test_scores",
    "load_text",
    "load_tiny_shakespeare",
    "load_zoo",
    "min_max_scale",
    "one_hot",
    "parse_idx",
    "ratings_matrix",
    "read_idx",
    "safe_extract",
    "train_test_split",
    "train_val_test_split",
    "write_idx",
]
