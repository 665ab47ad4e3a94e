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
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _common import data_dir, notes, report, savefig, section, setup

import scratchnet
from scratchnet import init
from scratchnet.datasets import load_mnist_5k
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.pooling import MaxPool2D
from scratchnet.plotting import new_figure
from scratchnet.signal import convolve1d, convolve2d, correlate1d, correlate2d, tf_conv2d

LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)
IMAGE_3x3 = np.array([[255, 7, 3], [212, 240, 4], [218, 216, 230]])  # the course's 2-D example
TOY = np.arange(1, 10, dtype=np.float32).reshape(3, 3)  # the course's "toy image" [[1,2,3],[4,5,6],[7,8,9]]


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
    )


if __name__ == "__main__":
    main()
