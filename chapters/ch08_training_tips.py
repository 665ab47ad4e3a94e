"""Chapter 8: training tips -- initialisation, optimizers, regularisation, batch norm, learning-rate decay
=======================================================================================================
What the course claims (the "NN tips" of the ML&DL and Korean decks, Gorner's MNIST tutorial in the Big Data
Mining deck): advice without numbers of its own (its MNIST figures are chapter 7's):

* initial weights: deep nets once failed partly because their weights were badly initialised; Xavier
  (randn / sqrt(fan_in)) and He (randn / sqrt(fan_in / 2), for ReLU) make them neither too small nor too big;
* optimizers: TensorFlow offers SGD, Momentum, AdaGrad, RMSProp, Adam and more; the advice is to use Adam;
* overfitting: 0.99 on the training set against 0.85 on the test set is the symptom; the cures are more data,
  fewer features and regularisation: an L2 term lambda * sum W^2 added to the cost (lambda 0.001 in the
  example), and dropout (keep_prob 0.7 in the labs, 0.75 in Gorner's);
* batch normalisation: only named (TensorFlow's layer, Gorner's scripts, ResNet's BN after every conv);
* learning-rate decay: Gorner's five-layer ReLU net at a constant 0.003 learns with noisy curves; a decaying
  rate reaches 98%; the TensorFlow course decays in stairs (exponential_decay, staircase=True).

Why: every tip keeps the signal and its gradient of a useful size. A unit sums ``fan_in`` inputs, so weights
of std 1 multiply the spread by ~sqrt(fan_in) per layer (tanh saturates, gradients vanish) and std 0.01
divides it by ~10 (all collapses to 0); Xavier keeps it constant through tanh layers, He makes up for ReLU
zeroing half its inputs; batch norm rescales each layer's pre-activations per mini-batch.

The chapter measures each lever on fully connected nets of 100-unit layers (the set-ups of Saito's "Deep
Learning from Scratch", ch. 6): activation histograms and training per initialisation; five optimizers on
the same batches; 300 images and a seven-layer net with and without L2 and dropout; batch norm on/off from
a good and a poor scale; step, staircase and on-plateau schedules against a constant rate. Data: full MNIST
(60,000/10,000) when it can be found, else the 5,000-digit subset shipped with scratchnet (4,000/1,000),
said in the output and every table row. ``<out>/results.md`` keeps the final table, command and wall time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _common import Digits, finish, load_course_mnist, notes, panels, report, section, setup, write_results

from scratchnet import Sequential, Trainer, init
from scratchnet.datasets import DataLoader
from scratchnet.layers import BatchNorm1D, Dense, Dropout, ReLU, Sigmoid, Tanh
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.optim import SGD, AdaGrad, Adam, ExponentialLR, ReduceLROnPlateau, RMSProp, StepLR
from scratchnet.plotting import layer_activations, new_figure
from scratchnet.training import History

INITS = {  # name: (initialiser, what the course says of it)
    "std 1": (init.get("normal", std=1.0), "saturation: 'initialized the weights in a stupid way'"),
    "std 0.01": (init.get("normal", std=0.01), "signal dies out layer by layer"),
    "Xavier": ("xavier_normal", "randn/sqrt(fan_in): 'just right'"),
    "He": ("he_normal", "randn/sqrt(fan_in/2), for ReLU"),
}
DEEP = [784, 100, 100, 100, 100, 10]  # DLFS's "five-layer" net: four hidden layers of 100 units
BATCH = 128


def net(
    sizes: list[int], act=ReLU, weight_init: Any = "he_normal", batchnorm=False, dropout=0.0
) -> Sequential:
    """Dense (-> BatchNorm1D) -> act (-> Dropout) per hidden layer, Dense logits at the end."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(a, b, weight_init=weight_init))
        if i < len(sizes) - 2:
            norm = [BatchNorm1D(b)] if batchnorm else []
            layers += norm + [act()] + ([Dropout(dropout)] if dropout else [])
    return Sequential(layers)


@dataclass
class Lab:
    """What every section needs: the data, the run's settings, the table rows and the JSON summary."""

    data: Digits
    out: Path
    quick: bool
    seed: int
    iters: int  # mini-batch steps of the initialisation and optimizer runs
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def test(self) -> tuple[np.ndarray, np.ndarray]:
        return self.data.x_te, self.data.y_te

    def first(self, n: int) -> tuple[int, tuple[np.ndarray, np.ndarray], str]:
        """The first ``n`` training images (at most all): their number, (x, y) and the table's data cell."""
        n = min(n, len(self.data.x_tr))
        return n, (self.data.x_tr[:n], self.data.y_tr[:n]), f"{self.data.label}: first {n} train imgs"


# -- training and figures ------------------------------------------------------------------------------------
def run_iterations(model: Sequential, opt: Any, lab: Lab) -> dict:
    """``lab.iters`` mini-batch steps (``DataLoader.next_batch``); loss of every step, then test accuracy."""
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt)
    loader = DataLoader(lab.data.x_tr, lab.data.y_tr, batch_size=BATCH, seed=lab.seed)
    model.train()
    losses, start = [], time.perf_counter()
    for _ in range(lab.iters):
        value, _ = trainer.train_step(*loader.next_batch())
        losses.append(value)
        if not np.isfinite(value):
            break
    acc = trainer.evaluate(*lab.test)["accuracy"]
    return {"losses": losses, "test_accuracy": acc, "seconds": time.perf_counter() - start}


def run_epochs(model, opt, train, test, epochs: int, batch: int, seed: int, scheduler: Any = None) -> History:
    """Epochs of mini-batches on ``train`` = (x, y); after each, train and ``test`` loss/accuracy measured in
    eval mode (so dropout is off for both and the two curves are comparable)."""
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt)
    loader = DataLoader(*train, batch_size=batch, seed=seed)
    history = History()
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        for xb, yb in loader:
            trainer.train_step(xb, yb)
        tr, te = trainer.evaluate(*train), trainer.evaluate(*test)
        record = {"epoch": epoch, "loss": tr["loss"], "accuracy": tr["accuracy"], "val_loss": te["loss"]}
        record.update(val_accuracy=te["accuracy"], lr=opt.lr, time=time.perf_counter() - start)
        history.records.append(record)
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(te["loss"])
        elif scheduler is not None:
            scheduler.step()
    return history


def smooth(values: list[float], k: int = 20) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return v if len(v) < k else np.convolve(v, np.ones(k) / k, mode="valid")


def histogram_figure(act_name: str, acts_by_init: dict[str, list[np.ndarray]], path: Path) -> None:
    fig = new_figure(15, 10)
    for r, (init_name, acts) in enumerate(acts_by_init.items()):
        for c, a in enumerate(acts):
            ax = fig.add_subplot(len(acts_by_init), len(acts), r * len(acts) + c + 1)
            hi = 1 if act_name != "relu" else max(a.max(), 1e-6)
            ax.hist(a.ravel(), bins=30, range=({"tanh": -1}.get(act_name, 0), hi), color="tab:green")
            ax.set_yticks([])
            ax.set_title(f"{init_name}, layer {c + 1}: std {a.std():.3g}", fontsize=8)
    title = f"{act_name} activations of five 100-unit layers for 1,000 N(0,1) inputs (rows: init)"
    finish(fig, [], path, title)


# -- the sections --------------------------------------------------------------------------------------------
def initialisation(lab: Lab) -> None:
    section("1. weight initialisation: activation histograms, then training (SGD 0.01)")
    x = np.random.default_rng(lab.seed).standard_normal((1000, 100)).astype(np.float32)
    kinds = {"tanh": Tanh, "relu": ReLU} if lab.quick else {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU}
    stats: dict[str, dict[str, list[float]]] = {}
    for act_name, act in kinds.items():
        acts_by_init = {}
        for init_name, (spec, _) in INITS.items():
            body = Sequential(net([100] * 7, act=act, weight_init=spec).layers[:-1])  # the five activations
            outs = layer_activations(body, x)
            acts_by_init[init_name] = [a for name, a in outs if not name.split(": ")[1].startswith("Dense")]
        stats[act_name] = {k: [float(a.std()) for a in v] for k, v in acts_by_init.items()}
        histogram_figure(act_name, acts_by_init, lab.out / f"init_activations_{act_name}.png")
    for init_name, (_, course) in INITS.items():
        t, rl = stats["tanh"][init_name], stats["relu"][init_name]
        ours = f"{t[0]:.3g}->{t[-1]:.3g} | {rl[0]:.3g}->{rl[-1]:.3g}"
        what = f"init {init_name}: act std layer 1->5 (tanh | relu)"
        lab.rows.append((what, course, ours, "1000 N(0,1) vectors", "five 100-unit layers, no training"))
    for act_name in ("tanh", "relu"):
        for init_name in INITS:
            per_layer = " ".join(f"{v:.3g}" for v in stats[act_name][init_name])
            print(f"  {act_name:5s} {init_name:8s} std per layer: {per_layer}")
    lab.summary["init_stats"] = stats

    fig, (ax,) = panels(1, 7, 4.5)
    recipe = f"784-100x4-10 ReLU, SGD 0.01, batch {BATCH}"
    for init_name in ("std 0.01", "Xavier", "He"):
        model = net(DEEP, weight_init=INITS[init_name][0])
        res = run_iterations(model, SGD(model.parameters(), lr=0.01), lab)
        acc, losses = res["test_accuracy"], res["losses"]
        ax.plot(smooth(losses), label=f"{init_name} (test acc {acc:.3f})")
        loss = f"loss {losses[0]:.3f} -> {losses[-1]:.3f}"
        print(f"  ReLU net, {init_name}: {loss}, test accuracy {acc:.4f} ({res['seconds']:.1f} s)")
        course = "std 0.01 does not learn" if init_name == "std 0.01" else "learns"
        what = f"train with {init_name} init, {lab.iters} SGD steps: test acc"
        lab.rows.append((what, course, acc, lab.data.label, recipe))
        lab.summary.setdefault("init_training", {})[init_name] = acc
    title = f"initialisation, ReLU 784-100x4-10, SGD 0.01 ({lab.data.label})"
    finish(fig, [ax], lab.out / "init_training.png", title, ["training loss (moving average)"], "iteration")


def optimizers(lab: Lab) -> None:
    section("2. optimizers on the same net, data and batches")
    makers = {
        "SGD 0.01": lambda p: SGD(p, lr=0.01),
        "Momentum 0.01/0.9": lambda p: SGD(p, lr=0.01, momentum=0.9),
        "AdaGrad 0.01": lambda p: AdaGrad(p, lr=0.01),
        "RMSProp 0.001": lambda p: RMSProp(p, lr=0.001),
        "Adam 0.001": lambda p: Adam(p, lr=0.001),
    }
    fig, (ax,) = panels(1, 8, 5)
    recipe = f"784-100x4-10 ReLU He, {lab.iters} steps of {BATCH}"
    for name, make in makers.items():
        model = net(DEEP)
        res = run_iterations(model, make(model.parameters()), lab)
        acc, tail = res["test_accuracy"], float(np.mean(res["losses"][-50:]))
        ax.plot(smooth(res["losses"]), label=f"{name} (test acc {acc:.3f})")
        print(f"  {name:18s} last-50 loss {tail:.4f}  test accuracy {acc:.4f} ({res['seconds']:.1f} s)")
        ours = f"{acc:.4f} / {tail:.3f}"
        lab.rows.append((f"{name}: test acc / last-50 loss", "'Use Adam'", ours, lab.data.label, recipe))
        lab.summary.setdefault("optimizers", {})[name] = {"test_accuracy": acc, "final_loss": tail}
    ax.set_yscale("log")
    title = f"optimizers, 784-100x4-10 ReLU, He init ({lab.data.label})"
    finish(fig, [ax], lab.out / "optimizers.png", title, ["training loss (moving average, log)"], "iteration")


def overfitting(lab: Lab) -> str:
    """Returns the note on what the penalties did to the train-test gap."""
    section("3. overfitting: 300 training images, seven layers; L2 weight decay and dropout")
    (n_small, train, where), n_eval = lab.first(100 if lab.quick else 300), 200 if lab.quick else None
    epochs, test = 8 if lab.quick else 200, (lab.data.x_te[:n_eval], lab.data.y_te[:n_eval])
    variants = {  # name: (weight decay, dropout, what the course says)
        "no regularisation": (0.0, 0.0, "train 0.99 vs test 0.85 = overfitting"),
        "L2 weight decay 0.1": (0.1, 0.0, "cost + lambda*sum W^2"),
        "dropout 0.15": (0.0, 0.15, "keep_prob 0.7"),
    }
    fig, axes = panels(3, 15, 4)
    recipe, results = f"784-100x6-10 ReLU, SGD 0.01, batch 100, {epochs} ep", {}
    for i, (name, (wd, drop, course)) in enumerate(variants.items()):
        model = net([784] + [100] * 6 + [10], dropout=drop)
        opt = SGD(model.parameters(), lr=0.01, weight_decay=wd)
        h = run_epochs(model, opt, train, test, epochs, 100, lab.seed)
        h.to_json(lab.out / f"history_overfit_{i}.json")
        tr, te = h.records[-1]["accuracy"], h.records[-1]["val_accuracy"]
        print(f"  {name:20s} train acc {tr:.3f}  test acc {te:.3f}  gap {tr - te:.3f}")
        lab.rows.append((f"{name}: train / test acc", course, f"{tr:.3f} / {te:.3f}", where, recipe))
        results[name] = {"train": tr, "test": te}
        axes[i].plot(h["epoch"], h["accuracy"], label="train")
        axes[i].plot(h["epoch"], h["val_accuracy"], "--", label="test")
        axes[i].set_ylim(0, 1.02)
        axes[i].set_title(name)
    lab.summary["overfitting"] = results
    title = f"overfitting on {n_small} images of {lab.data.label}, 784-100x6-10 ReLU, SGD 0.01"
    finish(fig, axes, lab.out / "overfitting.png", title, ["accuracy"] * 3)
    gaps, tests = [v["train"] - v["test"] for v in results.values()], [v["test"] for v in results.values()]
    text = (
        "Overfitting, measured: the train-test gap went from {:.3f} (no regularisation) to {:.3f} with L2 "
        "and {:.3f} with dropout; test accuracy {:.3f} / {:.3f} / {:.3f}. The penalties mostly hold training "
        "accuracy back: with {} images, a smaller gap need not mean a better test score."
    )
    return text.format(*gaps, *tests, n_small)


def batch_normalisation(lab: Lab) -> None:
    section("4. batch normalisation on/off, with a good and a poor initial scale (SGD 0.01)")
    _, train, where = lab.first(300 if lab.quick else 20000)
    epochs = 2 if lab.quick else 10
    fig, axes = panels(2, 12, 4)
    recipe = f"784-100x4-10 ReLU, SGD 0.01, batch {BATCH}, {epochs} ep"
    for j, (init_name, spec) in enumerate((("He", "he_normal"), ("std 0.01", INITS["std 0.01"][0]))):
        for bn in (False, True):
            model = net(DEEP, weight_init=spec, batchnorm=bn)
            h = run_epochs(model, SGD(model.parameters(), lr=0.01), train, lab.test, epochs, BATCH, lab.seed)
            label = "with BatchNorm" if bn else "without"
            h.to_json(lab.out / f"history_batchnorm_{j}_{int(bn)}.json")
            acc = h.records[-1]["val_accuracy"]
            per_epoch = " ".join(f"{r['val_accuracy']:.3f}" for r in h.records)
            print(f"  init {init_name:8s} {label:15s} test acc per epoch: {per_epoch}")
            axes[j].plot(h["epoch"], h["val_accuracy"], "-" if bn else "--", marker="o", ms=3, label=label)
            course = "BN: faster, init-insensitive" if bn else "(baseline, not in the course)"
            lab.rows.append((f"init {init_name}, {label}: test acc", course, acc, where, recipe))
            lab.summary.setdefault("batchnorm", {})[f"{init_name} {label}"] = acc
        axes[j].set_title(f"init {init_name}")
    title = f"batch normalisation, 784-100x4-10 ReLU, SGD 0.01 ({lab.data.label})"
    finish(fig, axes, lab.out / "batchnorm.png", title, ["test accuracy"] * 2)


def lr_schedules(lab: Lab) -> None:
    section("5. learning-rate schedules (SGD with momentum 0.9, base lr 0.05)")
    _, train, where = lab.first(300 if lab.quick else 20000)
    epochs = 3 if lab.quick else 15
    schedules = {
        "constant": lambda o: None,
        "StepLR(step 4, x0.3)": lambda o: StepLR(o, step_size=4, gamma=0.3),
        "Exponential(0.5 per 3 ep, staircase)": lambda o: ExponentialLR(o, 0.5, 3, staircase=True),
        "ReduceLROnPlateau(x0.3, patience 1)": lambda o: ReduceLROnPlateau(o, factor=0.3, patience=1),
    }
    fig, axes = panels(3, 15, 4)
    ax_lr, ax_loss, ax_acc = axes
    recipe = f"784-100x4-10 ReLU, SGD 0.05 momentum 0.9, batch {BATCH}, {epochs} ep"
    for name, make in schedules.items():
        model = net(DEEP)
        opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
        h = run_epochs(model, opt, train, lab.test, epochs, BATCH, lab.seed, scheduler=make(opt))
        acc, best = h.records[-1]["val_accuracy"], max(h["val_accuracy"])
        lr = f"{h['lr'][0]:.3g}->{h['lr'][-1]:.3g}"
        print(f"  {name:38s} lr {lr}  final test acc {acc:.4f} (best {best:.4f})")
        ax_lr.step(h["epoch"], h["lr"], where="post", label=name)
        ax_loss.plot(h["epoch"], h["val_loss"], marker="o", ms=3, label=name)
        ax_acc.plot(h["epoch"], h["val_accuracy"], marker="o", ms=3, label=name)
        course = "decay: 'slow down...' (98%)" if name != "constant" else "LR 0.003 constant: noisy"
        lab.rows.append((f"lr schedule {name}: test acc", course, acc, where, recipe))
        lab.summary.setdefault("schedules", {})[name] = {"final": acc, "best": best, "lr": h["lr"]}
    ax_lr.set_yscale("log")
    title = f"learning-rate schedules, 784-100x4-10 ReLU ({lab.data.label})"
    ylabels = ["learning rate", "test loss", "test accuracy"]
    finish(fig, axes, lab.out / "lr_schedules.png", title, ylabels, legend=2)


# -- the chapter -------------------------------------------------------------------------------------------
def main() -> None:
    args = setup("ch08_training_tips", __doc__)
    data = load_course_mnist(flatten=True, seed=args.seed, tf_split=False)
    if args.quick:
        data = data.subset(600, 200, args.seed)
    lab = Lab(data, args.out, args.quick, args.seed, 20 if args.quick else 2000, summary={"data": data.label})

    initialisation(lab)
    optimizers(lab)
    overfit_note = overfitting(lab)
    batch_normalisation(lab)
    lr_schedules(lab)

    (args.out / "results.json").write_text(json.dumps(lab.summary, indent=1))
    print(f"results: {args.out / 'results.json'}")
    table = report(lab.rows, title=f"course tips vs scratchnet measurements ({data.label})")
    remarks = notes(
        overfit_note,
        "ReduceLROnPlateau watches the test loss here (the chapter uses the test set as its validation set).",
        "The course states these tips qualitatively (its numbers are for whole MNIST models, chapter 7); "
        "the experiments follow the textbook set-ups of Saito's 'Deep Learning from Scratch' ch. 6 "
        "(100-unit layers, SGD 0.01, 300 images for overfitting) on our data.",
        "Course's Xavier is randn/sqrt(fan_in); for square 100x100 layers that equals Xavier-normal "
        "sqrt(2/(fan_in+fan_out)), which is what we use.",
        "Weight decay 0.1 adds 0.1*W to each weight gradient, i.e. a loss term 0.05*sum W^2 "
        "(biases excluded).",
        "Dropout(p) drops with probability p; the course's keep_prob 0.7 is Dropout(0.3).",
    )
    write_results(args, table, remarks)


if __name__ == "__main__":
    main()
