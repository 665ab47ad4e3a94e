"""Fuzz targets for everything that runs compiled code, meant to run in a child process.

``tests/test_fuzz.py`` starts ``python tests/support/fuzz_compiled.py TARGET PROGRESS_FILE``; a signal (a
segfault in a kernel) then fails that test instead of killing pytest. Before every example the drawn input is
written to ``PROGRESS_FILE``, so when the child dies the parent can name the input that killed it.

Every example must end in one of two ways:

* a clear exception: ``TypeError`` or ``ValueError`` with a message (anything else is a failure), or
* a result that is right: the compiled kernel and its NumPy twin agree bit for bit, and finite input gives
  finite output.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import scratchnet.maths.im2col as twin_im2col
import scratchnet.maths.pooling as twin_pool
from scratchnet import backend
from scratchnet.layers import AvgPool2D, Conv2D, InceptionBlock, MaxPool2D, ResidualBlock

compiled_im2col = backend.kernel("im2col")
compiled_pool = backend.kernel("pooling")
# MemoryError counts as clear only for requests far beyond any machine (see ``plausible``)
CLEAR_ERRORS = (TypeError, ValueError, MemoryError)
PROGRESS: Path | None = None
# Outputs between these sizes would be allocated and filled for real (gigabytes): not worth a probe.
MAX_ELEMENTS = 2_000_000

# sizes: mostly small, sometimes at the edges of C int and Py_ssize_t arithmetic
EDGE = [2**31 - 1, 2**31, 2**31 + 1, 2**30 + 1, 2**32 + 3, 2**62]
small = st.integers(0, 5)
size = st.one_of(small, small, small, st.sampled_from(EDGE))
positive = st.one_of(st.integers(1, 4), st.integers(1, 4), st.sampled_from(EDGE))
dtypes = st.sampled_from(
    ["float32", "float64", "float32", "float64", "float16", ">f4", "int32", "bool", "complex64"]
)


def fuzz_settings(examples: int) -> settings:
    """Reproducible (derandomized) runs of ``examples`` x ``$SCRATCHNET_FUZZ_SCALE`` (default 1) examples."""
    scale = float(os.environ.get("SCRATCHNET_FUZZ_SCALE", "1"))
    return settings(
        max_examples=max(1, round(examples * scale)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


COUNTS = {"examples": 0, "ok": 0, "error": 0}


def note(**spec) -> None:
    """Records the example about to run (the parent prints it if this process dies)."""
    COUNTS["examples"] += 1
    if PROGRESS is not None:
        PROGRESS.write_text(json.dumps(spec, default=repr))


def make_input(shape, dtype: str, seed: int, readonly: bool, strided: bool) -> np.ndarray:
    elements = int(np.prod(shape, dtype=object))
    assume(elements <= MAX_ELEMENTS)
    rng = np.random.default_rng(seed)
    if strided:  # a non-contiguous view with the same shape
        base = rng.uniform(-3, 3, (*shape[:-1], shape[-1] * 2))
        x = base[..., ::2]
    else:
        x = rng.uniform(-3, 3, shape)
    x = x.astype(np.dtype(dtype)) if dtype != "bool" else x > 0
    if readonly:
        x.flags.writeable = False
    return x


def outcome(fn):
    """('ok', value) or ('error', exception type); any exception outside CLEAR_ERRORS propagates."""
    try:
        result = "ok", fn()
    except CLEAR_ERRORS as err:
        assert str(err), f"{type(err).__name__} without a message"
        result = "error", type(err)
    COUNTS[result[0]] += 1
    return result


def same_outcome(a, b, what: str) -> None:
    assert a[0] == b[0], f"{what}: compiled gave {a}, NumPy twin gave {b}"
    if a[0] == "ok":
        xa, xb = (a[1], b[1]) if not isinstance(a[1], tuple) else (a[1][0], b[1][0])
        np.testing.assert_array_equal(xa, xb, err_msg=what)
        assert xa.dtype == xb.dtype, what


def expected_output(h, w, kh, kw, s, p) -> int | None:
    """Output pixels by the usual formula (Python ints, no overflow), None when the window does not fit."""
    oh = (h + p[0] + p[1] - kh) // s[0] + 1
    ow = (w + p[2] + p[3] - kw) // s[1] + 1
    return oh * ow if oh > 0 and ow > 0 else None


hostile_geometry = st.fixed_dictionaries(
    {
        "n": st.integers(0, 3),
        "c": st.integers(0, 3),
        "h": st.integers(0, 6),
        "w": st.one_of(st.integers(0, 6), st.just(10**6)),
        "kh": positive,
        "kw": positive,
        "sh": positive,
        "sw": positive,
        "pad": st.tuples(size, size, size, size),
        "dtype": dtypes,
        "seed": st.integers(0, 2**16),
        "readonly": st.booleans(),
        "strided": st.booleans(),
    }
)
# well-formed geometry (windows fit, pads below the kernel) with edge-sized strides now and then: the results
# of these must agree with the NumPy twins, so they carry the "correct result" half of the contract
valid_geometry = st.fixed_dictionaries(
    {
        "n": st.integers(1, 3),
        "c": st.integers(1, 3),
        "h": st.integers(3, 7),
        "w": st.integers(3, 7),
        "kh": st.integers(1, 3),
        "kw": st.integers(1, 3),
        "sh": st.one_of(st.integers(1, 3), st.sampled_from(EDGE[:4])),
        "sw": st.one_of(st.integers(1, 3), st.sampled_from(EDGE[:4])),
        "pad": st.tuples(*[st.integers(0, 1)] * 4),
        "dtype": st.sampled_from(["float32", "float64", ">f8"]),
        "seed": st.integers(0, 2**16),
        "readonly": st.booleans(),
        "strided": st.booleans(),
    }
)
geometry = st.one_of(valid_geometry, hostile_geometry)


def plausible(n, c, h, w, kh, kw, stride, pad) -> None:
    """Keeps examples whose work is small, or so huge that no machine could allocate it (those must fail
    cleanly); skips the range in between, which would really allocate and fill gigabytes."""
    pixels = expected_output(h, w, kh, kw, stride, pad)
    padded = n * c * (h + pad[0] + pad[1]) * (w + pad[2] + pad[3])  # what the NumPy twins allocate
    work = padded + (pixels or 0) * max(n, 1) * max(c * kh * kw, 1)
    assume(work <= MAX_ELEMENTS or work > 10**14)


def _plausible(g) -> None:
    plausible(g["n"], g["c"], g["h"], g["w"], g["kh"], g["kw"], (g["sh"], g["sw"]), g["pad"])


@fuzz_settings(100)
@given(g=geometry)
def im2col_vs_twin(g) -> None:
    _plausible(g)
    note(target="im2col", **g)
    x = make_input((g["n"], g["c"], g["h"], g["w"]), g["dtype"], g["seed"], g["readonly"], g["strided"])
    args = (g["kh"], g["kw"], (g["sh"], g["sw"]), g["pad"])
    a = outcome(lambda: compiled_im2col.im2col(x, *args))
    b = outcome(lambda: twin_im2col.im2col(x, *args))
    same_outcome(a, b, f"im2col {g}")
    if a[0] == "ok":
        cols = a[1]
        d = outcome(lambda: compiled_im2col.col2im(cols, x.shape, *args))
        e = outcome(lambda: twin_im2col.col2im(cols, x.shape, *args))
        same_outcome(d, e, f"col2im {g}")
        if np.issubdtype(x.dtype, np.floating) and np.isfinite(x).all():
            assert np.isfinite(cols).all()


@fuzz_settings(100)
@given(g=geometry, count_include_pad=st.booleans())
def pooling_vs_twin(g, count_include_pad) -> None:
    _plausible(g)
    note(target="pooling", count_include_pad=count_include_pad, **g)
    x = make_input((g["n"], g["c"], g["h"], g["w"]), g["dtype"], g["seed"], g["readonly"], g["strided"])
    args = (g["kh"], g["kw"], (g["sh"], g["sw"]), g["pad"])
    a = outcome(lambda: compiled_pool.maxpool_forward(x, *args))
    b = outcome(lambda: twin_pool.maxpool_forward(x, *args))
    same_outcome(a, b, f"maxpool_forward {g}")
    if a[0] == "ok":
        out, argmax = a[1]
        np.testing.assert_array_equal(argmax, b[1][1])
        d = outcome(lambda: compiled_pool.maxpool_backward(out, argmax, x.shape))
        e = outcome(lambda: twin_pool.maxpool_backward(out, argmax, x.shape))
        same_outcome(d, e, f"maxpool_backward {g}")
    a = outcome(lambda: compiled_pool.avgpool_forward(x, *args, count_include_pad=count_include_pad))
    b = outcome(lambda: twin_pool.avgpool_forward(x, *args, count_include_pad=count_include_pad))
    same_outcome(a, b, f"avgpool_forward {g}")
    if a[0] == "ok":
        d = outcome(lambda: compiled_pool.avgpool_backward(a[1], x.shape, *args, count_include_pad))
        e = outcome(lambda: twin_pool.avgpool_backward(a[1], x.shape, *args, count_include_pad))
        same_outcome(d, e, f"avgpool_backward {g}")
        if np.isfinite(x).all():
            assert np.isfinite(a[1]).all()


@fuzz_settings(60)
@given(
    shape=st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 5), st.integers(0, 5)),
    x_shape=st.one_of(
        st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
        st.tuples(*[st.sampled_from([0, -1, 1, 2**31, 2**62])] * 4),
    ),
    argmax_kind=st.sampled_from(["int64", "int32", "float64", "huge", "negative", "readonly"]),
    seed=st.integers(0, 2**16),
)
def backward_kernels_with_hostile_arguments(shape, x_shape, argmax_kind, seed) -> None:
    """Backward kernels called directly with mismatched shapes and indices that point outside the plane."""
    note(target="backward", shape=shape, x_shape=x_shape, argmax_kind=argmax_kind, seed=seed)
    rng = np.random.default_rng(seed)
    dout = rng.standard_normal(shape).astype(np.float32)
    plane = x_shape[2] * x_shape[3]
    argmax = rng.integers(0, max(min(plane, 2**31), 1), shape)
    if argmax_kind == "huge":
        argmax = argmax + 2**40
    elif argmax_kind == "negative":
        argmax = -argmax - 1
    elif argmax_kind == "int32":
        argmax = argmax.astype(np.int32)
    elif argmax_kind == "float64":
        argmax = argmax.astype(np.float64)
    elif argmax_kind == "readonly":
        argmax.flags.writeable = False
    a = outcome(lambda: compiled_pool.maxpool_backward(dout, argmax, x_shape))
    b = outcome(lambda: twin_pool.maxpool_backward(dout, argmax, x_shape))
    same_outcome(a, b, f"maxpool_backward {shape} {x_shape} {argmax_kind}")
    cols = rng.standard_normal((shape[0] * 2, shape[1] + shape[2])).astype(np.float32)
    a = outcome(lambda: compiled_im2col.col2im(cols, x_shape, 1, 2, 1, 0))
    b = outcome(lambda: twin_im2col.col2im(cols, x_shape, 1, 2, 1, 0))
    same_outcome(a, b, f"col2im {cols.shape} {x_shape}")


layer_geometry = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["conv", "maxpool", "avgpool", "residual", "inception"]),
        "n": st.integers(0, 2),
        "c": st.integers(1, 3),
        "h": st.integers(0, 6),
        "w": st.integers(0, 6),
        "k": st.integers(1, 3),
        "stride": st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 2), st.sampled_from(EDGE))),
        "padding": st.one_of(
            st.sampled_from(["same", "valid", 0, 1]),
            st.tuples(st.just(0), st.just(0), st.sampled_from(EDGE), st.sampled_from(EDGE)),
        ),
        "dtype": dtypes,
        "dout_dtype": dtypes,
        "seed": st.integers(0, 2**16),
        "readonly": st.booleans(),
    }
)


def build_layer(g):
    k, stride, padding = g["k"], g["stride"], g["padding"]
    if g["kind"] == "conv":
        return Conv2D(g["c"], 2, k, stride=stride, padding=padding)
    if g["kind"] == "maxpool":
        return MaxPool2D(k, stride=stride, padding=padding)
    if g["kind"] == "avgpool":
        return AvgPool2D(k, stride=stride, padding=padding)
    if g["kind"] == "residual":
        return ResidualBlock(g["c"], 2, stride=1 if isinstance(stride, tuple) else stride)
    return InceptionBlock(g["c"], 1, 1, 2, 1, 1, 1)


@fuzz_settings(120)
@given(g=layer_geometry)
def layers_forward_backward(g) -> None:
    """Public layers that run compiled kernels, with hostile geometry, dtypes and read-only input."""
    stride = g["stride"] if isinstance(g["stride"], tuple) else (g["stride"],) * 2
    pad = g["padding"] if isinstance(g["padding"], tuple) else (g["k"],) * 4
    plausible(g["n"], g["c"], g["h"], g["w"], g["k"], g["k"], stride, pad)
    note(target="layer", **g)
    layer = outcome(lambda: build_layer(g))
    if layer[0] == "error":
        return
    layer = layer[1]
    x = make_input((g["n"], g["c"], g["h"], g["w"]), g["dtype"], g["seed"], g["readonly"], False)
    out = outcome(lambda: layer(x))
    if out[0] == "error":
        return
    y = out[1]
    assert y.ndim == 4 and y.shape[0] == g["n"], (y.shape, g)
    if np.issubdtype(x.dtype, np.floating) and np.isfinite(x).all():
        assert np.isfinite(y).all(), f"non-finite output from finite input: {g}"
    dout = make_input(y.shape, g["dout_dtype"], g["seed"] + 1, g["readonly"], False)
    back = outcome(lambda: layer.backprop(dout))
    if not np.issubdtype(dout.dtype, np.floating):
        assert back[0] == "error" and back[1] is TypeError, f"{g}: dout {dout.dtype} gave {back}"
        return
    if back[0] == "ok":
        assert back[1].shape == x.shape
        if np.isfinite(x).all() and np.isfinite(dout).all():
            assert np.isfinite(back[1]).all(), f"non-finite gradient: {g}"


# bounds of the vector kernels to their twins (tests/fast/test_{gelu,layernorm_kernel,softmax,adam}.py), relative
VECTOR_BOUNDS = {"gelu": 1e-6, "layernorm": 1e-4, "softmax": 1e-5, "adam": 0.0}


def close_outcome(a, b, bound: float, what: str) -> None:
    """Both errors, or both results equal within ``bound`` of the twin's largest entry (NaN where the twin's)."""
    assert a[0] == b[0], f"{what}: compiled gave {a}, NumPy twin gave {b}"
    if a[0] == "ok":
        for xa, xb in zip(*(v if isinstance(v, tuple) else (v,) for v in (a[1], b[1]))):
            xa, xb = np.asarray(xa), np.asarray(xb)
            assert xa.shape == xb.shape and xa.dtype == xb.dtype, what
            np.testing.assert_array_equal(np.isnan(xa), np.isnan(xb), err_msg=what)
            finite = np.isfinite(xb) & np.isfinite(xa)
            scale = max(float(np.abs(xb[finite]).max(initial=0.0)), 1.0)
            assert float(np.abs(xa[finite] - xb[finite]).max(initial=0.0)) <= bound * scale, what


def in_place_result(fn, args):
    """fn(*args), or for a function that updates in place (returns None) the arrays it was given."""
    out = fn(*args)
    return tuple(a for a in args if isinstance(a, np.ndarray)) if out is None else out


@fuzz_settings(150)
@given(
    kernel=st.sampled_from(["gelu", "layernorm", "softmax", "adam"]),
    shape=st.lists(st.integers(0, 9), min_size=1, max_size=4),
    dtype=dtypes,
    seed=st.integers(0, 2**16),
    readonly=st.booleans(),
    strided=st.booleans(),
    scale=st.sampled_from([1e-3, 1.0, 50.0, 1e30]),
    mismatch=st.booleans(),
)
def vector_kernels(kernel, shape, dtype, seed, readonly, strided, scale, mismatch) -> None:
    """GELU, LayerNorm, attention's softmax and Adam's kernels against their twins on hostile arrays: other
    dtypes, read-only, strided, empty, huge values, mismatched companion arrays (which must go to the twin)."""
    note(target="vector", kernel=kernel, shape=shape, dtype=dtype, seed=seed, readonly=readonly,
         strided=strided, scale=scale, mismatch=mismatch)  # fmt: skip
    x = make_input(tuple(shape), dtype, seed, readonly, strided)
    if x.dtype.kind == "f":
        with np.errstate(over="ignore"):
            x = (x * scale).astype(x.dtype)
    other = make_input(tuple(shape[:-1]) + (shape[-1] + 1,) if mismatch else tuple(shape), dtype, seed + 1, False, False)  # fmt: skip
    compiled, twin = backend.kernel(kernel), backend.TWINS[kernel]
    twin = __import__(twin, fromlist=["_"])
    with np.errstate(all="ignore"):
        if kernel == "gelu":
            calls = [("gelu", (x,)), ("gelu_backward", (other, x, x))]
        elif kernel == "layernorm":
            gamma = np.ones(shape[-1] + mismatch, x.dtype) if x.dtype.kind == "f" else np.ones(1)
            calls = [("layer_norm", (x, gamma, gamma * 0, 1e-5))]
            inv = np.ones((*shape[:-1], 1), x.dtype) if x.dtype.kind == "f" else np.ones(1)
            calls.append(("layer_norm_backward", (other, x, inv, gamma)))
        elif kernel == "adam":
            calls = [("adam_update", (x.copy() if not readonly else x, other, x * 0, x * 0, 0.9, 0.999, 0.1, 0.5, 1e-8))]  # fmt: skip
        else:
            causal = seed % 2 == 0
            calls = [("softmax_in_place", (x.copy() if not readonly else x, causal)),
                     ("softmax_backward_in_place", (other.copy(), x))]  # fmt: skip
        for name, args in calls:
            fresh = [a.copy() if isinstance(a, np.ndarray) and a.flags.writeable else a for a in args]
            run_compiled, run_twin = getattr(compiled, name), getattr(twin, name)
            got = outcome(lambda f=run_compiled, a=args: in_place_result(f, a))
            want = outcome(lambda f=run_twin, a=fresh: in_place_result(f, a))
            close_outcome(got, want, VECTOR_BOUNDS[kernel], f"{kernel}.{name}")


TARGETS = {
    "vector": vector_kernels,
    "im2col": im2col_vs_twin,
    "pooling": pooling_vs_twin,
    "backward": backward_kernels_with_hostile_arguments,
    "layers": layers_forward_backward,
}


def main(argv: list[str]) -> int:
    global PROGRESS
    target, progress = argv[1], Path(argv[2])
    PROGRESS = progress
    TARGETS[target]()
    progress.write_text(json.dumps({"done": COUNTS}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
