"""Chapter 14: a word-level language model on the Penn Treebank, trained with truncated BPTT
=========================================================================================
What the course claims (Deep Learning with TensorFlow, the PTB lab, adapted from TensorFlow's PTBModel):

* the set-up: a 10,000-word vocabulary, 200-dimensional embeddings, two stacked LSTMs of 256 and 128 units
  (no dropout: keep_prob 1), windows of 20 unrolled steps, batches of 60 parallel streams, a uniform
  initialiser of scale 0.1, plain SGD at 1.0 with the global gradient norm clipped to 5, 15 epochs;
  the rate is multiplied by 0.5 ** max(i - 4, 0) in epoch i + 1, so it stays 1.0 for epochs 1-5 and then
  halves every epoch (the setting is named max_epoch_decay_lr = 4);
* the data: ptb.train has 929,589 words, so an epoch is 774 batches of 60 x 20;
* the untrained network: its per-position losses on the first batch are all about 9.2 (9.199 to 9.224,
  i.e. ln 10,000, a uniform guess), and that batch's cost prints as 184.2 (20 steps x 9.21);
* training, epoch 1 at learning rate 1.000: perplexity 4146.5 at iteration 10 of 774 and 1259.0 at
  iteration 87, at 203-208 words per second; the notebook's log stops there (no end-of-epoch, validation
  or test perplexity is shown).

A language model gives the probability of the next word given the words so far. Ours looks each word up
in the embedding table, runs the two LSTMs and scores all 10,000 vocabulary words with a softmax layer.
The corpus is cut into 60 equal streams (rows); batch k holds words ``[20k, 20k+20)`` of every stream and
the targets are the same windows shifted by one word. The LSTMs are *stateful*: the state at the end of
batch k is the starting state of batch k+1, so the model can use context from earlier batches, but the
gradient stops at the batch boundary (truncated BPTT). Clipping keeps one bad batch from throwing the
weights far away. The loss per batch is the cross-entropy summed over the 20 steps and averaged over the
60 streams; the perplexity ``exp(total loss / total steps)`` is the effective number of words the model
hesitates between, 10,000 for an untrained model (loss per word ln(10000) = 9.21), which we check first.

Data: only ``ptb.valid.txt`` (73,760 words) and ``ptb.test.txt`` (82,430) are available offline, not the
929k-word training file. So we train on the validation text for 10 epochs and report perplexity on the
test text. The vocabulary is built from valid + test (7,596 distinct words); the model keeps the course's
10,000 output classes, the unused ids standing for the PTB words that only occur in the training file.
The final table gives the course's figure, ours, the data and the recipe; ``<out>/results.md`` keeps it.
"""

from __future__ import annotations

import math
import time

import numpy as np
from _common import data_dir, notes, report, savefig, section, setup, write_results

import scratchnet
from scratchnet import Sequential
from scratchnet.datasets import Vocabulary, fetch, load_ptb
from scratchnet.datasets.ptb import build_vocab, tokenize
from scratchnet.datasets.text import read_text_file
from scratchnet.layers import LSTM, Dense, Embedding, TimeDistributed
from scratchnet.losses import SequenceCrossEntropy
from scratchnet.optim import SGD, LambdaLR
from scratchnet.plotting import new_figure

VOCAB_SIZE, EMBED, H1, H2 = 10000, 200, 256, 128
RECIPE = "SGD 1.0 (halved each epoch after the 5th), clip 5"
DATA = "train ptb.valid / test ptb.test"


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
        cost = loss(model(x), y)
        if optimizer is not None:
            model.backprop(loss.backward())
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


# -- the lab's sections ------------------------------------------------------------------------------------
def ptb_data(args):
    """The PTB text at hand (valid and test) with one vocabulary over both."""
    section("data: train on ptb.valid, evaluate on ptb.test (ptb.train is not available offline)")
    where = data_dir()
    kw = {"data_dir": where} if where is not None else {}
    words = tokenize(read_text_file(fetch("ptb/ptb.valid.txt", **kw).path)) + tokenize(
        read_text_file(fetch("ptb/ptb.test.txt", **kw).path)
    )
    vocab: Vocabulary = build_vocab(words)
    train = load_ptb("valid", vocab=vocab, **kw)
    test = load_ptb("test", vocab=vocab, **kw)
    print(
        f"  vocabulary {len(vocab)} words (valid + test); train {len(train.ids)} words, test {len(test.ids)}"
    )
    print(f"  first words: {vocab.decode(train.ids[:12], sep=' ')}")
    return train, test


def untrained_loss(model, loss, ids: np.ndarray, plan: dict, rows: list) -> None:
    """Before training every word is equally likely: the loss per word is ln(10000)."""
    section("untrained model: loss per word should be ln(10000)")
    x0, y0 = next(batches(ids, plan["batch_size"], plan["num_steps"]))
    untrained = loss(model(x0), y0) / plan["num_steps"]
    reset(model)
    print(f"  untrained loss per word {untrained:.4f}; ln({VOCAB_SIZE}) = {math.log(VOCAB_SIZE):.4f}")
    course = f"9.199-9.224 (ln 10000 = {math.log(VOCAB_SIZE):.4f})"
    rows.append(("untrained loss per word", course, f"{untrained:.4f}", "valid batch 1", "no training"))


def training(model, loss, train, test, plan: dict, rows: list, args) -> None:
    """The course's epoch loop: SGD 1.0 with clipping, the rate halved every epoch after the 5th."""
    batch_size, num_steps, max_batches = plan["batch_size"], plan["num_steps"], plan["max_batches"]
    opt = SGD(model.parameters(), lr=1.0, clip_norm=5.0)
    sched = LambdaLR(opt, lambda e: 0.5 ** max(e - 4, 0))  # epochs 1-5 at 1.0, then halved each epoch
    history = []
    for epoch in range(1, plan["epochs"] + 1):
        section(f"epoch {epoch}: learning rate {opt.lr:.3f}")
        t0 = time.perf_counter()
        train_ppl, wps = run_epoch(model, loss, train.ids, batch_size, num_steps, opt, f"epoch {epoch}", max_batches)  # fmt: skip
        test_ppl, _ = run_epoch(model, loss, test.ids, batch_size, num_steps, max_batches=max_batches)
        secs = time.perf_counter() - t0
        history.append({"epoch": epoch, "lr": opt.lr, "train": train_ppl, "test": test_ppl, "wps": wps})
        print(
            f"  epoch {epoch}: train perplexity {train_ppl:.3f}  test perplexity {test_ppl:.3f}  "
            f"{wps:.0f} words/s training  ({secs:.0f} s with evaluation)"
        )
        sched.step()
    perplexity_figure(history, args)

    recipe = f"{RECIPE}, batch {batch_size} x {num_steps}"
    best = min(history, key=lambda r: r["test"])
    rows.append(("perplexity early in epoch 1", "4146.5 (itr 10), 1259.0 (itr 87)", "see log", DATA, recipe))
    for r in history:
        rows.append((f"epoch {r['epoch']} (lr {r['lr']:.3g}): train / test perplexity", "(not shown)", f"{r['train']:.1f} / {r['test']:.1f}", DATA, recipe))  # fmt: skip
    rows.append(("best test perplexity", "(not shown)", f"{best['test']:.1f} (epoch {best['epoch']})", "ptb.test", recipe))  # fmt: skip
    rows.append(("training speed, words/second", "203-208 wps", f"{np.mean([r['wps'] for r in history]):.0f}", "this machine", recipe))  # fmt: skip
    rows.append(("epochs", "15 (max_epoch)", plan["epochs"], "reduced to fit ~10 min" if not args.quick else "quick", recipe))  # fmt: skip


def perplexity_figure(history: list, args) -> None:
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


def main() -> None:
    args = setup("ch14_ptb_language_model", __doc__)
    train, test = ptb_data(args)
    plan = {
        "batch_size": 20 if args.quick else 60,
        "num_steps": 20,
        "epochs": 1 if args.quick else 10,
        "max_batches": 6 if args.quick else None,
    }
    scratchnet.seed(args.seed)
    model = language_model()
    model.summary((plan["num_steps"],), input_dtype=np.int64)
    reset(model)  # the summary's dummy batch of two left a carried state behind
    # per-sequence loss summed over the 20 steps, averaged over the batch (the course's cost)
    loss = SequenceCrossEntropy(average_across_timesteps=False, average_across_batch=True)
    rows: list = []
    untrained_loss(model, loss, train.ids, plan, rows)
    training(model, loss, train, test, plan, rows, args)

    table = report(rows)
    remarks = notes(
        "ptb.train.txt (929k words) is not available offline: we train on ptb.valid (73,760 words, 61 batches "
        "of 60 x 20 per epoch instead of the course's 774) and test on ptb.test; the vocabulary is built from "
        "valid + test, so no test word is forced to <unk>. With 1/13 of the course's training text the "
        "model runs out of new material early: watch the gap between training and test perplexity widen "
        "once the learning rate starts halving.",
        "The course prints perplexity inside the first epoch only; perplexities after training on the real "
        "train file are not comparable to ours.",
        "The course's speed (~205 words/s) was on its notebook machine; ours is a 2-core shared CPU.",
        "quick mode: batch 20, 6 batches of training and of test, one epoch.",
    )
    write_results(args, table, remarks)


if __name__ == "__main__":
    main()
