"""Chapter 13: classifying MNIST digits with an LSTM that reads each image one row at a time.

A 28x28 image can be seen as a sequence of 28 rows of 28 pixels. An LSTM with 128 units reads the rows
top to bottom; only its state after the last row is used (``return_sequences=False``, "many to one") and
a Dense layer turns those 128 numbers into 10 class scores. Nothing convolutional is involved: whatever
the network knows about strokes it has to carry in its state from row to row.

The course trains this with Adam (lr 0.001) on mini-batches of 100 for 100,000 examples and prints the
loss and accuracy of each 1,000th-example mini-batch; its log passes ~0.9 training accuracy around
20,000 examples. Full MNIST (60k) is not available offline, so the main run uses the 5,000-digit real
MNIST subset (4,000 to train, 1,000 held out; the same 1,000 steps of 100 means 25 passes over it), and a
second run trains one epoch on the 60,000 Fashion-MNIST images and tests on its 10,000.
"""

from __future__ import annotations

import time

import numpy as np
from _common import data_dir, notes, report, savefig, section, setup

import scratchnet
from scratchnet.datasets import load_fashion_mnist, load_mnist_with_fallback
from scratchnet.layers.dense import Dense
from scratchnet.layers.recurrent import LSTM
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.model import Sequential
from scratchnet.optim import Adam
from scratchnet.plotting import new_figure, plot_image_grid
from scratchnet.training import Trainer, accuracy

COURSE_LOG = {  # examples seen -> mini-batch training accuracy printed by the course
    1000: 0.46,
    5000: 0.69,
    10000: 0.82,
    11000: 0.90,
    20000: 0.89,
    24000: 0.88,
}


def row_lstm() -> Sequential:
    # forget_bias=1 as in the course's BasicLSTMCell(n_hidden, forget_bias=1.0)
    return Sequential([LSTM(28, 128, forget_bias=1.0, return_sequences=False), Dense(128, 10)])


def train(x, y, steps: int, batch: int, every: int, label: str, seed: int):
    """Adam 1e-3 on shuffled mini-batches; logs (examples seen, loss, accuracy) of every ``every``-th batch."""
    scratchnet.seed(seed)
    model = row_lstm()
    trainer = Trainer(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1e-3))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    pos, log = 0, []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        if pos + batch > len(x):
            order, pos = rng.permutation(len(x)), 0
        idx = order[pos : pos + batch]
        pos += batch
        # like the course, the printed loss/accuracy are measured on the batch after the update
        trainer.train_step(x[idx], y[idx])
        if step % every == 0:
            pred = model.forward(x[idx])
            loss = SoftmaxCrossEntropy().forward(pred, y[idx])
            log.append((step * batch, loss, accuracy(pred, y[idx])))
            if len(log) % 5 == 1 or step == steps:
                print(
                    f"  {label} iter {step * batch:6d}  minibatch loss {loss:.6f}  accuracy {log[-1][2]:.5f}"
                )
    return model, trainer, log, time.perf_counter() - start


def main() -> None:
    args = setup("ch13_lstm_mnist", __doc__)
    rows: list = []
    where = data_dir()
    kw = {"data_dir": where} if where is not None else {}

    section("MNIST rows as a sequence: LSTM(28 -> 128) + Dense(128 -> 10), Adam 1e-3, batch 100")
    train_set, test_set = load_mnist_with_fallback(normalize=True, **kw)
    print(f"data: {train_set.name} {train_set.x.shape} / test {test_set.x.shape} from {train_set.source}")
    x_tr = train_set.x.reshape(-1, 28, 28).astype(np.float32)
    x_te = test_set.x.reshape(-1, 28, 28).astype(np.float32)
    steps = 20 if args.quick else 1000
    model, trainer, log, secs = train(x_tr, train_set.y, steps, 100, 10, "mnist", args.seed)
    model.summary((28, 28))
    test = trainer.evaluate(x_te, test_set.y)
    print(f"  test accuracy {test['accuracy']:.4f} on {len(x_te)} images; {steps} steps in {secs:.1f} s")
    data = f"{train_set.name} ({len(x_tr)})"
    for seen, course_acc in COURSE_LOG.items():
        ours = [a for s, _, a in log if s == seen]
        if ours:
            rows.append((f"minibatch accuracy at {seen} examples", course_acc, ours[0], data))
    last = log[-1]
    avg_last = float(np.mean([a for _, _, a in log[-10:]]))
    rows.append((f"minibatch accuracy at {last[0]} examples", "0.88 (24000)", last[2], data))
    rows.append(("mean of the last 10 logged batches", "~0.9", avg_last, data))
    rows.append(
        ("held-out accuracy", "(128 test images, not shown)", test["accuracy"], f"{len(x_te)} held out")
    )

    fig = new_figure(7, 4)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([s for s, _, _ in log], [a for _, _, a in log], label="scratchnet, mini-batch accuracy")
    ax.plot(list(COURSE_LOG), list(COURSE_LOG.values()), "o--", label="course log (full MNIST)")
    ax.set_xlabel("training examples seen")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    savefig(fig, args, "mnist_lstm_curve.png")
    pred = trainer.predict(x_te[:32]).argmax(axis=1)
    savefig(
        plot_image_grid(x_te[:32], true=test_set.y[:32], pred=pred, ncols=8, title="LSTM predictions"),
        args,
        "mnist_lstm_predictions.png",
    )

    if not args.quick:
        section("Fashion-MNIST, 60,000 images, one epoch (600 steps of 100)")
        fash = load_fashion_mnist("train", normalize=True, **kw)
        fash_te = load_fashion_mnist("test", normalize=True, **kw)
        fx = fash.x.reshape(-1, 28, 28).astype(np.float32)
        _, ftrainer, flog, fsecs = train(fx, fash.y, 600, 100, 10, "fashion", args.seed)
        ftest = ftrainer.evaluate(fash_te.x.reshape(-1, 28, 28).astype(np.float32), fash_te.y)
        print(f"  Fashion-MNIST test accuracy {ftest['accuracy']:.4f}; 600 steps in {fsecs:.1f} s")
        flast = float(np.mean([a for _, _, a in flog[-10:]]))
        rows.append(("Fashion: mean of the last 10 logged batches", "(not in course)", flast, "fashion 60k"))
        rows.append(
            ("Fashion: test accuracy after 1 epoch", "(not in course)", ftest["accuracy"], "fashion 10k")
        )

    report(rows)
    notes(
        f"Data: {train_set.name} from {train_set.source} (full MNIST is not available offline); the course "
        "used all 60,000 MNIST training images.",
        "The course's accuracies are single 100-image batches, so they jump by several points between "
        "prints; compare the trend, and the mean of the last batches.",
        "On the 4,000-image subset the 100,000 examples are 25 passes over the same images, so late "
        "mini-batch accuracies (images seen many times) overstate; the held-out accuracy is the fair number.",
        "quick mode: 20 steps (2,000 examples), no Fashion-MNIST run.",
    )


if __name__ == "__main__":
    main()
