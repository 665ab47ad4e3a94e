"""Fuzzing every public layer, loss, kernel, loader and model file with hostile input (hypothesis).

The contract under test: bad input ends in a clear exception (a ``TypeError`` or ``ValueError`` with a
message -- a dataset parser's ``DatasetFormatError`` is a ``ValueError``), good input in a correct result, and
never in a signal or a silent non-finite output from finite input. Anything that runs compiled code is fuzzed
in a child process (``tests/support/fuzz_compiled.py``), so a segfault fails one test instead of killing the run.

Runs are derandomized (the same examples every time, so CI cannot flake) and bounded to well under a minute;
``SCRATCHNET_FUZZ_SCALE=10 pytest tests/test_fuzz.py`` runs ten times as many examples. ``PROBES`` below is the
number of examples at scale 1.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scratchnet as sn
from scratchnet import losses
from scratchnet.datasets.cifar import read_cifar10_tarball
from scratchnet.datasets.csv_sets import parse_sklearn_csv
from scratchnet.datasets.errors import DatasetFormatError
from scratchnet.datasets.idx import read_idx
from scratchnet.datasets.mnist import parse_mnist_csv
from scratchnet.datasets.movielens import parse_ratings
from scratchnet.layers import (
    ELU,
    GRU,
    LSTM,
    RNN,
    BatchNorm1D,
    BatchNorm2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAvgPool2D,
    Identity,
    LeakyReLU,
    LocalResponseNorm,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Step,
    Tanh,
    TimeDistributed,
)
from scratchnet.unsupervised.autoencoder import Autoencoder, DenoisingAutoencoder, TiedAutoencoder

HERE = Path(__file__).resolve().parent
SCALE = float(os.environ.get("SCRATCHNET_FUZZ_SCALE", "1"))
CLEAR = (TypeError, ValueError)


def fuzz(examples: int):
    return settings(
        max_examples=max(1, round(examples * SCALE)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def clear_error_or(fn):
    """The result of ``fn()``, or None after a clear exception (type and message checked)."""
    try:
        return fn()
    except CLEAR as err:
        assert str(err).strip(), f"{type(err).__name__} without a message"
        return None


# ------------------------------------------------------------------------------ compiled code, in a child
COMPILED_TARGETS = {"im2col": 100, "pooling": 100, "backward": 60, "layers": 120, "vector": 150}


@pytest.mark.parametrize("target", sorted(COMPILED_TARGETS))
def test_compiled_code_survives_hostile_input(target, tmp_path):
    progress = tmp_path / "progress.json"
    env = {**os.environ, "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(HERE / "support" / "fuzz_compiled.py"), target, str(progress)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    last = progress.read_text() if progress.exists() else "(none)"
    signal = f" (killed by signal {-proc.returncode})" if proc.returncode < 0 else ""
    assert proc.returncode == 0, (
        f"fuzz target {target!r} ended with return code {proc.returncode}{signal}\n"
        f"last input started: {last}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    )
    counts = json.loads(last)["done"]
    # hypothesis re-runs failing and shrunk examples, and skips implausible ones: most of the budget must run,
    # and both clear refusals and real results must occur, or the target is not testing what it claims
    assert counts["examples"] >= 0.5 * COMPILED_TARGETS[target] * SCALE, counts
    assert counts["ok"] > 0 and counts["error"] > 0, counts


# ------------------------------------------------------------------------------ NumPy layers, in process
def _layers():
    """(factory, feature shape after the batch axis, kind of input)."""
    return [
        (lambda: Dense(4, 3), (4,), "float"),
        (ReLU, (4,), "float"),
        (LeakyReLU, (4,), "float"),
        (Sigmoid, (4,), "float"),
        (Tanh, (4,), "float"),
        (ELU, (4,), "float"),
        (Softplus, (4,), "float"),
        (Softmax, (4,), "float"),
        (Identity, (4,), "float"),
        (Step, (4,), "float"),
        (lambda: Dropout(0.5), (4,), "float"),
        (Flatten, (2, 3), "float"),
        (lambda: BatchNorm1D(4), (4,), "float"),
        (lambda: BatchNorm2D(3), (3, 2, 2), "float"),
        (GlobalAvgPool2D, (3, 2, 2), "float"),
        (lambda: LocalResponseNorm(3), (5, 2, 2), "float"),
        (lambda: RNN(3, 4), (5, 3), "float"),
        (lambda: LSTM(3, 4), (5, 3), "float"),
        (lambda: GRU(3, 4), (5, 3), "float"),
        (lambda: TimeDistributed(Dense(3, 2)), (5, 3), "float"),
        (lambda: Embedding(7, 3), (5,), "ids"),
        (lambda: Autoencoder((6, 4, 2)), (6,), "float"),
        (lambda: TiedAutoencoder((6, 4, 2)), (6,), "float"),
        (lambda: DenoisingAutoencoder((6, 4, 2)), (6,), "float"),
    ]


LAYERS = _layers()
FLOATS = ["float32", "float64", "float16", ">f8"]
OTHERS = ["int64", "uint8", "bool", "complex128", "object"]


@fuzz(250)
@given(
    index=st.integers(0, len(LAYERS) - 1),
    n=st.sampled_from([0, 1, 2, 5]),
    x_dtype=st.sampled_from(FLOATS + OTHERS),
    dout_dtype=st.sampled_from(FLOATS + OTHERS),
    scale=st.sampled_from([1.0, 30.0, 1e4]),
    wrong_shape=st.booleans(),
    training=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_every_layer_gives_a_clear_error_or_a_finite_result(
    index, n, x_dtype, dout_dtype, scale, wrong_shape, training, seed
):
    factory, features, kind = LAYERS[index]
    layer = factory()
    layer.train(training)
    rng = np.random.default_rng(seed)
    shape = (n, *features)
    if wrong_shape:
        shape = shape[:-1] + (shape[-1] + 1,)
    if kind == "ids":
        x = rng.integers(-2, 9, shape)  # some ids out of range: must be refused, never wrapped around
    else:
        x = rng.uniform(-scale, scale, shape)
    x = x.astype(object) if x_dtype == "object" else x.astype(np.dtype(x_dtype))
    y = clear_error_or(lambda: layer(x))
    if y is None:
        return
    assert y.shape[0] == n
    if kind == "float" and x.dtype.kind == "f" and np.isfinite(x).all():
        assert np.isfinite(y).all(), (
            f"{layer!r}: non-finite output from finite {x.dtype} input of scale {scale}"
        )
    dout = rng.standard_normal(y.shape)
    dout = dout.astype(object) if dout_dtype == "object" else dout.astype(np.dtype(dout_dtype))
    if dout.dtype.kind != "f":
        with pytest.raises(TypeError):
            layer.backprop(dout)
        return
    dx = clear_error_or(lambda: layer.backprop(dout))
    if dx is not None and kind == "float":
        assert dx.shape == x.shape
        if np.isfinite(x).all() and np.isfinite(dout).all() and scale < 1e4:
            assert np.isfinite(dx).all(), f"{layer!r}: non-finite gradient"


# ------------------------------------------------------------------------------ losses
LOSSES = [
    (losses.MeanSquaredError, "same"),
    (losses.BinaryCrossEntropy, "prob"),
    (lambda: losses.BinaryCrossEntropy(from_logits=True), "binary"),
    (losses.SoftmaxCrossEntropy, "ids"),
    (losses.SoftmaxCrossEntropy, "onehot"),
]


@fuzz(150)
@given(
    index=st.integers(0, len(LOSSES) - 1),
    n=st.sampled_from([0, 1, 3]),
    classes=st.integers(1, 4),
    pred_dtype=st.sampled_from(FLOATS + ["int64", "bool", "complex128"]),
    target_kind=st.sampled_from(["right", "float_ids", "out_of_range", "nan", "wrong_shape"]),
    seed=st.integers(0, 2**16),
)
def test_every_loss_gives_a_clear_error_or_a_finite_value(index, n, classes, pred_dtype, target_kind, seed):
    factory, kind = LOSSES[index]
    loss = factory()
    rng = np.random.default_rng(seed)
    pred = rng.standard_normal((n, classes))
    if kind == "prob":
        pred = 1 / (1 + np.exp(-pred))
    pred = pred.astype(np.dtype(pred_dtype))
    if kind == "ids":
        target = rng.integers(0, classes, n)
    elif kind == "onehot":
        target = np.eye(classes)[rng.integers(0, classes, n)]
    elif kind in ("prob", "binary"):
        target = rng.integers(0, 2, (n, classes)).astype(np.float64)
    else:
        target = rng.standard_normal((n, classes))
    if target_kind == "float_ids":
        target = target + 0.5
    elif target_kind == "out_of_range":
        target = target + classes + 1
    elif target_kind == "nan":
        target = np.where(np.ones_like(target, bool), np.nan, target)
    elif target_kind == "wrong_shape":
        target = target[:-1] if n else np.zeros(2)
    value = clear_error_or(lambda: loss(pred, target))
    if value is None:
        return
    assert n > 0, f"{loss!r} returned {value} for an empty batch"
    if target_kind == "nan":  # non-finite input may give a non-finite loss (it propagates, as in PyTorch)
        return
    assert np.isfinite(value), f"{loss!r}: non-finite loss {value} ({target_kind}, {pred.dtype})"
    grad = loss.backward()
    assert grad.shape == pred.shape and np.isfinite(grad).all()


# ------------------------------------------------------------------------------ dataset parsers
def _idx_bytes(rng) -> bytes:
    arr = rng.integers(0, 256, (3, 4, 4)).astype(np.uint8)
    header = b"\x00\x00\x08\x03" + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.tobytes()


def _mutate(data: bytes, rng, how: str) -> bytes:
    buf = bytearray(data)
    if how == "truncate" and buf:
        return bytes(buf[: int(rng.integers(0, len(buf)))])
    if how == "flip" and buf:
        for _ in range(int(rng.integers(1, 4))):
            buf[int(rng.integers(0, len(buf)))] = int(rng.integers(0, 256))
        return bytes(buf)
    if how == "extend":
        return bytes(buf) + bytes(rng.integers(0, 256, int(rng.integers(1, 9))).astype(np.uint8))
    if how == "header" and len(buf) >= 8:  # a dimension claiming up to 2**32 - 1 entries
        start = 4 + 4 * int(rng.integers(0, max((len(buf) - 4) // 4, 1)))
        buf[start : start + 4] = int(rng.integers(0, 2**32)).to_bytes(4, "big")
        return bytes(buf[: max(len(buf), start + 4)])
    return bytes(buf)


@fuzz(200)
@given(
    how=st.sampled_from(["truncate", "flip", "extend", "header", "none"]),
    gz=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_idx_reader_refuses_corrupt_files_clearly(tmp_path_factory, how, gz, seed):
    rng = np.random.default_rng(seed)
    raw = _mutate(_idx_bytes(rng), rng, how)
    path = tmp_path_factory.mktemp("idx") / ("fuzz.idx.gz" if gz else "fuzz.idx")
    path.write_bytes(_mutate(gzip.compress(raw), rng, how if how != "header" else "none") if gz else raw)
    try:
        arr = read_idx(path)
    except DatasetFormatError as err:
        assert "fuzz.idx" in str(err)
        return
    assert arr.size <= len(raw)  # nothing conjured out of a header


CSV_ROWS = st.lists(
    st.lists(
        st.sampled_from(["0", "1", "255", "256", "-1", "1.7", "1e30", "nan", "inf", "x", "", "9"]),
        min_size=1,
        max_size=6,
    ),
    min_size=0,
    max_size=4,
)


@fuzz(200)
@given(rows=CSV_ROWS, encoding_error=st.booleans())
def test_csv_parsers_refuse_bad_tables_clearly(rows, encoding_error):
    text = "\n".join(",".join(r) for r in rows).encode()
    if encoding_error:
        text += b"\xff\xfe,1\n"
    for parse in (
        lambda: parse_mnist_csv(text, "fuzz.csv"),
        lambda: parse_sklearn_csv(text, "fuzz.csv"),
        lambda: parse_ratings(text.decode("latin-1").replace(",", "::"), "fuzz.dat"),
    ):
        try:
            out = parse()
        except DatasetFormatError as err:
            assert "fuzz" in str(err)
            continue
        for part in out if isinstance(out, tuple) else (out,):
            if isinstance(part, np.ndarray) and part.dtype.kind == "f":
                assert np.isfinite(part).all()


def _cifar_tarball(rng, labels, pixels_dtype, duplicate: bool) -> bytes:
    import pickle

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        names = [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)] + [
            "cifar-10-batches-py/test_batch"
        ]
        if duplicate:
            names.append(names[0])
        for name in names:
            data = rng.integers(0, 256, (len(labels), 3072)).astype(pixels_dtype)
            payload = pickle.dumps({b"data": data, b"labels": list(labels)}, protocol=2)
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


@fuzz(40)
@given(
    labels=st.lists(st.integers(-2, 12), min_size=1, max_size=3),
    pixels_dtype=st.sampled_from(["uint8", "uint8", "int64", "float32"]),
    duplicate=st.booleans(),
    how=st.sampled_from(["none", "none", "truncate", "flip"]),
    seed=st.integers(0, 2**16),
)
def test_cifar_reader_refuses_bad_batches_clearly(
    tmp_path_factory, labels, pixels_dtype, duplicate, how, seed
):
    rng = np.random.default_rng(seed)
    raw = _mutate(_cifar_tarball(rng, labels, pixels_dtype, duplicate), rng, how)
    path = tmp_path_factory.mktemp("cifar") / "cifar-10-python.tar.gz"
    path.write_bytes(raw)
    good = how == "none" and not duplicate and pixels_dtype == "uint8" and all(0 <= v <= 9 for v in labels)
    try:
        result = read_cifar10_tarball(path)
    except DatasetFormatError as err:
        assert not good, f"refused a good CIFAR tarball ({labels}): {err}"
        return
    assert good, f"accepted a bad CIFAR tarball ({how}, duplicate={duplicate}, {pixels_dtype}, {labels})"
    assert result is not None


# ------------------------------------------------------------------------------ model files
def _model():
    sn.seed(0)
    return sn.Sequential([Dense(4, 3), ReLU(), Dense(3, 2)])


@fuzz(120)
@given(
    how=st.sampled_from(["truncate", "flip", "extend", "rename", "dtype", "shape", "extra", "object"]),
    seed=st.integers(0, 2**16),
)
def test_model_load_is_all_or_nothing_on_corrupt_files(tmp_path_factory, how, seed):
    rng = np.random.default_rng(seed)
    path = tmp_path_factory.mktemp("model") / "m.npz"
    _model().save(path)
    with np.load(path) as f:
        entries = {k: f[k] for k in f.files}
    keys = sorted(
        k for k in entries if k != "__architecture__"
    )  # the weights (its own tests: test_model_files)
    victim = keys[int(rng.integers(0, len(keys)))]
    if how in ("truncate", "flip", "extend"):
        path.write_bytes(_mutate(path.read_bytes(), rng, how))
    else:
        if how == "rename":
            entries["not_a_layer"] = entries.pop(victim)
        elif how == "dtype":
            entries[victim] = entries[victim].astype(
                ["U3", "complex64", "int8", "bool"][int(rng.integers(0, 4))]
            )
        elif how == "shape":
            entries[victim] = np.zeros(entries[victim].shape + (2,), np.float32)
        elif how == "extra":
            entries["zz_extra"] = np.zeros(10**6, np.float32)
        elif how == "object":
            entries[victim] = np.array([{"a": 1}], dtype=object)
        with zipfile.ZipFile(path, "w") as zf:
            for k, v in entries.items():
                with zf.open(k + ".npy", "w") as member:
                    np.lib.format.write_array(member, v, allow_pickle=True)
    target = sn.Sequential([Dense(4, 3), ReLU(), Dense(3, 2)])
    before = {k: v.copy() for k, v in target.state_dict().items()}
    try:
        target.load(path)
    except (ValueError, TypeError, KeyError, OSError, EOFError) as err:
        assert str(err).strip()
        after = target.state_dict()
        for k, v in before.items():
            np.testing.assert_array_equal(after[k], v, err_msg=f"{how}: {k} changed by a failed load")
        return
    # a load that succeeds must have read finite values of the right shapes
    for k, v in target.state_dict().items():
        assert v.shape == before[k].shape and np.isfinite(v).all()


# examples at scale 1 (the closing note of the reliability issue quotes this figure)
PROBES = sum(COMPILED_TARGETS.values()) + 250 + 150 + 200 + 200 + 40 + 120 + 120 + 80 + 100


# ------------------------------------------------------------------------------ signal, tiles, optimizers
@fuzz(120)
@given(
    fn=st.sampled_from(["convolve1d", "correlate1d", "convolve2d", "correlate2d", "tf_conv2d"]),
    x_shape=st.lists(st.integers(0, 5), min_size=0, max_size=3),
    k_shape=st.lists(st.integers(0, 4), min_size=0, max_size=3),
    mode=st.sampled_from(["full", "same", "valid", "bogus"]),
    dtype=st.sampled_from(["float64", "float32", "int64", "bool", "complex128", "object"]),
    stride=st.sampled_from([1, 2, 0, -1, 2**31 + 1]),
)
def test_signal_functions_give_a_clear_error_or_a_finite_result(fn, x_shape, k_shape, mode, dtype, stride):
    from scratchnet.maths import signal

    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    k = rng.standard_normal(k_shape).astype(dtype)
    if fn == "tf_conv2d":
        call = lambda: signal.tf_conv2d(x, k, stride=stride, padding=mode)  # noqa: E731
    else:
        call = lambda: getattr(signal, fn)(x, k, mode=mode)  # noqa: E731
    y = clear_error_or(call)
    if y is not None and np.asarray(y).dtype.kind == "f":
        assert np.isfinite(y).all()


@fuzz(80)
@given(
    opt=st.sampled_from(["SGD", "Adam", "RMSProp", "AdaGrad", "AdaDelta"]),
    lr=st.sampled_from([0.1, 0.0, -1.0, float("nan"), float("inf"), 1e300]),
    grad_kind=st.sampled_from(["finite", "nan"]),
)
def test_optimizers_refuse_bad_rates_and_keep_finite_weights(opt, lr, grad_kind):
    layer = Dense(3, 2)
    built = clear_error_or(lambda: getattr(sn.optim, opt)(layer.parameters(), lr=lr))
    if built is None:
        return
    assert np.isfinite(lr) and lr >= 0, f"{opt} accepted lr={lr}"
    if grad_kind == "nan":
        layer.grads["W"][...] = np.nan
    else:
        layer.grads["W"][...] = 0.5
    if lr < 1e300 and grad_kind == "finite":
        built.step()
        assert np.isfinite(layer.params["W"]).all()


@fuzz(100)
@given(
    n=st.sampled_from([0, 1, 4]),
    features=st.sampled_from([6, 5]),
    dtype=st.sampled_from(["float32", "float64", "float16", "int64", "bool", "complex128"]),
    values=st.sampled_from(["binary", "prob", "wide", "nan"]),
    k=st.sampled_from([1, 2, 0, -1]),
    lr=st.sampled_from([0.1, -0.1, float("nan")]),
    call=st.sampled_from(["train_step", "cd", "reconstruct", "free_energy", "pll", "transform", "error"]),
)
def test_rbm_gives_a_clear_error_or_a_finite_result(n, features, dtype, values, k, lr, call):
    from scratchnet.unsupervised.rbm import RBM

    rbm = RBM(6, 3, rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    v = {
        "binary": rng.integers(0, 2, (n, features)),
        "prob": rng.random((n, features)),
        "wide": rng.uniform(-5, 5, (n, features)),
        "nan": np.full((n, features), np.nan),
    }[values]
    with np.errstate(invalid="ignore"):  # NaN cast to an integer dtype is part of the hostile input
        v = v.astype(dtype)
    calls = {
        "train_step": lambda: rbm.train_step(v, lr=lr, k=k),
        "cd": lambda: rbm.contrastive_divergence(v, k=k),
        "reconstruct": lambda: rbm.reconstruct(v),
        "free_energy": lambda: rbm.free_energy(v),
        "pll": lambda: rbm.pseudo_log_likelihood(v),
        "transform": lambda: rbm.transform(v),
        "error": lambda: rbm.reconstruction_error(v),
    }
    before = {key: value.copy() for key, value in rbm.params.items()}
    result = clear_error_or(calls[call])
    if result is None:
        for key, value in rbm.params.items():  # a refused call changes nothing
            np.testing.assert_array_equal(value, before[key])
        return
    if n == 0:  # per-row results of no rows are empty; batch statistics must have refused
        assert call in ("reconstruct", "free_energy", "transform") and np.size(result) == 0, (call, result)
        return
    as_float = v.astype(np.float64) if v.dtype.kind != "c" else None
    assert as_float is not None and ((as_float >= 0) & (as_float <= 1)).all(), f"{call} accepted {v}"
    assert np.isfinite(result).all()
    assert all(np.isfinite(value).all() for value in rbm.params.values())


# ------------------------------------------------------------------------------ threads, fork, in-place changes
def _kernel_layers():
    """Layers whose fast paths run compiled kernels (every conv algorithm, pooling, products, the LSTM loop),
    with an input shape: the concurrency and mutation cases below draw from these."""
    from scratchnet.layers import Conv2D, MaxPool2D

    return [
        (lambda: Conv2D(1, 8, 5, padding="same", algorithm="direct"), (1, 12, 12)),
        (lambda: Conv2D(3, 8, 3, padding=1, algorithm="im2col"), (3, 9, 10)),
        (lambda: Conv2D(32, 32, 3, padding="same", algorithm="winograd"), (32, 8, 8)),
        (lambda: MaxPool2D(2), (4, 8, 8)),
        (lambda: Dense(40, 70), (40,)),
        (ReLU, (300,)),
        (lambda: LSTM(24, 70, return_sequences=True), (6, 24)),
        (lambda: GRU(5, 6), (4, 5)),
    ]


KERNEL_LAYERS = _kernel_layers()


def _step(layer, x, dout):
    """Forward and backward once: the output, the input gradient and every parameter gradient, as bytes."""
    y = layer(x)
    dx = layer.backprop(dout)
    return [y.tobytes(), dx.tobytes()] + [g.tobytes() for g in layer.grads.values()]


@fuzz(25)
@given(
    index=st.integers(0, len(KERNEL_LAYERS) - 1),
    callers=st.integers(2, 4),
    kernel_threads=st.integers(1, 4),
    batch=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_concurrent_python_threads_get_their_serial_results(index, callers, kernel_threads, batch, seed):
    """Several Python threads run the same kind of layer on their own data at once: each gets, bit for bit,
    what it gets alone (no shared scratch, no thread-count race), and OpenBLAS's thread count comes back."""
    import copy
    import threading

    from scratchnet import backend

    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["internal_api"] == "openblas"]

    factory, features = KERNEL_LAYERS[index]
    rng = np.random.default_rng(seed)
    base = factory()
    jobs = []
    for _ in range(callers):
        x = rng.standard_normal((batch, *features)).astype(np.float32)
        y_shape = copy.deepcopy(base)(x).shape
        jobs.append((copy.deepcopy(base), x, rng.standard_normal(y_shape).astype(np.float32)))
    before_threads, before_blas = backend.num_threads(), blas()
    try:
        backend.set_num_threads(kernel_threads)
        alone = [_step(copy.deepcopy(layer), x, d) for layer, x, d in jobs]
        together: list = [None] * callers

        def run(i):
            layer, x, d = jobs[i]
            together[i] = [_step(layer, x, d) for _ in range(3)]

        workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(callers)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=120)
        assert not any(w.is_alive() for w in workers), "a thread hung"
        for i in range(callers):
            assert all(r == alone[i] for r in together[i]), f"caller {i} of {callers}: results differ"
    finally:
        backend.set_num_threads(before_threads)
    assert blas() == before_blas


def test_forked_children_compute_what_the_parent_does():
    """After every kind of kernel ran on several threads, forked workers (multiprocessing's default on Linux)
    run the same layers serially and get the parent's bits (bounded: a hang fails instead of stalling)."""
    script = """
import copy, multiprocessing as mp, pickle, sys
import numpy as np
from scratchnet import backend
sys.path.insert(0, sys.argv[1])
from test_fuzz import KERNEL_LAYERS, _step

backend.set_num_threads(2)
rng = np.random.default_rng(7)
cases = []
for factory, features in KERNEL_LAYERS:
    layer = factory()
    x = rng.standard_normal((3, *features)).astype(np.float32)
    d = rng.standard_normal(copy.deepcopy(layer)(x).shape).astype(np.float32)
    cases.append((layer, x, d))
parent = [_step(copy.deepcopy(l), x, d) for l, x, d in cases]

def child(i):
    l, x, d = cases[i]
    return _step(copy.deepcopy(l), x, d) == parent[i] and backend.num_threads() == 1

with mp.get_context("fork").Pool(2) as pool:
    ok = pool.map_async(child, range(len(cases))).get(timeout=90)
assert all(ok), ok
print("FORK-FUZZ-OK", len(ok))
"""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, str(HERE)], capture_output=True, text=True, env=env, timeout=300
        )
    except subprocess.TimeoutExpired:
        pytest.fail("forked workers hung")
    assert done.returncode == 0 and "FORK-FUZZ-OK" in done.stdout, done.stdout + done.stderr[-3000:]


MUTATIONS = ["none", "same values", "one element", "scale", "slice", "swap"]


@fuzz(120)
@given(
    index=st.integers(0, len(KERNEL_LAYERS) - 1),
    which=st.sampled_from(["input", "output"]),
    mutation=st.sampled_from(MUTATIONS),
    reference=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_in_place_changes_before_backward_raise_or_change_nothing(index, which, mutation, reference, seed):
    """Between forward and backward the caller changes the input or the output in place (or writes back the
    same values): a real change to an array the layer keeps (``saved_for_backward``) makes backward raise;
    any other gives exactly the untouched gradients."""
    import copy

    from scratchnet import backend

    factory, features = KERNEL_LAYERS[index]
    rng = np.random.default_rng(seed)
    layer = factory()
    x = rng.standard_normal((3, *features)).astype(np.float32)
    with backend.reference(reference):
        clean = copy.deepcopy(layer)
        y_clean = clean(x.copy())
        d = rng.standard_normal(y_clean.shape).astype(np.float32)
        expected = [clean.backprop(d).tobytes()] + [g.tobytes() for g in clean.grads.values()]
        y = layer(x)
        target = (x if which == "input" else y).reshape(-1)
        before = target.copy()
        i, j = rng.integers(0, target.size, size=2)
        if mutation == "same values":
            target[...] = before
        elif mutation == "one element":
            target[i] += 1.0
        elif mutation == "scale":
            target *= 100
        elif mutation == "slice":
            target[: max(1, target.size // 3)] = 0.5
        elif mutation == "swap" and target[i] != target[j]:
            target[i], target[j] = before[j], before[i]
        changed = target.tobytes() != before.tobytes()
        if changed and which in layer.saved_for_backward:
            with pytest.raises(RuntimeError, match="changed in place"):
                layer.backprop(d)
        else:  # untouched, or not an array the backward reads: exactly the untouched gradients
            got = [layer.backprop(d).tobytes()] + [g.tobytes() for g in layer.grads.values()]
            assert got == expected


# ------------------------------------------------------------------------------ Conv2D on scaled inputs
def _scaled_field(rng, shape, exponents, zero_quadrant, dtype):
    """Standard normal values whose four quadrants (split at a random row and column) are scaled by 10**e, one
    quadrant possibly all zeros (a ReLU'd region)."""
    z = rng.standard_normal(shape)
    h, w = shape[2:]
    cut_h, cut_w = int(rng.integers(0, h + 1)), int(rng.integers(0, w + 1))
    quadrants = [
        (slice(0, cut_h), slice(0, cut_w)),
        (slice(0, cut_h), slice(cut_w, w)),
        (slice(cut_h, h), slice(0, cut_w)),
        (slice(cut_h, h), slice(cut_w, w)),
    ]
    for q, ((rows, cols), e) in enumerate(zip(quadrants, exponents)):
        z[:, :, rows, cols] *= 0.0 if q == zero_quadrant else 10.0**e
    return z.astype(dtype)


@fuzz(40)
@given(
    k=st.sampled_from([3, 5]),
    channels=st.sampled_from([(32, 32), (32, 40), (40, 32)]),
    hw=st.tuples(st.integers(3, 12), st.integers(3, 12)),
    padding=st.sampled_from(["same", 0, 1, (0, 2, 1, 0)]),
    dtype=st.sampled_from(["float32", "float64"]),
    exponents=st.lists(st.integers(-30, 30), min_size=4, max_size=4),
    grad_exponents=st.lists(st.integers(-30, 30), min_size=4, max_size=4),
    zero_quadrant=st.sampled_from([None, 0, 3]),
    special=st.sampled_from([None, None, "nan", "inf", "huge"]),
    seed=st.integers(0, 2**16),
)
def test_conv2d_auto_is_accurate_on_scaled_inputs(
    k, channels, hw, padding, dtype, exponents, grad_exponents, zero_quadrant, special, seed
):
    """What Conv2D(algorithm="auto") runs (Winograd for these layers, when its guard certifies the call) keeps
    every output within 1e-4 of its own sum |w||x| + |b| and every input gradient within 1e-4 of its sum
    |w||dout|, whatever the scales meeting in the image, and is finite wherever im2col is (issue #25, item 8).
    The weight gradient is checked for finiteness only (scratchnet/fast/winograd.py, "Accuracy")."""
    from scratchnet.layers import Conv2D
    from scratchnet.maths.im2col import col2im, im2col

    c, f = channels
    rng = np.random.default_rng(seed)
    auto = Conv2D(c, f, k, padding=padding, dtype=dtype, rng=np.random.default_rng(seed))
    auto.params["b"][...] = rng.standard_normal(f)
    plain = Conv2D(c, f, k, padding=padding, dtype=dtype, algorithm="im2col")
    plain.params["W"][...], plain.params["b"][...] = auto.params["W"], auto.params["b"]
    x = _scaled_field(rng, (2, c, *hw), exponents, zero_quadrant, dtype)
    if special is not None:
        value = {"nan": np.nan, "inf": np.inf, "huge": 3e36}[special]
        x[rng.integers(2), rng.integers(c), rng.integers(hw[0]), rng.integers(hw[1])] = value
    y = clear_error_or(lambda: auto(x))
    if y is None:  # a geometry with no output
        return
    with np.errstate(all="ignore"):
        y_plain = plain(x)
        dout = _scaled_field(rng, y.shape, grad_exponents, None, dtype)
        dx, dx_plain = auto.backprop(dout), plain.backprop(dout)
        w, b = auto.params["W"].astype(np.float64), auto.params["b"].astype(np.float64)
        pad = auto.pad_for(*hw)
        cols = im2col(x.astype(np.float64), k, k, 1, pad)
        g = dout.astype(np.float64).transpose(1, 0, 2, 3).reshape(f, -1)
        n, _, oh, ow = y.shape
        as_image = lambda a: a.reshape(f, n, oh, ow).transpose(1, 0, 2, 3)  # noqa: E731
        checks = [
            (
                "y",
                y,
                y_plain,
                as_image(w.reshape(f, -1) @ cols + b[:, None]),
                as_image(np.abs(w).reshape(f, -1) @ np.abs(cols) + np.abs(b)[:, None]),
            ),
            (
                "dx",
                dx,
                dx_plain,
                col2im(w.reshape(f, -1).T @ g, x.shape, k, k, 1, pad),
                col2im(np.abs(w).reshape(f, -1).T @ np.abs(g), x.shape, k, k, 1, pad),
            ),
        ]
        for name, got, got_plain, want, scale in checks:
            finite = np.isfinite(got_plain)
            assert np.isfinite(got)[finite].all(), f"{name}: non-finite where im2col's is finite"
            err = np.abs(got.astype(np.float64) - want)
            bad = finite & np.isfinite(want) & (err > 1e-4 * scale)
            assert not bad.any(), f"{name}: error {err[bad].max():.3g} > 1e-4 x {scale[bad].max():.3g}"
        assert np.isfinite(auto.grads["W"])[np.isfinite(plain.grads["W"])].all()
