"""Chapter 13: classifying MNIST digits with an LSTM that reads each image one row at a time
=========================================================================================
What the course claims (Deep Learning with TensorFlow, lab "MNIST data classification with RNN/LSTM"):

* a 28x28 digit can be read as a sequence of 28 rows of 28 pixels; one LSTM layer of 128 units reads the
  rows top to bottom and only its state after the last row (many to one) goes to a linear layer of 10
  class scores;
* trained with softmax cross-entropy and Adam (lr 0.001) on mini-batches of 100 until 100,000 examples
  have been seen, it climbs from 0.46 accuracy on the batch of the 1,000th example to about 0.9 by the
  20,000th (its printed log stops at 24,000 with 0.88);
* the accuracies it prints are *training-batch* figures: each is the batch just used for an update,
  measured right after that update. It also tests on the first 128 test images, without showing the value.

The recipe, read off the lab: TensorFlow's ``BasicLSTMCell(128, forget_bias=1.0)``, whose one kernel for
``[x_t, h_{t-1}]`` (156 x 512) starts Glorot-uniform and whose bias starts at zero (the forget bias is a
constant 1 added inside the cell; here it is the starting value of the forget gate's bias, which trains
the same way); the read-out weights and biases drawn from N(0, 1); batches from ``mnist.train.next_batch``
(55,000 images, reshuffled every pass); ``while step * 100 < 100000`` runs 999 updates, and every 10th is
logged. A lab run takes about a minute here, so the whole recipe runs; ``--repeats`` reruns it with other
seeds to show how much a single batch's accuracy moves.

Nothing convolutional is involved: whatever the network knows about strokes it has to carry in its
state from row to row. The chapter runs on full MNIST when it can be found (TensorFlow's 55,000-image
training split, all 10,000 test digits) and on the labelled 5,000-digit subset otherwise. The final table
gives the course's figure, ours, the data and the recipe; ``<out>/results.md`` keeps it with the recipe line.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from _common import Digits, load_course_mnist, notes, report, savefig, section, setup, write_results

import scratchnet
from scratchnet import Sequential, init
from scratchnet.datasets import DataLoader
from scratchnet.layers import LSTM, Dense
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.optim import Adam
from scratchnet.plotting import new_figure, plot_image_grid
from scratchnet.training import Trainer, accuracy

# examples seen -> (mini-batch loss, mini-batch accuracy) as the course's log prints them
COURSE_LOG = {
    1000: (1.743172, 0.46),
    2000: (1.698113, 0.41),
    3000: (1.365828, 0.45),
    4000: (0.945430, 0.68),
    5000: (0.869455, 0.69),
    6000: (0.774082, 0.73),
    7000: (0.607809, 0.82),
    8000: (0.605622, 0.77),
    9000: (0.579154, 0.82),
    10000: (0.526041, 0.82),
    11000: (0.307974, 0.90),
    12000: (0.361602, 0.88),
    13000: (0.285182, 0.94),
    14000: (0.553690, 0.85),
    15000: (0.495894, 0.83),
    16000: (0.250558, 0.93),
    17000: (0.383072, 0.85),
    18000: (0.218994, 0.92),
    19000: (0.478271, 0.85),
    20000: (0.288323, 0.89),
    21000: (0.219856, 0.93),
    22000: (0.375026, 0.89),
    23000: (0.435833, 0.85),
    24000: (0.390350, 0.88),
}
TRAINING_ITERS, BATCH, LOG_EVERY, LR = 100_000, 100, 10, 1e-3
COURSE_STEPS = (TRAINING_ITERS - 1) // BATCH  # the lab's `while step * batch_size < training_iters`
RECIPE = "LSTM 128 (Glorot, forget bias 1) + Dense N(0,1), Adam 1e-3, batch 100"


def tf_lstm_mnist() -> Sequential:
    """The lab's network with TensorFlow's initial values (see the module docstring)."""
    lstm = LSTM(28, 128, forget_bias=1.0, return_sequences=False)
    kernel = init.get("xavier")((28 + 128, 4 * 128))  # one Glorot draw for the joint [x, h] kernel
    lstm.params["Wx"][...] = kernel[:28]
    lstm.params["Wh"][...] = kernel[28:]
    normal1 = init.get("normal", std=1.0)  # tf.random_normal
    return Sequential([lstm, Dense(128, 10, weight_init=normal1, bias_init=normal1)])


def train(x, y, steps: int, seed: int, label: str, verbose: bool = True):
    """The lab's loop: ``steps`` Adam updates on ``next_batch(100)``; every 10th step logs (examples seen,
    loss, accuracy) of that batch measured after its update."""
    scratchnet.seed(seed)
    model = tf_lstm_mnist()
    trainer = Trainer(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=LR))
    # next_batch is TensorFlow's mnist.train.next_batch: reshuffled each pass, wrapping across passes
    batches = DataLoader(x, y, seed=seed)
    log: list[tuple[int, float, float]] = []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        xb, yb = batches.next_batch(BATCH)
        trainer.train_step(xb, yb)
        if step % LOG_EVERY == 0:
            pred = model(xb)
            log.append((step * BATCH, SoftmaxCrossEntropy()(pred, yb), accuracy(pred, yb)))
            seen, loss, acc = log[-1]
            if verbose and (seen in COURSE_LOG or seen % 10_000 == 0):
                course = (
                    "  course: loss {:.6f} accuracy {:.2f}".format(*COURSE_LOG[seen])
                    if seen in COURSE_LOG
                    else ""
                )
                print(f"  {label} iter {seen:6d}  minibatch loss {loss:.6f}  accuracy {acc:.5f}{course}")
    return model, trainer, log, time.perf_counter() - start


def course_window(log) -> tuple[float, float]:
    """Mean (loss, accuracy) of our logged batches at the examples counts the course's log shows."""
    sel = [(loss, acc) for seen, loss, acc in log if seen in COURSE_LOG]
    return float(np.mean([s[0] for s in sel])), float(np.mean([s[1] for s in sel]))


def lstm_mnist(args, rows: list, data: Digits, steps: int) -> None:
    """The lab: the course's recipe once, with its log lines next to ours, tested on held-out digits."""
    section(
        f"MNIST rows as a sequence: LSTM(28 -> 128) + Dense(128 -> 10), Adam 1e-3, {steps} batches of 100"
    )
    model, trainer, log, secs = train(data.x_tr, data.y_tr, steps, args.seed, "lstm")
    model.summary((28, 28))
    test128 = trainer.evaluate(data.x_te[:128], data.y_te[:128])["accuracy"]
    n_test = 1000 if args.quick else len(data.x_te)
    test_all = trainer.evaluate(data.x_te[:n_test], data.y_te[:n_test])["accuracy"]
    print(
        f"  {steps} updates in {secs:.1f} s; test accuracy {test128:.4f} on the first 128 test images, "
        f"{test_all:.4f} on {n_test:,}"
    )
    batch, test, recipe = f"{data.label}, train batch", f"{data.label}, test", f"lab, {steps} steps"
    for seen in (1000, 5000, 10000, 20000, 24000):
        ours = [(loss, acc) for s, loss, acc in log if s == seen]
        if ours:
            course_loss, course_acc = COURSE_LOG[seen]
            rows.append((f"batch at example {seen}: accuracy / loss", f"{course_acc:.2f} / {course_loss:.3f}", f"{ours[0][1]:.2f} / {ours[0][0]:.3f}", batch, recipe))  # fmt: skip
    if log[-1][0] >= max(COURSE_LOG):
        loss_m, acc_m = course_window(log)
        c_loss = float(np.mean([v[0] for v in COURSE_LOG.values()]))
        c_acc = float(np.mean([v[1] for v in COURSE_LOG.values()]))
        rows.append(("mean of the 24 logged batches 1000-24000: acc / loss", f"{c_acc:.3f} / {c_loss:.3f}", f"{acc_m:.3f} / {loss_m:.3f}", batch, recipe))  # fmt: skip
    last = log[-10:]
    rows.append((f"mean of the last 10 logged batches (to {last[-1][0]:,})", "(log not shown past 24000)", float(np.mean([a for _, _, a in last])), batch, recipe))  # fmt: skip
    rows.append(("test accuracy, first 128 test images", "(run, value not shown)", test128, test, recipe))
    rows.append((f"test accuracy, {n_test:,} test images", "(not in course)", test_all, test, recipe))
    figures(log, trainer, data, args)


def figures(log, trainer: Trainer, data: Digits, args) -> None:
    fig = new_figure(7, 4)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([s for s, _, _ in log], [a for _, _, a in log], lw=0.8, label="scratchnet, batch accuracy")
    ax.plot(list(COURSE_LOG), [v[1] for v in COURSE_LOG.values()], "o--", ms=3, label="course log")
    ax.set_xlabel("training examples seen")
    ax.set_ylabel("accuracy of the batch just trained on")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"LSTM reading digit rows ({data.label})")
    ax.grid(alpha=0.3)
    ax.legend()
    savefig(fig, args, "mnist_lstm_curve.png")
    pred = trainer.predict(data.x_te[:32]).argmax(axis=1)
    grid = plot_image_grid(data.x_te[:32], true=data.y_te[:32], pred=pred, ncols=8, title="LSTM predictions (test)")  # fmt: skip
    savefig(grid, args, "mnist_lstm_predictions.png")


def other_seeds(args, rows: list, data: Digits, steps: int) -> None:
    """The course shows one run; other seeds show how far single-batch accuracies move."""
    seeds = [args.seed + i for i in range(1, args.repeats)]
    if not seeds:
        return
    section(f"the same recipe with seeds {seeds} (initial weights and batch order)")
    accs, tests = [], []
    for seed in seeds:
        _, trainer, log, secs = train(data.x_tr, data.y_tr, steps, seed, f"seed {seed}", verbose=False)
        window = course_window(log)[1] if log[-1][0] >= max(COURSE_LOG) else float("nan")
        test = trainer.evaluate(data.x_te, data.y_te)["accuracy"]
        accs.append(window)
        tests.append(test)
        print(
            f"  seed {seed}: mean batch accuracy 1000-24000 {window:.3f}; test accuracy {test:.4f} ({secs:.0f} s)"
        )
    which, recipe = f"seeds {seeds[0]}-{seeds[-1]}", f"lab, {steps} steps"
    rows.append((f"{which}: mean batch acc 1000-24000", "(one run)", " / ".join(f"{a:.3f}" for a in accs), f"{data.label}, train batch", recipe))  # fmt: skip
    rows.append((f"{which}: test accuracy", "(not in course)", " / ".join(f"{a:.4f}" for a in tests), f"{data.label}, test", recipe))  # fmt: skip


def options(parser) -> None:
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="runs of the lab recipe with seeds seed.. (default 3; quick 1)",
    )


def main() -> None:
    args = setup("ch13_lstm_mnist", __doc__, options=options)
    args.repeats = (1 if args.quick else 3) if args.repeats is None else max(1, args.repeats)
    steps = 40 if args.quick else COURSE_STEPS
    digits = load_course_mnist(flatten=False, seed=args.seed)
    rows_of_pixels = {"x_tr": digits.x_tr.reshape(-1, 28, 28), "x_te": digits.x_te.reshape(-1, 28, 28)}
    data = dataclasses.replace(digits, **rows_of_pixels)  # 28 rows of 28 pixels
    rows: list = []
    lstm_mnist(args, rows, data, steps)
    other_seeds(args, rows, data, steps)

    recipe = (
        f"recipe: {RECIPE}, {steps} updates (the lab's {COURSE_STEPS}) from the next_batch stream, seed "
        f"{args.seed}" + (f" and {args.repeats - 1} more seeds" if args.repeats > 1 else "")
    )
    print(f"\n{recipe}")
    table = report(rows)
    remarks = notes(
        f"Data: {data.label}. The course's accuracies are training-batch figures (the batch just used for an "
        "update, measured after it); the test rows are ours on held-out images.",
        "Single 100-image batches move by several points from one log line to the next; the mean over the "
        "24 lines the course shows, and the other seeds, are the fair comparison.",
        "The course's log is cut off at 24,000 examples (of 99,900) and its 128-image test accuracy is not "
        "shown, so there is no course figure for the end of training.",
        "quick mode: 40 updates, one seed, test accuracy on 1,000 images.",
    )
    write_results(args, recipe, table, remarks)


if __name__ == "__main__":
    main()
