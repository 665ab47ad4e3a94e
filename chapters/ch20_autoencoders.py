"""Chapter 20: autoencoders -- squeeze a digit through a narrow code and rebuild it.

An autoencoder is an ordinary network trained to output its own input. The course's has an encoder
784 -> 256 -> 128 and a mirror-image decoder 128 -> 256 -> 784, sigmoid everywhere, so every digit must
pass through 128 numbers in (0, 1). Training is plain backpropagation on the squared difference between
the picture and its rebuild (MSE), with Adam at lr 0.01, batches of 256, weights and biases drawn from
N(0, 1). Unlike the RBM of chapter 17 nothing is sampled: the loss has a gradient, and every layer's
backward pass is the usual one (Dense and Sigmoid layers, derived in their own modules).

The lab prints the last batch's cost after each of 20 epochs over 55,000 images (214 updates an epoch):
0.219 falling to 0.122. Offline we have 4,000 training digits (the 5k MNIST subset), so we run the same
number of updates, 4,280 -- about 270 passes -- and read the cost at the end of each "course epoch". Then:

* a **tied** autoencoder, whose decoder reuses the encoder's weights transposed (half the parameters; its
  gradient for W sums the encoder's and the decoder's use of it);
* a **denoising** autoencoder, trained on inputs with 30% of the pixels zeroed but scored against the clean
  picture, so it has to fill holes in -- we test both kinds on damaged test digits;
* a **2-D code**: 784-256-64-2 with a linear code layer, next to PCA's best 2-D linear projection. The
  course shows Hinton and Salakhutdinov's picture of this; we draw ours and score how well the digit
  classes separate (5-nearest-neighbour accuracy in the 2-D plane) and how well each rebuilds the digits.
"""

from __future__ import annotations

import math
import time

import numpy as np
from _common import data_dir, notes, report, savefig, section, setup

from scratchnet import init
from scratchnet.autoencoder import Autoencoder, DenoisingAutoencoder, TiedAutoencoder
from scratchnet.datasets import load_mnist_with_fallback
from scratchnet.losses import BinaryCrossEntropy, MeanSquaredError
from scratchnet.optim import Adam
from scratchnet.pca import PCA
from scratchnet.plotting import new_figure
from scratchnet.training import Trainer

COURSE_COST = [
    0.218729958,
    0.181405053,
    0.171680182,
    0.157407790,
    0.150844395,
    0.151500776,
    0.146380241,
    0.139467284,
    0.136919573,
    0.138647676,
    0.132326111,
    0.130863369,
    0.129828766,
    0.130005032,
    0.129694894,
    0.124201685,
    0.124395795,
    0.123281069,
    0.124811962,
    0.122014269,
]
COURSE_UPDATES_PER_EPOCH = 55000 // 256  # 214
NORMAL1 = init.get("normal", std=1.0)  # tf.random_normal, for the course's weights and biases


def fit(
    model, x: np.ndarray, epochs: int, batch: int, lr: float, seed: int, loss=None, log: list | None = None
):
    """Adam on (x, x); records the loss of every update in ``log`` (the lab prints the last batch's)."""
    loss = MeanSquaredError() if loss is None else loss
    trainer = Trainer(model, loss, Adam(model.parameters(), lr=lr), metrics=())
    if log is not None:  # wrap train_step so every batch's cost is kept, not just the epoch mean
        step = trainer.train_step

        def logged(xb, yb):
            value, pred = step(xb, yb)
            log.append(value)
            return value, pred

        trainer.train_step = logged
    t0 = time.perf_counter()
    trainer.fit(x, x, epochs, batch, seed=seed, progress=False)
    return trainer, time.perf_counter() - t0


def mse(model, x: np.ndarray, target: np.ndarray | None = None) -> float:
    rec = model.reconstruct(x)
    return float(((rec - (x if target is None else target)) ** 2).mean())


def knn_accuracy(z_tr: np.ndarray, y_tr: np.ndarray, z_te: np.ndarray, y_te: np.ndarray, k: int = 5) -> float:
    """k-nearest-neighbour vote in code space (codes standardised with the training set's spread)."""
    scale = z_tr.std(axis=0) + 1e-8
    a, b = z_tr / scale, z_te / scale
    d = (b**2).sum(1)[:, None] - 2 * b @ a.T + (a**2).sum(1)[None, :]
    votes = y_tr[np.argsort(d, axis=1)[:, :k]]
    pred = np.array([np.bincount(v, minlength=10).argmax() for v in votes])
    return float((pred == y_te).mean())


def image_rows(rows: list[np.ndarray], labels: list[str], args, filename: str, title: str) -> None:
    n = len(rows[0])
    fig = new_figure(1.0 * n, 1.05 * len(rows) + 0.4)
    for r, (imgs, lab) in enumerate(zip(rows, labels)):
        for i in range(n):
            ax = fig.add_subplot(len(rows), n, r * n + i + 1)
            ax.imshow(imgs[i].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(lab, fontsize=8)
    fig.suptitle(title)
    savefig(fig, args, filename)


def main() -> None:
    args = setup("ch20_autoencoders", __doc__)
    t_start = time.perf_counter()
    rows: list = []
    train, test = load_mnist_with_fallback(flatten=True, normalize=True, data_dir=data_dir())
    x_tr, y_tr, x_te, y_te = train.x, train.y, test.x, test.y
    if args.quick:
        x_tr, y_tr = x_tr[:1000], y_tr[:1000]
    short = train.name
    label = f"{short} ({len(x_tr)} train / {len(x_te)} test, {train.source})"
    print(f"data: {label}")
    per_pass = math.ceil(len(x_tr) / 256)

    # -- 1. the course's autoencoder ----------------------------------------------------------------------
    course_updates = 60 if args.quick else 20 * COURSE_UPDATES_PER_EPOCH
    epochs = math.ceil(course_updates / per_pass)
    section(
        f"course autoencoder 784-256-128-256-784, sigmoid, N(0,1) init, MSE, Adam 0.01, batch 256, "
        f"{epochs} passes = {epochs * per_pass} updates"
    )
    ae = Autoencoder([784, 256, 128], weight_init=NORMAL1, bias_init=NORMAL1)
    costs: list[float] = []
    _, ae_s = fit(ae, x_tr, epochs, 256, 0.01, args.seed, log=costs)
    n_course = 20 if not args.quick else max(1, len(costs) // COURSE_UPDATES_PER_EPOCH)
    marks = [min(len(costs), (e + 1) * COURSE_UPDATES_PER_EPOCH) - 1 for e in range(n_course)]
    if args.quick:
        marks = sorted({len(costs) // 3, 2 * len(costs) // 3, len(costs) - 1})
    for j, m in enumerate(marks):
        course = f"{COURSE_COST[j]:.9f}" if not args.quick else "-"
        print(f"  course epoch {j + 1:2d} (update {m + 1:4d}): cost {costs[m]:.9f}   course {course}")
    test_mse = mse(ae, x_te)
    print(f"  test-set MSE {test_mse:.5f}  ({ae_s:.1f} s)")
    rows.append(
        ("AE cost, epoch 1 (last batch)", "0.218729958", costs[marks[0]], short + f" update {marks[0] + 1}")
    )
    rows.append(
        (
            f"AE cost, epoch {len(marks)} (last batch)",
            "0.122014269",
            costs[marks[-1]],
            short + f" update {marks[-1] + 1}",
        )
    )
    rows.append(("AE test MSE (mean over pixels)", "(not in course)", test_mse, short + " test"))
    mean_image = float(((x_te - x_tr.mean(axis=0)) ** 2).mean())
    print(f"  first update's cost {costs[0]:.5f}; predicting the mean training image scores {mean_image:.5f}")
    rows.append(("AE cost at the first update", "(not printed)", costs[0], short))
    rows.append(("baseline: always output the mean image", "(not in course)", mean_image, short + " test"))

    fig = new_figure(6.5, 4)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(
        np.arange(1, len(costs) + 1) / COURSE_UPDATES_PER_EPOCH,
        costs,
        lw=0.6,
        alpha=0.6,
        label=f"ours, every batch ({short})",
    )
    ax.plot(
        [(m + 1) / COURSE_UPDATES_PER_EPOCH for m in marks],
        [costs[m] for m in marks],
        "o",
        ms=4,
        label="ours, last batch of each course epoch",
    )
    ax.plot(range(1, 21), COURSE_COST, "k^--", ms=4, label="course (MNIST 55k)")
    ax.set_xlabel("course epoch (214 updates of batch 256)")
    ax.set_ylabel("MSE cost")
    ax.set_ylim(0, max(0.3, min(1.0, max(costs[:5]) * 1.05)))
    ax.set_title("784-256-128-256-784 sigmoid autoencoder")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    savefig(fig, args, "ae_cost_curve.png")
    image_rows(
        [x_te[:10], ae.reconstruct(x_te[:10])],
        ["original", "rebuilt"],
        args,
        "ae_reconstructions_2x10.png",
        "test digits (top) and the autoencoder's reconstructions (bottom)",
    )

    # -- 2. tied and denoising ----------------------------------------------------------------------------
    passes = 3 if args.quick else 60
    section(f"Xavier init, Adam 0.001, batch 256, {passes} passes: untied vs tied vs denoising (30% masking)")
    rng = np.random.default_rng(args.seed)
    x_bad = x_te * (rng.random(x_te.shape) >= 0.3)  # the same 30% masking noise the DAE trains with
    models = {
        "untied": Autoencoder([784, 256, 128]),
        "tied": TiedAutoencoder([784, 256, 128]),
        "denoising": DenoisingAutoencoder([784, 256, 128], corruption="mask", corruption_level=0.3),
    }
    results = {}
    for name, model in models.items():
        _, secs = fit(model, x_tr, passes, 256, 0.001, args.seed)
        n_params = sum(int(p.value.size) for p in model.parameters())
        clean, noisy = mse(model, x_te), mse(model, x_bad, x_te)
        results[name] = (clean, noisy, n_params)
        print(
            f"  {name:9s} {n_params:7d} params: test MSE clean {clean:.5f}, from masked input {noisy:.5f} "
            f"({secs:.1f} s)"
        )
    rows.append(
        (
            "test MSE untied / tied (Xavier, Adam 1e-3)",
            "(not in course)",
            f"{results['untied'][0]:.4f} / {results['tied'][0]:.4f}",
            short + f" test, {passes} passes",
        )
    )
    rows.append(
        ("parameters untied / tied", "(not in course)", f"{results['untied'][2]} / {results['tied'][2]}", "-")
    )
    rows.append(
        (
            "30%-masked test input -> clean: plain / denoising",
            "(not in course)",
            f"{results['untied'][1]:.4f} / {results['denoising'][1]:.4f}",
            short + " test",
        )
    )
    rows.append(
        (
            "clean test input: plain / denoising",
            "(not in course)",
            f"{results['untied'][0]:.4f} / {results['denoising'][0]:.4f}",
            short + " test",
        )
    )
    image_rows(
        [
            x_te[:10],
            x_bad[:10],
            models["untied"].reconstruct(x_bad[:10]),
            models["denoising"].reconstruct(x_bad[:10]),
        ],
        ["clean", "30% masked", "plain AE", "denoising AE"],
        args,
        "denoising.png",
        "repairing masked digits: a plain autoencoder vs a denoising one",
    )

    # -- 3. a 2-D code against PCA ----------------------------------------------------------------------
    passes2 = 3 if args.quick else 100
    section(f"2-D codes: autoencoder 784-256-64-2 (linear code, BCE, Adam 0.001, {passes2} passes) vs PCA")
    ae2 = Autoencoder([784, 256, 64, 2], code_activation="linear")
    _, secs = fit(ae2, x_tr, passes2, 128, 0.001, args.seed, loss=BinaryCrossEntropy())
    pca = PCA(2).fit(x_tr)
    codes = {
        "autoencoder": (ae2.encode(x_tr), ae2.encode(x_te)),
        "PCA": (pca.transform(x_tr), pca.transform(x_te)),
    }
    rec_mse = {
        "autoencoder": mse(ae2, x_te),
        "PCA": float(((pca.inverse_transform(pca.transform(x_te)) - x_te) ** 2).mean()),
    }
    knn = {k: knn_accuracy(z_tr, y_tr, z_te, y_te) for k, (z_tr, z_te) in codes.items()}
    for k in codes:
        print(f"  {k:11s}: 5-NN accuracy in 2-D {knn[k]:.3f}, reconstruction MSE {rec_mse[k]:.4f}")
    print(
        f"  ({secs:.1f} s; PCA's 2 components explain {pca.explained_variance_ratio_.sum():.1%} of the variance)"
    )
    rows.append(
        (
            "2-D code, 5-NN test accuracy: AE / PCA",
            "AE separates better (figure)",
            f"{knn['autoencoder']:.3f} / {knn['PCA']:.3f}",
            short + " test",
        )
    )
    rows.append(
        (
            "2-D code, reconstruction MSE: AE / PCA",
            "(not in course)",
            f"{rec_mse['autoencoder']:.4f} / {rec_mse['PCA']:.4f}",
            short + " test",
        )
    )
    fig = new_figure(12, 5.2)
    for i, (name, (_, z)) in enumerate(codes.items()):
        ax = fig.add_subplot(1, 2, i + 1)
        sc = ax.scatter(z[:, 0], z[:, 1], c=y_te, cmap="tab10", s=6, vmin=-0.5, vmax=9.5)
        ax.set_title(f"{name}: test digits in 2-D (5-NN acc {knn[name]:.2f})")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(sc, ax=fig.axes, ticks=range(10), label="digit")
    savefig(fig, args, "code_space_ae_vs_pca.png")

    report(rows)
    notes(
        f"Data: {label}. The course trains on 55,000 full-MNIST images; we keep its number of updates "
        f"({20 * COURSE_UPDATES_PER_EPOCH} in the full run), so ours sees each of fewer images many more times.",
        "The lab prints the cost of the last batch of each epoch (a noisy number); so do we. Its 0.219 -> "
        "0.122 stays above what outputting the mean image scores (baseline row), a sign its N(0, 1)-"
        "initialised sigmoids stayed largely saturated; our run of the same recipe gets well below it. We "
        "could not pin the difference down from the printed lab (same sizes, init, loss, optimiser, batch).",
        "Tied, denoising and 2-D models use Xavier weights and Adam 0.001 (not in the course).",
        f"Wall time {time.perf_counter() - t_start:.1f} s.",
    )


if __name__ == "__main__":
    main()
