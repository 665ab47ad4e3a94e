"""Chapter 15: a character-level language model on Tiny Shakespeare, and four ways to sample from it
=================================================================================================
What the course claims (Deep Learning with TensorFlow, lab "Applying RNN/LSTM to character modelling"):

* the data: Tiny Shakespeare (``input.txt``), 65 distinct characters, numbered by frequency (the space
  first); each batch holds 60 parallel streams of 50 characters;
* the model: a 128-dimensional embedding, two stacked recurrent layers of 128 units and a softmax layer
  over the 65 characters; the cost is the cross-entropy averaged over batch and steps; Adam at 0.002,
  multiplied by 0.97 after every epoch, gradients clipped to global norm 5; the state is carried from
  batch to batch within an epoch; 125 epochs (50 suggested for fair results);
* its training loop prints the loss and the time of every batch and, after each epoch, a 50-character
  sample after the prime "The " drawn with the default (weighted) rule; no values of these are shown;
* its sampler offers three rules: the most likely character, a draw weighted by the predicted
  probabilities, and a draw only after a space with the most likely character inside a word.

Same recipe as the word model of chapter 14, one character at a time. Generating text runs the model on
one character at a time (batch 1, one step) and feeds each chosen character back in. How to choose it from
the predicted distribution p:

* greedy: always the most likely character; deterministic, and it soon falls into a loop;
* weighted: draw a character with probability p (the course's default);
* weighted at spaces: draw only after a space, greedy inside a word (words come out spelled well, the
  choice of the next word stays random);
* temperature T (ours, not the course's): draw from softmax(logits / T); T < 1 sharpens p towards greedy,
  T > 1 flattens it.

The script trains 3 epochs (the course: 125) on the first 95% of the text, keeps the last 5% to report a
held-out loss, and prints 300 characters with each rule. The final table gives the course's figure, ours,
the data and the recipe; ``<out>/results.md`` keeps it.
"""

from __future__ import annotations

import math
import time

import numpy as np
from _common import data_dir, notes, report, savefig, section, setup, write_results

import scratchnet
from scratchnet import Sequential
from scratchnet.datasets import load_tiny_shakespeare
from scratchnet.layers import LSTM, Dense, Embedding, TimeDistributed
from scratchnet.losses import SequenceCrossEntropy
from scratchnet.optim import Adam, ExponentialLR
from scratchnet.plotting import new_figure

RNN_SIZE, LAYERS, BATCH, SEQ = 128, 2, 60, 50
RECIPE = "2 x LSTM(128), Adam 0.002 x 0.97^epoch, clip 5, batch 60 x 50"


def char_model(vocab_size: int, cell=LSTM) -> Sequential:
    layers = [Embedding(vocab_size, RNN_SIZE, weight_init="xavier")]
    layers += [cell(RNN_SIZE, RNN_SIZE, stateful=True) for _ in range(LAYERS)]
    layers.append(TimeDistributed(Dense(RNN_SIZE, vocab_size)))
    return Sequential(layers)


def reset(model: Sequential) -> None:
    for layer in model.layers:
        if hasattr(layer, "reset_state"):
            layer.reset_state()


def stream_batches(ids: np.ndarray, batch_size: int, seq_length: int) -> tuple[np.ndarray, np.ndarray]:
    """(num_batches, batch, seq) inputs and targets: ``batch_size`` contiguous streams cut into windows."""
    num_batches = (len(ids) - 1) // (batch_size * seq_length)
    if num_batches < 1:
        raise ValueError(f"text of {len(ids)} characters is too short for {batch_size} x {seq_length}")
    n = num_batches * batch_size * seq_length
    x = ids[:n].reshape(batch_size, num_batches, seq_length).transpose(1, 0, 2)
    y = ids[1 : n + 1].reshape(batch_size, num_batches, seq_length).transpose(1, 0, 2)
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def mean_loss(model, loss, xs, ys) -> float:
    reset(model)
    model.eval()
    value = float(np.mean([loss(model(x), y) for x, y in zip(xs, ys)]))
    model.train()
    reset(model)
    return value


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def sample(
    model, vocab, rng, num: int = 200, prime: str = "The ", mode: str = "weighted", temperature=1.0
) -> str:
    """Generates ``num`` characters after ``prime``; mode is greedy, weighted, spaces or temperature."""
    reset(model)
    model.eval()
    ids = vocab.encode(prime)
    for i in ids[:-1]:  # warm the state up on the prime
        model(np.array([[i]]))
    out, char = prime, int(ids[-1])
    for _ in range(num):
        logits = model(np.array([[char]]))[0, -1].astype(np.float64)
        p = softmax(logits / (temperature if mode == "temperature" else 1.0))
        if mode == "greedy" or (mode == "spaces" and vocab.id_to_word[char] != " "):
            char = int(np.argmax(p))
        else:
            char = int(rng.choice(len(p), p=p))
        out += vocab.id_to_word[char]
    model.train()
    reset(model)
    return out


# -- the lab's sections ------------------------------------------------------------------------------------
def text_loader(args, rows: list):
    """Tiny Shakespeare as character ids, cut into streams of 60 x 50 (and 10 x 50 held out)."""
    where = data_dir()
    corpus = load_tiny_shakespeare(**({"data_dir": where} if where is not None else {}))
    vocab, ids = corpus.vocab, corpus.ids
    print(f"data: tiny shakespeare, {len(ids):,} characters, {len(vocab)} distinct, from {corpus.source}")
    rows.append(("vocabulary size", "65", len(vocab), "tiny shakespeare", "-"))
    if args.quick:
        ids = ids[:40_000]
    split = int(len(ids) * 0.95)  # the course trains on everything; we keep the last 5% to watch overfitting
    xs, ys = stream_batches(ids[:split], BATCH, SEQ)
    vx, vy = stream_batches(ids[split:], 10, SEQ)
    if args.quick:
        xs, ys = xs[:8], ys[:8]
    print(f"  {len(xs)} training batches of {BATCH} x {SEQ}; {len(vx)} held-out batches of 10 x 50")
    return vocab, (xs, ys), (vx, vy)


def untrained_loss(model, loss, xs, ys, vocab, rows: list) -> None:
    untrained = loss(model(xs[0]), ys[0])
    reset(model)
    print(f"  untrained loss {untrained:.4f}; ln({len(vocab)}) = {math.log(len(vocab)):.4f}")
    rows.append(("untrained loss", f"ln(65) = {math.log(65):.4f}", f"{untrained:.4f}", "first batch", "no training"))  # fmt: skip


def train_epochs(model, loss, train, held_out, vocab, epochs: int, rng, rows: list, args) -> None:
    """The course's loop: Adam with a decaying rate, the state carried across batches, a sample per epoch."""
    (xs, ys), (vx, vy) = train, held_out
    opt = Adam(model.parameters(), lr=0.002, clip_norm=5.0)
    sched = ExponentialLR(opt, decay_rate=0.97)  # lr = 0.002 * 0.97 ** epoch
    curve, history = [], []
    for epoch in range(epochs):
        section(f"epoch {epoch}: learning rate {opt.lr:.6f}")
        reset(model)
        start = time.perf_counter()
        for b, (x, y) in enumerate(zip(xs, ys)):
            value = loss(model(x), y)
            model.backprop(loss.backward())
            opt.step()
            curve.append(value)
            if b % max(1, len(xs) // 8) == 0 or b == len(xs) - 1:
                per = (time.perf_counter() - start) / (b + 1)
                print(
                    f"  {epoch * len(xs) + b}/{epochs * len(xs)} (epoch {epoch}), train_loss = {value:.3f}, "
                    f"time/batch = {per:.3f}"
                )
        secs = time.perf_counter() - start
        val = mean_loss(model, loss, vx, vy)
        history.append({"epoch": epoch, "train": float(np.mean(curve[-len(xs) :])), "val": val, "secs": secs})
        print(
            f"  epoch {epoch}: mean train loss {history[-1]['train']:.3f}, held-out loss {val:.3f} "
            f"({secs:.0f} s, {len(xs) * BATCH * SEQ / secs:.0f} chars/s)"
        )
        print("  sample:", repr(sample(model, vocab, rng, 80)))
        sched.step()
    loss_figure(curve, history, len(xs), args)

    data = "tiny shakespeare" + (" (first 40k chars)" if args.quick else " (95% train)")
    for h in history:
        rows.append((f"epoch {h['epoch']}: mean train / held-out loss", "(not printed)", f"{h['train']:.3f} / {h['val']:.3f}", data, RECIPE))  # fmt: skip
    rows.append(("time per batch of 60 x 50", "(printed, no value shown)", f"{history[-1]['secs'] / len(xs):.3f} s", "this machine", RECIPE))  # fmt: skip
    rows.append(("epochs", "125 (50 suggested)", epochs, "reduced to fit ~10 min" if not args.quick else "quick", RECIPE))  # fmt: skip


def sampling(model, vocab, rng, rows: list) -> None:
    """The course's three sampling rules, and two temperatures of ours."""
    section("sampling 300 characters after 'The '")
    texts = {
        "greedy": sample(model, vocab, rng, 300, mode="greedy"),
        "weighted": sample(model, vocab, rng, 300, mode="weighted"),
        "weighted at spaces": sample(model, vocab, rng, 300, mode="spaces"),
        "temperature 0.5": sample(model, vocab, rng, 300, mode="temperature", temperature=0.5),
        "temperature 1.5": sample(model, vocab, rng, 300, mode="temperature", temperature=1.5),
    }
    for name, text in texts.items():
        print(f"\n[{name}]\n{text}")
    words = texts["weighted at spaces"].split()
    rows.append(("greedy sample, first 40 characters", "(not shown)", repr(texts["greedy"][:40]), "prime 'The '", RECIPE))  # fmt: skip
    rows.append(("weighted-at-spaces sample, first words", "(not shown)", " ".join(words[:6]), "prime 'The '", RECIPE))  # fmt: skip


def loss_figure(curve: list, history: list, n_batches: int, args) -> None:
    fig = new_figure(7, 4)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(curve, lw=0.7, label="train loss per batch")
    ax.plot([(h["epoch"] + 1) * n_batches - 1 for h in history], [h["val"] for h in history], "o", label="held out")  # fmt: skip
    ax.set_xlabel("batch")
    ax.set_ylabel("cross-entropy per character")
    ax.set_title("Tiny Shakespeare: 2 x LSTM(128), Adam 0.002, clip 5")
    ax.grid(alpha=0.3)
    ax.legend()
    savefig(fig, args, "char_loss.png")


def main() -> None:
    args = setup("ch15_char_model", __doc__)
    rows: list = []
    vocab, train, held_out = text_loader(args, rows)
    scratchnet.seed(args.seed)
    model = char_model(len(vocab))
    model.summary((SEQ,), input_dtype=np.int64)
    reset(model)
    loss = SequenceCrossEntropy()  # mean over batch and steps, as the course's cost
    rng = np.random.default_rng(args.seed)
    untrained_loss(model, loss, *train, vocab, rows)
    train_epochs(model, loss, train, held_out, vocab, 1 if args.quick else 3, rng, rows, args)
    sampling(model, vocab, rng, rows)

    table = report(rows)
    remarks = notes(
        "The course's char-model code builds its stack from BasicRNNCell (plain tanh cells) although the "
        "class is called LSTMModel; we use LSTM cells (char_model(..., cell=RNN) builds the plain version).",
        "We hold out the last 5% of the text to report a held-out loss; the course trains on all of it.",
        "Course: 125 epochs (50 suggested); here 3, so expect recognisable words and play layout, not prose.",
        "quick mode: the first 40,000 characters, 8 batches, one epoch.",
    )
    write_results(args, table, remarks)


if __name__ == "__main__":
    main()
