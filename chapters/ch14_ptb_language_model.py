"""Chapter 14: a word-level language model on the Penn Treebank, trained with truncated BPTT.

A language model gives the probability of the next word given the words so far. Ours looks each word up
in a 200-dimensional embedding table, runs two stacked LSTMs (256 then 128 units) and scores all
10,000 vocabulary words with a softmax layer. The course's configuration: 20 unrolled steps, batches of
60 parallel text streams, plain SGD with learning rate 1.0 (halved every epoch after the 4th), and the
gradients' global norm clipped to 5, which keeps one bad batch from throwing the weights far away.

How the text is fed: the corpus is cut into 60 equal streams (rows); batch k holds words
``[20k, 20k+20)`` of every stream and the targets are the same windows shifted by one word. The LSTMs are
*stateful*: the state at the end of batch k is the starting state of batch k+1, so the model can use
context from earlier batches, but the gradient stops at the batch boundary (truncated BPTT).

The loss per batch is the cross-entropy summed over the 20 steps and averaged over the 60 streams; the
perplexity is ``exp(total loss / total steps)``, the effective number of words the model hesitates
between. An untrained model spreads its probability evenly, so its loss per word is ln(10000) = 9.21
(perplexity 10,000), which we check before training.

Data: only ``ptb.valid.txt`` (73,760 words) and ``ptb.test.txt`` (82,430) are available offline, not the
929k-word training file. So we train on the validation text and report perplexity on the test text. The
vocabulary is built from valid + test (7,596 distinct words); the model keeps the course's 10,000 output
classes, the unused ids standing for the PTB words that only occur in the training file.
"""

from __future__ import annotations

import math
import time

import numpy as np
from _common import data_dir, notes, report, savefig, section, setup

import scratchnet
from scratchnet.datasets import load_ptb
from scratchnet.datasets._fetch import fetch
from scratchnet.datasets.ptb import build_vocab, tokenize
from scratchnet.datasets.text import read_text_file
from scratchnet.layers.dense import Dense
from scratchnet.layers.embedding import Embedding
from scratchnet.layers.recurrent import LSTM
from scratchnet.layers.time_distributed import TimeDistributed
from scratchnet.losses import SequenceCrossEntropy
from scratchnet.model import Sequential
from scratchnet.optim import SGD, LambdaLR
from scratchnet.plotting import new_figure

VOCAB_SIZE, EMBED, H1, H2 = 10000, 200, 256, 128


def batches(ids: np.ndarray, batch_size: int, num_steps: int):
    """(x, y) windows of ``batch_size`` parallel streams, ``num_steps`` words each (the PTB iterator)."""
    batch_len = len(ids) // batch_size
    data = ids[: batch_size * batch_len].reshape(batch_size, batch_len)
    epoch_size = (batch_len - 1) // num_steps
    if epoch_size < 1:
        raise ValueError(f"ptb: {len(ids)} words are too few for batch {batch_size} x {num_steps} steps")
    for i in range(epoch_size):
        s = i * num_steps
        yield data[:, s : s + num_steps], data[:, s + 1 : s + num_steps + 1]


def n_batches(ids: np.ndarray, batch_size: int, num_steps: int) -> int:
    return (len(ids) // batch_size - 1) // num_steps


def language_model() -> Sequential:
    return Sequential(
        [
            Embedding(VOCAB_SIZE, EMBED, weight_init=scratchnet.init.get("uniform", low=-0.1, high=0.1)),
            LSTM(EMBED, H1, stateful=True),  # forget_bias=0, as the course's BasicLSTMCell(..., 0.0)
            LSTM(H1, H2, stateful=True),
            TimeDistributed(Dense(H2, VOCAB_SIZE)),
        ]
    )


def reset(model: Sequential) -> None:
    for layer in model.layers:
        if isinstance(layer, LSTM):
            layer.reset_state()


def run_epoch(model, loss, ids, batch_size, num_steps, optimizer=None, label="", max_batches=None):
    """One pass over ``ids`` (training when an optimizer is given); returns (perplexity, words/second)."""
    reset(model)
    model.train(optimizer is not None)
    total = n_batches(ids, batch_size, num_steps)
    if max_batches:
        total = min(total, max_batches)
    costs, iters, start = 0.0, 0, time.perf_counter()
    for step, (x, y) in enumerate(batches(ids, batch_size, num_steps)):
        if step >= total:
            break
        cost = loss.forward(model.forward(x), y)
        if optimizer is not None:
            model.backward(loss.backward())
            optimizer.step()  # clips the global gradient norm to 5 first
        costs += cost
        iters += num_steps
        if optimizer is not None and total >= 10 and step % (total // 10) == 1:
            wps = iters * batch_size / (time.perf_counter() - start)
            print(
                f"  {label} itr {step} of {total}: perplexity {math.exp(costs / iters):9.3f}  speed {wps:.0f} wps"
            )
    wps = iters * batch_size / (time.perf_counter() - start)
    reset(model)
    return math.exp(costs / iters), wps


def main() -> None:
    args = setup("ch14_ptb_language_model", __doc__)
    rows: list = []
    where = data_dir()
    kw = {"data_dir": where} if where is not None else {}

    section("data: train on ptb.valid, evaluate on ptb.test (ptb.train is not available offline)")
    words = tokenize(read_text_file(fetch("ptb/ptb.valid.txt", **kw).path)) + tokenize(
        read_text_file(fetch("ptb/ptb.test.txt", **kw).path)
    )
    vocab = build_vocab(words)
    train = load_ptb("valid", vocab=vocab, **kw)
    test = load_ptb("test", vocab=vocab, **kw)
    print(
        f"  vocabulary {len(vocab)} words (valid + test); train {len(train.ids)} words, test {len(test.ids)}"
    )
    print(f"  first words: {vocab.decode(train.ids[:12], sep=' ')}")

    batch_size, num_steps = (20, 20) if args.quick else (60, 20)
    epochs = 1 if args.quick else 10
    max_batches = 6 if args.quick else None
    scratchnet.seed(args.seed)
    model = language_model()
    model.summary((num_steps,), input_dtype=np.int64)
    reset(model)  # the summary's dummy batch of two left a carried state behind
    # per-sequence loss summed over the 20 steps, averaged over the batch (the course's cost)
    loss = SequenceCrossEntropy(average_across_timesteps=False, average_across_batch=True)

    section("untrained model: loss per word should be ln(10000)")
    x0, y0 = next(batches(train.ids, batch_size, num_steps))
    untrained = loss.forward(model.forward(x0), y0) / num_steps
    reset(model)
    print(f"  untrained loss per word {untrained:.4f}; ln({VOCAB_SIZE}) = {math.log(VOCAB_SIZE):.4f}")
    rows.append(
        (
            "untrained loss per word",
            f"ln(10000) = {math.log(VOCAB_SIZE):.4f}",
            f"{untrained:.4f}",
            "valid batch 1",
        )
    )

    opt = SGD(model.parameters(), lr=1.0, clip_norm=5.0)
    sched = LambdaLR(opt, lambda e: 0.5 ** max(e - 4, 0))  # epochs 1-5 at 1.0, then halved each epoch
    history = []
    for epoch in range(1, epochs + 1):
        section(f"epoch {epoch}: learning rate {opt.lr:.3f}")
        t0 = time.perf_counter()
        train_ppl, wps = run_epoch(
            model, loss, train.ids, batch_size, num_steps, opt, f"epoch {epoch}", max_batches
        )
        test_ppl, _ = run_epoch(model, loss, test.ids, batch_size, num_steps, max_batches=max_batches)
        secs = time.perf_counter() - t0
        history.append({"epoch": epoch, "lr": opt.lr, "train": train_ppl, "test": test_ppl, "wps": wps})
        print(
            f"  epoch {epoch}: train perplexity {train_ppl:.3f}  test perplexity {test_ppl:.3f}  "
            f"{wps:.0f} words/s training  ({secs:.0f} s with evaluation)"
        )
        sched.step()

    best = min(history, key=lambda r: r["test"])
    fig = new_figure(7, 4)
    ax = fig.add_subplot(1, 1, 1)
    ax.semilogy([r["epoch"] for r in history], [r["train"] for r in history], "o-", label="train (ptb.valid)")
    ax.semilogy([r["epoch"] for r in history], [r["test"] for r in history], "s--", label="test (ptb.test)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("perplexity")
    ax.set_title("PTB word LM: embedding 200, LSTM 256-128, SGD 1.0, clip 5")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    savefig(fig, args, "perplexity.png")

    data = "train ptb.valid / test ptb.test"
    rows.append(("perplexity early in epoch 1", "4146.5 (itr 10), 1259.0 (itr 87)", "see log", data))
    for r in history:
        rows.append(
            (
                f"epoch {r['epoch']} (lr {r['lr']:.3g}): train / test perplexity",
                "(not shown)",
                f"{r['train']:.1f} / {r['test']:.1f}",
                data,
            )
        )
    rows.append(
        ("best test perplexity", "(not shown)", f"{best['test']:.1f} (epoch {best['epoch']})", "ptb.test")
    )
    rows.append(
        (
            "training speed, words/second",
            "203-208 wps",
            f"{np.mean([r['wps'] for r in history]):.0f}",
            "this machine",
        )
    )
    rows.append(("epochs", "15 (max_epoch)", epochs, "reduced to fit ~10 min" if not args.quick else "quick"))
    report(rows)
    notes(
        "ptb.train.txt (929k words) is not available offline: we train on ptb.valid (73,760 words, 61 batches "
        "of 60 x 20 per epoch instead of the course's 774) and test on ptb.test; the vocabulary is built from "
        "valid + test, so no test word is forced to <unk>. With 1/13 of the course's training text the "
        "model runs out of new material early: watch the gap between training and test perplexity widen once the learning rate starts halving.",
        "The course prints perplexity inside the first epoch only; perplexities after training on the real "
        "train file are not comparable to ours.",
        "The course's speed (~205 words/s) was on its notebook machine; ours is a 2-core shared CPU.",
        "quick mode: batch 20, 6 batches of training and of test, one epoch.",
    )


if __name__ == "__main__":
    main()
