"""The streamed series windowing against the whole-file one: the same examples, the same sentences on bad data."""
import logging

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.util import assert_that, equal_to

from edgeflow.components.sequence.data import SequenceDataError, parse_series, read_csv, to_example
from edgeflow.components.sequence.example_gen import stream_windows, window_rows
from edgeflow.components.sequence.stream import csv_chunks, scan_series, series_windows

SEQ = {"task": "forecast", "time_column": None, "target": "b", "fill": "interpolate", "window": 7, "horizon": 3,
       "eval_fraction": 0.25}


def write_series(path, n=240, skip=(), blank=(), shuffle=False, seed=0):
    """Hourly rows `time,a,b` with rows `skip` left out and cells `blank` ((row, column)) left empty."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        if i in skip:
            continue
        cells = ["" if (i, c) in blank else f"{v:.3f}" for c, v in enumerate(rng.normal(size=2) + [i, -i])]
        lines.append(f"{np.datetime64('2021-03-01T00:00') + np.timedelta64(i, 'h')},{','.join(cells)}")
    if shuffle:
        lines = [lines[i] for i in rng.permutation(len(lines))]
    path.write_text("time,a,b\n" + "\n".join(lines) + "\n")
    return str(path)


def canonical(record: bytes) -> bytes:
    """A serialized tf.Example with its feature map in key order (protobuf writes maps in any order)."""
    import tensorflow as tf

    return tf.train.Example.FromString(record).SerializeToString(deterministic=True)


def whole_file(path, seq):
    """The ExampleGen's windows before streaming: every row gathered, parsed and windowed at once."""
    header, rows = read_csv(path)
    return [(split, canonical(b)) for split, b in window_rows([cells for _, cells in rows], header, seq)]


GAPPY = dict(skip={5, 6, 40, *range(100, 131), 200},  # a 31-row hole: longer than a chunk and than a window
             blank={(0, 1), (1, 1), (2, 1), (50, 0), (51, 0), (180, 1), (238, 0), (239, 0)})  # leading, inner, trailing


@pytest.mark.parametrize("chunk_rows", [1, 4, 9, 10_000])
def test_streamed_windows_equal_the_whole_file_ones_with_gaps_missing_values_and_the_split_cut(tmp_path, chunk_rows):
    path = write_series(tmp_path / "s.csv", **GAPPY)
    old = whole_file(path, SEQ)
    new = [(split, f) for split, f in series_windows(path, SEQ, chunk_rows)]
    assert [s for s, _ in new] == [s for s, _ in old]  # same order: the train windows, then the eval ones
    assert [canonical(to_example(f).SerializeToString()) for _, f in new] == [canonical(b) for _, b in old]
    # the split cut: train targets end before the cut at 75 % of the grid's 240 steps, eval inputs one window after
    times = {s: [int(f["target_step"]) for x, f in new if x == s] for s in ("train", "eval")}
    assert max(times["train"]) + 3 <= 180 and min(times["eval"]) - 7 >= 180 + 7
    assert len(times["train"]) == 180 - 7 - 3 + 1 and len(times["eval"]) == 240 - 3 - (180 + 7) - 7 + 1
    # holes are filled, and a hole's first filled value lies between the values around it
    assert not any(np.isnan(f["window"]).any() for _, f in new)


def test_the_beam_transform_writes_the_same_serialized_examples(tmp_path):
    path = write_series(tmp_path / "s.csv", **GAPPY)
    old = whole_file(path, SEQ)
    with beam.Pipeline() as p:
        windows = (p | beam.Create([path]) | beam.FlatMap(stream_windows, SEQ)
                   | beam.MapTuple(lambda split, record: (split, canonical(record))))
        assert_that(windows, equal_to(old))


def test_rows_out_of_time_order_are_read_whole_with_a_warning_and_give_the_same_windows(tmp_path, caplog):
    path = write_series(tmp_path / "s.csv", shuffle=True, **GAPPY)
    with caplog.at_level(logging.WARNING, logger="edgeflow"):
        new = [(s, canonical(b)) for s, b in stream_windows(path, SEQ)]
    assert new == whole_file(path, SEQ)
    assert "out of time order" in caplog.text and "sort the file by time to stream it" in caplog.text


def test_the_scan_counts_what_parse_series_counts(tmp_path):
    path = write_series(tmp_path / "s.csv", **GAPPY)
    plan = scan_series(path, None, "b", "interpolate", chunk_rows=16)
    series = parse_series(*read_csv(path), None, "b", "interpolate")
    assert (plan.steps, plan.filled, plan.columns, plan.target_index) == (
        len(series.values), series.filled, series.columns, series.target_index)
    assert plan.start == series.times[0].astype("datetime64[ns]").astype(np.int64)


def lines_of(rows):
    return "time,v\n" + "\n".join(rows) + "\n"


HOURS = [f"2020-01-01 {h:02d}:00,{h}.5" for h in range(24)]
BAD = {
    "hole": HOURS[:5] + HOURS[6:],
    "duplicate": HOURS[:3] + [HOURS[2].replace(".5", ".7")] + HOURS[3:],
    "off the step": HOURS[:3] + ["2020-01-01 02:30,9"] + HOURS[3:],  # in time order
    "text value": [r.replace(".5", ".5x") if i % 3 == 0 else r for i, r in enumerate(HOURS)],
    "no timestamp": [("," + r.split(",")[1]) if i % 4 == 0 else r for i, r in enumerate(HOURS)],
    "unreadable timestamp": [("soon," + r.split(",")[1]) if i in (3, 9) else r for i, r in enumerate(HOURS)],
    "ragged": [r + ",1" if i in (2, 7, 8, 9, 10, 11, 12) else r for i, r in enumerate(HOURS)],
    "two rows": HOURS[:2],
    "header only": [],
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_series_get_the_same_sentence_as_before(tmp_path, case):
    path = tmp_path / "bad.csv"
    path.write_text(lines_of(BAD[case]) if BAD[case] else "time,v\n")
    with pytest.raises(SequenceDataError) as before:
        parse_series(*read_csv(str(path)))
    with pytest.raises(SequenceDataError) as now:
        scan_series(str(path), chunk_rows=4)
    assert str(now.value) == str(before.value)


def test_unreadable_bytes_and_an_empty_file_are_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes("time,v\n2024-01-01T00:00,1\n2024-01-01T01:00,2\xb0C\n".encode("latin-1"))
    with pytest.raises(SequenceDataError, match=r"bad.csv is not UTF-8 text \(byte 0xb0 on line 3\); save it as UTF-8"):
        scan_series(str(path))
    path.write_bytes(b"")
    with pytest.raises(SequenceDataError, match="is empty; give a CSV file with a header row"):
        csv_chunks(str(path))
    with pytest.raises(SequenceDataError, match="does not exist; pass --data"):
        scan_series(str(tmp_path / "none.csv"))
