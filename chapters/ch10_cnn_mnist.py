"""Chapter 10: convolutional networks on MNIST, from a simple CNN to an ensemble of seven
======================================================================================
What the course claims (full MNIST; TensorFlow 'SAME' padding throughout):

* lab-11-1, the simple CNN: 3x3 conv, 32 maps -> ReLU -> 2x2 max pool -> 3x3 conv, 64 maps -> ReLU ->
  pool -> dense 10. Kernels N(0, 0.01) without biases, the dense layer Xavier with an N(0, 1) bias; Adam,
  batches of 100, 15 epochs. The epoch's cost falls from 0.340 to 0.0095; test accuracy 0.9885;
* the TensorFlow tutorial net (Cognitive Class deck): 5x5 conv 32 -> pool -> 5x5 conv 64 -> pool -> dense
  1024 -> dropout keeping 50% -> dense 10, truncated-normal weights (std 0.1) and biases 0.1, Adam at the
  small rate 1e-4, batches of 50. Its quick version runs 1,100 steps and prints only the accuracy of the
  current *training batch* every 100 steps: 0.12 at step 0, 0.82 at 100, 0.96-0.98 from step 500 on;
* lab-11-2, the deep CNN: three 3x3 conv/pool stages (32, 64, 128 maps; 28 -> 14 -> 7 -> 4), dense 625,
  dense 10, dropout keeping 70% after every stage; test accuracy 0.9938 after 15 epochs (cost 0.0246);
* lab-11-5, an ensemble of seven such networks trained side by side on the same batches from different
  random starts; their softmax outputs are summed and the arg-max taken: test accuracy 0.9952. Different
  starts make different mistakes, and the vote fixes some of them.

Why convolutions: a dense layer sees all 784 pixels at once and must learn a stroke detector separately
for every place a stroke can appear; a convolution slides a few small kernels over the image (the same
weights everywhere: few parameters, shifts for free), and pooling halves each map so the next 3x3 window
covers more of the digit.

The chapter runs every recipe on full MNIST when it can be found (training on TensorFlow's 55,000-image
training split, testing on all 10,000) and on the 5,000-digit subset shipped with scratchnet otherwise,
saying so in its output and every table row. Seven deep CNNs take hours on two CPU cores, so by default
the ensemble has ``--members 2`` (the chapter's deep CNN and one more, each with the full recipe);
``--recipe course`` trains all seven, and also runs the tutorial net's long version (20,000 steps). The
final table gives the course's figure, ours, the data and the recipe, and the time the full recipe takes
here; ``<out>/results.md`` keeps it with the command and the wall time.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from _common import Digits, load_course_mnist, notes, report, savefig, section, setup, write_results

import scratchnet
from scratchnet import Sequential, Trainer, init
from scratchnet.datasets import DataLoader
from scratchnet.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.optim import Adam
from scratchnet.plotting import new_figure, plot_history, tile_raster_images

SMALL_KERNELS = init.get("normal", std=0.01)  # tf.random_normal(stddev=0.01), lab-11's kernels
NORMAL1 = init.get("normal", std=1.0)  # tf.random_normal, lab-11's dense biases
TUTORIAL_W = init.get("truncated_normal", std=0.1)  # the TensorFlow tutorial's weights...
TUTORIAL_B = init.get("constant", value=0.1)  # ...and biases
COURSE_EPOCHS, COURSE_MEMBERS, TUTORIAL_STEPS, TUTORIAL_LONG = 15, 7, 1100, 20_000


# -- models ------------------------------------------------------------------------------------------------
def conv_relu_pool(cin: int, cout: int, k: int, weight_init: Any, bias: bool, drop: float = 0.0) -> list:
    layers = [
        Conv2D(cin, cout, k, padding="same", weight_init=weight_init, bias=bias),
        ReLU(),
        MaxPool2D(2, padding="same"),
    ]
    return layers + ([Dropout(drop)] if drop else [])


def simple_cnn() -> Sequential:
    """lab-11-1: tf.nn.conv2d with no bias term, then an Xavier dense layer with an N(0, 1) bias."""
    return Sequential(
        conv_relu_pool(1, 32, 3, SMALL_KERNELS, bias=False)
        + conv_relu_pool(32, 64, 3, SMALL_KERNELS, bias=False)
        + [Flatten(), Dense(7 * 7 * 64, 10, weight_init="xavier", bias_init=NORMAL1)]
    )


def tutorial_cnn() -> Sequential:
    model = Sequential(
        conv_relu_pool(1, 32, 5, TUTORIAL_W, bias=True)
        + conv_relu_pool(32, 64, 5, TUTORIAL_W, bias=True)
        + [
            Flatten(),
            Dense(7 * 7 * 64, 1024, weight_init=TUTORIAL_W, bias_init=TUTORIAL_B),
            ReLU(),
            Dropout(0.5),
            Dense(1024, 10, weight_init=TUTORIAL_W, bias_init=TUTORIAL_B),
        ]
    )
    for layer in model.layers:
        if isinstance(layer, Conv2D):
            layer.params["b"][...] = 0.1  # tf.constant(0.1, shape=[maps])
    return model


def deep_cnn(drop: float = 0.3) -> Sequential:
    """lab-11-2 (and the class the ensemble is built from): keep_prob 0.7 = Dropout(0.3) after every stage."""
    return Sequential(
        conv_relu_pool(1, 32, 3, SMALL_KERNELS, False, drop)
        + conv_relu_pool(32, 64, 3, SMALL_KERNELS, False, drop)
        + conv_relu_pool(64, 128, 3, SMALL_KERNELS, False, drop)
        + [Flatten(), Dense(4 * 4 * 128, 625, weight_init="xavier", bias_init=NORMAL1), ReLU(), Dropout(drop)]
        + [Dense(625, 10, weight_init="xavier", bias_init=NORMAL1)]
    )


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- training ----------------------------------------------------------------------------------------------
def train(make, data: Digits, epochs: int, init_seed: int, batch_seed: int, name: str) -> dict[str, Any]:
    """Builds a model from ``init_seed``, trains it with Adam 1e-3 on batches of 100 drawn in the order
    ``batch_seed`` gives (the same for every ensemble member, as in the course), tests it."""
    scratchnet.seed(init_seed)  # the weights and the model's private dropout streams
    model = make()
    # the batch order from batch_seed alone (the constructor's seed; fit(seed=...) would also reseed the
    # dropout streams, which must stay each member's own)
    trainer = Trainer(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1e-3), seed=batch_seed)
    print(
        f"  {name}: {model.num_parameters():,} parameters, {epochs} epoch(s) of {len(data.x_tr) // 100} batches"
    )
    start = time.perf_counter()
    history = trainer.fit(data.x_tr, data.y_tr, epochs=epochs, batch_size=100, progress=False, verbose=True)
    seconds = time.perf_counter() - start
    probs = softmax(trainer.predict(data.x_te, batch_size=500))
    acc = float((probs.argmax(axis=1) == data.y_te).mean())
    last = history.records[-1]
    print(
        f"  {name}: epoch-{len(history.records)} cost {last['loss']:.6f}, test accuracy {acc:.4f}  "
        f"[{seconds / 60:.1f} min, {seconds / epochs:.0f} s/epoch]"
    )
    return {"model": model, "history": history, "probs": probs, "acc": acc, "seconds": seconds}


def recipe(epochs: int, extra: str = "") -> str:
    return f"Adam 1e-3, batch 100, {epochs} ep{extra}"


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


# -- the labs ----------------------------------------------------------------------------------------------
def simple(data: Digits, plan: dict, seed: int, rows: list) -> dict[str, Any]:
    section(f"lab-11-1, simple CNN on {data.label}: conv3x3x32-pool-conv3x3x64-pool-dense10")
    run = train(simple_cnn, data, plan["epochs"], seed, seed, "simple CNN")
    run["model"].summary((1, 28, 28))
    costs = run["history"]["loss"]
    where = f"{recipe(plan['epochs'])} [{minutes(run['seconds'])}]"
    rows.append(("simple CNN: epoch-1 / last cost", "0.3403 / 0.009470 (train)", f"{costs[0]:.4f} / {costs[-1]:.6f}", data.label, where))  # fmt: skip
    rows.append(("simple CNN accuracy", "0.9885 (test)", run["acc"], data.label, where))
    return run


def tutorial(data: Digits, steps: int, seed: int, rows: list) -> dict[str, Any]:
    section(f"TensorFlow tutorial CNN on {data.label}: 5x5x32, 5x5x64, dense 1024, dropout 0.5, Adam 1e-4")
    scratchnet.seed(seed)
    model = tutorial_cnn()
    trainer = Trainer(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1e-4))
    loader = DataLoader(data.x_tr, data.y_tr, batch_size=50, seed=seed)
    batch_acc: dict[int, float] = {}
    start = time.perf_counter()
    for step in range(steps):
        xb, yb = loader.next_batch()
        if step % 100 == 0:  # as the tutorial: the accuracy of the batch about to be trained on, dropout off
            model.eval()
            batch_acc[step] = float((model(xb).argmax(1) == yb).mean())
            model.train()
            print(f"  step {step}, training accuracy {batch_acc[step]:g}")
        trainer.train_step(xb, yb)
    seconds = time.perf_counter() - start
    acc = trainer.evaluate(data.x_te, data.y_te, batch_size=500)["accuracy"]
    print(f"  tutorial CNN: test accuracy {acc:.4f} after {steps:,} steps [{minutes(seconds)}]")
    where = f"Adam 1e-4, batch 50, {steps:,} steps [{minutes(seconds)}]"
    late = [a for s, a in batch_acc.items() if s >= 500]
    if steps == TUTORIAL_STEPS or late:
        shown = {s: batch_acc.get(s) for s in (100, 500, 800, 900)}
        ours = " / ".join("-" if v is None else f"{v:.2f}" for v in shown.values())
        rows.append(("tutorial CNN: batch acc at step 100/500/800/900", "0.82 / 0.96 / 0.98 / 0.96 (train batch)", ours, data.label, where))  # fmt: skip
    if late:
        rows.append(("tutorial CNN: batch acc, steps >= 500 (min-max)", "0.94-0.98 (train batch)", f"{min(late):.2f}-{max(late):.2f}", data.label, where))  # fmt: skip
    rows.append(("tutorial CNN: accuracy", "(not printed)", acc, data.label, where + " (test)"))
    return {"model": model, "acc": acc, "seconds": seconds}


def deep(data: Digits, plan: dict, seed: int, rows: list) -> dict[str, Any]:
    section(f"lab-11-2, deep CNN on {data.label}: 32/64/128 conv-pool, dense 625, dropout (keep 0.7)")
    run = train(deep_cnn, data, plan["epochs"], seed, seed, "deep CNN")
    run["model"].summary((1, 28, 28))
    where = f"{recipe(plan['epochs'], ', keep 0.7')} [{minutes(run['seconds'])}]"
    rows.append(("deep CNN: last epoch's cost", "0.02461 (train)", f"{run['history']['loss'][-1]:.5f}", data.label, where))  # fmt: skip
    rows.append(("deep CNN accuracy", "0.9938 (test)", run["acc"], data.label, where))
    return run


def ensemble(data: Digits, plan: dict, seed: int, first: dict[str, Any], rows: list, args) -> None:
    n = plan["members"]
    section(f"lab-11-5, ensemble of {n} deep CNNs (course: {COURSE_MEMBERS}), summed softmax outputs")
    print("  member 1 is the deep CNN above; every member sees the same batches, from its own random start")
    runs = [first] + [
        train(deep_cnn, data, plan["epochs"], seed + 100 + i, seed, f"member {i + 1}") for i in range(1, n)
    ]
    for i, r in enumerate(runs):
        print(f"  member {i + 1}: test accuracy {r['acc']:.4f}")
    votes = [float((np.sum([r["probs"] for r in runs[:k]], axis=0).argmax(1) == data.y_te).mean()) for k in range(1, n + 1)]  # fmt: skip
    accs = [r["acc"] for r in runs]
    print(f"  ensemble of the first k members, k = 1..{n}: {', '.join(f'{v:.4f}' for v in votes)}")
    per_epoch = np.mean([r["seconds"] / plan["epochs"] for r in runs])
    full = per_epoch * COURSE_EPOCHS * COURSE_MEMBERS
    spent = sum(r["seconds"] for r in runs)
    where = f"{n} x ({recipe(plan['epochs'], ', keep 0.7')}) [{minutes(spent)}]"
    rows.append(("ensemble members: mean / best accuracy", "(not printed)", f"{np.mean(accs):.4f} / {max(accs):.4f}", data.label, where))  # fmt: skip
    rows.append((f"ensemble of {n}, summed probabilities", f"0.9952 (test, {COURSE_MEMBERS} members)", votes[-1], data.label, where))  # fmt: skip
    rows.append((f"full recipe here: {COURSE_MEMBERS} members x {COURSE_EPOCHS} ep", "-", f"{full / 3600:.1f} h ({per_epoch:.0f} s/epoch measured)", data.label, "--recipe course" if n < COURSE_MEMBERS else "this run"))  # fmt: skip
    savefig(ensemble_figure(accs, votes, data.label), args, "ensemble.png")


# -- figures -----------------------------------------------------------------------------------------------
def filters_figure(model: Sequential, title: str):
    W = np.asarray(model[0].params["W"])  # (32, 1, k, k)
    k = W.shape[-1]
    tiles = tile_raster_images(W.reshape(len(W), k * k), (k, k), (4, 8), (1, 1))
    fig = new_figure(6, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(tiles, cmap="gray", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return fig


def feature_maps_figure(model: Sequential, digit: np.ndarray, label: int):
    model.eval()
    maps = model[1](model[0](digit[None]))[0]  # conv1 + ReLU: (32, 28, 28)
    fig = new_figure(10, 6)
    ax = fig.add_subplot(5, 7, 1)
    ax.imshow(digit[0], cmap="gray")
    ax.set_title(f"input ({label})", fontsize=8)
    ax.axis("off")
    for i in range(min(32, len(maps))):
        ax = fig.add_subplot(5, 7, i + 2)
        ax.imshow(maps[i], cmap="gray", interpolation="nearest")
        ax.set_title(f"map {i}", fontsize=7)
        ax.axis("off")
    fig.suptitle("first-layer feature maps (after ReLU) of one test digit")
    return fig


def ensemble_figure(member_accs: list[float], votes: list[float], label: str):
    fig = new_figure(6.4, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    k = np.arange(1, len(votes) + 1)
    ax.plot(k, member_accs, "o", label="member alone")
    ax.plot(k, votes, "s-", color="tab:red", label="vote of members 1..k")
    ax.set_xticks(k)
    ax.set_xlabel("member / ensemble size k")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"deep-CNN ensemble, summed probabilities ({label})", fontsize=9)
    return fig


def figures(simple_run, tutorial_run, deep_run, data: Digits, args) -> None:
    savefig(plot_history(deep_run["history"], title=f"deep CNN on {data.label}"), args, "curves_deep.png")
    savefig(filters_figure(tutorial_run["model"], "first-layer 5x5 filters of the tutorial CNN"), args, "filters_5x5.png")  # fmt: skip
    savefig(filters_figure(simple_run["model"], "first-layer 3x3 filters of the simple CNN"), args, "filters_3x3.png")  # fmt: skip
    idx = int(np.flatnonzero(data.y_te == 3)[0]) if (data.y_te == 3).any() else 0
    savefig(feature_maps_figure(tutorial_run["model"], data.x_te[idx], int(data.y_te[idx])), args, "feature_maps.png")  # fmt: skip


# -- main --------------------------------------------------------------------------------------------------
def options(parser) -> None:
    parser.add_argument(
        "--recipe",
        choices=["default", "course"],
        default="default",
        help=f"course: all {COURSE_MEMBERS} ensemble members and the tutorial's {TUTORIAL_LONG:,}-step run "
        "(hours on 2 cores)",
    )
    parser.add_argument("--members", type=int, default=None, help="ensemble members (default 2; course 7)")
    parser.add_argument("--epochs", type=int, default=None, help=f"epochs per CNN (default the course's {COURSE_EPOCHS})")  # fmt: skip


def main() -> None:
    args = setup("ch10_cnn_mnist", __doc__, options=options)
    course = args.recipe == "course"
    data = load_course_mnist(flatten=False, seed=args.seed)
    if args.quick:
        data = data.subset(300, 200, args.seed)
    plan = {
        "epochs": args.epochs or (1 if args.quick else COURSE_EPOCHS),
        "members": args.members or (COURSE_MEMBERS if course else 2),
        "tutorial_steps": 6 if args.quick else TUTORIAL_LONG if course else TUTORIAL_STEPS,
    }
    print(f"plan: {plan}")
    rows: list[tuple[Any, ...]] = []
    simple_run = simple(data, plan, args.seed, rows)
    tutorial_run = tutorial(data, plan["tutorial_steps"], args.seed, rows)
    deep_run = deep(data, plan, args.seed, rows)
    ensemble(data, plan, args.seed, deep_run, rows, args)
    figures(simple_run, tutorial_run, deep_run, data, args)

    table = report(rows, title="course (full MNIST) vs scratchnet")
    remarks = notes(
        "Data: the course's, full MNIST: TensorFlow's 55,000-image training split, all 10,000 test digits."
        if data.full and not args.quick
        else f"Data: {data.label}; the course's figures are on full MNIST, so compare trends, not figures.",
        "'(test)' marks accuracies on the 10,000 test digits; '(train)' an epoch's mean training cost; "
        "'(train batch)' the tutorial's accuracy on the current batch of 50, which is all it prints.",
        "The slides show learning_rate only by name for lab-11; we use 0.001, the value in the labs' source.",
        "The ensemble slide elides the model class; we build members from lab-11-2/11-3's deep CNN (keep 0.7). "
        "The tf.layers variant (lab-11-4) passes rate=0.7, which drops 70%; we read it as keep_prob 0.7.",
        f"Ensemble: {plan['members']} of the course's {COURSE_MEMBERS} members ran; the table states the "
        "time the full recipe takes here (measured s/epoch x 15 epochs x 7 members); --recipe course runs it.",
        "One seed per model (0; ensemble members 101..106): a rerun with another seed moves the last digit.",
    )
    write_results(args, table, remarks)


if __name__ == "__main__":
    main()
