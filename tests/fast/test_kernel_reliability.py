"""Bad or extreme input never crashes the compiled kernels: every probe runs in a fresh interpreter.

A regression that makes a kernel read or write out of bounds kills the process it runs in. Each probe
below is therefore a small script run with ``python -c``; the test asserts that the child exited
normally and reported every check it was meant to make (``PROBE-OK name``), so a crash shows up as one
failed test with the signal in the message rather than as a dead pytest run.

What the probes cover: index arithmetic at the 2**31 boundary (strides and paddings around 2**31, which
used to overflow C ``int`` sums in im2col, col2im and average-pool backward), empty planes and batches,
read-only, non-contiguous, unaligned and big-endian arrays, bad ``argmax`` arrays handed straight to max-pool
backward, sizes beyond the kernels' index range, and randomized shapes that mix ordinary and huge strides
and paddings -- always comparing the compiled kernels with their NumPy twins bit for bit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scratchnet import backend

REPO = Path(__file__).resolve().parents[2]
try:  # the compiled modules this CPU runs (their names carry the instruction-set level)
    IM2COL, POOLING = (backend.compiled_kernel(name).__name__ for name in ("im2col", "pooling"))
    COMPILED = True
except ImportError:
    IM2COL, POOLING, COMPILED = "scratchnet._kernels.im2col", "scratchnet._kernels.pooling", False
needs_compiled = pytest.mark.skipif(not COMPILED, reason="compiled kernels not built")

# Shared by every probe: the two implementations and small assertion helpers.
PRELUDE = """
import re
import numpy as np
import scratchnet.layers as L
from scratchnet import backend
from scratchnet.maths import im2col as T_IM, pooling as T_POOL
C_IM, C_POOL = backend.compiled_kernel("im2col"), backend.compiled_kernel("pooling")

def same(a, b, what=""):
    # bit for bit, dtype and shape included
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (what, a.dtype, a.shape, b.dtype, b.shape)
    assert a.tobytes() == b.tobytes(), (what, a, b)

def raises(exc, match, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        assert re.search(match, str(e)), f"{exc.__name__} without {match!r}: {e}"
        return
    raise AssertionError(f"expected {exc.__name__} matching {match!r}")

def done(name):
    print("PROBE-OK", name, flush=True)

def both(fn):
    # runs fn(im2col_module, pooling_module) on the compiled kernels and on the twins; returns both results
    return fn(C_IM, C_POOL), fn(T_IM, T_POOL)
"""


def run_probe(code: str, expected: list[str], timeout: int = 180) -> str:
    """Runs ``code`` (after PRELUDE) in a fresh interpreter; asserts a clean exit and every ``done(name)``."""
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=dict(os.environ, PYTHONFAULTHANDLER="1"),
    )
    how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
    assert proc.returncode == 0, (
        f"probe {how}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    )
    reported = {line.split(" ", 1)[1] for line in proc.stdout.splitlines() if line.startswith("PROBE-OK ")}
    missing = [name for name in expected if name not in reported]
    assert not missing, f"probe exited without checking {missing}\nstdout:\n{proc.stdout[-3000:]}"
    return proc.stdout


# -- index arithmetic at the 2**31 boundary -----------------------------------------------------------
@needs_compiled
def test_conv2d_huge_stride_and_padding_reproducer():
    # the reproducer: C int sums overflowed and im2col read far outside x (SIGSEGV)
    run_probe(
        """
        x = np.ones((1, 1, 1, 4), np.float32)
        pad = 2**30
        for s in (2**30, 2**30 + 1, 2**31 - 1, 2**31, 2**31 + 1):
            ow = (4 + 2 * pad - 1) // s + 1
            # the definition: output column o reads pixel o*s - pad, or padding (zero)
            expected = np.array([1.0 if 0 <= o * s - pad < 4 else 0.0 for o in range(ow)], np.float32)
            g = np.arange(1, ow + 1, dtype=np.float32).reshape(1, 1, 1, ow)
            expected_dx = np.zeros(4, np.float32)
            for o in range(ow):
                if 0 <= o * s - pad < 4:
                    expected_dx[o * s - pad] += g[0, 0, 0, o]
            results = []
            for compiled in (True, False):
                backend.use_compiled(compiled)
                conv = L.Conv2D(1, 1, 1, stride=(1, s), padding=(0, 0, pad, pad))
                conv.params["W"][...] = 1
                y = conv(x)
                dx = conv.backprop(g)
                assert y.shape == (1, 1, 1, ow), y.shape
                same(y[0, 0, 0], expected, f"forward s={s}")
                same(dx[0, 0, 0], expected_dx, f"dx s={s}")
                results.append((y, dx, conv.grads["W"]))
            for a, b in zip(*results):
                same(a, b, f"compiled vs twin s={s}")
            done(f"conv s={s}")
        """,
        [f"conv s={s}" for s in (2**30, 2**30 + 1, 2**31 - 1, 2**31, 2**31 + 1)],
    )


BOUNDARY_STRIDES = (2**31 - 1, 2**31, 2**31 + 1, 2**32 + 3)


@needs_compiled
def test_im2col_col2im_at_the_int_boundary():
    # small padding with a stride near 2**31: (pad - j + stride - 1) overflowed in C int
    run_probe(
        f"""
        rng = np.random.default_rng(0)
        for s in {BOUNDARY_STRIDES}:
            for stride, pad in (((1, s), (0, 1, 2, 2)), ((s, 1), (2, 2, 0, 1)), ((s, s), 2),
                                ((s - 7, s), (2**31 - 1, 2**31, 2**30, 2**31 + 5))):
                for dtype in (np.float32, np.float64):
                    x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
                    cols = both(lambda im, _: im.im2col(x, 3, 2, stride, pad))
                    same(*cols, f"im2col {{stride}} {{pad}}")
                    d = rng.standard_normal(cols[0].shape).astype(dtype)
                    same(*both(lambda im, _: im.col2im(d, x.shape, 3, 2, stride, pad)), "col2im")
            done(f"stride {{s}}")
        """,
        [f"stride {s}" for s in BOUNDARY_STRIDES],
    )


@needs_compiled
def test_pooling_at_the_int_boundary():
    # average-pool backward wrote through the same overflowed sum; forwards are checked alongside
    run_probe(
        f"""
        rng = np.random.default_rng(1)
        for s in {BOUNDARY_STRIDES}:
            for (kh, kw), pad in (((1, 3), (0, 0, 2, 2)), ((3, 2), (2, 1, 1, 0)), ((3, 3), 2)):
                for stride in ((1, s), (s, 1), (s, s)):
                    x = rng.standard_normal((2, 3, 4, 5))
                    (out, arg), (ref, ref_arg) = both(lambda _, p: p.maxpool_forward(x, kh, kw, stride, pad))
                    same(out, ref, "max")
                    same(arg, ref_arg, "argmax")
                    g = rng.standard_normal(out.shape)
                    same(*both(lambda _, p: p.maxpool_backward(g, arg, x.shape)), "max backward")
                    for include in (False, True):
                        args = (kh, kw, stride, pad, include)
                        same(*both(lambda _, p: p.avgpool_forward(x, *args)), "avg")
                        same(*both(lambda _, p: p.avgpool_backward(g, x.shape, *args)), "avg backward")
            done(f"stride {{s}}")
        backend.use_compiled(True)
        pool = L.AvgPool2D((1, 3), stride=(1, 2**31 - 1), padding=(0, 0, 2, 2))
        x = rng.standard_normal((1, 2, 3, 4)).astype(np.float32)
        y = pool(x)
        dx = pool.backprop(np.ones_like(y))
        backend.use_compiled(False)
        same(y, pool(x), "AvgPool2D forward")
        same(dx, pool.backprop(np.ones_like(y)), "AvgPool2D backward")
        done("AvgPool2D layer")
        """,
        [f"stride {s}" for s in BOUNDARY_STRIDES] + ["AvgPool2D layer"],
    )


@needs_compiled
def test_randomized_shapes_with_huge_strides_and_padding_match_twins():
    # ordinary and boundary values mixed at random; every kernel against its twin, bit for bit
    run_probe(
        """
        rng = np.random.default_rng(2)
        STRIDES = [1, 2, 3, 2**31 - 1, 2**31, 2**31 + 1, 2**32 + 7]
        PADS = [0, 1, 2, 3, 2**30, 2**31 - 1, 2**31, 2**31 + 3]
        pick = lambda values: int(values[rng.integers(len(values))])
        boundary_cases = pool_cases = 0
        for case in range(300):
            n, c, h, w = (int(v) for v in rng.integers(1, [3, 3, 7, 7], endpoint=True))
            dtype = (np.float32, np.float64)[case % 2]
            x = rng.standard_normal((n, c, h, w)).astype(dtype)
            stride = (pick(STRIDES), pick(STRIDES))
            # a huge padding along an axis with a small stride would make a huge output: keep those small
            pads_h, pads_w = (PADS if st > 2**20 else PADS[:4] for st in stride)
            pad = (pick(pads_h), pick(pads_h), pick(pads_w), pick(pads_w))
            kh, kw = (int(v) for v in rng.integers(1, 4, size=2, endpoint=True))
            kh, kw = min(kh, h + pad[0] + pad[1]), min(kw, w + pad[2] + pad[3])  # the kernel must fit
            cols = both(lambda im, _: im.im2col(x, kh, kw, stride, pad))
            same(*cols, f"im2col case {case}")
            boundary_cases += max(stride + pad) >= 2**30
            d = rng.standard_normal(cols[0].shape).astype(dtype)
            same(*both(lambda im, _: im.col2im(d, x.shape, kh, kw, stride, pad)), f"col2im case {case}")
            ppad = tuple(min(p, k - 1) for p, k in zip(pad, (kh, kh, kw, kw)))
            if h + ppad[0] + ppad[1] < kh or w + ppad[2] + ppad[3] < kw:
                continue
            pool_cases += 1
            (out, arg), (ref, ref_arg) = both(lambda _, p: p.maxpool_forward(x, kh, kw, stride, ppad))
            same(out, ref, f"max case {case}")
            same(arg, ref_arg, f"argmax case {case}")
            g = rng.standard_normal(out.shape).astype(dtype)
            same(*both(lambda _, p: p.maxpool_backward(g, arg, x.shape)), f"max backward case {case}")
            for include in (False, True):
                args = (kh, kw, stride, ppad, include)
                same(*both(lambda _, p: p.avgpool_forward(x, *args)), f"avg case {case}")
                same(*both(lambda _, p: p.avgpool_backward(g, x.shape, *args)), f"avg backward {case}")
        print("boundary cases", boundary_cases, "pool cases", pool_cases)
        assert boundary_cases >= 200 and pool_cases >= 200, (boundary_cases, pool_cases)
        done("randomized")
        """,
        ["randomized"],
    )


# -- empty input ------------------------------------------------------------------------------------
@needs_compiled
def test_empty_planes_and_batches_are_value_errors():
    # MaxPool2D(2, padding=1) used to read outside an empty plane (garbage, SIGSEGV for W = 10**7)
    run_probe(
        """
        for compiled in (True, False):
            backend.use_compiled(compiled)
            for shape in ((1, 1, 0, 8), (1, 1, 0, 10**7), (1, 1, 8, 0), (0, 1, 4, 4), (1, 0, 4, 4)):
                x = np.zeros(shape, np.float32)
                for layer in (L.MaxPool2D(2, padding=1), L.AvgPool2D(2, padding=1)):
                    raises(ValueError, re.escape(repr(layer)) + ".*empty", layer.forward, x)
                conv = L.Conv2D(shape[1] or 1, 2, 3, padding=1)
                if shape[1]:
                    raises(ValueError, r"Conv2D\\(.*(empty|height and width)", conv.forward, x)
            gap = L.GlobalAvgPool2D()
            raises(ValueError, r"GlobalAvgPool2D\\(\\).*H and W", gap.forward, np.zeros((2, 3, 0, 4)))
            for block in (L.ResidualBlock(2, 2), L.InceptionBlock(2, 1, 1, 1, 1, 1, 1)):
                for shape in ((0, 2, 4, 4), (1, 2, 0, 4)):
                    raises(ValueError, re.escape(repr(block)) + ".*empty", block.forward, np.zeros(shape))
            done(f"layers compiled={compiled}")
        for im, pool in ((C_IM, C_POOL), (T_IM, T_POOL)):
            for shape in ((1, 1, 0, 8), (1, 1, 8, 0), (0, 2, 4, 4), (1, 0, 4, 4)):
                x = np.zeros(shape)
                raises(ValueError, "maxpool_forward: x must not be empty", pool.maxpool_forward, x, 2, 2, 1, 1)
                raises(ValueError, "avgpool_forward: x must not be empty", pool.avgpool_forward, x, 2, 2, 1, 1)
                raises(ValueError, "im2col: x must not be empty", im.im2col, x, 1, 1, 1, 1)
                raises(ValueError, "x_shape entries must be positive",
                       pool.avgpool_backward, np.zeros((1, 1, 1, 1)), shape, 2, 2, 1, 1)
                raises(ValueError, "x_shape entries must be positive", im.col2im, np.zeros((1, 1)), shape, 1, 1)
                arg = np.zeros((1, 1, 1, 1), np.int32)
                raises(ValueError, "x_shape entries must be positive",
                       pool.maxpool_backward, np.zeros((1, 1, 1, 1)), arg, shape)
            raises(ValueError, "height and width", T_IM.output_size, 0, 4, 1, 1, 1, 1)
            done(f"kernels {im.__name__}")
        """,
        ["layers compiled=True", "layers compiled=False"]
        + [f"kernels {m}" for m in (IM2COL, "scratchnet.maths.im2col")],
    )


# -- memory layouts ---------------------------------------------------------------------------------
@needs_compiled
def test_read_only_inputs_are_accepted():
    # const memoryviews: a read-only x, dout, cols or argmax (np.load with mmap, broadcasts) is just read
    run_probe(
        """
        rng = np.random.default_rng(3)
        def frozen(a):
            a = np.array(a)
            a.flags.writeable = False
            return a
        x = frozen(rng.standard_normal((2, 3, 6, 7)).astype(np.float32))
        cols = both(lambda im, _: im.im2col(x, 3, 2, (2, 1), (1, 0, 2, 1)))
        same(*cols, "im2col")
        d = frozen(cols[0] * 0.5)
        same(*both(lambda im, _: im.col2im(d, x.shape, 3, 2, (2, 1), (1, 0, 2, 1))), "col2im")
        out, arg = C_POOL.maxpool_forward(x, 3, 3, 2, 1)
        same(out, T_POOL.maxpool_forward(x, 3, 3, 2, 1)[0], "max")
        g, arg = frozen(out * 2), frozen(arg)
        same(*both(lambda _, p: p.maxpool_backward(g, arg, x.shape)), "max backward")
        same(*both(lambda _, p: p.avgpool_forward(x, 3, 3, 2, 1)), "avg")
        same(*both(lambda _, p: p.avgpool_backward(g, x.shape, 3, 3, 2, 1)), "avg backward")
        done("kernels")
        layers = [
            (lambda rng: L.Conv2D(3, 4, 3, padding="same", rng=rng), (2, 3, 6, 7)),
            (lambda rng: L.MaxPool2D(3, stride=2, padding=1), (2, 3, 6, 7)),
            (lambda rng: L.AvgPool2D(2), (2, 3, 6, 7)),
            (lambda rng: L.ResidualBlock(3, 4, stride=2, rng=rng), (2, 3, 6, 7)),
            (lambda rng: L.InceptionBlock(3, 2, 2, 3, 1, 2, 2, rng=rng), (2, 3, 6, 7)),
        ]
        for make, shape in layers:
            xr = frozen(rng.standard_normal(shape).astype(np.float32))
            runs = []
            for compiled in (True, False):
                backend.use_compiled(compiled)
                layer = make(np.random.default_rng(0))
                y = layer(xr)
                runs.append((y, layer.backprop(frozen(np.ones_like(y)))))
            for a, b in zip(*runs):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
            done(type(layer).__name__)
        """,
        ["kernels", "Conv2D", "MaxPool2D", "AvgPool2D", "ResidualBlock", "InceptionBlock"],
    )


@needs_compiled
def test_unusual_layouts_match_twins():
    # strided, reversed, Fortran-order, broadcast (zero-stride), unaligned and big-endian arrays
    run_probe(
        """
        rng = np.random.default_rng(4)
        base = rng.standard_normal((2, 3, 8, 14))
        def unaligned(a):
            buf = np.zeros(a.nbytes + a.itemsize, np.uint8)
            view = np.frombuffer(buf.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
            view[...] = a
            assert not view.flags.aligned
            return view
        layouts = {
            "strided": lambda a: np.repeat(a, 2, axis=-1)[..., ::2],
            "reversed": lambda a: np.flip(np.flip(a).copy()),
            "fortran": np.asfortranarray,
            "broadcast": lambda a: np.broadcast_to(a[:1], a.shape),
            "unaligned": unaligned,
            "big-endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
        }
        for name, layout in layouts.items():
            for dtype in (np.float32, np.float64):
                plain = base.astype(dtype)
                if name == "broadcast":
                    plain = np.ascontiguousarray(np.broadcast_to(plain[:1], plain.shape))
                x = layout(plain)
                same(x, plain.astype(x.dtype), "layout keeps the values")
                cols = C_IM.im2col(x, 3, 2, (2, 3), (1, 2, 0, 1))
                same(cols, T_IM.im2col(x, 3, 2, (2, 3), (1, 2, 0, 1)), f"im2col {name}")
                same(cols, C_IM.im2col(plain, 3, 2, (2, 3), (1, 2, 0, 1)), f"im2col {name} vs plain")
                d = layout(cols)
                same(*both(lambda im, _: im.col2im(d, x.shape, 3, 2, (2, 3), (1, 2, 0, 1))), "col2im")
                out, arg = C_POOL.maxpool_forward(x, 3, 2, 2, 1)
                same(out, T_POOL.maxpool_forward(x, 3, 2, 2, 1)[0], f"max {name}")
                g = layout(np.ascontiguousarray(out))
                same(*both(lambda _, p: p.maxpool_backward(g, arg, x.shape)), f"max backward {name}")
                arg_view = np.asfortranarray(arg)
                same(*both(lambda _, p: p.maxpool_backward(g, arg_view, x.shape)), "fortran argmax")
                same(*both(lambda _, p: p.avgpool_forward(x, 3, 2, 2, 1)), f"avg {name}")
                same(*both(lambda _, p: p.avgpool_backward(g, x.shape, 3, 2, 2, 1)), f"avg backward {name}")
            done(name)
        """,
        ["strided", "reversed", "fortran", "broadcast", "unaligned", "big-endian"],
    )


# -- arguments the kernels cannot honour ------------------------------------------------------------
@needs_compiled
def test_bad_argmax_for_maxpool_backward_is_refused():
    run_probe(
        """
        x = np.random.default_rng(5).standard_normal((2, 3, 4, 6))
        for im, pool in ((C_IM, C_POOL), (T_IM, T_POOL)):
            out, arg = pool.maxpool_forward(x, 2, 2)
            bwd = pool.maxpool_backward
            for bad in (arg.astype(np.int64), arg.astype(">i4"), arg.astype(np.float64), arg.astype(np.int16)):
                raises(TypeError, "argmax must be the int32 array", bwd, out, bad, x.shape)
            raises(TypeError, "argmax must be the int32 array", bwd, out, arg.tolist(), x.shape)
            for bad in (arg[:, :, :1], arg[:1], arg.reshape(2, 3, 1, 6), arg[..., None]):
                raises(ValueError, "same shape", bwd, out, bad, x.shape)
            raises(ValueError, "same shape", bwd, out, arg, (2, 2, 4, 6))
            for value in (-1, 24, 2**31 - 1, -(2**31)):
                bad = arg.copy()
                bad[1, 2, 1, 0] = value
                raises(ValueError, "outside the 4x6 plane", bwd, out, bad, x.shape)
            raises(ValueError, "outside the 2x2 plane", bwd, out, arg, (2, 3, 2, 2))
            # argmax is int32: a plane of 2**31 pixels cannot be indexed (refused before dx is allocated)
            raises(ValueError, "int64 indices", bwd, out, arg, (2, 3, 2**16, 2**15))
            raises(TypeError, "float32 or float64", bwd, out.astype(np.float16), arg, x.shape)
            done(f"argmax {pool.__name__}")
        """,
        [f"argmax {m}" for m in (POOLING, "scratchnet.maths.pooling")],
    )


@needs_compiled
def test_sizes_beyond_the_index_range_are_refused():
    run_probe(
        """
        from scratchnet.maths.im2col import INDEX_LIMIT
        big = INDEX_LIMIT + 1
        x = np.zeros((1, 1, 4, 4))
        for im, pool in ((C_IM, C_POOL), (T_IM, T_POOL)):
            for stride in (big, (1, big), 2**63, 2**64 + 1):
                raises(ValueError, "stride must be at most", im.im2col, x, 2, 2, stride)
                raises(ValueError, "stride must be at most", pool.maxpool_forward, x, 2, 2, stride)
                raises(ValueError, "stride must be at most", pool.avgpool_backward, x, x.shape, 2, 2, stride)
            for pad in (big, (0, 0, 0, big), (2**64, 0)):
                raises(ValueError, "pad must be at most", im.im2col, x, 2, 2, 1, pad)
                raises(ValueError, "pad must be at most", im.col2im, np.zeros((4, 9)), x.shape, 2, 2, 1, pad)
            raises(ValueError, "padded input size must be at most",
                   im.im2col, x, 2, 2, 1, (INDEX_LIMIT, 1, 0, 0))
            for k in (big, 2**63):
                raises(ValueError, "kernel size must be at most", im.im2col, x, k, 1)
                raises(ValueError, "kernel size must be at most", pool.avgpool_forward, x, 1, k)
            # a kernel that does not fit (output size <= 0) and non-positive sizes
            raises(ValueError, "larger than the padded input", im.im2col, x, 5, 1)
            raises(ValueError, "larger than the padded input", pool.maxpool_forward, x, 1, 7, 1, (0, 0, 1, 1))
            raises(ValueError, "kernel size must be positive", pool.maxpool_forward, x, -1, 2)
            raises(ValueError, "stride must be positive", im.col2im, np.zeros((4, 9)), x.shape, 2, 2, -(2**63))
            raises(ValueError, "pad must be >= 0", pool.avgpool_forward, x, 2, 2, 1, (0, 0, -(2**31), 0))
            done(f"limits {im.__name__}")
        for make in (lambda: L.Conv2D(1, 1, 2**62), lambda: L.Conv2D(1, 1, 1, stride=2**62),
                     lambda: L.MaxPool2D(2**62), lambda: L.AvgPool2D(2, stride=(1, 2**63)),
                     lambda: L.MaxPool2D(2, padding=(0, 0, 2**62, 0))):
            raises(ValueError, "at most", make)
        raises(ValueError, r"MaxPool2D: padding .* smaller than the kernel", L.MaxPool2D, 2, padding=2)
        done("layers")
        """,
        [f"limits {IM2COL}", "limits scratchnet.maths.im2col", "layers"],
    )


@needs_compiled
def test_im2col_out_must_be_a_separate_writable_buffer():
    # the compiled kernel writes out while reading x: an alias would corrupt the result
    run_probe(
        """
        x = np.random.default_rng(6).standard_normal((1, 2, 4, 4)).astype(np.float32)
        for im in (C_IM, T_IM):
            ro = np.empty((8, 9), np.float32)
            ro.flags.writeable = False
            raises(ValueError, "writable", im.im2col, x, 2, 2, out=ro)
            buf = np.zeros(200, np.float32)
            xs = buf[:32].reshape(1, 2, 4, 4)
            xs[...] = x
            raises(ValueError, "overlap", im.im2col, xs, 2, 2, out=buf[10:82].reshape(8, 9))
            good = np.empty((8, 9), np.float32)
            same(im.im2col(x, 2, 2, out=good), T_IM.im2col(x, 2, 2), "out")
            done(im.__name__)
        """,
        [IM2COL, "scratchnet.maths.im2col"],
    )


@needs_compiled
def test_boundary_values_with_a_thread_team_match_twins():
    # enough planes that the kernels start a team (work >= 65536); results must not depend on the count
    run_probe(
        """
        rng = np.random.default_rng(7)
        x = rng.standard_normal((48, 64, 4, 5)).astype(np.float32)
        before = backend.num_threads()
        results = []
        for threads in (1, 2):
            backend.set_num_threads(threads)
            stride, pad = (1, 2**31 - 1), (1, 1, 2, 2)
            cols = C_IM.im2col(x, 3, 2, stride, pad)
            dx = C_IM.col2im(cols, x.shape, 3, 2, stride, pad)
            out, arg = C_POOL.maxpool_forward(x, 3, 3, stride, 2)
            dmax = C_POOL.maxpool_backward(out, arg, x.shape)
            avg = C_POOL.avgpool_forward(x, 3, 3, stride, 2)
            davg = C_POOL.avgpool_backward(avg, x.shape, 3, 3, stride, 2)
            results.append([cols, dx, out, arg, dmax, avg, davg])
        backend.set_num_threads(before)
        for a, b in zip(*results):
            same(a, b, "1 vs 2 threads")
        twins = [
            T_IM.im2col(x, 3, 2, stride, pad),
            T_IM.col2im(cols, x.shape, 3, 2, stride, pad),
            *T_POOL.maxpool_forward(x, 3, 3, stride, 2),
            T_POOL.maxpool_backward(out, arg, x.shape),
            T_POOL.avgpool_forward(x, 3, 3, stride, 2),
            T_POOL.avgpool_backward(avg, x.shape, 3, 3, stride, 2),
        ]
        for a, b in zip(results[0], twins):
            same(a, b, "compiled vs twin")
        done("threads")
        """,
        ["threads"],
    )


@needs_compiled
def test_thread_count_beyond_the_limit_is_refused():
    # a team of 10**6 threads makes libgomp abort the process when thread creation fails; no kernel runs
    # here after the call, so a regression shows as a missing error, never as a storm of threads
    run_probe(
        """
        from scratchnet._kernels import openmp_info
        before = openmp_info.max_threads()
        for n in (0, -1, 10**6, 2**31, 2**64, 1.5, "2"):
            raises(ValueError, "set_num_threads: n must be", openmp_info.set_num_threads, n)
        assert openmp_info.max_threads() == before
        openmp_info.set_num_threads(openmp_info.thread_limit())  # the limit itself is allowed
        openmp_info.set_num_threads(before)
        done("threads")
        """,
        ["threads"],
    )


@needs_compiled
def test_pooling_with_a_huge_kernel_touches_only_real_taps():
    # windows of 2**40 x (2**40 + 3) over a 3x4 image: the compiled windows are clipped to the real
    # pixels, and the tap loops (compiled average backward, every twin) visit only taps that reach one
    run_probe(
        """
        rng = np.random.default_rng(8)
        x = rng.standard_normal((2, 3, 3, 4))
        k = (2**40, 2**40 + 3)
        stride, pad = (2**40 - 1, 2**40 + 1), (2**40 - 1, 2**40 - 1, 2**40 + 2, 2**40 + 2)
        for include in (False, True):
            y = both(lambda _, p: p.avgpool_forward(x, *k, stride, pad, include))
            same(*y, "avg")
            g = rng.standard_normal(y[0].shape)
            same(*both(lambda _, p: p.avgpool_backward(g, x.shape, *k, stride, pad, include)), "avg bwd")
        (out, arg), (ref, ref_arg) = both(lambda _, p: p.maxpool_forward(x, *k, stride, pad))
        same(out, ref, "max")
        same(arg, ref_arg, "argmax")
        assert out.shape == (2, 3, 2, 2), out.shape
        for yo in range(2):
            for xo in range(2):
                # the definition: the max over the real pixels of window (yo, xo), first one on ties
                r0, c0 = yo * stride[0] - pad[0], xo * stride[1] - pad[2]
                rows = slice(max(r0, 0), min(r0 + k[0], 3))
                cols = slice(max(c0, 0), min(c0 + k[1], 4))
                block = x[:, :, rows, cols]
                flat = block.reshape(2, 3, -1)
                best = flat.argmax(axis=-1)
                bw = block.shape[3]
                same(out[:, :, yo, xo], flat.max(axis=-1), "max")
                same(arg[:, :, yo, xo], ((rows.start + best // bw) * 4 + cols.start + best % bw).astype(np.int32))
        g = rng.standard_normal(out.shape)
        same(*both(lambda _, p: p.maxpool_backward(g, arg, x.shape)), "max bwd")
        done("huge kernel")
        """,
        ["huge kernel"],
    )
