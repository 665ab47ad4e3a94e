"""Chapter 7: MNIST with softmax regression and multi-layer perceptrons, the course's ladder
=========================================================================================
What the course claims (all on full MNIST, test accuracy on the 10,000 test digits after training):

* lab-10-1, softmax regression, N(0, 1) weights and biases, Adam 0.001, batches of 100, 15 epochs: 0.9035
  (epoch-1 average cost 5.89);
* lab-10-2, 784-256-256-10 with ReLU and N(0, 1) weights, same training: 0.9455, after an epoch-1 cost of
  141.2. Weights of size 1 make each first-layer unit a sum of hundreds of unit-size terms, so the logits
  start in the hundreds and the first epochs go into shrinking the weights;
* the Korean deck's 784-256-128-64-10 with Adam 0.01 for 16 epochs: 0.951 with N(0, 1) weights (epoch-1
  cost 121.6) and 0.9769 with Xavier weights (epoch-1 cost 0.315). Xavier draws weights with variance
  ~ 2 / (fan_in + fan_out), which keeps every layer's activations of unit size from the start;
* lab-10-5, 784-512-512-512-512-10, Xavier, dropout keeping 70% of the hidden units in training, Adam 0.001,
  15 epochs: 0.9818 (epoch-1 cost 0.478);
* Martin Gorner's tutorial (the Big Data Mining deck): five layers 200-100-60-30-10, Adam 0.003, batches
  of 100: 97.9% with sigmoids; ReLUs learn faster but the curves are noisy ("yuck") until the learning rate
  decays from 0.003 towards 0.0001, which gives 98%.

The chapter runs each of these recipes on full MNIST when it can be found (``$SCRATCHNET_DATA``, the
project's ``../shared/datasets``, the cache or a download), training on the 55,000 images TensorFlow's
``input_data`` trains on, and on the 5,000-digit subset shipped with scratchnet (split 4,000/1,000)
otherwise, saying so in its output and in every table row. The final table puts the course's figure, ours,
the data and the recipe side by side; ``<out>/results.md`` keeps it with the command and the wall time.

Options (besides ``--quick``, ``--out``, ``--seed``): ``--epochs N`` overrides every recipe's epoch count
(for a shorter run; the table then says so).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import Digits, load_course_mnist, notes, report, section, setup, write_results

import scratchnet
from scratchnet import Sequential, Trainer, init
from scratchnet.datasets import DataLoader
from scratchnet.layers import Dense, Dropout, ReLU, Sigmoid
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.optim import Adam
from scratchnet.plotting import new_figure, plot_confusion_matrix, plot_image_grid, save

NORMAL1 = init.get("normal", std=1.0)  # tf.random_normal: the labs' default for weights and biases
GORNER_W = init.get("truncated_normal", std=0.1)  # the tutorial's weights
GORNER_STEPS = 10_000


@dataclass(frozen=True)
class Recipe:
    """How one model is trained: Adam at ``lr`` on batches of ``batch``, for ``epochs`` passes over the
    training set or for ``steps`` batches; ``decay``: Gorner's lr = 0.0001 + 0.003 exp(-step / 2000)."""

    lr: float
    epochs: int | None = None
    steps: int | None = None
    batch: int = 100
    decay: bool = False

    def describe(self) -> str:
        length = f"{self.epochs} ep" if self.epochs else f"{self.steps:,} steps"
        lr = "lr 0.003->0.0001 decay" if self.decay else f"lr {self.lr:g}"
        return f"Adam {lr}, batch {self.batch}, {length}"

    def shortened(self, epochs: int | None) -> Recipe:
        """The same recipe run for ``epochs`` epochs instead (``--epochs``, ``--quick``)."""
        if epochs is None:
            return self
        return Recipe(self.lr, epochs, None, self.batch, self.decay)


# -- models ------------------------------------------------------------------------------------------------
def mlp(sizes: list[int], act=ReLU, weight_init: Any = "xavier", bias_init: Any = NORMAL1, drop: float = 0.0):
    """Dense -> act (-> Dropout) for every hidden layer, a plain Dense for the logits."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(a, b, weight_init=weight_init, bias_init=bias_init))
        if i < len(sizes) - 2:
            layers.append(act())
            if drop:
                layers.append(Dropout(drop))
    return Sequential(layers)


# -- training ----------------------------------------------------------------------------------------------
def train(name: str, model: Sequential, data: Digits, recipe: Recipe, seed: int, out: Path) -> dict[str, Any]:
    """Adam on mini-batches drawn as TensorFlow's ``next_batch`` draws them (reshuffled every epoch).

    Per epoch it records the course's "cost" (the mean of the batch losses, dropout on) and the test
    accuracy (dropout off). Saves the history as JSON."""
    opt = Adam(model.parameters(), lr=recipe.lr)
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt)
    loader = DataLoader(data.x_tr, data.y_tr, batch_size=recipe.batch, seed=seed)
    per_epoch = max(1, len(data.x_tr) // recipe.batch)  # int(num_examples / batch_size), as the labs
    total = recipe.steps if recipe.steps else recipe.epochs * per_epoch
    steps = f" = {total:,} steps" if recipe.epochs else ""
    print(f"\n{name}: {model.num_parameters():,} parameters; {recipe.describe()}{steps}")
    records, cost, in_epoch, start = [], 0.0, 0, time.perf_counter()
    model.train()
    for step in range(total):
        if recipe.decay:
            opt.lr = 1e-4 + 3e-3 * math.exp(-step / 2000)
        xb, yb = loader.next_batch()
        value, _ = trainer.train_step(xb, yb)
        cost += value
        in_epoch += 1
        if in_epoch == per_epoch or step == total - 1:
            acc = trainer.evaluate(data.x_te, data.y_te)["accuracy"]
            model.train()
            records.append({"epoch": len(records) + 1, "cost": cost / in_epoch, "test_accuracy": acc})
            print(
                f"  Epoch: {len(records):04d} cost = {cost / in_epoch:.9f}  test acc {acc:.4f}  "
                f"lr {opt.lr:.2g}  ({time.perf_counter() - start:.0f} s)"
            )
            cost, in_epoch = 0.0, 0
    wall = time.perf_counter() - start
    acc = records[-1]["test_accuracy"]
    print(f"  Accuracy: {acc:.4f}  ({wall:.0f} s)")
    (out / f"history_{name}.json").write_text(json.dumps(records, indent=1))
    return {
        "name": name,
        "model": model,
        "trainer": trainer,
        "records": records,
        "test_accuracy": acc,
        "first_cost": records[0]["cost"],
        "steps": total,
        "seconds": wall,
        "recipe": recipe.describe(),
    }


def comparison_figure(results: list[dict[str, Any]], data: Digits, path: Path, title: str) -> None:
    fig = new_figure(11, 4)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for r in results:
        ep = [rec["epoch"] for rec in r["records"]]
        ax1.plot(ep, [rec["cost"] for rec in r["records"]], label=r["name"])
        ax2.plot(ep, [rec["test_accuracy"] for rec in r["records"]], marker="o", ms=3, label=r["name"])
    ax1.set_yscale("log")
    ax1.set_ylabel("epoch's mean training cost (log scale)")
    ax2.set_ylabel("test accuracy")
    for ax in (ax1, ax2):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{title} ({data.label})")
    save(fig, path)
    print(f"figure: {path}")


# -- the labs ----------------------------------------------------------------------------------------------
class Lab:
    """What every section needs: data, seed, output folder, the --epochs override, the table rows."""

    def __init__(self, data: Digits, seed: int, out: Path, epochs: int | None) -> None:
        self.data, self.seed, self.out, self.epochs = data, seed, out, epochs
        self.rows: list[tuple[Any, ...]] = []
        self.results: list[dict[str, Any]] = []

    def run(self, name: str, make, recipe: Recipe) -> dict[str, Any]:
        scratchnet.seed(self.seed)  # every model starts from the same seed
        r = train(name, make(), self.data, recipe.shortened(self.epochs), self.seed, self.out)
        self.results.append(r)
        return r

    def row(self, what: str, course: str, ours: Any, r: dict[str, Any]) -> None:
        self.rows.append(
            (what, course, ours, self.data.label, f"{r['recipe']} [{r['seconds'] / 60:.1f} min]")
        )


def softmax_regression(lab: Lab) -> None:
    section("lab-10-1: softmax regression, Dense(784, 10), N(0,1) init")
    r = lab.run(
        "softmax",
        lambda: Sequential([Dense(784, 10, weight_init=NORMAL1, bias_init=NORMAL1)]),
        Recipe(1e-3, 15),
    )
    lab.row("softmax regression: epoch-1 cost", "5.889 (train)", r["first_cost"], r)
    lab.row("softmax regression: accuracy", "0.9035 (test)", r["test_accuracy"], r)


def normal_init_nets(lab: Lab) -> None:
    section("lab-10-2: 784-256-256-10 ReLU with N(0,1) weights")
    r = lab.run("relu_256x2_normal", lambda: mlp([784, 256, 256, 10], weight_init=NORMAL1), Recipe(1e-3, 15))
    lab.row("784-256-256-10 N(0,1): epoch-1 cost", "141.2 (train)", r["first_cost"], r)
    lab.row("784-256-256-10 N(0,1): accuracy", "0.9455 (test)", r["test_accuracy"], r)


def xavier_vs_normal(lab: Lab) -> None:
    section("784-256-128-64-10 ReLU, Adam 0.01, 16 epochs: N(0,1) weights, then Xavier")
    deep = [784, 256, 128, 64, 10]
    r = lab.run("relu_256_128_64_normal", lambda: mlp(deep, weight_init=NORMAL1), Recipe(1e-2, 16))
    lab.row("784-256-128-64-10 N(0,1): epoch-1 cost", "121.6 (train)", r["first_cost"], r)
    lab.row("784-256-128-64-10 N(0,1): accuracy", "0.951 (test)", r["test_accuracy"], r)
    r = lab.run("relu_256_128_64_xavier", lambda: mlp(deep), Recipe(1e-2, 16))
    lab.row("784-256-128-64-10 Xavier: epoch-1 cost", "0.3147 (train)", r["first_cost"], r)
    lab.row("784-256-128-64-10 Xavier: accuracy", "0.9769 (test)", r["test_accuracy"], r)


def dropout_net(lab: Lab) -> None:
    section("lab-10-5: 784-512x4-10, Xavier, dropout keep_prob 0.7 = Dropout(0.3)")
    r = lab.run(
        "relu_512x4_xavier_dropout", lambda: mlp([784, 512, 512, 512, 512, 10], drop=0.3), Recipe(1e-3, 15)
    )
    lab.row("784-512x4-10 Xavier + dropout: epoch-1 cost", "0.4780 (train)", r["first_cost"], r)
    lab.row("784-512x4-10 Xavier + dropout: accuracy", "0.9818 (test)", r["test_accuracy"], r)
    comparison_figure(lab.results, lab.data, lab.out / "ladder.png", "the course's MNIST ladder")


def five_layers(lab: Lab) -> None:
    section("Gorner: five layers 200-100-60-30-10, sigmoid vs ReLU vs ReLU + lr decay, Adam 0.003")
    sizes = [784, 200, 100, 60, 30, 10]
    relu_bias = init.get("constant", value=0.1)
    runs = []
    for name, act, bias, decay in (
        ("five_sigmoid", Sigmoid, "zeros", False),
        ("five_relu", ReLU, relu_bias, False),
        ("five_relu_lr_decay", ReLU, relu_bias, True),
    ):
        recipe = Recipe(3e-3, steps=GORNER_STEPS, decay=decay)

        def make(act=act, bias=bias):
            return mlp(sizes, act=act, weight_init=GORNER_W, bias_init=bias)

        runs.append(lab.run(name, make, recipe))
    comparison_figure(runs, lab.data, lab.out / "five_layers.png", "five layers: sigmoid vs ReLU vs lr decay")
    noise = [float(np.std([rec["test_accuracy"] for rec in r["records"][-5:]])) for r in runs]
    lab.row("5 layers sigmoid: accuracy", "0.979 (test, slide)", runs[0]["test_accuracy"], runs[0])
    lab.row("5 layers ReLU: accuracy", "noisy (test curve)", runs[1]["test_accuracy"], runs[1])
    lab.row("5 layers ReLU + lr decay: accuracy", "0.98 (test, slide)", runs[2]["test_accuracy"], runs[2])
    lab.row(
        "ReLU: std of last 5 epochs' test acc, const / decay",
        "decay calms the noise",
        f"{noise[1]:.4f} / {noise[2]:.4f}",
        runs[2],
    )


def predictions(lab: Lab) -> None:
    section("predictions of the best model")
    data = lab.data
    best = max(lab.results, key=lambda r: r["test_accuracy"])
    pred = best["trainer"].predict(data.x_te).argmax(1)
    shown = 32
    plot_image_grid(
        data.x_te[:shown], data.y_te[:shown], pred[:shown], path=lab.out / "predictions.png",
        title=f"{best['name']}: predicted / true ({data.label})",
    )  # fmt: skip
    wrong = np.flatnonzero(pred != data.y_te)[:shown]
    if len(wrong):
        plot_image_grid(
            data.x_te[wrong], data.y_te[wrong], pred[wrong], path=lab.out / "mistakes.png",
            title=f"{best['name']}: mistakes, predicted / true",
        )  # fmt: skip
    plot_confusion_matrix(
        data.y_te, pred, num_classes=10, path=lab.out / "confusion.png",
        title=f"{best['name']} on {data.label} (accuracy {float((pred == data.y_te).mean()):.4f})",
    )  # fmt: skip
    print(f"figure: {lab.out / 'predictions.png'}, {lab.out / 'confusion.png'}")
    lab.row("best model", "dropout net 0.9818 (test)", f"{best['name']} {best['test_accuracy']:.4f}", best)


def save_summary(lab: Lab) -> None:
    summary = {
        "data": lab.data.label,
        "full_mnist": lab.data.full,
        "source": lab.data.source,
        "models": {
            r["name"]: {
                "test_accuracy": r["test_accuracy"],
                "first_cost": r["first_cost"],
                "epochs": len(r["records"]),
                "steps": r["steps"],
                "recipe": r["recipe"],
                "seconds": round(r["seconds"], 1),
            }
            for r in lab.results
        },
    }
    (lab.out / "results.json").write_text(json.dumps(summary, indent=1))


# -- the chapter -------------------------------------------------------------------------------------------
def options(parser) -> None:
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs for every model (default: each recipe's)"
    )


def main() -> None:
    args = setup("ch07_mnist_mlp", __doc__, options=options)
    data = load_course_mnist(flatten=True, seed=args.seed)
    if args.quick:
        data = data.subset(800, 300, args.seed)
    lab = Lab(data, args.seed, args.out, 1 if args.quick and args.epochs is None else args.epochs)

    softmax_regression(lab)
    normal_init_nets(lab)
    xavier_vs_normal(lab)
    dropout_net(lab)
    five_layers(lab)
    predictions(lab)
    save_summary(lab)

    table = report(lab.rows, title="course (full MNIST) vs scratchnet")
    data_note = (
        "Our data is the course's: full MNIST, trained on TensorFlow's 55,000-image training split, tested "
        "on all 10,000 test digits."
        if data.full and not args.quick
        else f"Our data: {data.label}. The course's figures are on full MNIST (55k train / 10k test); with "
        "fewer images and steps, compare the order of the ladder, not the figures."
    )
    remarks = notes(
        data_note,
        "Costs are the mean of an epoch's batch losses (dropout on), as the labs print them; accuracies are "
        "test accuracies with dropout off. One run per recipe (seed 0): other seeds move the last digit.",
        "The Korean deck prints 0.951 and 0.9769 for 784-256-128-64-10 with Adam 0.01 over 16 epochs; it shows "
        "no batch size, so we use the labs' 100. lab-10-3 (784-256-256-10 Xavier) prints no accuracy.",
        "784-256-128-64-10 with N(0,1) weights and Adam 0.01 is an unstable recipe: the first losses are in the "
        "thousands and huge Adam steps can leave most ReLUs dead. In our seed-0 run that happened (cost ~1 from "
        "epoch 3 on); PyTorch, started from the same weights on the same batches, collapsed the same way (loss "
        "1.19 vs our 1.14 after 1,100 steps), so the course's 0.951 is one draw of a chaotic run, not a target.",
        "keep_prob 0.7 (TensorFlow 1) is Dropout(0.3): scratchnet's p is the probability of dropping a unit.",
        f"The five-layer models follow Gorner's tutorial: truncated-normal weights (std 0.1), zero biases for "
        f"sigmoid and 0.1 for ReLU, {GORNER_STEPS:,} steps of 100 (the slides give no count), the decay "
        "applied at every step. The slides show only the final figures, read off his test curves.",
    )
    write_results(args, table, remarks)


if __name__ == "__main__":
    main()
