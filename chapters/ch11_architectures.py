"""Chapter 11: classic CNN architectures, counted layer by layer, and two small ones trained
=========================================================================================
What the course claims (the case studies of the ML&DL and Korean decks, after Stanford's CS231n; figures
and counts, no training):

* LeNet-5 (LeCun 1998): 5x5 convolutions at stride 1 and 2x2 subsampling at stride 2, CONV-POOL-CONV-POOL-
  CONV-FC: 32x32 -> 28x28x6 -> 14x14x6 -> 10x10x16 -> 5x5x16 -> 120;
* AlexNet on 227x227x3: CONV1, 96 filters of 11x11 at stride 4, gives 55x55x96 with (11*11*3)*96 = 35K
  parameters; POOL1, 3x3 at stride 2, gives 27x27x96 and has no parameters; the full (simplified) listing
  runs 55x55x96, 27x27x96, 27x27x256, 13x13x256, 13x13x384, 13x13x384, 13x13x256, 6x6x256 into FC 4096,
  4096, 1000 (one copy gives CONV2 pad 1, the other pad 2);
* VGG (19 layers in the slide), GoogLeNet's inception module (parallel 1x1, 3x3, 5x5 and pool branches),
  ResNet's residual blocks: 1.8 x 10^9 FLOPs for ResNet-18 and 3.6 x 10^9 for ResNet-34;
* the AlphaGo policy network: a 19x19x48 input, layer 1 pads to 23x23 and applies k 5x5 filters, layers 2-12
  pad to 21x21 and apply k 3x3 filters, a 1x1 conv with a bias per position ends it; k = 192.

Why count: a window's output size is ``(n + pads - k) // stride + 1`` (TensorFlow's 'same': ceil(n /
stride)); a conv layer has ``out * in * kh * kw`` weights plus ``out`` biases whatever the image size, a dense
layer ``in * out + out``, batch norm two per channel, pooling none. A calculator walks each architecture
through these formulas (the functions ``Conv2D.output_shape`` uses), printing shape, parameters and
multiply-adds per layer, checked against real scratchnet models where the layers exist. Then a LeNet-5
(ReLU, max pooling) and a small ResNet of ``ResidualBlock``s are trained on full MNIST (60,000/10,000) when
it can be found, else the 5,000-digit subset shipped with scratchnet (said in the output and the table),
and on a Fashion-MNIST subset when its files are there. ``<out>/results.md`` keeps the final table with the
command and the wall time.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from _common import (
    LayerCalc,
    data_dir,
    load_course_mnist,
    notes,
    panels,
    report,
    savefig,
    section,
    setup,
    write_results,
)

import scratchnet
from scratchnet import Sequential, Trainer
from scratchnet.datasets import DatasetNotFoundError, load_fashion_mnist
from scratchnet.layers import (
    BatchNorm2D,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    ReLU,
    ResidualBlock,
)
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.optim import Adam
from scratchnet.plotting import plot_history

CALCULATOR = "our calculator"


def lenet5(size: int = 32) -> LayerCalc:
    """The original on 32x32 (C3 counted fully connected to S2), or on ``size`` x ``size`` with C1 padded."""
    original = "LeNet-5 (LeCun et al. 1998), C3 fully connected to S2"
    c = LayerCalc(original if size == 32 else f"LeNet-5 for {size}x{size}", 1, size, size)
    c.conv("C1 conv 5x5, 6", 6, 5, 1, (32 - size) // 2).pool("S2 pool 2x2/2", 2, 2)
    c.conv("C3 conv 5x5, 16", 16, 5).pool("S4 pool 2x2/2", 2, 2)
    c.conv("C5 conv 5x5, 120", 120, 5).fc("F6 dense 84", 84).fc("output dense 10", 10)
    return c


def alexnet() -> LayerCalc:
    c = LayerCalc("AlexNet (simplified, one tower)", 3, 227, 227)
    c.conv("CONV1 96 11x11/4, pad 0", 96, 11, 4).pool("POOL1 3x3/2", 3, 2).same("NORM1 (LRN)")
    c.conv("CONV2 256 5x5/1, pad 2", 256, 5, 1, 2).pool("POOL2 3x3/2", 3, 2).same("NORM2 (LRN)")
    c.conv("CONV3 384 3x3/1, pad 1", 384, 3, 1, 1).conv("CONV4 384 3x3/1, pad 1", 384, 3, 1, 1)
    c.conv("CONV5 256 3x3/1, pad 1", 256, 3, 1, 1).pool("POOL3 3x3/2", 3, 2)
    c.fc("FC6 4096", 4096).fc("FC7 4096", 4096).fc("FC8 1000", 1000)
    return c


def vgg16() -> LayerCalc:
    c = LayerCalc("VGG-16 (configuration D)", 3, 224, 224)
    for stage, (width, reps) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], start=1):
        for i in range(reps):
            c.conv(f"conv{stage}_{i + 1} 3x3, {width}", width, 3, 1, 1)
        c.pool(f"pool{stage} 2x2/2", 2, 2)
    return c.fc("fc6 4096", 4096).fc("fc7 4096", 4096).fc("fc8 1000", 1000)


GOOGLENET_MODULES = [  # name, c1, c3 reduce, c3, c5 reduce, c5, pool proj (Szegedy et al. 2014, Table 1)
    ("3a", 64, 96, 128, 16, 32, 32), ("3b", 128, 128, 192, 32, 96, 64), ("pool",),
    ("4a", 192, 96, 208, 16, 48, 64), ("4b", 160, 112, 224, 24, 64, 64), ("4c", 128, 128, 256, 24, 64, 64),
    ("4d", 112, 144, 288, 32, 64, 64), ("4e", 256, 160, 320, 32, 128, 128), ("pool",),
    ("5a", 256, 160, 320, 32, 128, 128), ("5b", 384, 192, 384, 48, 128, 128),
]  # fmt: skip


def googlenet() -> LayerCalc:
    c = LayerCalc("GoogLeNet (weights without biases, as the paper's table)", 3, 224, 224)
    c.conv("conv 7x7/2, 64", 64, 7, 2, "same", bias=False).pool("max pool 3x3/2", 3, 2, "same")
    c.conv("conv 1x1, 64 (reduce)", 64, 1, bias=False).conv("conv 3x3, 192", 192, 3, 1, "same", bias=False)
    c.pool("max pool 3x3/2", 3, 2, "same")
    for name, *cfg in GOOGLENET_MODULES:
        c.pool("max pool 3x3/2", 3, 2, "same") if name == "pool" else c.inception(f"inception {name}", *cfg)
    c.pool("avg pool 7x7", 7, 1).same("dropout 40%")
    return c.fc("linear 1000", 1000, bias=False)


def resnet(depth: int) -> LayerCalc:
    blocks = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}[depth]
    c = LayerCalc(f"ResNet-{depth} (basic blocks, BN after every conv)", 3, 224, 224)
    c.conv("conv1 7x7/2, 64", 64, 7, 2, 3, bias=False).bn("bn1").pool("max pool 3x3/2", 3, 2, 1)
    for stage, (width, reps) in enumerate(zip((64, 128, 256, 512), blocks), start=2):
        for i in range(reps):
            c.basic_block(f"conv{stage}_{i + 1} [3x3 {width}]x2", width, 2 if (i == 0 and stage > 2) else 1)
    return c.gap("average pool").fc("fc 1000", 1000)


def alphago_policy(k: int = 192) -> LayerCalc:
    c = LayerCalc(f"AlphaGo policy network, k = {k}", 48, 19, 19)
    c.conv(f"layer 1: pad to 23x23, 5x5, {k}", k, 5, 1, 2)
    for i in range(2, 13):
        c.conv(f"layer {i}: pad to 21x21, 3x3, {k}", k, 3, 1, 1)
    c.conv("layer 13: 1x1, 1 filter (no bias)", 1, 1, bias=False)
    return c.same("per-position bias + softmax", 19 * 19)


# -- real scratchnet models (to check the calculator, and to train) -----------------------------------------
def lenet5_model() -> Sequential:
    """LeNet-5 for 28x28 inputs: C1 pads by 2, which gives it the 32x32 field the original had."""
    return Sequential([
        Conv2D(1, 6, 5, padding=2), ReLU(), MaxPool2D(2),  # C1, S2
        Conv2D(6, 16, 5), ReLU(), MaxPool2D(2),  # C3, S4
        Conv2D(16, 120, 5), ReLU(), Flatten(),  # C5
        Dense(120, 84), ReLU(), Dense(84, 10),  # F6, output
    ])  # fmt: skip


def small_resnet(width: int = 16) -> Sequential:
    """A stem conv, three residual stages (28 -> 14 -> 7), global average pooling and a dense layer."""
    return Sequential([
        Conv2D(1, width, 3, padding=1, bias=False), BatchNorm2D(width), ReLU(),
        ResidualBlock(width, width), ResidualBlock(width, 2 * width, stride=2),
        ResidualBlock(2 * width, 4 * width, stride=2), GlobalAvgPool2D(), Dense(4 * width, 10),
    ])  # fmt: skip


def resnet18_model() -> Sequential:
    layers = [Conv2D(3, 64, 7, stride=2, padding=3, bias=False), BatchNorm2D(64), ReLU(), MaxPool2D(3, 2, 1)]
    widths = (64, 64, 64, 128, 128, 256, 256, 512, 512)  # the stem's, then two blocks per stage
    layers += [ResidualBlock(a, b, stride=1 if a == b else 2) for a, b in zip(widths[:-1], widths[1:])]
    return Sequential(layers + [GlobalAvgPool2D(), Dense(512, 1000)])


def calc_small_resnet(width: int = 16) -> LayerCalc:
    c = LayerCalc("small ResNet for 28x28", 1, 28, 28)
    c.conv(f"stem 3x3, {width}", width, 3, 1, 1, bias=False).bn("bn")
    c.basic_block("block 1", width).basic_block("block 2", 2 * width, 2).basic_block("block 3", 4 * width, 2)
    return c.gap().fc("dense 10", 10)


# -- data and training -------------------------------------------------------------------------------------
def datasets(quick: bool, seed: int) -> list[tuple[str, tuple[np.ndarray, ...]]]:
    """(label, (x_tr, y_tr, x_te, y_te)): MNIST (quick: a subset), then a Fashion-MNIST subset if found."""
    mnist = load_course_mnist(flatten=False, seed=seed, tf_split=False)
    mnist = mnist.subset(400, 200, seed) if quick else mnist
    out = [(mnist.label, (mnist.x_tr, mnist.y_tr, mnist.x_te, mnist.y_te))]
    if quick:
        return out
    try:
        ftr = load_fashion_mnist("train", normalize=True, data_dir=data_dir(), download=False)
        fte = load_fashion_mnist("test", normalize=True, data_dir=data_dir(), download=False)
    except DatasetNotFoundError as err:
        print(f"Fashion-MNIST not found ({err}); skipping it")
        return out
    idx = np.sort(np.random.default_rng(seed).permutation(len(ftr.x))[:12000])
    print(f"data: fashion-mnist from {ftr.path}")
    x_tr, x_te = (x.reshape(-1, 1, 28, 28).astype(np.float32) for x in (ftr.x[idx], fte.x))
    fashion = (x_tr, ftr.y[idx].astype(np.int64), x_te, fte.y.astype(np.int64))
    return out + [("Fashion-MNIST, subset 12000/10000", fashion)]


def fit(make, data: tuple[np.ndarray, ...], epochs: int, seed: int, name: str) -> dict[str, Any]:
    x_tr, y_tr, x_te, y_te = data
    scratchnet.seed(seed)
    model = make()
    trainer = Trainer(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1e-3))
    start = time.perf_counter()
    history = trainer.fit(x_tr, y_tr, epochs=epochs, batch_size=100, seed=seed, progress=False)
    seconds = time.perf_counter() - start
    acc = trainer.evaluate(x_te, y_te, batch_size=500)["accuracy"]
    loss = history.records[-1]["loss"]
    print(f"  {name}: {epochs} epoch(s), train loss {loss:.4f}, test acc {acc:.4f} [{seconds:.0f} s]")
    return {"acc": acc, "history": history, "seconds": seconds}


def params_figure(calcs: list[LayerCalc]):
    fig, axes = panels(2, 7.5, 3.6)
    names = [c.name.split(" (")[0].split(",")[0] for c in calcs]
    bars = [
        ([c.total_params / 1e6 for c in calcs], "tab:blue", "parameters (millions)"),
        ([c.total_macs / 1e9 for c in calcs], "tab:orange", "multiply-adds per image (billions)"),
    ]
    for ax, (values, color, label) in zip(axes, bars):
        ax.barh(names, values, color=color)
        ax.set_xscale("log")
        ax.set_xlabel(label)
    axes[1].set_yticks([])
    fig.suptitle("size and cost of the classic architectures (our calculator)")
    fig.tight_layout()
    return fig


# -- the sections ------------------------------------------------------------------------------------------
def alexnet_conv1(rows: list) -> None:
    section("AlexNet conv1 by formula and by a real Conv2D layer")
    conv1 = Conv2D(3, 96, 11, stride=4, padding="valid")
    _, c_out, oh, ow = conv1.output_shape((1, 3, 227, 227))
    weights = conv1.params["W"].size
    pool1 = MaxPool2D(3, stride=2).output_shape((1, 96, oh, ow))
    print(f"  (227 - 11) / 4 + 1 = {(227 - 11) // 4 + 1}; Conv2D.output_shape -> {oh}x{ow}x{c_out}")
    print(f"  weights 11*11*3*96 = {weights:,} (+ {conv1.params['b'].size} biases = {weights + 96:,})")
    pool_params = sum(p.value.size for p in MaxPool2D(3, 2).parameters())
    print(f"  POOL1 3x3/2 -> {pool1[2]}x{pool1[3]}x{pool1[1]}, parameters {pool_params}")
    data = "227x227x3 input"
    rows += [
        ("AlexNet CONV1 output", "55x55x96", f"{oh}x{ow}x{c_out}", data,
         "Conv2D(3, 96, 11, stride=4).output_shape"),
        ("AlexNet CONV1 weights", "(11*11*3)*96 = 35K", f"{weights:,}", data, "Conv2D's W (+96 biases)"),
        ("AlexNet POOL1 output / params", "27x27x96, 0", f"{pool1[2]}x{pool1[3]}x{pool1[1]}, 0", "55x55x96",
         "MaxPool2D(3, stride=2)"),
    ]  # fmt: skip


def case_studies(rows: list) -> list[LayerCalc]:
    """Every architecture through the calculator; the rows compare its shapes and counts with the course's."""
    calcs = [lenet5(), alexnet(), vgg16(), googlenet(), resnet(18), resnet(34), alphago_policy()]
    for c in calcs:
        section(c.name)
        c.print()
    le, ax, vg, gn, r18, r34, ag = calcs

    def add(what: str, course: str, ours: str, data: str = "224x224x3", recipe: str = CALCULATOR) -> None:
        rows.append((what, course, ours, data, recipe))

    le_course = "28x28x6 / 14x14x6 / 10x10x16 / 5x5x16 / 120"
    le_shapes = " / ".join(r["volume"] for r in le.rows[1:6])
    add("LeNet-5 C1 / S2 / C3 / S4 / C5", le_course, le_shapes, "32x32 input")
    c1, c5, f6 = (f"{le.rows[i]['params']:,}" for i in (1, 5, 6))
    le_params = f"C1 {c1}, C5 {c5}, F6 {f6}; total {le.total_params:,}"
    add("LeNet-5 parameters", "(paper: C1 156, C5 48,120, F6 10,164)", le_params, "32x32 input",
        f"{CALCULATOR}, C3 dense")  # fmt: skip
    alex_course = "55x55x96 27x27x96 27x27x256 13x13x256 13x13x384 13x13x384 13x13x256 6x6x256"
    alex_shapes = " ".join(r["volume"] for r in ax.rows if r["layer"].startswith(("CONV", "POOL")))
    add("AlexNet CONV/POOL volumes", alex_course, alex_shapes, "227x227x3")
    add("AlexNet total parameters", "(not printed; paper ~60M)", f"{ax.total_params:,}", "227x227x3",
        f"{CALCULATOR}, one tower")  # fmt: skip
    add("VGG-16 total parameters", "(19 layers shown; paper 138M)", f"{vg.total_params:,}")
    gn_3a, gn_5b = gn.row("inception 3a")["volume"], gn.row("inception 5b")["volume"]
    add("GoogLeNet inception 3a / 5b output", "(module diagram only)", f"{gn_3a} / {gn_5b}")
    add("GoogLeNet total weights", "(not printed; paper table ~6.8M)", f"{gn.total_params:,}",
        recipe=f"{CALCULATOR}, no biases")  # fmt: skip
    sizes = ", ".join(str(r18.rows[i]["shape"][1]) for i in (1, 3, 6, 8, 10)) + ", 1"
    add("ResNet-18 / 34 output sizes", "112, 56, 28, 14, 7, 1", sizes)
    add("ResNet-18 mult-adds", "1.8 x 10^9 FLOPs", f"{r18.total_macs / 1e9:.2f} x 10^9")
    add("ResNet-34 mult-adds", "3.6 x 10^9 FLOPs", f"{r34.total_macs / 1e9:.2f} x 10^9")
    resnet_params = f"{r18.total_params:,} / {r34.total_params:,}"
    add("ResNet-18 / 34 parameters", "(not printed; 11.7M / 21.8M)", resnet_params,
        recipe=f"{CALCULATOR}, with BN")  # fmt: skip
    ag_out = f"{ag.rows[-2]['volume']}, {ag.total_params:,}"
    add("AlphaGo policy: output, parameters", "19x19 (pad 23x23 / 21x21), k=192", ag_out, "19x19x48 input")
    return calcs


def check_calculator(args, rows: list) -> None:
    section("checking the calculator against real scratchnet models (Sequential.summary)")
    checks = [
        ("LeNet-5 (28x28)", lenet5_model, lenet5(28), (1, 28, 28)),
        ("small ResNet", small_resnet, calc_small_resnet(), (1, 28, 28)),
    ]
    if not args.quick:  # 11.7M parameters: a second or two to build; the input size does not change the count
        checks.append(("ResNet-18", resnet18_model, resnet(18), (3, 64, 64)))
    for name, make, calc, shape in checks:
        scratchnet.seed(args.seed)
        summary = make().summary(shape, print_fn=lambda *_: None)
        real = sum(r[2] for r in summary)
        print(f"  {name}: calculator {calc.total_params:,}, real model {real:,}, output {summary[-1][1]}")
        what, ours = f"{name} parameters: calculator vs model", f"{calc.total_params:,} vs {real:,}"
        rows.append((what, "(equal)", ours, f"{shape} input", "Sequential.summary()"))


def train_small_nets(args, rows: list) -> None:
    section("training LeNet-5 and a small ResNet (Adam 1e-3, batch 100)")
    results = []
    for label, data in datasets(args.quick, args.seed):
        fashion = label.startswith("Fashion")
        e_le, e_rn = (3, 2) if fashion else (1, 1) if args.quick else (10, 4)
        runs = {}
        for name, make, epochs in (("LeNet-5", lenet5_model, e_le), ("small ResNet", small_resnet, e_rn)):
            runs[name] = fit(make, data, epochs, args.seed, f"{name} on {label}")
            recipe = f"Adam 1e-3, batch 100, {epochs} ep"
            rows.append((f"{name} test accuracy", "(no run in course)", runs[name]["acc"], label, recipe))
        results.append((label, runs))
    label, runs = results[-1]
    fig, axes = panels(2, 8, 3.2)
    for ax, (name, run) in zip(axes, runs.items()):
        ax.plot([r["loss"] for r in run["history"].records], marker="o")
        ax.set_title(f"{name}: training loss ({label})", fontsize=8)
        ax.set_xlabel("epoch")
    fig.tight_layout()
    savefig(fig, args, "training.png")
    label, runs = results[0]
    curves = plot_history(runs["small ResNet"]["history"], title=f"small ResNet on {label}")
    savefig(curves, args, "curves_resnet.png")


def main() -> None:
    args = setup("ch11_architectures", __doc__)
    rows: list[tuple[Any, ...]] = []
    alexnet_conv1(rows)
    calcs = case_studies(rows)
    check_calculator(args, rows)
    savefig(params_figure(calcs), args, "architectures.png")
    train_small_nets(args, rows)

    table = report(rows)
    remarks = notes(
        "One AlexNet slide in the course gives CONV2 'pad 1'; with a 5x5 kernel that would shrink 27x27 to "
        "25x25. The other copy says pad 2, which keeps 27x27 as the slide's volume says: we use pad 2.",
        "The course's '35K' for CONV1 is 34,848 weights rounded (34,944 with the 96 biases).",
        "The original LeNet-5 connected C3 to only some S2 maps (1,516 parameters) and used trainable "
        "subsampling; we count C3 fully connected (2,416) and parameter-free max pooling, as today.",
        "Our GoogLeNet count (about 7.0M weights) is a little above the ~6.8M summed from the paper's table; "
        "the paper's per-module figures (e.g. 159K for 3a, where the listed filter numbers give 163K) do "
        "not quite follow from its own filter numbers.",
        "ResNet 'FLOPs' in the course table are multiply-adds of the convolutions and the final dense layer.",
        "The AlphaGo policy net's 361 per-position biases replace the 1x1 conv's single bias.",
        "The course trains none of these architectures; the two small ones here show they run and learn.",
    )
    write_results(args, table, remarks)


if __name__ == "__main__":
    main()
