"""Chapter 9: understanding convolutions, from 1-D sums to feature maps of a real picture.

What the course claims (the "understanding convolutions" notebook of the Deep Learning with TensorFlow course,
the CNN-basics lab of the ML&DL deck, the Big Data Mining CNN lecture; worked examples, no training):

* 1-D: [3, 4, 5] convolved with [2, 1, 0] is [6, 11, 14, 5, 0]; for [6, 2] and [1, 2, 5, 4] numpy's three
  modes give full [6, 14, 34, 34, 8], same [6, 14, 34, 34] and valid [14, 34, 34];
* 2-D, on the 3x3 image [[255, 7, 3], [212, 240, 4], [218, 216, 230]]: [[-1, 1]] gives [[248, 4], [-28, 236],
  [2, -14]] ('valid'); [[-1, 1], [2, 3]] gives full, same and valid maps (its printed full map has 1066 in
  the last row, a misprint); then an edge kernel is run over a photo and a scanned digit;
* TensorFlow's conv2d on the toy image [[1, 2, 3], [4, 5, 6], [7, 8, 9]] with a 2x2 kernel of ones: VALID
  [[12, 16], [24, 28]], SAME [[12, 16, 9], [24, 28, 15], [15, 17, 9]]; three filters (weights 1, 10, -1)
  give three maps; one MNIST digit through five random 3x3 filters at stride 2 is (?, 14, 14, 5), and
  after 2x2 max pooling (1, 7, 7, 5);
* max pooling: 2x2 at stride 1, SAME keeps [[4, 3], [2, 1]]; a 224x224x64 volume pooled 2x2 at stride 2 is
  112x112x64 (a pooled 4x4 slice is shown as a figure).

Why: a convolution slides a small kernel over a signal and sums the products of its taps with the samples
under it, reading the kernel backwards (flipped); read forwards it is the cross-correlation that deep-learning
libraries compute under the name (a learned kernel does not care, a hand check does). The modes and
TensorFlow's 'SAME' say what happens at the borders; each kernel gives one feature map, pooling shrinks it.
Hand-made kernels (the Laplacian: edges; a Gaussian: blur) show what a CNN's learned ones can do. Fast
convolution is scratchnet's own addition: im2col turns a layer into one matrix product, Winograd's F(m, r)
trades multiplications for additions (m + r - 1 products for m outputs of an r-tap filter, not m r) and
float32 accuracy. The script prints every worked example next to the course's numbers, filters a real
MNIST 3 and a generated picture, and times the ways to run the course's conv layers with their error
against float64; ``<out>/results.md`` keeps the final table with the command and the wall time.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from _common import data_dir, notes, report, savefig, section, setup, write_results

import scratchnet
from scratchnet import backend, init
from scratchnet.datasets import load_mnist_5k
from scratchnet.fast.conv import AUTO_DIRECT_CHANNELS, WINOGRAD_TILES
from scratchnet.fast.winograd import ERROR_BOUND, transforms
from scratchnet.layers import Conv2D, MaxPool2D
from scratchnet.maths.im2col import im2col
from scratchnet.maths.signal import convolve1d, convolve2d, correlate1d, correlate2d, tf_conv2d
from scratchnet.plotting import new_figure

LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)
IMAGE_3x3 = np.array([[255, 7, 3], [212, 240, 4], [218, 216, 230]])  # the course's 2-D example
TOY = np.arange(1, 10, dtype=np.float32).reshape(3, 3)  # the course's "toy image" [[1,2,3],[4,5,6],[7,8,9]]
KERNEL_2x2 = np.array([[1, 2], [3, 4]], dtype=np.float32)  # not symmetric, so the tap order shows
# the course's CNN layers that the fast paths serve: (name, batch, C_in, C_out, k, H=W), 'same', stride 1
COURSE_CONV_LAYERS = (("conv 1->32 5x5 28x28", 64, 1, 32, 5, 28), ("conv 32->64 5x5 14x14", 64, 32, 64, 5, 14),
                      ("conv 64->128 3x3 16x16", 128, 64, 128, 3, 16))  # fmt: skip
NEW = "(not in the course)"


def lst(a: Any) -> str:
    """An array as a Python-style nested list, integers without a trailing '.0'."""
    a = np.asarray(a)
    return str((a.astype(np.int64) if a.dtype.kind == "f" and np.all(a == np.round(a)) else a).tolist())


# -- pictures ------------------------------------------------------------------------------------------------
def gaussian_kernel(size: int = 7, sigma: float = 1.5) -> np.ndarray:
    g = np.exp(-((np.arange(size) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    return np.outer(g, g) / np.outer(g, g).sum()


def convolve_symmetric(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """'same'-size convolution with the border mirrored (scipy's boundary='symm'), built from 'valid':
    extending the picture by its own reflection avoids the dark frame zero padding would draw."""
    (kh, kw), top, left = k.shape, (k.shape[0] - 1) // 2, (k.shape[1] - 1) // 2
    padded = np.pad(img, ((top, kh - 1 - top), (left, kw - 1 - left)), mode="symmetric")
    return convolve2d(padded, k, mode="valid")


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Bilinear upscaling by an integer factor, so the edge filter sees smooth strokes, not pixel steps."""
    h, w = img.shape
    ys, xs = np.linspace(0, h - 1, h * factor), np.linspace(0, w - 1, w * factor)
    y0, x0 = np.floor(ys).astype(int).clip(0, h - 2), np.floor(xs).astype(int).clip(0, w - 2)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a, b, c, d = img[y0][:, x0], img[y0][:, x0 + 1], img[y0 + 1][:, x0], img[y0 + 1][:, x0 + 1]
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


def picture_grid(args, filename: str, size: tuple[float, float], title: str, grid: list[list[tuple]]) -> None:
    """Saves rows of (title, image) panels in grey as one figure."""
    fig = new_figure(*size)
    for r, images in enumerate(grid):
        for j, (label, img) in enumerate(images):
            ax = fig.add_subplot(len(grid), len(images), r * len(images) + j + 1)
            ax.imshow(img, cmap="gray", interpolation="nearest")
            ax.set_title(label, fontsize=8)
            ax.set(xticks=[], yticks=[])
    fig.suptitle(title)
    savefig(fig, args, filename)


# -- the course's examples -----------------------------------------------------------------------------------
def convolution_1d(rows: list) -> None:
    """The notebook's 1-D part: a convolution by hand, then the three output modes."""
    section("1-D convolution by hand: x = [3, 4, 5], h = [2, 1, 0]")
    y = convolve1d([3, 4, 5], [2, 1, 0], mode="full")
    for n in range(len(y)):
        terms = [f"x[{k}]h[{n - k}]" for k in range(3) if 0 <= n - k < 3]
        print(f"  y[{n}] = {' + '.join(terms) or '0'} = {y[n]}")
    print(f"  y = {lst(y)}  (numpy.convolve: {lst(np.convolve([3, 4, 5], [2, 1, 0]))})")
    rows.append(("1-D [3,4,5]*[2,1,0], full", "[6, 11, 14, 5, 0]", lst(y), "hand example", "convolve1d, full"))  # fmt: skip
    section("output modes: x = [6, 2], h = [1, 2, 5, 4]")
    modes = {m: convolve1d([6, 2], [1, 2, 5, 4], mode=m) for m in ("full", "same", "valid")}
    for m, v in modes.items():
        print(f"  {m:5s}: {lst(v)}   (numpy: {lst(np.convolve([6, 2], [1, 2, 5, 4], m))})")
    corr = correlate1d([1, 2, 5, 4], [6, 2], mode="valid")
    print(f"  cross-correlation (no flip), valid: {lst(corr)} -- differs: the kernel is not reversed")
    for m, course in (("full", "[6, 14, 34, 34, 8]"), ("same", "[6, 14, 34, 34]"), ("valid", "[14, 34, 34]")):
        rows.append((f"modes: {m}", course, lst(modes[m]), "hand example", f"convolve1d, {m}"))


def convolution_2d(rows: list) -> None:
    section("2-D convolution of a 3x3 image")
    g1, g2 = np.array([[-1, 1]]), np.array([[-1, 1], [2, 3]])
    v1, f1 = convolve2d(IMAGE_3x3, g1, "valid"), convolve2d(IMAGE_3x3, g1, "full")
    f2, s2, va2 = (convolve2d(IMAGE_3x3, g2, m) for m in ("full", "same", "valid"))
    print(f"  I = {lst(IMAGE_3x3)}")
    print(f"  g = [[-1, 1]]            valid {lst(v1)}\n{'':27s}full  {lst(f1)}")
    print(f"  g = [[-1, 1], [2, 3]]    full  {lst(f2)}\n{'':27s}same  {lst(s2)}\n{'':27s}valid {lst(va2)}")
    print(f"  last row of full: {lst(f2[-1])}; by hand 218*2 + 0 = 436, 216*2 + 218*3 = {216 * 2 + 218 * 3}")
    print(f"  cross-correlation (no flip) of g = [[-1, 1]], valid: {lst(correlate2d(IMAGE_3x3, g1, 'valid'))}")  # fmt: skip
    rows.extend([
        ("2-D g=[[-1,1]], valid", "[[248,4],[-28,236],[2,-14]]", lst(v1), "3x3 example", "convolve2d, valid"),
        ("2-D g=[[-1,1]], full, row 2", "[-212, -28, 236, 4]", lst(f1[1]), "3x3 example", "convolve2d, full"),
        ("2-D g=[[-1,1],[2,3]], full, row 2", "[298, 751, 263, 13]", lst(f2[1]), "3x3 example", "convolve2d, full"),
        ("2-D g=[[-1,1],[2,3]], full, last row", "[436, 1066, 1108, 690] (1066: misprint)", lst(f2[-1]), "3x3 example", "convolve2d, full"),
        ("2-D g=[[-1,1],[2,3]], same, row 3", "[206, 1118, 714]", lst(s2[2]), "3x3 example", "convolve2d, same"),
    ])  # fmt: skip


def tensorflow_conv2d(args, rows: list) -> None:
    """The lab's toy image through TensorFlow-style conv2d with one 2x2 kernel, then with three at once."""
    section("TensorFlow-style conv2d (cross-correlation) of the toy image with a 2x2 ones kernel")
    ones = np.ones((2, 2), dtype=np.float32)
    tv, ts = tf_conv2d(TOY, ones, padding="valid"), tf_conv2d(TOY, ones, padding="same")
    print(f"  image {lst(TOY)}\n  VALID -> shape {tv.shape}: {lst(tv)}")
    print(f"  SAME  -> shape {ts.shape}: {lst(ts)}  (one zero row/column added at the bottom/right)")
    # the same through the layer a CNN uses: Conv2D, padding='same', weights set by hand
    conv = Conv2D(1, 1, 2, padding="same", weight_init=init.get("constant", value=1.0))
    layer_same = conv(TOY[None, None])[0, 0]
    print(f"  Conv2D(1, 1, 2, padding='same') with ones: {lst(layer_same)}")
    rows.extend([
        ("TF conv 2x2 ones, VALID", "[[12,16],[24,28]]", lst(tv), "toy 3x3", "tf_conv2d, VALID"),
        ("TF conv 2x2 ones, SAME", "[[12,16,9],[24,28,15],[15,17,9]]", lst(ts), "toy 3x3", "tf_conv2d, SAME"),
        ("Conv2D layer, 'same'", "(same as TF)", lst(layer_same), "toy 3x3", "Conv2D(1, 1, 2, padding='same')"),
    ])  # fmt: skip
    section("three filters at once: weights x1, x10, x-1 (Conv2D(1, 3, 2, padding='same'))")
    conv3 = Conv2D(1, 3, 2, padding="same", weight_init="zeros")
    conv3.params["W"][...] = np.array([1.0, 10.0, -1.0], dtype=np.float32).reshape(3, 1, 1, 1)
    maps3 = conv3(TOY[None, None])[0]
    for name, m in zip(("x1", "x10", "x-1"), maps3):
        print(f"  filter {name:4s}: {lst(m)}")
    recipe = "Conv2D(1, 3, 2, padding='same')"
    rows.append(("3 filters: x10 map", "[[120,160,90],[240,280,150],[150,170,90]]", lst(maps3[1]), "toy 3x3", recipe))  # fmt: skip
    rows.append(("3 filters: x-1 map", "[[-12,-16,-9],[-24,-28,-15],[-15,-17,-9]]", lst(maps3[2]), "toy 3x3", recipe))  # fmt: skip
    grid = [[(f"filter {n}", m) for n, m in zip(("x1", "x10", "x-1"), maps3)]]
    picture_grid(args, "three_filters.png", (7.5, 2.6), "one 3x3 image, three 2x2 filters -> three feature maps", grid)  # fmt: skip


def max_pooling(rows: list) -> None:
    section("max pooling")
    small = np.array([[4, 3], [2, 1]], dtype=np.float32)[None, None]
    p_same = MaxPool2D(2, stride=1, padding="same")(small)[0, 0]
    print(f"  [[4, 3], [2, 1]], 2x2 window, stride 1, SAME -> {lst(p_same)}")
    slice4 = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=np.float32)
    p4 = MaxPool2D(2)(slice4[None, None])[0, 0]
    print(f"  {lst(slice4)}, 2x2 window, stride 2 -> {lst(p4)}")
    big = MaxPool2D(2).output_shape((1, 64, 224, 224))
    print(f"  a 224x224x64 volume pooled 2x2 stride 2 -> {big[2]}x{big[3]}x{big[1]}")
    rows.extend([
        ("max pool [[4,3],[2,1]] 2x2 s1 SAME", "[[4,3],[2,1]]", lst(p_same), "toy 2x2", "MaxPool2D(2, stride=1, 'same')"),
        ("max pool 2x2 s2 on 4x4 slice", "(figure only)", lst(p4), "4x4 slice", "MaxPool2D(2)"),
        ("pool 224x224x64, 2x2 s2", "112x112x64", f"{big[2]}x{big[3]}x{big[1]}", "shape only", "MaxPool2D(2).output_shape"),
    ])  # fmt: skip


def edges_and_blur(args, rows: list) -> np.ndarray:
    """The Laplacian and a blur on a real MNIST 3 (upscaled) and a generated picture; returns the 28x28 digit."""
    section("edges and blur on real pictures")
    digit28, digit, digit_label = load_digit()
    picture, ramp_only = generated_picture(64 if args.quick else 160)
    results = {}
    for name, img in (("digit", digit), ("generated", picture)):
        edges, blurred = convolve_symmetric(img, LAPLACIAN), convolve_symmetric(img, gaussian_kernel(7, 1.5))
        results[name] = (img, edges, blurred)
        print(f"  {name:9s} {img.shape}: |laplacian| mean {np.abs(edges).mean():7.2f}, max {np.abs(edges).max():6.1f}; "
              f"blur keeps the mean ({img.mean():.2f} -> {blurred.mean():.2f}), lowers the spread "
              f"({img.std():.1f} -> {blurred.std():.1f})")  # fmt: skip
    edges = results["generated"][1]
    flat_resp, edge_resp = float(np.abs(edges[ramp_only]).max()), float(np.abs(edges[~ramp_only]).max())
    print(f"  Laplacian on the smooth ramp: max |response| {flat_resp:.2g} ({ramp_only.sum()} pixels); "
          f"at the shapes' edges up to {edge_resp:.0f}")  # fmt: skip
    rows.append(("Laplacian on flat/ramp regions", "0 (zero-sum kernel)", f"{flat_resp:.2g} (edges: {edge_resp:.0f})",
                 "generated picture", "convolve2d, mirrored borders"))  # fmt: skip
    grid = [
        [(f"{name}: input", im), ("|Laplacian|", np.abs(ed)), ("Laplacian (signed)", ed), ("Gaussian blur 7x7", bl)]
        for name, (im, ed, bl) in results.items()
    ]  # fmt: skip
    title = f"hand-made kernels: edge detector and blur ({digit_label}; generated picture)"
    picture_grid(args, "edges_blur.png", (10, 5.4), title, grid)
    return digit28


def digit_feature_maps(args, rows: list, digit28: np.ndarray) -> None:
    section("a conv layer and max pooling on one digit (5 random 3x3 filters, stride 2, SAME)")
    scratchnet.seed(args.seed)
    small_digit = digit28[None, None].astype(np.float32) / 255.0
    conv5 = Conv2D(1, 5, 3, stride=2, padding="same", weight_init=init.get("normal", std=0.01), bias=False)
    fmap = conv5(small_digit)
    pooled = MaxPool2D(2, stride=2, padding="same")(fmap)
    print(f"  input {small_digit.shape} -> conv {fmap.shape} -> max pool {pooled.shape}")
    rows.append(("conv 3x3x1x5, stride 2, SAME", "(?, 14, 14, 5)", f"(N, C, H, W) = {fmap.shape}", "one digit", "Conv2D(1, 5, 3, stride=2, 'same')"))  # fmt: skip
    rows.append(("then max pool 2x2 s2 SAME", "(1, 7, 7, 5)", f"{pooled.shape}", "one digit", "MaxPool2D(2, 2, 'same')"))  # fmt: skip
    grid = [[(f"conv map {i}", fmap[0, i]) for i in range(5)], [(f"pooled {i}", pooled[0, i]) for i in range(5)]]  # fmt: skip
    title = "feature maps of one digit: 14x14 after the strided conv, 7x7 after pooling"
    picture_grid(args, "feature_maps.png", (9, 4), title, grid)


# -- fast convolution (scratchnet's addition) ---------------------------------------------------------------
def im2col_by_hand(rows: list) -> None:
    """im2col on the toy image: 4 windows of a 2x2 kernel become the 4 columns of ``cols``."""
    section("im2col by hand: the toy image and the 2x2 kernel [[1, 2], [3, 4]] (scratchnet's addition)")
    cols = im2col(TOY[None, None], 2, 2, 1, 0)  # (C*kh*kw, N*OH*OW) = (4, 4)
    row = KERNEL_2x2.reshape(1, -1)
    product, direct = (row @ cols).reshape(2, 2), correlate2d(TOY, KERNEL_2x2, "valid")
    windows = [(y, x) for y in range(2) for x in range(2)]
    print("  cols: one row per kernel tap (i, j), one column per output pixel (y, x)")
    print("              " + "".join(f"out{w}".rjust(11) for w in windows))
    for (i, j), values in zip(windows, cols):
        print(f"    tap ({i}, {j})" + "".join(f"{v:11.0f}" for v in values))
    print(f"  kernel as a row: {lst(row)}\n  row @ cols = {lst(row @ cols)} -> as 2x2: {lst(product)}")
    print(f"  direct cross-correlation (correlate2d, 'valid'): {lst(direct)}")
    print(f"  e.g. out(0, 0) = 1*1 + 2*2 + 3*4 + 4*5 = {1 * 1 + 2 * 2 + 3 * 4 + 4 * 5}")
    assert np.array_equal(product, direct), (product, direct)
    rows.append(("im2col by hand: row @ cols", NEW, lst(product), "toy 3x3, 2x2 kernel", "im2col, row @ cols"))  # fmt: skip
    rows.append(("im2col by hand: direct", NEW, lst(direct), "toy 3x3, 2x2 kernel", "correlate2d, valid"))


def winograd_by_hand(rows: list) -> None:
    """F(2, 3) step by step on d = (1, 2, 3, 4), g = (1, 0, -1); then the 2-D products per tile."""
    section("Winograd by hand: F(2, 3) with d = (1, 2, 3, 4), g = (1, 0, -1) (scratchnet's addition)")
    AT, G, BT = transforms(2, 3)
    d, g = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 0.0, -1.0])
    bd, gg = BT @ d + 0.0, G @ g + 0.0  # + 0.0 turns the -0.0 a sign flip leaves into 0.0 for printing
    product = bd * gg + 0.0
    y, direct = AT @ product + 0.0, correlate1d(d, g, mode="valid")
    for name, t in (("BT", BT), ("G", G), ("AT", AT)):
        print(f"  {name} = {(t + 0.0).tolist()}")
    print("  (the first rows of BT and G have the opposite sign to Lavin and Gray's; the signs cancel)")
    print(f"  BT d = {lst(bd)}   G g = {lst(gg)} (once per filter)")
    print(f"  (G g) * (BT d) = {lst(product)}   AT [..] = {lst(y)}\n  direct: y_i = sum_k g_k d_(i+k) = {lst(direct)}")  # fmt: skip
    alpha, m, r = BT.shape[0], AT.shape[0], G.shape[1]
    adds = {n: int(sum(max(0, np.count_nonzero(row) - 1) for row in t)) for n, t in (("BT", BT), ("AT", AT))}
    print(
        f"  multiplications: {alpha} (element-wise) vs {m * r} direct; additions: {adds['BT'] + adds['AT']} "
        f"(BT d: {adds['BT']}, AT: {adds['AT']}) vs {m * (r - 1)} direct"
    )  # fmt: skip
    assert np.array_equal(y, direct), (y, direct)
    where = "d=(1,2,3,4), g=(1,0,-1)"
    rows.append(("Winograd F(2,3) by hand: y", NEW, lst(y), where, "AT [(G g) * (BT d)]"))
    rows.append(("Winograd F(2,3) by hand: direct", NEW, lst(direct), where, "correlate1d, valid"))
    rows.append(("Winograd F(2,3): multiplications", NEW, f"{alpha} vs {m * r}", "per 2 outputs", "count"))
    # 2-D: Y = AT [(G g GT) * (BT d B)] A on one 4x4 tile
    d2, g2 = np.arange(1.0, 17.0).reshape(4, 4), np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [2.0, 0.0, 1.0]])  # fmt: skip
    y2, direct2 = AT @ ((G @ g2 @ G.T) * (BT @ d2 @ BT.T)) @ AT.T, correlate2d(d2, g2, "valid")
    print(f"  2-D F(2x2, 3x3) on the tile {lst(d2)} with g = {lst(g2)}:")
    print(f"    AT [(G g GT) * (BT d B)] A = {lst(np.round(y2, 9))}   direct: {lst(direct2)}")
    assert np.allclose(y2, direct2, rtol=0, atol=1e-12), (y2, direct2)
    rows.append(("Winograd F(2x2,3x3) by hand: Y", NEW, lst(np.round(y2, 9)), "4x4 tile", "AT [(G g GT) * (BT d B)] A"))  # fmt: skip
    rows.append(("Winograd F(2x2,3x3) by hand: direct", NEW, lst(direct2), "4x4 tile", "correlate2d, valid"))
    print("  multiplications per output tile (element-wise products vs direct):")
    for m2, r2 in [(2, 3)] + [(WINOGRAD_TILES[k], k) for k in sorted(WINOGRAD_TILES)]:
        AT2, G2, BT2 = transforms(m2, r2)
        winograd, plain = BT2.shape[0] ** 2, AT2.shape[0] ** 2 * G2.shape[1] ** 2
        print(f"    F({m2}x{m2}, {r2}x{r2}): {winograd} vs {plain} ({plain / winograd:.2f}x fewer)")
        rows.append((f"F({m2}x{m2},{r2}x{r2}) multiplications/tile", NEW, f"{winograd} vs {plain}", "count", "per tile"))  # fmt: skip


def conv_step(layer: Conv2D, x: np.ndarray, dout: np.ndarray, reference: bool) -> tuple[np.ndarray, ...]:
    """One forward + backward of ``layer``; returns (y, dx, dW)."""
    with backend.reference(reference):
        y = layer(x)
        dx = layer.backprop(dout)
    return y, dx, layer.grads["W"]


def relative_errors(got: tuple[np.ndarray, ...], ref: tuple[np.ndarray, ...]) -> list[float]:
    """max |a - ref| / max |ref| per array: the error relative to the largest value of the float64 result."""
    return [float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max()) for a, b in zip(got, ref)]


def time_conv_algorithms(args: Any, rows: list) -> None:
    """The NumPy reference, the im2col kernel, Winograd and (few channels) the direct kernel on the course's
    conv layers: time and error."""
    section("ways to run a conv layer: time and error, forward + backward (scratchnet's addition)")
    repeats = 1 if args.quick else 5
    print(
        f"  float32, 'same', stride 1; median of {repeats} interleaved run(s) after one untimed run; "
        "error = max |err| / max |float64 result| (float64 from the same float32 weights and input)"
    )
    print(f"  {'layer':29s} {'algorithm':22s} {'median ms':>9s} {'speed-up':>9s} {'err y':>9s} {'err dx':>9s} {'err dW':>9s}")  # fmt: skip
    for name, batch, c, f, k, h in COURSE_CONV_LAYERS:
        n, rng, m = 4 if args.quick else batch, np.random.default_rng(args.seed), WINOGRAD_TILES[k]
        x, dout = rng.standard_normal((n, c, h, h), dtype=np.float32), rng.standard_normal((n, f, h, h), dtype=np.float32)  # fmt: skip
        weights = Conv2D(c, f, k, padding="same", rng=rng).params["W"]  # He-initialised
        bias = (0.1 * rng.standard_normal(f)).astype(np.float32)
        # label: (Conv2D's algorithm, on the reference tier?)
        runs = {"NumPy reference": ("im2col", True), "im2col kernel": ("im2col", False),
                f"Winograd F({m}x{m},{k}x{k})": ("winograd", False)}  # fmt: skip
        if c <= AUTO_DIRECT_CHANNELS:  # the few-channel kernel "auto" picks; far slower on wide layers
            runs["direct kernel"] = ("direct", False)
        layers = {}
        for label, (algorithm, _) in [*runs.items(), ("exact", ("auto", True))]:
            dtype = np.float64 if label == "exact" else np.float32  # float32 values, held in float64
            layers[label] = Conv2D(c, f, k, padding="same", algorithm=algorithm, dtype=dtype)
            layers[label].params["W"][...], layers[label].params["b"][...] = weights, bias
        ref = conv_step(layers.pop("exact"), x.astype(np.float64), dout.astype(np.float64), reference=True)
        # the first call per algorithm is also its untimed warm-up run
        errors = {label: relative_errors(conv_step(layers[label], x, dout, on_ref), ref) for label, (_, on_ref) in runs.items()}  # fmt: skip
        times: dict[str, list[float]] = {label: [] for label in runs}
        for _ in range(repeats):  # interleaved, so a busy moment of the machine hits all alike
            for label, (_, on_reference) in runs.items():
                start = time.perf_counter()
                conv_step(layers[label], x, dout, on_reference)
                times[label].append(time.perf_counter() - start)
        ms = {label: 1000 * float(np.median(t)) for label, t in times.items()}
        for label in runs:
            speedup, (err_y, err_dx, err_dw) = ms["NumPy reference"] / ms[label], errors[label]
            print(f"  {name + f' N={n}':29s} {label:22s} {ms[label]:9.1f} {speedup:8.2f}x {err_y:9.1e} {err_dx:9.1e} {err_dw:9.1e}")  # fmt: skip
            rows.append((f"{name}: {label}", NEW, f"{ms[label]:.1f} ms, {speedup:.2f}x, err {max(errors[label]):.1e}",
                         f"N={n}, float32", f"fwd+bwd, median of {repeats}"))  # fmt: skip
        winograd, bound = errors[f"Winograd F({m}x{m},{k}x{k})"], ERROR_BOUND[(m, k)][np.float32]
        assert max(winograd) < bound, (name, winograd, bound)
    print("  (speed-up: the reference's time over the algorithm's; err: the largest of y, dx, dW in the table)")  # fmt: skip


# -- the chapter -------------------------------------------------------------------------------------------
def main() -> None:
    args = setup("ch09_convolutions", __doc__)
    rows: list[tuple[Any, ...]] = []
    convolution_1d(rows)
    convolution_2d(rows)
    tensorflow_conv2d(args, rows)
    max_pooling(rows)
    digit28 = edges_and_blur(args, rows)
    digit_feature_maps(args, rows, digit28)
    im2col_by_hand(rows)
    winograd_by_hand(rows)
    time_conv_algorithms(args, rows)

    table = report(rows)
    remarks = notes(
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
        "and scratchnet's tests hold them within ERROR_BOUND (scratchnet/fast/winograd.py).",
    )
    write_results(args, table, remarks)


if __name__ == "__main__":
    main()
