"""Chapter 20: autoencoders -- squeeze a digit through a narrow code and rebuild it
================================================================================
What the course claims (Deep Learning with TensorFlow, lab "Autoencoders"):

* an autoencoder is an ordinary network trained to output its own input; the lab's encoder is
  784 -> 256 -> 128 and its decoder the mirror image 128 -> 256 -> 784, sigmoid everywhere, so every digit
  has to pass through 128 numbers in (0, 1);
* trained on the squared difference between a picture and its rebuild (the mean over all pixels) with
  Adam, its cost falls from 0.219 after the first pass over MNIST to 0.122 after the twentieth. Those are
  *training-batch* figures: the cost of the last batch of each pass, computed in the same step that
  updates on it (before the update);
* the rebuilt test digits are recognisable, slightly noisy; and (quoting Hinton and Salakhutdinov) a deep
  autoencoder's 2-D code separates the digit classes better than PCA's.

The lab's recipe, exactly: weights and biases drawn from N(0, 1); Adam, lr 0.01; batches of 256 from
``mnist.train.next_batch`` (55,000 images, reshuffled every pass, a batch crossing the end of a pass
takes the rest and the start of the next); ``int(55000 / 256)`` = 214 updates per "epoch", 20 epochs. It
takes about two minutes here, so it runs as written. Unlike the RBM of chapter 17 nothing is sampled: the
loss has a gradient, and every layer's backward pass is the usual one.

The lab says its code comes from Aymeric Damien's TensorFlow examples, whose autoencoder trains with
``tf.train.RMSPropOptimizer(0.01)`` rather than Adam (aymericdamien/TensorFlow-Examples,
examples/3_NeuralNetworks/autoencoder.py). So we also run the lab with TensorFlow 1's RMSProp (decay 0.9,
epsilon 1e-10 inside the root, running mean square starting at 1), to see which optimiser the printed costs
belong to.

Beyond the lab, on the same data: a **tied** autoencoder (the decoder reuses the encoder's weights
transposed, half the parameters), a **denoising** one (trained on inputs with 30% of the pixels zeroed,
scored against the clean picture), and a **2-D code** 784-256-64-2 next to PCA's best 2-D projection,
scored by how well the classes separate (5-nearest-neighbour accuracy in the plane) and how well each
rebuilds the digits. Everything runs on full MNIST when it can be found (the 5,000-digit subset otherwise,
said in every row); ``<out>/results.md`` keeps the final table of the course's figures and ours.
"""

from __future__ import annotations

import time

import numpy as np
from _common import load_course_mnist, notes, report, savefig, section, setup, write_results

import scratchnet
from scratchnet import init
from scratchnet.backend import get_array_module
from scratchnet.datasets import DataLoader
from scratchnet.losses import BinaryCrossEntropy, MeanSquaredError
from scratchnet.optim import Adam, RMSProp
from scratchnet.plotting import new_figure
from scratchnet.training import Trainer
from scratchnet.unsupervised import PCA, Autoencoder, DenoisingAutoencoder, TiedAutoencoder

# the lab's printed cost after each of its 20 epochs (text, to keep every printed digit)
COURSE_COST = """0.218729958 0.181405053 0.171680182 0.157407790 0.150844395 0.151500776 0.146380241 0.139467284
0.136919573 0.138647676 0.132326111 0.130863369 0.129828766 0.130005032 0.129694894 0.124201685 0.124395795
0.123281069 0.124811962 0.122014269""".split()
EPOCHS, BATCH, LR = 20, 256, 0.01
NORMAL1 = init.get("normal", std=1.0)  # tf.random_normal, the lab's weights and biases
RECIPE = "AE 784-256-128-256-784 sigmoid, N(0,1) weights and biases, MSE, Adam 0.01, batch 256 (next_batch)"


def fit(model, x: np.ndarray, passes: int, batch: int, lr: float, seed: int, loss=None) -> float:
    """Adam on (x, x) for ``passes`` shuffled passes (the extra models, not the lab); returns seconds."""
    trainer = Trainer(model, loss or MeanSquaredError(), Adam(model.parameters(), lr=lr), metrics=())
    t0 = time.perf_counter()
    trainer.fit(x, x, passes, batch, seed=seed, progress=False)
    return time.perf_counter() - t0


def mse(model, x: np.ndarray, target: np.ndarray | None = None) -> float:
    rec = model.reconstruct(x)
    return float(((rec - (x if target is None else target)) ** 2).mean())


def knn_accuracy(z_tr: np.ndarray, y_tr: np.ndarray, z_te: np.ndarray, y_te: np.ndarray, k: int = 5) -> float:
    """k-nearest-neighbour vote in code space (codes standardised with the training set's spread)."""
    scale = z_tr.std(axis=0) + 1e-8
    a, b = (z_tr / scale).astype(np.float64), (z_te / scale).astype(np.float64)
    a2 = (a**2).sum(1)[None, :]
    pred = np.empty(len(b), dtype=np.int64)
    for lo in range(0, len(b), 500):  # 500 test rows at a time keeps the distance block small
        d = (b[lo : lo + 500] ** 2).sum(1)[:, None] - 2 * b[lo : lo + 500] @ a.T + a2
        votes = y_tr[np.argpartition(d, k, axis=1)[:, :k]]
        pred[lo : lo + 500] = [np.bincount(v, minlength=10).argmax() for v in votes]
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


class TFRMSProp(RMSProp):
    """RMSProp as TensorFlow 1's ``RMSPropOptimizer`` computes it: the running mean square starts at 1, not 0,
    and epsilon sits inside the root. With gradients far below 1 the first steps are about lr * g, where
    scratchnet's ``RMSProp`` (which starts at 0, as PyTorch's does) steps by about lr * sign(g)."""

    def update_step(self, p, g, state):
        s = self.state_buffer(state, "mean_sq", p, fill=1.0)
        s *= p.dtype.type(self.alpha)
        s += p.dtype.type(1 - self.alpha) * g * g
        p -= p.dtype.type(self.lr) * g / get_array_module(p).sqrt(s + p.dtype.type(self.eps))


def tf_rmsprop(params) -> TFRMSProp:
    """The optimiser of the TensorFlow example the lab adapts: RMSPropOptimizer(0.01), decay 0.9."""
    return TFRMSProp(params, lr=LR, alpha=0.9, eps=1e-10)


def train_lab_autoencoder(x_tr, make_optimizer, epochs: int, seed: int, label: str):
    """The lab's loop: ``epochs`` x int(N / 256) updates from the next_batch stream; returns the model and the
    cost of every batch, taken before that batch's update (the value the lab prints for the last one)."""
    scratchnet.seed(seed)
    ae = Autoencoder([784, 256, 128], weight_init=NORMAL1, bias_init=NORMAL1)
    trainer = Trainer(ae, MeanSquaredError(), make_optimizer(ae.parameters()), metrics=())
    stream = DataLoader(x_tr, seed=seed)  # next_batch: TensorFlow's mnist.train.next_batch
    per_epoch = len(x_tr) // BATCH  # the lab's total_batch = int(num_examples / batch_size)
    costs: list[float] = []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        for _ in range(per_epoch):
            xb, _ = stream.next_batch(BATCH)
            costs.append(trainer.train_step(xb, xb)[0])
        print(f"  {label} Epoch: {epoch + 1:04d} cost= {costs[-1]:.9f}   course {COURSE_COST[epoch]}")
    print(f"  {len(costs)} updates in {time.perf_counter() - t0:.1f} s")
    return ae, costs


def cost_rows(rows: list, costs: list[float], per_epoch: int, epochs: int, data: str, recipe: str, tag: str):
    """Course cost vs ours at the end of chosen epochs, and the mean of the epoch 16-20 values."""
    for e in sorted({1, 2, 3, 5, 10, 15, 20} & set(range(1, epochs + 1))):
        cell = f"{costs[e * per_epoch - 1]:.9f}"
        rows.append((f"AE cost{tag}, epoch {e} (its last batch)", COURSE_COST[e - 1], cell, f"{data}, train batch", recipe))  # fmt: skip
    if epochs == EPOCHS:  # single batches are noisy: compare the five printed last-batch costs as a whole
        ours5 = np.mean([costs[e * per_epoch - 1] for e in range(16, 21)])
        course5 = np.mean([float(c) for c in COURSE_COST[15:]])
        rows.append((f"mean of the epoch 16-20 costs{tag}", f"{course5:.4f}", f"{ours5:.4f}", f"{data}, train batch", recipe))  # fmt: skip


def cost_figure(args, runs: dict[str, list[float]], per_epoch: int, mean_image: float, data: str) -> None:
    """Every batch's cost of each run, the last batch of each epoch marked (the value the lab prints), and
    the course's printed costs."""
    first = next(iter(runs.values()))  # the Adam run: the lab's own code
    epochs = len(first) // per_epoch
    fig = new_figure(6.5, 4)
    ax = fig.add_subplot(1, 1, 1)
    steps = np.arange(1, len(first) + 1) / per_epoch
    marks = range(1, epochs + 1)
    for name, series in runs.items():
        line = ax.plot(steps, series, lw=0.5, alpha=0.5)[0]
        last = [series[e * per_epoch - 1] for e in marks]
        ax.plot(marks, last, "o", ms=4, color=line.get_color(), label=f"ours, {name}")
    ax.plot(range(1, EPOCHS + 1), [float(c) for c in COURSE_COST], "k^--", ms=4, label="course (printed)")
    ax.axhline(mean_image, color="gray", lw=0.8, ls=":", label="output the mean image")
    ax.set_xlabel(f"epoch ({per_epoch} updates of batch {BATCH}); dots: the last batch, as printed")
    ax.set_ylabel("MSE cost")
    ax.set_ylim(0, max(0.3, min(1.0, max(first[:5]) * 1.05)))
    ax.set_title(f"784-256-128-256-784 sigmoid autoencoder on {data}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    savefig(fig, args, "ae_cost_curve.png")


def course_autoencoder(args, rows: list, x_tr, x_te, data: str) -> str:
    """The lab with Adam (its code) and with TensorFlow's RMSProp; returns a remark comparing the two."""
    epochs = 3 if args.quick else EPOCHS
    per_epoch = len(x_tr) // BATCH
    section(f"the lab's autoencoder, Adam 0.01: {epochs} epochs x {per_epoch} batches of {BATCH} (next_batch)")  # fmt: skip
    ae, costs = train_lab_autoencoder(x_tr, lambda p: Adam(p, lr=LR), epochs, args.seed, "Adam")
    test_mse = mse(ae, x_te)
    mean_image = float(((x_te - x_tr.mean(axis=0)) ** 2).mean())
    print(
        f"  test-set MSE {test_mse:.5f}; first update's cost {costs[0]:.5f}; outputting the mean training "
        f"image scores {mean_image:.5f} on the test set"
    )
    recipe = f"lab (Adam), {epochs} epochs x {per_epoch}"
    cost_rows(rows, costs, per_epoch, epochs, data, recipe, "")
    rows.append(("AE test MSE (mean over pixels)", "(not in course)", test_mse, f"{data}, test", recipe))
    rows.append(("baseline: always output the mean image", "(not in course)", mean_image, f"{data}, test", "-"))  # fmt: skip

    section("the same, with TensorFlow's RMSProp (lr 0.01, decay 0.9): the optimiser of the example the lab adapts")  # fmt: skip
    _, rms_costs = train_lab_autoencoder(x_tr, tf_rmsprop, epochs, args.seed, "RMSProp")
    rms_recipe = f"lab with TF RMSProp, {epochs} epochs x {per_epoch}"
    cost_rows(rows, rms_costs, per_epoch, epochs, data, rms_recipe, " (RMSProp)")

    runs = {"Adam 0.01 (the lab's code)": costs, "TF RMSProp 0.01": rms_costs}
    cost_figure(args, runs, per_epoch, mean_image, data)
    image_rows(
        [x_te[:10], ae.reconstruct(x_te[:10])],
        ["original", "rebuilt"],
        args,
        "ae_reconstructions_2x10.png",
        "test digits (top) and the Adam-trained autoencoder's reconstructions (bottom)",
    )
    printed = [e * per_epoch - 1 for e in range(1, epochs + 1)]  # the batches whose cost the lab prints
    gap_adam = np.mean([abs(costs[i] - float(c)) for i, c in zip(printed, COURSE_COST)])
    gap_rms = np.mean([abs(rms_costs[i] - float(c)) for i, c in zip(printed, COURSE_COST)])
    return (
        f"Over the {epochs} printed epoch costs our Adam run (the lab's code) is off the course's by "
        f"{gap_adam:.4f} on average and our TensorFlow-RMSProp run (its source example's optimiser) by "
        f"{gap_rms:.4f}; the printed costs sit above what outputting the mean image scores ({mean_image:.4f})."
    )


def tied_and_denoising(args, rows: list, x_tr, x_te, data: str) -> None:
    passes = 1 if args.quick else 20
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
        secs = fit(model, x_tr, passes, 256, 0.001, args.seed)
        n_params = sum(int(p.value.size) for p in model.parameters())
        clean, noisy = mse(model, x_te), mse(model, x_bad, x_te)
        results[name] = (clean, noisy, n_params)
        print(
            f"  {name:9s} {n_params:7d} params: test MSE clean {clean:.5f}, from masked input {noisy:.5f} "
            f"({secs:.1f} s)"
        )
    recipe = f"Xavier, Adam 1e-3, b256, {passes} passes"
    test = f"{data}, test"
    untied, tied, dae = results["untied"], results["tied"], results["denoising"]
    rows.append(
        ("test MSE untied / tied", "(not in course)", f"{untied[0]:.4f} / {tied[0]:.4f}", test, recipe)
    )
    rows.append(("parameters untied / tied", "(not in course)", f"{untied[2]} / {tied[2]}", "-", "-"))
    rows.append(("30%-masked test input -> clean: plain / denoising", "(not in course)", f"{untied[1]:.4f} / {dae[1]:.4f}", test, recipe))  # fmt: skip
    rows.append(("clean test input: plain / denoising", "(not in course)", f"{untied[0]:.4f} / {dae[0]:.4f}", test, recipe))  # fmt: skip
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


def code_2d(args, rows: list, x_tr, y_tr, x_te, y_te, data: str) -> None:
    passes = 1 if args.quick else 20
    section(f"2-D codes: autoencoder 784-256-64-2 (linear code, BCE, Adam 0.001, {passes} passes) vs PCA")
    ae2 = Autoencoder([784, 256, 64, 2], code_activation="linear")
    secs = fit(ae2, x_tr, passes, 128, 0.001, args.seed, loss=BinaryCrossEntropy())
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
    recipe = f"AE: Xavier, BCE, Adam 1e-3, b128, {passes} passes"
    rows.append(("2-D code, 5-NN test accuracy: AE / PCA", "AE separates better (figure)", f"{knn['autoencoder']:.3f} / {knn['PCA']:.3f}", f"{data}, test", recipe))  # fmt: skip
    rows.append(("2-D code, reconstruction MSE: AE / PCA", "(not in course)", f"{rec_mse['autoencoder']:.4f} / {rec_mse['PCA']:.4f}", f"{data}, test", recipe))  # fmt: skip
    fig = new_figure(12, 5.2)
    show = slice(0, 5000)  # 5,000 test digits keep the scatter readable
    for i, (name, (_, z)) in enumerate(codes.items()):
        ax = fig.add_subplot(1, 2, i + 1)
        sc = ax.scatter(z[show, 0], z[show, 1], c=y_te[show], cmap="tab10", s=4, vmin=-0.5, vmax=9.5)
        ax.set_title(f"{name}: test digits in 2-D (5-NN acc {knn[name]:.2f})")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(sc, ax=fig.axes, ticks=range(10), label="digit")
    savefig(fig, args, "code_space_ae_vs_pca.png")


def main() -> None:
    args = setup("ch20_autoencoders", __doc__)
    rows: list = []
    digits = load_course_mnist(flatten=True, seed=args.seed)
    x_tr, y_tr, x_te, y_te, data = digits.x_tr, digits.y_tr, digits.x_te, digits.y_te, digits.label
    if args.quick:
        x_tr, y_tr, x_te, y_te = x_tr[:2000], y_tr[:2000], x_te[:1000], y_te[:1000]
        data += ", first 2k/1k"
    optimiser_remark = course_autoencoder(args, rows, x_tr, x_te, data)
    tied_and_denoising(args, rows, x_tr, x_te, data)
    code_2d(args, rows, x_tr, y_tr, x_te, y_te, data)
    epochs = 3 if args.quick else EPOCHS
    recipe = f"recipe: {RECIPE}, {epochs} epochs (the lab's {EPOCHS}), seed {args.seed}"
    print(f"\n{recipe}")
    table = report(rows)
    remarks = notes(
        f"Data: {data}. The course's costs are training-batch figures: the last batch of each epoch, "
        "computed before that batch's update; ours are measured the same way (a noisy number, hence also "
        "the means over epochs 16-20).",
        optimiser_remark,
        "TensorFlow's Adam adds epsilon (1e-8) to the uncorrected root sqrt(v), ours to the bias-corrected "
        "one; the two steps differ only while a gradient is below ~1e-7 in the first few hundred updates.",
        "Tied, denoising and 2-D models are not in the lab: Xavier weights, Adam 0.001, 20 shuffled passes.",
        "quick mode: the first 2,000 training and 1,000 test images, 3 epochs, one pass for the extra models.",
    )
    write_results(args, recipe, table, remarks)


if __name__ == "__main__":
    main()
