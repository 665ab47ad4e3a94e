"""Chapter 16: predicting the next day's closing price from the previous 7 days with a many-to-one LSTM
====================================================================================================
What the course claims (lab-12-5, RNN with time-series data):

* the data: ``data-02-stock_daily.csv``, daily Open, High, Low, Volume and Close, reversed into time
  order and min-max scaled column by column (the whole file at once); every 7 consecutive days (all 5
  columns) form one input, the next day's Close the target; the first 70% of the windows train, the
  rest test;
* the model: a BasicLSTMCell of 1 unit whose output at the last day *is* the prediction (many to one),
  the sum of squared errors as the loss, plain gradient descent at 0.01 for 1000 steps;
* results: the loss of every step is printed and the test predictions are plotted over the true closes,
  with no value shown (a figure only).

A later form of the same lab (not in the slides' text) puts a 10-unit LSTM under a Dense(10 -> 1) layer
and trains it with Adam at 0.01 for 500 steps; we run both on the file's 732 trading days. Prices (~800) and volumes (~1e6) live on very
different scales, which is why every column is scaled to [0, 1] first. We report the test RMSE (in scaled
units and in dollars) next to the naive forecast "tomorrow closes where today closed", the baseline any
price model has to beat, and plot the test period. The final table gives the course's figure (here: what
it showed), ours, the data and the recipe; ``<out>/results.md`` keeps it.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from _common import data_dir, gd_loop, notes, report, savefig, section, setup, write_results

import scratchnet
from scratchnet import Sequential
from scratchnet.datasets import MinMaxScaler, load_stock_daily
from scratchnet.layers import LSTM, Dense
from scratchnet.losses import MeanSquaredError
from scratchnet.optim import SGD, Adam
from scratchnet.plotting import new_figure

SEQ = 7


def windows(table: np.ndarray, close: np.ndarray, seq: int = SEQ) -> tuple[np.ndarray, np.ndarray]:
    """(N - seq, seq, features) windows and the next day's close (N - seq, 1)."""
    x = np.stack([table[i : i + seq] for i in range(len(table) - seq)])
    return x, close[seq:]


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


# -- the lab's sections ------------------------------------------------------------------------------------
def stock_data() -> SimpleNamespace:
    """Time-ordered, scaled on the training period, cut into 7-day windows, split 70/30 in time order."""
    where = data_dir()
    data = load_stock_daily(chronological=True, **({"data_dir": where} if where is not None else {}))
    print(f"data: stock_daily {data.x.shape} from {data.source}; columns {data.info['columns']}")
    raw = data.x.astype(np.float32)
    n_windows = len(raw) - SEQ
    train_size = int(n_windows * 0.7)
    # fit the scaler on the rows the training windows can see, so the test period stays unseen
    scaler = MinMaxScaler().fit(raw[: train_size + SEQ])
    table = scaler.transform(raw)
    x, y = windows(table, table[:, [4]])
    x_tr, y_tr, x_te, y_te = x[:train_size], y[:train_size], x[train_size:], y[train_size:]
    print(f"  {len(x)} windows of {SEQ} days x 5 columns: train {x_tr.shape}, test {x_te.shape}")

    def dollars(v: np.ndarray) -> np.ndarray:  # scaled close -> price
        lo, hi = scaler.data_min_[4], scaler.data_max_[4]
        return v * (hi - lo + scaler.eps) + lo

    return SimpleNamespace(x_tr=x_tr, y_tr=y_tr, x_te=x_te, y_te=y_te, dollars=dollars)


def fit(model, optimizer, d: SimpleNamespace, steps: int) -> list:
    return gd_loop(
        model,
        MeanSquaredError(),
        optimizer,
        d.x_tr,
        d.y_tr,
        steps,
        log_every=steps // 5,
        on_log=lambda s, v, _: print(f"  step {s:4d}  sum of squares {v * len(d.x_tr):.4f}"),
    )


def slide_version(d: SimpleNamespace, args) -> tuple:
    """The slides' lab: a 1-unit LSTM's output is the prediction; GD 0.01 on the sum of squares."""
    section("slide version: LSTM(5 -> 1), its output is the prediction; GD 0.01 on the sum of squares")
    scratchnet.seed(args.seed)
    slide = Sequential([LSTM(5, 1, return_sequences=False, forget_bias=1.0)])
    # sum of squares = N * mean squared error: GD with lr 0.01 on the sum is lr 0.01 * N on the mean
    steps = 100 if args.quick else 1000
    log = fit(slide, SGD(slide.parameters(), lr=0.01 * len(d.x_tr)), d, steps)
    return slide.predict(d.x_te), log, f"GD 0.01 on the sum, {steps} steps"


def lab_version(d: SimpleNamespace, args) -> tuple:
    """The lab's later form: LSTM(10) + Dense(1), Adam 0.01."""
    section("lab version: LSTM(5 -> 10) + Dense(10 -> 1), Adam 0.01, 500 steps")
    scratchnet.seed(args.seed)
    lab = Sequential([LSTM(5, 10, return_sequences=False, forget_bias=1.0), Dense(10, 1)])
    steps = 100 if args.quick else 500
    # Adam's step does not depend on the loss scale, so mean and sum of squares train alike
    log = fit(lab, Adam(lab.parameters(), lr=0.01), d, steps)
    return lab.predict(d.x_te), log, f"Adam 0.01, {steps} steps"


def evaluation(d: SimpleNamespace, results: dict, rows: list, args) -> None:
    """Test RMSE of each model next to the naive forecast, and the test-period figure."""
    section("test RMSE")
    naive = d.x_te[:, -1, 4:5]  # today's close as tomorrow's forecast
    r, r_usd = rmse(naive, d.y_te), rmse(d.dollars(naive), d.dollars(d.y_te))
    print(f"  naive 'same as today': {r:.4f} scaled, ${r_usd:.2f}")
    rows.append(("naive forecast (today's close): test RMSE", "(not in course)", f"{r:.4f} (${r_usd:.2f})", "last 30%", "no model"))  # fmt: skip
    for name, (pred, log, recipe) in results.items():
        r, r_usd = rmse(pred, d.y_te), rmse(d.dollars(pred), d.dollars(d.y_te))
        final = log[-1]["loss"] * len(d.x_tr)
        print(f"  {name}: {r:.4f} scaled, ${r_usd:.2f}; final training sum of squares {final:.4f}")
        rows.append((f"{name}: test RMSE", "(plot only)", f"{r:.4f} (${r_usd:.2f})", "last 30%", recipe))
        rows.append((f"{name}: final train sum of squares", "(printed, no value shown)", f"{final:.4f}", f"{len(d.x_tr)} windows", recipe))  # fmt: skip

    fig = new_figure(9, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(d.dollars(d.y_te), color="black", lw=1.5, label="true close")
    for name, (pred, _, _) in results.items():
        ax.plot(d.dollars(pred), lw=1, label=name)
    ax.set_xlabel("test day")
    ax.set_ylabel("close price ($)")
    ax.set_title("next-day close from the previous 7 days (test period)")
    ax.grid(alpha=0.3)
    ax.legend()
    savefig(fig, args, "stock_test_prediction.png")


def main() -> None:
    args = setup("ch16_time_series", __doc__)
    d = stock_data()
    results = {
        "LSTM(1), GD": slide_version(d, args),
        "LSTM(10) + Dense, Adam": lab_version(d, args),
    }
    rows: list = []
    evaluation(d, results, rows, args)

    table = report(rows)
    remarks = notes(
        "The course scales the whole file before splitting, so its test prices leak into the scaling; we fit "
        "the scaler on the training period only. The test period climbs above the training maximum (scaled "
        "close > 1), a level neither model has seen, so both fall below the truth there (see the figure).",
        "The slide's 1-unit LSTM outputs tanh-bounded values in (-1, 1) and has 32 weights; it follows the "
        "trend with a lag. With 7 days of prices as the only input neither model should be expected to beat "
        "the naive forecast by much: day-to-day price changes are close to unpredictable.",
        "The course's text shows the test plot but prints no RMSE.",
        "quick mode: 100 steps for each model.",
    )
    write_results(args, table, remarks)


if __name__ == "__main__":
    main()
