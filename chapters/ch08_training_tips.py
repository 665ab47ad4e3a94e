"""Chapter 8: training tips -- initialisation, optimizers, regularisation, batch norm, learning-rate schedules.

The course's "NN tips" slides list four levers; this chapter measures each on the same kind of network
(fully connected, 100 units a layer) so their effect can be seen rather than asserted:

1. Initial weights. A unit sums ``fan_in`` inputs, so weights of std 1 multiply the signal's size by
   about sqrt(fan_in) per layer (tanh saturates at +-1, gradients vanish), std 0.01 divides it by ~10 per
   layer (everything collapses to 0). Xavier, std = 1/sqrt(fan_in), keeps the spread constant through
   tanh layers; He, std = sqrt(2/fan_in), makes up for ReLU zeroing half its inputs. We push 1,000 random
   vectors through five layers and draw each layer's activations, then train with each initialisation.
2. Optimizers: SGD, Momentum, AdaGrad, RMSProp and Adam on the same network, data and batches.
3. Overfitting: 300 training images and a seven-layer net reach 100% training accuracy while test
   accuracy stalls; an L2 penalty (weight decay) and dropout narrow the gap.
4. Batch normalisation: normalising each layer's pre-activations per mini-batch makes training fast and
   insensitive to the initial scale.
5. Learning-rate schedules: step decay, exponential decay in stairs (TensorFlow's ``staircase=True``) and
   reduce-on-plateau, against a constant rate.

Data: full MNIST (60,000/10,000) when it can be found, else the 5,000-digit subset shipped with scratchnet
(split 4,000/1,000), said in the output and in every table row. ``--quick`` runs a tiny version.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import Digits, load_course_mnist, notes, report, section, setup, write_results

from scratchnet import init
from scratchnet.datasets import DataLoader
from scratchnet.layers.activations import ReLU, Sigmoid, Tanh
from scratchnet.layers.dense import Dense
from scratchnet.layers.dropout import Dropout
from scratchnet.layers.normalization import BatchNorm1D
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.model import Sequential
from scratchnet.optim import SGD, AdaGrad, Adam, ExponentialLR, ReduceLROnPlateau, RMSProp, StepLR
from scratchnet.plotting import layer_activations, new_figure, save
from scratchnet.training import History, Trainer

INITS = {
    "std 1": init.get("normal", std=1.0),
    "std 0.01": init.get("normal", std=0.01),
    "Xavier": "xavier_normal",
    "He": "he_normal",
}


def net(
    sizes: list[int], act=ReLU, weight_init: Any = "he_normal", batchnorm: bool = False, dropout: float = 0.0
) -> Sequential:
    """Dense (-> BatchNorm1D) -> act (-> Dropout) per hidden layer, Dense logits at the end."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(a, b, weight_init=weight_init))
        if i < len(sizes) - 2:
            if batchnorm:
                layers.append(BatchNorm1D(b))
            layers.append(act())
            if dropout:
                layers.append(Dropout(dropout))
    return Sequential(layers)


def smooth(values: list[float], k: int = 20) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if len(v) < k:
        return v
    return np.convolve(v, np.ones(k) / k, mode="valid")


def run_iterations(model: Sequential, opt: Any, data: Digits, iters: int, batch: int, seed: int) -> dict:
    """``iters`` mini-batch steps drawn with ``DataLoader.next_batch``; loss of every step, then test accuracy."""
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt)
    loader = DataLoader(data.x_tr, data.y_tr, batch_size=batch, seed=seed)
    model.train()
    losses, start = [], time.perf_counter()
    for _ in range(iters):
        xb, yb = loader.next_batch()
        value, _ = trainer.train_step(xb, yb)
        losses.append(value)
        if not np.isfinite(value):
            break
    ev = trainer.evaluate(data.x_te, data.y_te)
    return {"losses": losses, "test_accuracy": ev["accuracy"], "seconds": time.perf_counter() - start}


def run_epochs(
    model: Sequential, opt: Any, x, y, x_te, y_te, epochs: int, batch: int, seed: int, scheduler: Any = None
) -> History:
    """Epochs of mini-batches; after each, train and test loss/accuracy measured in eval mode (so dropout
    is off for both and the two curves are comparable)."""
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt)
    loader = DataLoader(x, y, batch_size=batch, seed=seed)
    history = History()
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        for xb, yb in loader:
            trainer.train_step(xb, yb)
        tr, te = trainer.evaluate(x, y), trainer.evaluate(x_te, y_te)
        history.records.append(
            {
                "epoch": epoch,
                "loss": tr["loss"],
                "accuracy": tr["accuracy"],
                "val_loss": te["loss"],
                "val_accuracy": te["accuracy"],
                "lr": opt.lr,
                "time": time.perf_counter() - start,
            }
        )
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(te["loss"])
        elif scheduler is not None:
            scheduler.step()
    return history


def savefig(fig, path: Path) -> None:
    save(fig, path)
    print(f"figure: {path}")


# -- 1. initialisation ---------------------------------------------------------------------------------------
def init_histograms(out: Path, rows: list, quick: bool, seed: int) -> dict:
    x = np.random.default_rng(seed).standard_normal((1000, 100)).astype(np.float32)
    stats: dict[str, dict[str, list[float]]] = {}
    kinds = (
        (("tanh", Tanh), ("relu", ReLU)) if quick else (("sigmoid", Sigmoid), ("tanh", Tanh), ("relu", ReLU))
    )
    for act_name, act in kinds:
        fig = new_figure(15, 10)
        stats[act_name] = {}
        for r, (init_name, spec) in enumerate(INITS.items()):
            model = net([100] * 7, act=act, weight_init=spec)
            model.layers = model.layers[:-1]  # keep the five activations, drop the output Dense
            acts = [
                a for name, a in layer_activations(model, x) if not name.split(": ")[1].startswith("Dense")
            ]
            stats[act_name][init_name] = [float(a.std()) for a in acts]
            for c, a in enumerate(acts):
                ax = fig.add_subplot(len(INITS), len(acts), r * len(acts) + c + 1)
                lo, hi = (
                    (0, 1)
                    if act_name == "sigmoid"
                    else (-1, 1)
                    if act_name == "tanh"
                    else (0, max(a.max(), 1e-6))
                )
                ax.hist(a.ravel(), bins=30, range=(lo, hi), color="tab:green")
                ax.set_yticks([])
                ax.set_title(f"{init_name}, layer {c + 1}: std {a.std():.3g}", fontsize=8)
        fig.suptitle(f"{act_name} activations of five 100-unit layers for 1,000 N(0,1) inputs (rows: init)")
        fig.tight_layout()
        savefig(fig, out / f"init_activations_{act_name}.png")
    course = {
        "std 1": "saturation: 'initialized the weights in a stupid way'",
        "std 0.01": "signal dies out layer by layer",
        "Xavier": "randn/sqrt(fan_in): 'just right'",
        "He": "randn/sqrt(fan_in/2), for ReLU",
    }
    for init_name in INITS:
        t, rl = stats["tanh"][init_name], stats["relu"][init_name]
        rows.append(
            (
                f"init {init_name}: act std layer 1->5 (tanh | relu)",
                course[init_name],
                f"{t[0]:.3g}->{t[-1]:.3g} | {rl[0]:.3g}->{rl[-1]:.3g}",
                "1000 N(0,1) vectors, 100 units",
            )
        )
    for act_name in ("tanh", "relu"):
        for init_name in INITS:
            print(
                f"  {act_name:5s} {init_name:8s} std per layer: "
                + " ".join(f"{v:.3g}" for v in stats[act_name][init_name])
            )
    return stats


# -- the chapter -------------------------------------------------------------------------------------------
def main() -> None:
    args = setup("ch08_training_tips", __doc__)
    quick, seed = args.quick, args.seed
    data = load_course_mnist(flatten=True, seed=seed, tf_split=False)
    if quick:
        data = data.subset(600, 200, seed)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple] = []
    summary: dict[str, Any] = {"data": data.label}
    deep = [784, 100, 100, 100, 100, 10]  # DLFS's "five-layer" net: four hidden layers of 100 units
    iters = 20 if quick else 2000
    batch = 128

    section("1. weight initialisation: activation histograms, then training (SGD 0.01)")
    summary["init_stats"] = init_histograms(out, rows, quick, seed)
    fig = new_figure(7, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    for init_name in ("std 0.01", "Xavier", "He"):
        model = net(deep, weight_init=INITS[init_name])
        res = run_iterations(model, SGD(model.parameters(), lr=0.01), data, iters, batch, seed)
        ax.plot(smooth(res["losses"]), label=f"{init_name} (test acc {res['test_accuracy']:.3f})")
        print(
            f"  ReLU net, {init_name}: loss {res['losses'][0]:.3f} -> {res['losses'][-1]:.3f}, "
            f"test accuracy {res['test_accuracy']:.4f} ({res['seconds']:.1f} s)"
        )
        rows.append(
            (
                f"train with {init_name} init, {iters} SGD steps: test acc",
                "std 0.01 does not learn" if init_name == "std 0.01" else "learns",
                res["test_accuracy"],
                f"{data.label}, 784-100x4-10 ReLU",
            )
        )
        summary.setdefault("init_training", {})[init_name] = res["test_accuracy"]
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss (moving average)")
    ax.set_title(f"initialisation, ReLU 784-100x4-10, SGD 0.01 ({data.label})")
    ax.legend()
    ax.grid(alpha=0.3)
    savefig(fig, out / "init_training.png")

    section("2. optimizers on the same net, data and batches")
    optimizers = {
        "SGD 0.01": lambda p: SGD(p, lr=0.01),
        "Momentum 0.01/0.9": lambda p: SGD(p, lr=0.01, momentum=0.9),
        "AdaGrad 0.01": lambda p: AdaGrad(p, lr=0.01),
        "RMSProp 0.001": lambda p: RMSProp(p, lr=0.001),
        "Adam 0.001": lambda p: Adam(p, lr=0.001),
    }
    fig = new_figure(8, 5)
    ax = fig.add_subplot(1, 1, 1)
    for name, make in optimizers.items():
        model = net(deep)
        res = run_iterations(model, make(model.parameters()), data, iters, batch, seed)
        tail = float(np.mean(res["losses"][-50:]))
        ax.plot(smooth(res["losses"]), label=f"{name} (test acc {res['test_accuracy']:.3f})")
        print(
            f"  {name:18s} last-50 loss {tail:.4f}  test accuracy {res['test_accuracy']:.4f} ({res['seconds']:.1f} s)"
        )
        rows.append(
            (
                f"{name}: test acc / last-50 loss",
                "'Use Adam'",
                f"{res['test_accuracy']:.4f} / {tail:.3f}",
                f"{data.label}, {iters} steps of {batch}",
            )
        )
        summary.setdefault("optimizers", {})[name] = {
            "test_accuracy": res["test_accuracy"],
            "final_loss": tail,
        }
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss (moving average, log)")
    ax.set_title(f"optimizers, 784-100x4-10 ReLU, He init ({data.label})")
    ax.legend()
    ax.grid(alpha=0.3)
    savefig(fig, out / "optimizers.png")

    section("3. overfitting: 300 training images, seven layers; L2 weight decay and dropout")
    n_small, n_eval = (100, 200) if quick else (300, len(data.x_te))
    epochs_of = 8 if quick else 200
    x_s, y_s = data.x_tr[:n_small], data.y_tr[:n_small]
    x_e, y_e = data.x_te[:n_eval], data.y_te[:n_eval]
    seven = [784] + [100] * 6 + [10]
    variants = {
        "no regularisation": dict(wd=0.0, dropout=0.0),
        "L2 weight decay 0.1": dict(wd=0.1, dropout=0.0),
        "dropout 0.15": dict(wd=0.0, dropout=0.15),
    }
    fig = new_figure(15, 4)
    for i, (name, v) in enumerate(variants.items()):
        model = net(seven, dropout=v["dropout"])
        h = run_epochs(
            model,
            SGD(model.parameters(), lr=0.01, weight_decay=v["wd"]),
            x_s,
            y_s,
            x_e,
            y_e,
            epochs_of,
            100,
            seed,
        )
        h.to_json(out / f"history_overfit_{i}.json")
        last = h.records[-1]
        gap = last["accuracy"] - last["val_accuracy"]
        print(
            f"  {name:20s} train acc {last['accuracy']:.3f}  test acc {last['val_accuracy']:.3f}  gap {gap:.3f}"
        )
        rows.append(
            (
                f"{name}: train / test acc",
                "train 0.99 vs test 0.85 = overfitting"
                if i == 0
                else "cost + lambda*sum W^2"
                if "L2" in name
                else "keep_prob 0.7",
                f"{last['accuracy']:.3f} / {last['val_accuracy']:.3f}",
                f"{n_small} train imgs, {epochs_of} ep",
            )
        )
        summary.setdefault("overfitting", {})[name] = {
            "train": last["accuracy"],
            "test": last["val_accuracy"],
        }
        ax = fig.add_subplot(1, 3, i + 1)
        ax.plot(h["epoch"], h["accuracy"], label="train")
        ax.plot(h["epoch"], h["val_accuracy"], "--", label="test")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"overfitting on {n_small} images of {data.label}, 784-100x6-10 ReLU, SGD 0.01")
    fig.tight_layout()
    savefig(fig, out / "overfitting.png")

    section("4. batch normalisation on/off, with a good and a poor initial scale (SGD 0.01)")
    n_bn = min(len(data.x_tr), 300 if quick else 20000)
    epochs_bn = 2 if quick else 10
    x_b, y_b = data.x_tr[:n_bn], data.y_tr[:n_bn]
    fig = new_figure(12, 4)
    axes = [fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)]
    for j, (init_name, spec) in enumerate((("He", "he_normal"), ("std 0.01", INITS["std 0.01"]))):
        for bn in (False, True):
            model = net(deep, weight_init=spec, batchnorm=bn)
            h = run_epochs(
                model,
                SGD(model.parameters(), lr=0.01),
                x_b,
                y_b,
                data.x_te,
                data.y_te,
                epochs_bn,
                batch,
                seed,
            )
            label = "with BatchNorm" if bn else "without"
            h.to_json(out / f"history_batchnorm_{j}_{int(bn)}.json")
            acc = h.records[-1]["val_accuracy"]
            print(
                f"  init {init_name:8s} {label:15s} test acc per epoch: "
                + " ".join(f"{r['val_accuracy']:.3f}" for r in h.records)
            )
            axes[j].plot(h["epoch"], h["val_accuracy"], "-" if bn else "--", marker="o", ms=3, label=label)
            rows.append(
                (
                    f"init {init_name}, {label}: test acc",
                    "BN: faster, init-insensitive" if bn else "",
                    acc,
                    f"{n_bn} imgs, {epochs_bn} ep",
                )
            )
            summary.setdefault("batchnorm", {})[f"{init_name} {label}"] = acc
        axes[j].set_title(f"init {init_name}")
        axes[j].set_xlabel("epoch")
        axes[j].set_ylabel("test accuracy")
        axes[j].grid(alpha=0.3)
        axes[j].legend()
    fig.suptitle(f"batch normalisation, 784-100x4-10 ReLU, SGD 0.01 ({data.label})")
    fig.tight_layout()
    savefig(fig, out / "batchnorm.png")

    section("5. learning-rate schedules (SGD with momentum 0.9, base lr 0.05)")
    epochs_lr = 3 if quick else 15
    schedules = {
        "constant": lambda o: None,
        "StepLR(step 4, x0.3)": lambda o: StepLR(o, step_size=4, gamma=0.3),
        "Exponential(0.5 per 3 ep, staircase)": lambda o: ExponentialLR(
            o, 0.5, decay_steps=3, staircase=True
        ),
        "ReduceLROnPlateau(x0.3, patience 1)": lambda o: ReduceLROnPlateau(o, factor=0.3, patience=1),
    }
    fig = new_figure(15, 4)
    ax_lr, ax_loss, ax_acc = (fig.add_subplot(1, 3, k) for k in (1, 2, 3))
    for name, make in schedules.items():
        model = net(deep)
        opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
        h = run_epochs(
            model, opt, x_b, y_b, data.x_te, data.y_te, epochs_lr, batch, seed, scheduler=make(opt)
        )
        acc = h.records[-1]["val_accuracy"]
        best = max(h["val_accuracy"])
        print(
            f"  {name:38s} lr {h['lr'][0]:.3g}->{h['lr'][-1]:.3g}  final test acc {acc:.4f} (best {best:.4f})"
        )
        ax_lr.step(h["epoch"], h["lr"], where="post", label=name)
        ax_loss.plot(h["epoch"], h["val_loss"], marker="o", ms=3, label=name)
        ax_acc.plot(h["epoch"], h["val_accuracy"], marker="o", ms=3, label=name)
        rows.append(
            (
                f"lr schedule {name}: test acc",
                "decay: 'slow down...' (98%)" if name != "constant" else "LR 0.003 constant: noisy",
                acc,
                f"{n_bn} imgs, {epochs_lr} ep",
            )
        )
        summary.setdefault("schedules", {})[name] = {"final": acc, "best": best, "lr": h["lr"]}
    for ax, ylabel in ((ax_lr, "learning rate"), (ax_loss, "test loss"), (ax_acc, "test accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    ax_lr.set_yscale("log")
    ax_acc.legend(fontsize=7)
    fig.suptitle(f"learning-rate schedules, 784-100x4-10 ReLU ({data.label})")
    fig.tight_layout()
    savefig(fig, out / "lr_schedules.png")

    (out / "results.json").write_text(json.dumps(summary, indent=1))
    print(f"results: {out / 'results.json'}")
    table = report(rows, title=f"course tips vs scratchnet measurements ({data.label})")
    of = summary["overfitting"]
    gaps = {k: v["train"] - v["test"] for k, v in of.items()}
    remarks = notes(
        "Overfitting, measured: the train-test gap went from {:.3f} (no regularisation) to {:.3f} with L2 and "
        "{:.3f} with dropout; test accuracy {:.3f} / {:.3f} / {:.3f}. The penalties mostly hold training accuracy "
        "back: with {} images, a smaller gap need not mean a better test score.".format(
            *gaps.values(), *(v["test"] for v in of.values()), n_small
        ),
        "ReduceLROnPlateau watches the test loss here (the chapter uses the test set as its validation set).",
        "The course states these tips qualitatively (its numbers are for whole MNIST models, chapter 7); "
        "the experiments follow the textbook set-ups of Saito's 'Deep Learning from Scratch' ch. 6 "
        "(100-unit layers, SGD 0.01, 300 images for overfitting) on our data.",
        "Course's Xavier is randn/sqrt(fan_in); for square 100x100 layers that equals Xavier-normal "
        "sqrt(2/(fan_in+fan_out)), which is what we use.",
        "Weight decay 0.1 adds 0.1*W to each weight gradient, i.e. a loss term 0.05*sum W^2 (biases excluded).",
        "Dropout(p) drops with probability p; the course's keep_prob 0.7 is Dropout(0.3).",
    )
    write_results(args, table, remarks)


if __name__ == "__main__":
    main()
