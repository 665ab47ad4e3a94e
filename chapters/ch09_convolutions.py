"""Chapter 9: understanding convolutions, from 1-D sums to feature maps of a real picture
======================================================================================
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

from functools import partial
from typing import Any

import _common as common
import numpy as np
from _common import layer_step, lst, median_ms, notes, relative_errors, report, section, setup, write_results

import scratchnet
from scratchnet import init
from scratchnet.fast.conv import AUTO_DIRECT_CHANNELS, WINOGRAD_TILES
from scratchnet.fast.winograd import ERROR_BOUND, transforms
from scratchnet.layers import Conv2D, MaxPool2D
from scratchnet.maths.im2col import im2col
from scratchnet.maths.signal import convolve1d, convolve2d, correlate1d, correlate2d, tf_conv2d

LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)
IMAGE_3x3 = np.array([[255, 7, 3], [212, 240, 4], [218, 216, 230]])  # the course's 2-D example
TOY = np.arange(1, 10, dtype=np.float32).reshape(3, 3)  # the course's "toy image" [[1,2,3],[4,5,6],[7,8,9]]
KERNEL_2x2 = np.array([[1, 2], [3, 4]], dtype=np.float32)  # not symmetric, so the tap order shows
COURSE_CONV_LAYERS = (  # the course's CNN layers: (name, batch, C_in, C_out, k, H=W), 'same', stride 1
    ("conv 1->32 5x5 28x28", 64, 1, 32, 5, 28),
    ("conv 32->64 5x5 14x14", 64, 32, 64, 5, 14),
    ("conv 64->128 3x3 16x16", 128, 64, 128, 3, 16),
)
NEW = "(not in the course)"


def gaussian_kernel(size: int = 7, sigma: float = 1.5) -> np.ndarray:
    g = np.exp(-((np.arange(size) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    return np.outer(g, g) / np.outer(g, g).sum()


# -- the course's examples -----------------------------------------------------------------------------------
def convolution_1d(rows: list) -> None:
    """The notebook's 1-D part: a convolution by hand, then the three output modes."""
    section("1-D convolution by hand: x = [3, 4, 5], h = [2, 1, 0]")
    y = convolve1d([3, 4, 5], [2, 1, 0], mode="full")
    for n in range(len(y)):
        terms = [f"x[{k}]h[{n - k}]" for k in range(3) if 0 <= n - k < 3]
        print(f"  y[{n}] = {' + '.join(terms) or '0'} = {y[n]}")
    print(f"  y = {lst(y)}  (numpy.convolve: {lst(np.convolve([3, 4, 5], [2, 1, 0]))})")
    ours, data = lst(y), "hand example"
    rows.append(("1-D [3,4,5]*[2,1,0], full", "[6, 11, 14, 5, 0]", ours, data, "convolve1d, full"))
    section("output modes: x = [6, 2], h = [1, 2, 5, 4]")
    modes = {m: convolve1d([6, 2], [1, 2, 5, 4], mode=m) for m in ("full", "same", "valid")}
    for m, v in modes.items():
        print(f"  {m:5s}: {lst(v)}   (numpy: {lst(np.convolve([6, 2], [1, 2, 5, 4], m))})")
    corr = correlate1d([1, 2, 5, 4], [6, 2], mode="valid")
    print(f"  cross-correlation (no flip), valid: {lst(corr)} -- differs: the kernel is not reversed")
    for m, course in (("full", "[6, 14, 34, 34, 8]"), ("same", "[6, 14, 34, 34]"), ("valid", "[14, 34, 34]")):
        rows.append((f"modes: {m}", course, lst(modes[m]), data, f"convolve1d, {m}"))


def convolution_2d(rows: list) -> None:
    section("2-D convolution of a 3x3 image")
    g1, g2 = np.array([[-1, 1]]), np.array([[-1, 1], [2, 3]])
    v1, f1 = convolve2d(IMAGE_3x3, g1, "valid"), convolve2d(IMAGE_3x3, g1, "full")
    f2, s2, va2 = (convolve2d(IMAGE_3x3, g2, m) for m in ("full", "same", "valid"))
    print(f"  I = {lst(IMAGE_3x3)}")
    print(f"  g = [[-1, 1]]            valid {lst(v1)}\n{'':27s}full  {lst(f1)}")
    print(f"  g = [[-1, 1], [2, 3]]    full  {lst(f2)}\n{'':27s}same  {lst(s2)}\n{'':27s}valid {lst(va2)}")
    print(f"  last row of full: {lst(f2[-1])}; by hand 218*2 + 0 = 436, 216*2 + 218*3 = {216 * 2 + 218 * 3}")
    corr = correlate2d(IMAGE_3x3, g1, "valid")
    print(f"  cross-correlation (no flip) of g = [[-1, 1]], valid: {lst(corr)}")
    data, full, misprint = "3x3 example", "convolve2d, full", "[436, 1066, 1108, 690] (1066: misprint)"
    rows += [
        ("2-D g=[[-1,1]], valid", "[[248,4],[-28,236],[2,-14]]", lst(v1), data, "convolve2d, valid"),
        ("2-D g=[[-1,1]], full, row 2", "[-212, -28, 236, 4]", lst(f1[1]), data, full),
        ("2-D g=[[-1,1],[2,3]], full, row 2", "[298, 751, 263, 13]", lst(f2[1]), data, full),
        ("2-D g=[[-1,1],[2,3]], full, last row", misprint, lst(f2[-1]), data, full),
        ("2-D g=[[-1,1],[2,3]], same, row 3", "[206, 1118, 714]", lst(s2[2]), data, "convolve2d, same"),
    ]


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
    toy, layer = "toy 3x3", "Conv2D(1, 1, 2, padding='same')"
    rows += [
        ("TF conv 2x2 ones, VALID", "[[12,16],[24,28]]", lst(tv), toy, "tf_conv2d, VALID"),
        ("TF conv 2x2 ones, SAME", "[[12,16,9],[24,28,15],[15,17,9]]", lst(ts), toy, "tf_conv2d, SAME"),
        ("Conv2D layer, 'same'", "(same as TF)", lst(layer_same), toy, layer),
    ]
    section("three filters at once: weights x1, x10, x-1 (Conv2D(1, 3, 2, padding='same'))")
    conv3 = Conv2D(1, 3, 2, padding="same", weight_init="zeros")
    conv3.params["W"][...] = np.array([1.0, 10.0, -1.0], dtype=np.float32).reshape(3, 1, 1, 1)
    maps3 = conv3(TOY[None, None])[0]
    names = ("x1", "x10", "x-1")
    for name, m in zip(names, maps3):
        print(f"  filter {name:4s}: {lst(m)}")
    layer = "Conv2D(1, 3, 2, padding='same')"
    rows += [
        ("3 filters: x10 map", "[[120,160,90],[240,280,150],[150,170,90]]", lst(maps3[1]), toy, layer),
        ("3 filters: x-1 map", "[[-12,-16,-9],[-24,-28,-15],[-15,-17,-9]]", lst(maps3[2]), toy, layer),
    ]
    grid = [[(f"filter {n}", m) for n, m in zip(names, maps3)]]
    title = "one 3x3 image, three 2x2 filters -> three feature maps"
    common.picture_grid(args, "three_filters.png", (7.5, 2.6), title, grid)


def max_pooling(rows: list) -> None:
    section("max pooling")
    small = np.array([[4, 3], [2, 1]], dtype=np.float32)[None, None]
    p_same = MaxPool2D(2, stride=1, padding="same")(small)[0, 0]
    print(f"  [[4, 3], [2, 1]], 2x2 window, stride 1, SAME -> {lst(p_same)}")
    slice4 = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=np.float32)
    p4 = MaxPool2D(2)(slice4[None, None])[0, 0]
    print(f"  {lst(slice4)}, 2x2 window, stride 2 -> {lst(p4)}")
    _, c, h, w = MaxPool2D(2).output_shape((1, 64, 224, 224))
    print(f"  a 224x224x64 volume pooled 2x2 stride 2 -> {h}x{w}x{c}")
    same = "MaxPool2D(2, stride=1, 'same')"
    rows += [
        ("max pool [[4,3],[2,1]] 2x2 s1 SAME", "[[4,3],[2,1]]", lst(p_same), "toy 2x2", same),
        ("max pool 2x2 s2 on 4x4 slice", "(figure only)", lst(p4), "4x4 slice", "MaxPool2D(2)"),
        ("pool 224x224x64, 2x2 s2", "112x112x64", f"{h}x{w}x{c}", "shape only", "MaxPool2D(2).output_shape"),
    ]


def edges_and_blur(args, rows: list) -> np.ndarray:
    """The Laplacian and a blur on a real MNIST 3 and a generated picture; returns the 28x28 digit."""
    section("edges and blur on real pictures")
    digit28, digit_label = common.mnist_digit(3)  # a 3, as in the course
    # upscaled 4x so the edge filter sees smooth strokes, not pixel steps; bilinear upscaling is piecewise
    # linear, which the Laplacian would show as a grid: smooth it first (borders mirrored, not zero-padded)
    digit = common.convolve_symmetric(common.upscale(digit28, 4), gaussian_kernel(9, 2.0))
    picture, ramp_only = common.generated_picture(64 if args.quick else 160)
    grid, captions = [], ("|Laplacian|", "Laplacian (signed)", "Gaussian blur 7x7")
    for name, img in (("digit", digit), ("generated", picture)):
        edges = common.convolve_symmetric(img, LAPLACIAN)
        blurred = common.convolve_symmetric(img, gaussian_kernel(7, 1.5))
        grid.append([(f"{name}: input", img), *zip(captions, (np.abs(edges), edges, blurred))])
        laplacian = f"|laplacian| mean {np.abs(edges).mean():7.2f}, max {np.abs(edges).max():6.1f}"
        mean, spread = f"{img.mean():.2f} -> {blurred.mean():.2f}", f"{img.std():.1f} -> {blurred.std():.1f}"
        blur = f"blur keeps the mean ({mean}), lowers the spread ({spread})"
        print(f"  {name:9s} {img.shape}: {laplacian}; {blur}")
    # the last picture is the generated one: its flat ramp against its shapes' edges
    flat_resp, edge_resp = float(np.abs(edges[ramp_only]).max()), float(np.abs(edges[~ramp_only]).max())
    print(
        f"  Laplacian on the smooth ramp: max |response| {flat_resp:.2g} ({ramp_only.sum()} pixels); "
        f"at the shapes' edges up to {edge_resp:.0f}"
    )
    ours, recipe = f"{flat_resp:.2g} (edges: {edge_resp:.0f})", "convolve2d, mirrored borders"
    rows.append(("Laplacian on flat/ramp regions", "0 (zero-sum kernel)", ours, "generated picture", recipe))
    title = f"hand-made kernels: edge detector and blur ({digit_label}, 4x upscaled; generated picture)"
    common.picture_grid(args, "edges_blur.png", (10, 5.4), title, grid)
    return digit28


def digit_feature_maps(args, rows: list, digit28: np.ndarray) -> None:
    section("a conv layer and max pooling on one digit (5 random 3x3 filters, stride 2, SAME)")
    scratchnet.seed(args.seed)
    small_digit = digit28[None, None].astype(np.float32) / 255.0
    conv5 = Conv2D(1, 5, 3, stride=2, padding="same", weight_init=init.get("normal", std=0.01), bias=False)
    fmap = conv5(small_digit)
    pooled = MaxPool2D(2, stride=2, padding="same")(fmap)
    print(f"  input {small_digit.shape} -> conv {fmap.shape} -> max pool {pooled.shape}")
    conv, pool = "Conv2D(1, 5, 3, stride=2, 'same')", "MaxPool2D(2, 2, 'same')"
    rows += [
        ("conv 3x3x1x5, stride 2, SAME", "(?, 14, 14, 5)", f"(N, C, H, W) = {fmap.shape}", "one digit", conv),
        ("then max pool 2x2 s2 SAME", "(1, 7, 7, 5)", f"{pooled.shape}", "one digit", pool),
    ]
    stages = (("conv map", fmap), ("pooled", pooled))
    grid = [[(f"{kind} {i}", maps[0, i]) for i in range(5)] for kind, maps in stages]
    title = "feature maps of one digit: 14x14 after the strided conv, 7x7 after pooling"
    common.picture_grid(args, "feature_maps.png", (9, 4), title, grid)


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
    data = "toy 3x3, 2x2 kernel"
    rows.append(("im2col by hand: row @ cols", NEW, lst(product), data, "im2col, row @ cols"))
    rows.append(("im2col by hand: direct", NEW, lst(direct), data, "correlate2d, valid"))


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
    print(f"  (G g) * (BT d) = {lst(product)}   AT [..] = {lst(y)}")
    print(f"  direct: y_i = sum_k g_k d_(i+k) = {lst(direct)}")
    alpha, m, r = BT.shape[0], AT.shape[0], G.shape[1]
    add_bt, add_at = (int(sum(max(0, np.count_nonzero(row) - 1) for row in t)) for t in (BT, AT))
    adds = f"additions: {add_bt + add_at} (BT d: {add_bt}, AT: {add_at}) vs {m * (r - 1)} direct"
    print(f"  multiplications: {alpha} (element-wise) vs {m * r} direct; {adds}")
    assert np.array_equal(y, direct), (y, direct)
    where = "d=(1,2,3,4), g=(1,0,-1)"
    rows += [
        ("Winograd F(2,3) by hand: y", NEW, lst(y), where, "AT [(G g) * (BT d)]"),
        ("Winograd F(2,3) by hand: direct", NEW, lst(direct), where, "correlate1d, valid"),
        ("Winograd F(2,3): multiplications", NEW, f"{alpha} vs {m * r}", "per 2 outputs", "count"),
    ]
    # 2-D: Y = AT [(G g GT) * (BT d B)] A on one 4x4 tile
    d2 = np.arange(1.0, 17.0).reshape(4, 4)
    g2 = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [2.0, 0.0, 1.0]])
    y2, direct2 = AT @ ((G @ g2 @ G.T) * (BT @ d2 @ BT.T)) @ AT.T, correlate2d(d2, g2, "valid")
    print(f"  2-D F(2x2, 3x3) on the tile {lst(d2)} with g = {lst(g2)}:")
    print(f"    AT [(G g GT) * (BT d B)] A = {lst(np.round(y2, 9))}   direct: {lst(direct2)}")
    assert np.allclose(y2, direct2, rtol=0, atol=1e-12), (y2, direct2)
    recipe = "AT [(G g GT) * (BT d B)] A"
    rows += [
        ("Winograd F(2x2,3x3) by hand: Y", NEW, lst(np.round(y2, 9)), "4x4 tile", recipe),
        ("Winograd F(2x2,3x3) by hand: direct", NEW, lst(direct2), "4x4 tile", "correlate2d, valid"),
    ]
    print("  multiplications per output tile (element-wise products vs direct):")
    for m2, r2 in [(2, 3)] + [(WINOGRAD_TILES[k], k) for k in sorted(WINOGRAD_TILES)]:
        AT2, G2, BT2 = transforms(m2, r2)
        winograd, plain = BT2.shape[0] ** 2, AT2.shape[0] ** 2 * G2.shape[1] ** 2
        print(f"    F({m2}x{m2}, {r2}x{r2}): {winograd} vs {plain} ({plain / winograd:.2f}x fewer)")
        what = f"F({m2}x{m2},{r2}x{r2}) multiplications/tile"
        rows.append((what, NEW, f"{winograd} vs {plain}", "count", "per tile"))


def time_conv_algorithms(args: Any, rows: list) -> None:
    """The NumPy reference, the im2col kernel, Winograd and (few channels) the direct kernel: time, error."""
    section("ways to run a conv layer: time and error, forward + backward (scratchnet's addition)")
    repeats = 1 if args.quick else 5
    print(
        f"  float32, 'same', stride 1; median of {repeats} interleaved run(s) after one untimed run; "
        "error = max |err| / max |float64 result| (float64 from the same float32 weights and input)"
    )
    header = ("layer", "algorithm", "median ms", "speed-up", "err y", "err dx", "err dW")
    print("  {:29s} {:22s} {:>9s} {:>9s} {:>9s} {:>9s} {:>9s}".format(*header))
    for name, batch, c, f, k, h in COURSE_CONV_LAYERS:
        n, rng, m = 4 if args.quick else batch, np.random.default_rng(args.seed), WINOGRAD_TILES[k]
        winograd = f"Winograd F({m}x{m},{k}x{k})"
        x = rng.standard_normal((n, c, h, h), dtype=np.float32)
        dout = rng.standard_normal((n, f, h, h), dtype=np.float32)
        weights = Conv2D(c, f, k, padding="same", rng=rng).params["W"]  # He-initialised
        bias = (0.1 * rng.standard_normal(f)).astype(np.float32)
        # label: (Conv2D's algorithm, on the reference tier?)
        runs = {"NumPy reference": ("im2col", True), "im2col kernel": ("im2col", False)}
        runs[winograd] = ("winograd", False)
        if c <= AUTO_DIRECT_CHANNELS:  # the few-channel kernel "auto" picks; far slower on wide layers
            runs["direct kernel"] = ("direct", False)
        layers = {}
        for label, (algorithm, _) in [*runs.items(), ("exact", ("auto", True))]:
            dtype = np.float64 if label == "exact" else np.float32  # float32 values, held in float64
            layers[label] = Conv2D(c, f, k, padding="same", algorithm=algorithm, dtype=dtype)
            layers[label].params["W"][...], layers[label].params["b"][...] = weights, bias
        exact = layer_step(layers.pop("exact"), x.astype(np.float64), dout.astype(np.float64), reference=True)
        calls = {label: partial(layer_step, layers[label], x, dout, ref) for label, (_, ref) in runs.items()}
        # the first call of each is also its untimed warm-up run
        errors = {label: relative_errors(call(), exact) for label, call in calls.items()}
        ms = median_ms(calls, repeats)
        for label in runs:
            speedup, (err_y, err_dx, err_dw) = ms["NumPy reference"] / ms[label], errors[label]
            errs = f"{err_y:9.1e} {err_dx:9.1e} {err_dw:9.1e}"
            print(f"  {name + f' N={n}':29s} {label:22s} {ms[label]:9.1f} {speedup:8.2f}x {errs}")
            ours = f"{ms[label]:.1f} ms, {speedup:.2f}x, err {max(errors[label]):.1e}"
            rows.append((f"{name}: {label}", NEW, ours, f"N={n}, float32", f"fwd+bwd, median of {repeats}"))
        bound = ERROR_BOUND[(m, k)][np.float32]
        assert max(errors[winograd]) < bound, (name, errors[winograd], bound)
    print(
        "  (speed-up: the reference's time over the algorithm's; err: the largest of y, dx, dW in the table)"
    )


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
