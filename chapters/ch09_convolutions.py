"""Chapter 9: understanding convolutions, from 1-D sums to feature maps of a real picture.

A convolution slides a small kernel along a signal and, at every position, adds up products of the
kernel's taps with the samples under it. Written as a formula, ``y[n] = sum_k x[k] h[n - k]``: the kernel
is read backwards (flipped) as it moves. Reading it forwards instead gives the cross-correlation, which is
what deep-learning libraries compute under the name "convolution"; as the kernel is learned, the flip does
not matter to a network, but it matters when you check a result by hand.

Near the ends of the signal the kernel hangs over the edge, and the three output modes say what to do:
``full`` pads with zeros and keeps every overlap (length N + M - 1), ``same`` keeps as many outputs as the
longer input (the centre of ``full``), ``valid`` keeps only positions where the kernel lies wholly inside
(length N - M + 1). The same ideas carry over to 2-D images, and TensorFlow's ``conv2d`` adds its own
``'SAME'`` rule: output size ceil(n / stride), with the odd pixel of zero padding at the bottom/right.

A layer usually holds several kernels and returns one output plane (a "feature map") per kernel. Max
pooling then shrinks each plane by keeping the largest value of every small window.

On a real picture, hand-made kernels already do something recognisable: the Laplacian
[[0, 1, 0], [1, -4, 1], [0, 1, 0]] responds where the brightness changes (edges) and is zero on flat
areas, a Gaussian kernel blurs. A CNN learns its kernels instead of having them designed.

Fast convolution (scratchnet's own addition, not part of the course). A conv layer is rarely computed as
the four nested loops above. im2col copies every receptive field into one column of a matrix ``cols``;
a kernel laid out as one row then gives every output at once as ``row @ cols``, and a layer's filters,
stacked as rows, give all its feature maps in a single matrix product, which BLAS runs near the
machine's peak. The price is memory: each pixel is copied once per kernel tap. Winograd's minimal
filtering works on small overlapping tiles instead: ``F(m, r)`` computes ``m`` outputs of an ``r``-tap
filter as ``y = AT [(G g) * (BT d)]`` with ``m + r - 1`` element-wise products where the direct sum needs
``m r``. ``BT`` and ``AT`` hold small constants (for F(2, 3) only 0 and +-1, so they cost additions only),
and ``G g`` is computed once per filter, so multiplications are traded for additions. In 2-D an
``m x m`` output tile costs ``(m + r - 1)^2`` products instead of ``m^2 r^2``, and over channels each of
those products becomes a matrix product. The saving is paid in accuracy: the transforms add and subtract
values of different sizes, so float32 rounding grows with the tile; the last section measures both the
time and that error against a float64 convolution.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from _common import data_dir, notes, report, savefig, section, setup

import scratchnet
from scratchnet import backend, init
from scratchnet.datasets import load_mnist_5k
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.pooling import MaxPool2D
from scratchnet.ops.conv import AUTO_DIRECT_CHANNELS, WINOGRAD_TILES
from scratchnet.ops.im2col import im2col
from scratchnet.ops.winograd import ERROR_BOUND, transforms
from scratchnet.plotting import new_figure
from scratchnet.signal import convolve1d, convolve2d, correlate1d, correlate2d, tf_conv2d

LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)
IMAGE_3x3 = np.array([[255, 7, 3], [212, 240, 4], [218, 216, 230]])  # the course's 2-D example
TOY = np.arange(1, 10, dtype=np.float32).reshape(3, 3)  # the course's "toy image" [[1,2,3],[4,5,6],[7,8,9]]
KERNEL_2x2 = np.array([[1, 2], [3, 4]], dtype=np.float32)  # not symmetric, so the tap order shows
# the course's CNN layers that the fast paths serve: (name, batch, C_in, C_out, k, H=W), 'same', stride 1
COURSE_CONV_LAYERS = (
    ("conv 1->32 5x5 28x28", 64, 1, 32, 5, 28),
    ("conv 32->64 5x5 14x14", 64, 32, 64, 5, 14),
    ("conv 64->128 3x3 16x16", 128, 64, 128, 3, 16),
)


def lst(a: Any) -> str:
    """An array as a Python-style nested list, integers without a trailing '.0'."""
    a = np.asarray(a)
    if a.dtype.kind == "f" and np.all(a == np.round(a)):
        a = a.astype(np.int64)
    return str(a.tolist())


def gaussian_kernel(size: int = 7, sigma: float = 1.5) -> np.ndarray:
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    k = np.outer(g, g)
    return k / k.sum()


def convolve_symmetric(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """'same'-size convolution with the border mirrored (scipy's boundary='symm'), built from 'valid':
    extending the picture by its own reflection avoids the dark frame zero padding would draw."""
    kh, kw = k.shape
    top, left = (kh - 1) // 2, (kw - 1) // 2
    padded = np.pad(img, ((top, kh - 1 - top), (left, kw - 1 - left)), mode="symmetric")
    return convolve2d(padded, k, mode="valid")


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Bilinear upscaling by an integer factor, so the edge filter sees smooth strokes, not pixel steps."""
    h, w = img.shape
    ys = np.linspace(0, h - 1, h * factor)
    xs = np.linspace(0, w - 1, w * factor)
    y0 = np.floor(ys).astype(int).clip(0, h - 2)
    x0 = np.floor(xs).astype(int).clip(0, w - 2)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a, b = img[y0][:, x0], img[y0][:, x0 + 1]
    c, d = img[y0 + 1][:, x0], img[y0 + 1][:, x0 + 1]
    return (a * (1 - fy) * (1 - fx) + b * (1 - fy) * fx + c * fy * (1 - fx) + d * fy * fx).astype(np.float64)


def generated_picture(n: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """A grey test picture with flat regions, straight and curved edges on a brightness ramp (0..255);
    also returns the mask of pixels whose whole 3x3 neighbourhood is ramp (away from the border)."""
    yy, xx = np.mgrid[0:n, 0:n] / n
    ramp = 60 + 80 * xx  # a soft left-to-right ramp: the Laplacian of a linear ramp is zero
    img = ramp.copy()
    img[(xx - 0.32) ** 2 + (yy - 0.35) ** 2 < 0.04] = 230  # a disc
    img[(yy > 0.6) & (yy < 0.85) & (xx > 0.5) & (xx < 0.9)] = 20  # a dark rectangle
    img[np.abs(yy - (0.9 - 0.5 * xx)) < 0.015] = 255  # a thin diagonal line
    inside = convolve2d((img == ramp).astype(np.float64), np.ones((3, 3)), mode="same") == 9
    inside[[0, -1], :] = inside[:, [0, -1]] = False  # mirrored borders bend the ramp
    return img, inside


def load_digit() -> tuple[np.ndarray, np.ndarray, str]:
    """One real MNIST digit (a 3, as in the course) from the 5k subset: 28x28 and upscaled 4x to 112x112."""
    ds = load_mnist_5k(data_dir=data_dir())
    idx = int(np.flatnonzero(ds.y == 3)[0])
    print(f"data: mnist_5k image #{idx} (label 3) from {ds.path or ds.source} ({ds.source})")
    small = ds.x[idx].astype(np.float64)
    # bilinear upscaling is piecewise linear, which the Laplacian would show as a grid: smooth it first
    big = convolve_symmetric(upscale(small, 4), gaussian_kernel(9, 2.0))
    return small, big, f"MNIST 5k #{idx} ({ds.source}), 4x upscaled"


def show_row(fig, row: int, nrows: int, images: list[tuple[str, np.ndarray]], cmap: str = "gray") -> None:
    for j, (title, img) in enumerate(images):
        ax = fig.add_subplot(nrows, len(images), row * len(images) + j + 1)
        ax.imshow(img, cmap=cmap, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])


def im2col_by_hand(rows: list[tuple[Any, ...]]) -> None:
    """im2col on the toy image: 4 windows of a 2x2 kernel become the 4 columns of ``cols``."""
    section("im2col by hand: the toy image and the 2x2 kernel [[1, 2], [3, 4]] (scratchnet's addition)")
    cols = im2col(TOY[None, None], 2, 2, 1, 0)  # (C*kh*kw, N*OH*OW) = (4, 4)
    row = KERNEL_2x2.reshape(1, -1)
    product = (row @ cols).reshape(2, 2)
    direct = correlate2d(TOY, KERNEL_2x2, "valid")
    windows = [(y, x) for y in range(2) for x in range(2)]
    print("  cols: one row per kernel tap (i, j), one column per output pixel (y, x)")
    print("              " + "".join(f"out{w}".rjust(11) for w in windows))
    for (i, j), values in zip(windows, cols):
        print(f"    tap ({i}, {j})" + "".join(f"{v:11.0f}" for v in values))
    print(f"  kernel as a row: {lst(row)}")
    print(f"  row @ cols = {lst(row @ cols)} -> as 2x2: {lst(product)}")
    print(f"  direct cross-correlation (correlate2d, 'valid'): {lst(direct)}")
    print(f"  e.g. out(0, 0) = 1*1 + 2*2 + 3*4 + 4*5 = {1 * 1 + 2 * 2 + 3 * 4 + 4 * 5}")
    assert np.array_equal(product, direct), (product, direct)
    rows.append(("im2col by hand: row @ cols", "(not in the course)", lst(product), "toy 3x3, 2x2 kernel"))
    rows.append(("im2col by hand: direct", "(not in the course)", lst(direct), "toy 3x3, 2x2 kernel"))


def nonzero_additions(t: np.ndarray) -> int:
    """Additions a transform matrix costs applied to a vector: (non-zero entries - 1) per row."""
    return int(sum(max(0, np.count_nonzero(r) - 1) for r in t))


def winograd_by_hand(rows: list[tuple[Any, ...]]) -> None:
    """F(2, 3) step by step on d = (1, 2, 3, 4), g = (1, 0, -1); then the 2-D products per tile."""
    section("Winograd by hand: F(2, 3) with d = (1, 2, 3, 4), g = (1, 0, -1) (scratchnet's addition)")
    AT, G, BT = transforms(2, 3)
    d = np.array([1.0, 2.0, 3.0, 4.0])
    g = np.array([1.0, 0.0, -1.0])
    # + 0.0 turns the -0.0 a sign flip leaves into 0.0 for printing
    bd, gg = BT @ d + 0.0, G @ g + 0.0
    product = bd * gg + 0.0
    y = AT @ product + 0.0
    direct = correlate1d(d, g, mode="valid")
    for name, t in (("BT", BT), ("G", G), ("AT", AT)):
        print(f"  {name} = {(t + 0.0).tolist()}")
    print("  (the first rows of BT and G have the opposite sign to Lavin and Gray's; the signs cancel)")
    print(f"  BT d = {lst(bd)}   G g = {lst(gg)} (once per filter)")
    print(f"  (G g) * (BT d) = {lst(product)}   AT [..] = {lst(y)}")
    print(f"  direct: y_i = sum_k g_k d_(i+k) = {lst(direct)}")
    alpha, m, r = BT.shape[0], AT.shape[0], G.shape[1]
    adds = nonzero_additions(BT) + nonzero_additions(AT)
    print(
        f"  multiplications: {alpha} (element-wise) vs {m * r} direct; additions: {adds} "
        f"(BT d: {nonzero_additions(BT)}, AT: {nonzero_additions(AT)}) vs {m * (r - 1)} direct"
    )
    assert np.array_equal(y, direct), (y, direct)
    rows.append(("Winograd F(2,3) by hand: y", "(not in the course)", lst(y), "d=(1,2,3,4), g=(1,0,-1)"))
    rows.append(("Winograd F(2,3) by hand: direct", "(not in the course)", lst(direct), "d=(1,2,3,4), g=(1,0,-1)"))  # fmt: skip
    rows.append(("Winograd F(2,3): multiplications", "(not in the course)", f"{alpha} vs {m * r}", "per 2 outputs"))  # fmt: skip

    # 2-D: Y = AT [(G g GT) * (BT d B)] A on one 4x4 tile
    d2 = np.arange(1.0, 17.0).reshape(4, 4)
    g2 = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [2.0, 0.0, 1.0]])
    y2 = AT @ ((G @ g2 @ G.T) * (BT @ d2 @ BT.T)) @ AT.T
    direct2 = correlate2d(d2, g2, "valid")
    print(f"  2-D F(2x2, 3x3) on the tile {lst(d2)} with g = {lst(g2)}:")
    print(f"    AT [(G g GT) * (BT d B)] A = {lst(np.round(y2, 9))}   direct: {lst(direct2)}")
    assert np.allclose(y2, direct2, rtol=0, atol=1e-12), (y2, direct2)
    rows.append(("Winograd F(2x2,3x3) by hand: Y", "(not in the course)", lst(np.round(y2, 9)), "4x4 tile"))
    rows.append(("Winograd F(2x2,3x3) by hand: direct", "(not in the course)", lst(direct2), "4x4 tile"))
    print("  multiplications per output tile (element-wise products vs direct):")
    for m2, r2 in [(2, 3)] + [(WINOGRAD_TILES[k], k) for k in sorted(WINOGRAD_TILES)]:
        AT2, G2, BT2 = transforms(m2, r2)
        winograd, plain = BT2.shape[0] ** 2, AT2.shape[0] ** 2 * G2.shape[1] ** 2
        print(f"    F({m2}x{m2}, {r2}x{r2}): {winograd} vs {plain} ({plain / winograd:.2f}x fewer)")
        rows.append(
            (
                f"F({m2}x{m2},{r2}x{r2}) multiplications/tile",
                "(not in the course)",
                f"{winograd} vs {plain}",
                "count",
            )  # fmt: skip
        )


def relative_error(a: np.ndarray, ref: np.ndarray) -> float:
    """max |a - ref| / max |ref|: the error relative to the largest value of the float64 result."""
    return float(np.abs(np.asarray(a, np.float64) - ref).max() / np.abs(ref).max())


def conv_step(layer: Conv2D, x: np.ndarray, dout: np.ndarray, reference: bool) -> tuple[np.ndarray, ...]:
    """One forward + backward of ``layer``; returns (y, dx, dW)."""
    with backend.reference(reference):
        y = layer.forward(x)
        dx = layer.backward(dout)
    return y, dx, layer.grads["W"]


def time_conv_algorithms(args: Any, rows: list[tuple[Any, ...]]) -> None:
    """The NumPy reference, the im2col kernel, Winograd and (few channels) the direct kernel on the course's
    conv layers: time and error."""
    section("ways to run a conv layer: time and error, forward + backward (scratchnet's addition)")
    repeats = 1 if args.quick else 5
    print(
        f"  float32, 'same', stride 1; median of {repeats} interleaved run(s) after one untimed run; "
        "error = max |err| / max |float64 result| (float64 from the same float32 weights and input)"
    )
    print(
        f"  {'layer':29s} {'algorithm':22s} {'median ms':>9s} {'speed-up':>9s} "
        f"{'err y':>9s} {'err dx':>9s} {'err dW':>9s}"
    )
    for name, batch, c, f, k, h in COURSE_CONV_LAYERS:
        n = 4 if args.quick else batch
        rng = np.random.default_rng(args.seed)
        x = rng.standard_normal((n, c, h, h), dtype=np.float32)
        dout = rng.standard_normal((n, f, h, h), dtype=np.float32)
        weights = Conv2D(c, f, k, padding="same", rng=rng).params["W"]  # He-initialised
        bias = (0.1 * rng.standard_normal(f)).astype(np.float32)
        m = WINOGRAD_TILES[k]
        runs = {  # label: (layer, on the reference tier?)
            "NumPy reference": ("im2col", True),
            "im2col kernel": ("im2col", False),
            f"Winograd F({m}x{m},{k}x{k})": ("winograd", False),
        }
        if c <= AUTO_DIRECT_CHANNELS:  # the few-channel kernel "auto" picks; far slower on wide layers
            runs["direct kernel"] = ("direct", False)
        layers = {}
        for label, (algorithm, _) in runs.items():
            layer = Conv2D(c, f, k, padding="same", algorithm=algorithm)
            layer.params["W"][...], layer.params["b"][...] = weights, bias
            layers[label] = layer
        exact = Conv2D(c, f, k, padding="same", dtype=np.float64)
        exact.params["W"][...], exact.params["b"][...] = weights, bias  # float32 values, held in float64
        ref = conv_step(exact, x.astype(np.float64), dout.astype(np.float64), reference=True)
        errors = {}
        for label, (_, on_reference) in runs.items():  # also the untimed warm-up run
            got = conv_step(layers[label], x, dout, on_reference)
            errors[label] = [relative_error(a, b) for a, b in zip(got, ref)]
        times: dict[str, list[float]] = {label: [] for label in runs}
        for _ in range(repeats):  # interleaved, so a busy moment of the machine hits all alike
            for label, (_, on_reference) in runs.items():
                start = time.perf_counter()
                conv_step(layers[label], x, dout, on_reference)
                times[label].append(time.perf_counter() - start)
        ms = {label: 1000 * float(np.median(t)) for label, t in times.items()}
        for label in runs:
            speedup = ms["NumPy reference"] / ms[label]
            err_y, err_dx, err_dw = errors[label]
            print(
                f"  {name + f' N={n}':29s} {label:22s} {ms[label]:9.1f} {speedup:8.2f}x "
                f"{err_y:9.1e} {err_dx:9.1e} {err_dw:9.1e}"
            )
            rows.append(
                (
                    f"{name}: {label}",
                    "(not in the course)",
                    f"{ms[label]:.1f} ms, {speedup:.2f}x, err {max(errors[label]):.1e}",
                    f"N={n}, float32, fwd+bwd",
                )
            )
        winograd = f"Winograd F({m}x{m},{k}x{k})"
        bound = ERROR_BOUND[(m, k)][np.float32]
        assert max(errors[winograd]) < bound, (name, errors[winograd], bound)
    print(
        "  (speed-up: the reference's time over the algorithm's; err: the largest of y, dx, dW in the table)"
    )


def main() -> None:
    args = setup("ch09_convolutions", __doc__)
    rows: list[tuple[Any, ...]] = []

    section("1-D convolution by hand: x = [3, 4, 5], h = [2, 1, 0]")
    y = convolve1d([3, 4, 5], [2, 1, 0], mode="full")
    for n in range(len(y)):
        terms = [f"x[{k}]h[{n - k}]" for k in range(3) if 0 <= n - k < 3]
        print(f"  y[{n}] = {' + '.join(terms) or '0'} = {y[n]}")
    print(f"  y = {lst(y)}  (numpy.convolve: {lst(np.convolve([3, 4, 5], [2, 1, 0]))})")
    rows.append(("1-D [3,4,5]*[2,1,0], full", "[6, 11, 14, 5, 0]", lst(y), "hand example"))

    section("output modes: x = [6, 2], h = [1, 2, 5, 4]")
    modes = {m: convolve1d([6, 2], [1, 2, 5, 4], mode=m) for m in ("full", "same", "valid")}
    for m, v in modes.items():
        print(f"  {m:5s}: {lst(v)}   (numpy: {lst(np.convolve([6, 2], [1, 2, 5, 4], m))})")
    corr = correlate1d([1, 2, 5, 4], [6, 2], mode="valid")
    print(f"  cross-correlation (no flip), valid: {lst(corr)} -- differs: the kernel is not reversed")
    rows.append(("modes: full", "[6, 14, 34, 34, 8]", lst(modes["full"]), "hand example"))
    rows.append(("modes: same", "[6, 14, 34, 34]", lst(modes["same"]), "hand example"))
    rows.append(("modes: valid", "[14, 34, 34]", lst(modes["valid"]), "hand example"))

    section("2-D convolution of a 3x3 image")
    g1 = np.array([[-1, 1]])
    g2 = np.array([[-1, 1], [2, 3]])
    v1, f1 = convolve2d(IMAGE_3x3, g1, "valid"), convolve2d(IMAGE_3x3, g1, "full")
    f2, s2, va2 = (convolve2d(IMAGE_3x3, g2, m) for m in ("full", "same", "valid"))
    print(f"  I = {lst(IMAGE_3x3)}")
    print(f"  g = [[-1, 1]]            valid {lst(v1)}")
    print(f"                           full  {lst(f1)}")
    print(f"  g = [[-1, 1], [2, 3]]    full  {lst(f2)}")
    print(f"                           same  {lst(s2)}")
    print(f"                           valid {lst(va2)}")
    print(f"  last row of full: {lst(f2[-1])}; by hand 218*2 + 0 = 436, 216*2 + 218*3 = {216 * 2 + 218 * 3}")
    print(
        f"  cross-correlation (no flip) of g = [[-1, 1]], valid: {lst(correlate2d(IMAGE_3x3, g1, 'valid'))}"
    )
    rows.append(("2-D g=[[-1,1]], valid", "[[248,4],[-28,236],[2,-14]]", lst(v1), "3x3 example"))
    rows.append(("2-D g=[[-1,1]], full, row 2", "[-212, -28, 236, 4]", lst(f1[1]), "3x3 example"))
    rows.append(("2-D g=[[-1,1],[2,3]], full, row 2", "[298, 751, 263, 13]", lst(f2[1]), "3x3 example"))
    rows.append(("2-D g=[[-1,1],[2,3]], full, last row", "[436, 1066, 1108, 690] (1066: misprint)", lst(f2[-1]), "3x3 example"))  # fmt: skip
    rows.append(("2-D g=[[-1,1],[2,3]], same, row 3", "[206, 1118, 714]", lst(s2[2]), "3x3 example"))

    section("TensorFlow-style conv2d (cross-correlation) of the toy image with a 2x2 ones kernel")
    ones = np.ones((2, 2), dtype=np.float32)
    tv, ts = tf_conv2d(TOY, ones, padding="valid"), tf_conv2d(TOY, ones, padding="same")
    print(f"  image {lst(TOY)}")
    print(f"  VALID -> shape {tv.shape}: {lst(tv)}")
    print(f"  SAME  -> shape {ts.shape}: {lst(ts)}  (one zero row/column added at the bottom/right)")
    # the same through the layer a CNN uses: Conv2D, padding='same', weights set by hand
    conv = Conv2D(1, 1, 2, padding="same", weight_init=init.get("constant", value=1.0))
    layer_same = conv.forward(TOY[None, None])[0, 0]
    print(f"  Conv2D(1, 1, 2, padding='same') with ones: {lst(layer_same)}")
    rows.append(("TF conv 2x2 ones, VALID", "[[12,16],[24,28]]", lst(tv), "toy 3x3"))
    rows.append(("TF conv 2x2 ones, SAME", "[[12,16,9],[24,28,15],[15,17,9]]", lst(ts), "toy 3x3"))
    rows.append(("Conv2D layer, 'same'", "(same as TF)", lst(layer_same), "toy 3x3"))

    section("three filters at once: weights x1, x10, x-1 (Conv2D(1, 3, 2, padding='same'))")
    conv3 = Conv2D(1, 3, 2, padding="same", weight_init="zeros")
    conv3.params["W"][...] = np.array([1.0, 10.0, -1.0], dtype=np.float32).reshape(3, 1, 1, 1)
    maps3 = conv3.forward(TOY[None, None])[0]
    for name, m in zip(("x1", "x10", "x-1"), maps3):
        print(f"  filter {name:4s}: {lst(m)}")
    rows.append(("3 filters: x10 map", "[[120,160,90],[240,280,150],[150,170,90]]", lst(maps3[1]), "toy 3x3"))
    rows.append(("3 filters: x-1 map", "[[-12,-16,-9],[-24,-28,-15],[-15,-17,-9]]", lst(maps3[2]), "toy 3x3"))
    fig = new_figure(7.5, 2.6)
    show_row(fig, 0, 1, [(f"filter {n}", m) for n, m in zip(("x1", "x10", "x-1"), maps3)])
    fig.suptitle("one 3x3 image, three 2x2 filters -> three feature maps")
    savefig(fig, args, "three_filters.png")

    section("max pooling")
    small = np.array([[4, 3], [2, 1]], dtype=np.float32)[None, None]
    p_same = MaxPool2D(2, stride=1, padding="same").forward(small)[0, 0]
    print(f"  [[4, 3], [2, 1]], 2x2 window, stride 1, SAME -> {lst(p_same)}")
    slice4 = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=np.float32)
    p4 = MaxPool2D(2).forward(slice4[None, None])[0, 0]
    print(f"  {lst(slice4)}, 2x2 window, stride 2 -> {lst(p4)}")
    big = MaxPool2D(2).output_shape((1, 64, 224, 224))
    print(f"  a 224x224x64 volume pooled 2x2 stride 2 -> {big[2]}x{big[3]}x{big[1]}")
    rows.append(("max pool [[4,3],[2,1]] 2x2 s1 SAME", "[[4,3],[2,1]]", lst(p_same), "toy 2x2"))
    rows.append(("max pool 2x2 s2 on 4x4 slice", "(figure only)", lst(p4), "4x4 slice"))
    rows.append(("pool 224x224x64, 2x2 s2", "112x112x64", f"{big[2]}x{big[3]}x{big[1]}", "shape only"))

    section("edges and blur on real pictures")
    digit28, digit, digit_label = load_digit()
    picture, ramp_only = generated_picture(64 if args.quick else 160)
    blur = gaussian_kernel(7, 1.5)
    results = {}
    for name, img in (("digit", digit), ("generated", picture)):
        edges = convolve_symmetric(img, LAPLACIAN)
        blurred = convolve_symmetric(img, blur)
        results[name] = (img, edges, blurred)
        print(
            f"  {name:9s} {img.shape}: |laplacian| mean {np.abs(edges).mean():7.2f}, max {np.abs(edges).max():6.1f}; "
            f"blur keeps the mean ({img.mean():.2f} -> {blurred.mean():.2f}), lowers the spread "
            f"({img.std():.1f} -> {blurred.std():.1f})"
        )
    edges = results["generated"][1]
    flat_resp = float(np.abs(edges[ramp_only]).max())
    edge_resp = float(np.abs(edges[~ramp_only]).max())
    print(
        f"  Laplacian on the smooth ramp: max |response| {flat_resp:.2g} ({ramp_only.sum()} pixels); "
        f"at the shapes' edges up to {edge_resp:.0f}"
    )
    rows.append(
        (
            "Laplacian on flat/ramp regions",
            "0 (zero-sum kernel)",
            f"{flat_resp:.2g} (edges: {edge_resp:.0f})",
            "generated picture",
        )
    )
    fig = new_figure(10, 5.4)
    for r, (name, (im, ed, bl)) in enumerate(results.items()):
        show_row(
            fig,
            r,
            2,
            [
                (f"{name}: input", im),
                ("|Laplacian|", np.abs(ed)),
                ("Laplacian (signed)", ed),
                ("Gaussian blur 7x7", bl),
            ],
        )
    fig.suptitle(f"hand-made kernels: edge detector and blur ({digit_label}; generated picture)")
    savefig(fig, args, "edges_blur.png")

    section("a conv layer and max pooling on one digit (5 random 3x3 filters, stride 2, SAME)")
    scratchnet.seed(args.seed)
    small_digit = digit28[None, None].astype(np.float32) / 255.0
    conv5 = Conv2D(1, 5, 3, stride=2, padding="same", weight_init=init.get("normal", std=0.01), bias=False)
    fmap = conv5.forward(small_digit)
    pooled = MaxPool2D(2, stride=2, padding="same").forward(fmap)
    print(f"  input {small_digit.shape} -> conv {fmap.shape} -> max pool {pooled.shape}")
    rows.append(
        ("conv 3x3x1x5, stride 2, SAME", "(?, 14, 14, 5)", f"(N, C, H, W) = {fmap.shape}", "one digit")
    )
    rows.append(("then max pool 2x2 s2 SAME", "(1, 7, 7, 5)", f"{pooled.shape}", "one digit"))
    fig = new_figure(9, 4)
    show_row(fig, 0, 2, [(f"conv map {i}", fmap[0, i]) for i in range(5)])
    show_row(fig, 1, 2, [(f"pooled {i}", pooled[0, i]) for i in range(5)])
    fig.suptitle("feature maps of one digit: 14x14 after the strided conv, 7x7 after pooling")
    savefig(fig, args, "feature_maps.png")

    im2col_by_hand(rows)
    winograd_by_hand(rows)
    time_conv_algorithms(args, rows)

    report(rows)
    notes(
        "The course prints the full 2-D convolution with g = [[-1, 1], [2, 3]] with 1066 in its last row; "
        "the correct value is 2*216 + 3*218 = 1086 (numpy/scipy agree with us), a misprint in the text.",
        "The course's 1-D 'same' and 'valid' results follow numpy.convolve: 'same' has max(N, M) entries "
        "taken from the centre of 'full', 'valid' keeps the max(N, M) - min(N, M) + 1 overlaps.",
        "TensorFlow's conv2d is a cross-correlation (no flip); with a symmetric kernel such as the 2x2 ones "
        "the two coincide. The 4x4 max-pool slice is shown only as a figure in the course.",
        "The course filters a photo and a scanned 3 downloaded from the web; offline we use a real MNIST 3 "
        "(upscaled) and a generated picture. Borders are mirrored as in scipy's boundary='symm'.",
        "The im2col/Winograd sections are scratchnet's own addition (the course has no such figures). Their "
        "times depend on the machine and its load; the errors do not: Winograd's come from its transforms, "
        "and scratchnet's tests hold them within ERROR_BOUND (scratchnet/ops/winograd.py).",
    )


if __name__ == "__main__":
    main()
