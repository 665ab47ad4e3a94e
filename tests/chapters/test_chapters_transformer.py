"""Chapter 21 (attention, a small transformer against chapter 15's LSTM) runs end to end with ``--quick``."""

from __future__ import annotations

import math
import re

from chapter_runs import needs_data, run_chapter, table_row


@needs_data("tinyshakespeare/input.txt")
def test_ch21_transformer(tmp_path):
    text = run_chapter("ch21_transformer", tmp_path)
    for f in ("lstm_vs_transformer.png", "attention_maps.png"):
        assert (tmp_path / f).is_file(), f
    # attention worked by hand equals the layer, forward and backward
    assert float(table_row(text, "attention by hand vs MultiHeadAttention")[2]) < 1e-12
    # the two models have about the same number of parameters (within 5%)
    lstm, transformer = (int(v.replace(",", "")) for v in table_row(text, "parameters: LSTM")[2].split(" / "))
    assert lstm == 279_873 and abs(transformer - lstm) < 0.05 * lstm
    for name in ("LSTM", "transformer"):
        loss, bits = (float(v) for v in table_row(text, f"{name}: held-out loss")[2].split(" / "))
        assert 0 < loss < 1.2 * math.log(65) and abs(bits - loss / math.log(2)) < 2e-3
        assert re.search(rf"\[{name}\]\nThe ", text), f"no {name} sample printed"
    assert table_row(text, "this run")[2] == f"python chapters/ch21_transformer.py --quick --out {tmp_path}"
