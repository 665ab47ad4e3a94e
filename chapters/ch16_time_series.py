"""Chapter 16: predicting the next day's closing price from the previous 7 days with a many-to-one LSTM.

The course's stock file holds 732 trading days of Open, High, Low, Volume and Close. Every window of 7
consecutive days (all 5 columns) becomes one input sequence (7, 5); the target is the Close of the day
after. The LSTM reads the week and only its last state is used ("many to one", ``return_sequences=False``).
Prices (~800) and volumes (~1e6) live on very different scales, so every column is min-max scaled to
[0, 1] first. The first 70% of the windows (in time order) train the model, the last 30% test it.

Two versions of the lab: the slide's, where a 1-unit LSTM's output *is* the prediction, trained with
plain gradient descent (lr 0.01) on the sum of squared errors for 1000 steps; and the lab's later form,
a 10-unit LSTM followed by a Dense(10 -> 1), Adam 0.01, 500 steps. We report the test RMSE (in scaled units
and in dollars) next to the naive forecast "tomorrow closes where today closed", the baseline any price
model has to beat.
"""

from __future__ import annotations

import numpy as np
from _common import data_dir, gd_loop, notes, report, savefig, section, setup

import scratchnet
from scratchnet.datasets import MinMaxScaler, load_stock_daily
from scratchnet.layers.dense import Dense
from scratchnet.layers.recurrent import LSTM
from scratchnet.losses import MeanSquaredError
from scratchnet.model import Sequential
from scratchnet.optim import SGD, Adam
from scratchnet.plotting import new_figure

SEQ = 7


def windows(table: np.ndarray, close: np.ndarray, seq: int = SEQ) -> tuple[np.ndarray, np.ndarray]:
    """(N - seq, seq, features) windows and the next day's close (N - seq, 1)."""
    x = np.stack([table[i : i + seq] for i in range(len(table) - seq)])
    return x, close[seq:]


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


def main() -> None:
    args = setup("ch16_time_series", __doc__)
    rows: list = []
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

    naive = x_te[:, -1, 4:5]  # today's close as tomorrow's forecast
    results = {}

    section("slide version: LSTM(5 -> 1), its output is the prediction; GD 0.01 on the sum of squares")
    scratchnet.seed(args.seed)
    slide = Sequential([LSTM(5, 1, return_sequences=False, forget_bias=1.0)])
    # sum of squares = N * mean squared error: GD with lr 0.01 on the sum is lr 0.01 * N on the mean
    steps = 100 if args.quick else 1000
    log = gd_loop(
        slide,
        MeanSquaredError(),
        SGD(slide.parameters(), lr=0.01 * len(x_tr)),
        x_tr,
        y_tr,
        steps,
        log_every=steps // 5,
        on_log=lambda s, v, _: print(f"  step {s:4d}  sum of squares {v * len(x_tr):.4f}"),
    )
    results["LSTM(1), GD"] = (slide.predict(x_te), log)

    section("lab version: LSTM(5 -> 10) + Dense(10 -> 1), Adam 0.01, 500 steps")
    scratchnet.seed(args.seed)
    lab = Sequential([LSTM(5, 10, return_sequences=False, forget_bias=1.0), Dense(10, 1)])
    steps = 100 if args.quick else 500
    # Adam's step does not depend on the loss scale, so mean and sum of squares train alike
    log = gd_loop(
        lab,
        MeanSquaredError(),
        Adam(lab.parameters(), lr=0.01),
        x_tr,
        y_tr,
        steps,
        log_every=steps // 5,
        on_log=lambda s, v, _: print(f"  step {s:4d}  sum of squares {v * len(x_tr):.4f}"),
    )
    results["LSTM(10) + Dense, Adam"] = (lab.predict(x_te), log)

    section("test RMSE")
    print(
        f"  naive 'same as today': {rmse(naive, y_te):.4f} scaled, ${rmse(dollars(naive), dollars(y_te)):.2f}"
    )
    rows.append(
        (
            "naive forecast (today's close): test RMSE",
            "(not in course)",
            f"{rmse(naive, y_te):.4f} (${rmse(dollars(naive), dollars(y_te)):.2f})",
            "last 30%",
        )
    )
    for name, (pred, log) in results.items():
        r, r_usd = rmse(pred, y_te), rmse(dollars(pred), dollars(y_te))
        print(
            f"  {name}: {r:.4f} scaled, ${r_usd:.2f}; final training sum of squares {log[-1]['loss'] * len(x_tr):.4f}"
        )
        rows.append((f"{name}: test RMSE", "(plot only)", f"{r:.4f} (${r_usd:.2f})", "last 30%"))
        rows.append(
            (
                f"{name}: final train sum of squares",
                "(printed, no value shown)",
                f"{log[-1]['loss'] * len(x_tr):.4f}",
                f"{len(x_tr)} windows",
            )
        )

    fig = new_figure(9, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(dollars(y_te), color="black", lw=1.5, label="true close")
    for name, (pred, _) in results.items():
        ax.plot(dollars(pred), lw=1, label=name)
    ax.set_xlabel("test day")
    ax.set_ylabel("close price ($)")
    ax.set_title("next-day close from the previous 7 days (test period)")
    ax.grid(alpha=0.3)
    ax.legend()
    savefig(fig, args, "stock_test_prediction.png")

    report(rows)
    notes(
        "The course scales the whole file before splitting, so its test prices leak into the scaling; we fit "
        "the scaler on the training period only. The test period climbs above the training maximum (scaled close > 1), a level neither model has seen, so both fall below the truth there (see the figure).",
        "The slide's 1-unit LSTM outputs tanh-bounded values in (-1, 1) and has 32 weights; it follows the "
        "trend with a lag. With 7 days of prices as the only input neither model should be expected to beat "
        "the naive forecast by much: day-to-day price changes are close to unpredictable.",
        "The course's text shows the test plot but prints no RMSE.",
        "quick mode: 100 steps for each model.",
    )


if __name__ == "__main__":
    main()
