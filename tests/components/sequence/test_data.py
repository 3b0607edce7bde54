"""Parsing, checking and windowing sequence CSVs (pure functions, no TFX)."""
import numpy as np
import pytest

from edgeflow.components.sequence.data import SequenceDataError, classify_examples, forecast_examples, parse_sequences, parse_series, split_window_starts
from edgeflow.models.features import TARGET_KEY, TIME_KEY, WINDOW_KEY


def series_rows(values, start_hour=0, skip=()):
    rows = []
    for i, v in enumerate(values):
        if i in skip:
            continue
        rows.append((i + 2, [f"2020-01-{1 + (start_hour + i) // 24:02d} {(start_hour + i) % 24:02d}:00", str(v)]))
    return rows


def test_windows_never_leak_across_the_time_split():
    window, horizon = 8, 3
    series = parse_series(["time", "value"], series_rows(np.arange(200.0)))
    examples = list(forecast_examples(series, window, horizon, eval_fraction=0.25))
    train = [f for s, f in examples if s == "train"]
    evals = [f for s, f in examples if s == "eval"]
    assert train and evals
    last_train_target = max(int(f[TIME_KEY]) + horizon - 1 for f in train)
    first_eval_target = min(int(f[TIME_KEY]) for f in evals)
    first_eval_input = first_eval_target - window
    assert first_eval_target > last_train_target  # every eval target later than every train target
    assert first_eval_input - last_train_target >= window  # and a gap of one window between them
    # the values really are the rows they claim to be (the series is 0, 1, 2, ...)
    f = evals[0]
    assert f[WINDOW_KEY].tolist() == list(range(int(f[TIME_KEY]) - window, int(f[TIME_KEY])))
    assert f[TARGET_KEY].tolist() == list(range(int(f[TIME_KEY]), int(f[TIME_KEY]) + horizon))


def test_rows_are_sorted_by_time():
    rows = series_rows([1.0, 2.0, 3.0, 4.0])
    series = parse_series(["time", "value"], rows[::-1])
    assert series.values[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_gap_in_the_series_fails_naming_where_or_is_interpolated():
    rows = series_rows([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], skip=(2,))
    with pytest.raises(SequenceDataError, match=r"misses 1 step.*2020-01-01 02:00:00.*sequence.fill=interpolate"):
        parse_series(["time", "value"], rows)
    filled = parse_series(["time", "value"], rows, fill="interpolate")
    assert filled.values[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] and filled.filled == 1


def test_bad_values_and_timestamps_name_their_lines():
    rows = series_rows([1.0, 2.0, 3.0, 4.0])
    rows[1] = (3, [rows[1][1][0], "warm"])
    with pytest.raises(SequenceDataError, match=r"not finite numbers: line 3 column value \('warm'\)"):
        parse_series(["time", "value"], rows)
    rows = series_rows([1.0, 2.0, 3.0, 4.0])
    rows[2] = (4, ["", "3.0"])
    with pytest.raises(SequenceDataError, match=r"no timestamp \(lines 4\)"):
        parse_series(["time", "value"], rows)


def test_window_longer_than_the_data_is_refused():
    with pytest.raises(SequenceDataError, match=r"has 50 steps, too few for window=40"):
        split_window_starts(50, 40, 5, 0.2)


def sequence_rows(lengths, labels):
    rows, line = [], 2
    for sid, (n, label) in enumerate(zip(lengths, labels)):
        for step in range(n):
            rows.append((line, [f"s{sid}", str(step), str(step + sid), str(-step), label]))
            line += 1
    return rows


HEADER = ["sequence_id", "step", "a", "b", "label"]


def test_sequences_are_grouped_ordered_and_split_by_id():
    rows = sequence_rows([4] * 20, ["x", "y"] * 10)
    seqs = parse_sequences(HEADER, rows[::-1])  # file order does not matter
    assert seqs.steps.shape == (20, 4, 2) and seqs.class_names == ("x", "y")
    assert seqs.steps[0, :, 0].tolist() == [0, 1, 2, 3]  # ordered by step
    splits = {s: f for s, f in [(s, f["sequence_id"]) for s, f in classify_examples(seqs, 0.3)]}
    assert set(splits) == {"train", "eval"}
    assert [s for s, _ in classify_examples(seqs, 0.3)] == [s for s, _ in classify_examples(seqs, 0.3)]


def test_short_and_unlabelled_sequences_are_named():
    with pytest.raises(SequenceDataError, match=r"1 sequence\(s\) are shorter than window=4 steps \(ids s1\)"):
        parse_sequences(HEADER, sequence_rows([4, 2, 4], ["x", "y", "x"]))
    with pytest.raises(SequenceDataError, match=r"no label \(ids s2\)"):
        parse_sequences(HEADER, sequence_rows([4, 4, 4], ["x", "y", ""]))
