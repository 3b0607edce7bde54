"""Pure functions over sequence CSVs: parse and check, window, split by time, encode.

Two CSV shapes:

* a **series** (forecast): a timestamp column and one or more numeric value columns, one
  row per step at a regular interval;
* **labelled sequences** (classify): ``sequence_id, step, <feature columns...>, label``,
  one row per step of each sequence.

The Beam ExampleGen (``example_gen.py``) is a thin wrapper over these; a series is read in
chunks by ``stream.py``, which checks it with the same sentences (the pipeline's ``build`` runs
that check before a run, so bad data gets one sentence) and cuts the same windows.
"""
from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from edgeflow import EdgeflowError
from edgeflow.models.sequence.residual import WEEK_AND_DAY
from edgeflow.models.features import ID_KEY, LABEL_KEY, TARGET_KEY, TIME_KEY, WINDOW_KEY

# Feature keys of the tf.Examples the sequence ExampleGen writes.
ID_COLUMN, STEP_COLUMN, LABEL_COLUMN = "sequence_id", "step", "label"

Rows = Sequence[Tuple[int, Sequence[str]]]  # (line number in the file, cells)


class SequenceDataError(EdgeflowError):
    """The sequence data cannot be used as given."""


# The sentences a bad series file gets, written once for the whole-file reader (here) and the streamed one
# (components/sequence/stream.py); `lines` is the rendered list of line numbers (:func:`_lines`).
def no_file(p) -> SequenceDataError:
    return SequenceDataError(f"data file {p} does not exist; pass --data with a CSV file")


def not_utf8(p, byte: int, line: int) -> SequenceDataError:
    return SequenceDataError(f"data file {p} is not UTF-8 text (byte {byte:#04x} on line {line}); save it as UTF-8 CSV")


def not_csv(p, line: int, err) -> SequenceDataError:
    return SequenceDataError(f"data file {p} is not a readable CSV (line {line}: {err}); "
                             "save it as comma-separated UTF-8 text")


def empty_file(p) -> SequenceDataError:
    return SequenceDataError(f"data file {p} is empty; give a CSV file with a header row")


def no_rows(p) -> SequenceDataError:
    return SequenceDataError(f"data file {p} has a header but no rows; give a CSV file with data rows")


def ragged_rows(p, count: int, columns: int, lines: str) -> SequenceDataError:
    return SequenceDataError(f"{count} row(s) of {p} do not have the header's {columns} columns (lines {lines}); "
                             "fix those rows")


def no_timestamp(count: int, lines: str) -> SequenceDataError:
    return SequenceDataError(f"{count} row(s) have no timestamp (lines {lines}); add the timestamps or remove those rows")


def unreadable_dates(count: int, lines: str) -> SequenceDataError:
    return SequenceDataError(f"{count} timestamp(s) cannot be read as dates (lines {lines}); "
                             "write them as ISO dates like 2010-01-01 00:00")


def not_finite(count: int, first: Sequence[str]) -> SequenceDataError:
    return SequenceDataError(f"{count} value(s) are not finite numbers: {'; '.join(first)}; "
                             "fix or remove those rows (leave a cell empty for a missing value)")


def duplicate_stamps(count: int, example) -> SequenceDataError:
    return SequenceDataError(f"{count} timestamp(s) appear twice (e.g. {example}); keep one row per step")


def too_short(rows: int) -> SequenceDataError:
    return SequenceDataError(f"the series has only {rows} rows; a forecaster needs a longer series")


def off_grid(count: int, step, example) -> SequenceDataError:
    return SequenceDataError(f"{count} timestamp(s) are off the series' regular step of {step} "
                             f"(e.g. {example}); resample the series to a regular step")


def missing_steps(filled: int, step, where: str) -> SequenceDataError:
    return SequenceDataError(f"the series misses {filled} step(s) of {step} (missing rows or empty values, first at "
                             f"{where}); fill them, or set sequence.fill=interpolate")


def _lines(numbers: Sequence[int], limit: int = 5) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")


def _numeric(rows: Rows, header: Sequence[str], columns: Sequence[str]) -> np.ndarray:
    """(N, len(columns)) float32 with NaN for empty cells; raises naming non-numeric cells."""
    out, bad = _numeric_cells(rows, header, columns)
    if bad:
        raise not_finite(len(bad), bad[:5])
    return out


def _numeric_cells(rows: Rows, header: Sequence[str], columns: Sequence[str]) -> Tuple[np.ndarray, List[str]]:
    """((N, len(columns)) float32 with NaN for empty cells, the non-numeric cells named)."""
    idx = [header.index(c) for c in columns]
    out = np.full((len(rows), len(idx)), np.nan, dtype=np.float32)
    bad: List[str] = []
    for r, (line, cells) in enumerate(rows):
        for c, i in enumerate(idx):
            text = cells[i].strip() if i < len(cells) else ""
            if not text:
                continue
            try:
                value = float(text)
            except ValueError:
                value = None
            if value is None or not np.isfinite(value) or abs(value) > np.finfo(np.float32).max:
                bad.append(f"line {line} column {columns[c]} ({text[:20]!r})")  # nan, inf, 1e999 included
            else:
                out[r, c] = value
    return out, bad


# ---- series (forecast) ------------------------------------------------------------------

@dataclass(frozen=True)
class Series:
    times: np.ndarray  # (N,) datetime64[ns], regular steps
    values: np.ndarray  # (N, F) float32
    columns: Tuple[str, ...]  # the F value columns; columns[target_index] is forecast
    target_index: int
    filled: int = 0  # steps filled by interpolation


def resolve_columns(header: Sequence[str], time_column: Optional[str], target: Optional[str]):
    """(stripped header, index of the time column, the value columns, index of the target among them),
    or the sentence that says which column is missing (``sequence.time_column`` / ``sequence.target``)."""
    header = [h.strip() for h in header]
    time_column = time_column or header[0]
    if time_column not in header:
        raise SequenceDataError(f"the series has no column {time_column!r} (columns: {', '.join(header)}); "
                                "set sequence.time_column to its timestamp column")
    columns = tuple(h for h in header if h != time_column)
    if not columns:
        raise SequenceDataError("the series has no value columns; add at least one numeric column beside the timestamps")
    target = target or columns[0]
    if target not in columns:
        raise SequenceDataError(f"sequence.target={target!r} is not a value column ({', '.join(columns)}); pick one of them")
    return header, header.index(time_column), columns, columns.index(target)


def parse_series(header: Sequence[str], rows: Rows, time_column: Optional[str] = None,
                 target: Optional[str] = None, fill: str = "fail") -> Series:
    """Sorts the rows by time, checks the step is regular, and fills or reports the gaps."""
    import pandas as pd

    header, ti, columns, target_index = resolve_columns(header, time_column, target)
    stamps = [cells[ti].strip() if ti < len(cells) else "" for _, cells in rows]
    missing = [line for (line, _), s in zip(rows, stamps) if not s]
    if missing:
        raise no_timestamp(len(missing), _lines(missing))
    times = pd.to_datetime(pd.Series(stamps), errors="coerce")
    unparsed = [line for (line, _), t in zip(rows, times) if pd.isna(t)]
    if unparsed:
        raise unreadable_dates(len(unparsed), _lines(unparsed))
    frame = pd.DataFrame(_numeric(rows, header, columns), columns=columns)
    frame.index = pd.DatetimeIndex(times.values)
    dupes = frame.index[frame.index.duplicated()]
    if len(dupes):
        raise duplicate_stamps(len(dupes), dupes[0])
    frame = frame.sort_index()
    if len(frame) < 3:
        raise too_short(len(frame))
    step = pd.Series(frame.index[1:] - frame.index[:-1]).mode()[0]
    grid = pd.date_range(frame.index[0], frame.index[-1], freq=step)
    stray = frame.index.difference(grid)
    if len(stray):
        raise off_grid(len(stray), step, stray[0])
    frame = frame.reindex(grid)
    holes = frame.isna().any(axis=1)
    filled = int(holes.sum())
    if filled and fill == "fail":
        where = ", ".join(str(t) for t in frame.index[holes][:3])
        raise missing_steps(filled, step, where)
    if filled:
        frame = frame.interpolate(method="linear", limit_direction="both")
    return Series(frame.index.values, frame.to_numpy(np.float32), columns, target_index, filled)


LONG_SERIES_SEASONS = 60  # a series this many seasons long gets a window of a week and a day (hourly)


def default_window(rows: int, season: int) -> int:
    """The forecast window of a null ``sequence.window``: 8 seasons (with hourly rows and a daily season,
    a week and a day, so the window holds the weekly cycle and the values a week before its last day)
    when the series holds at least LONG_SERIES_SEASONS seasons, else 2 seasons (what seasonal-change
    inputs and the seasonal-plus-drift rule need). BENCHMARKS.md (issue 20, "where the errors come from")
    compares W = 48 with W = 192 offline; "the default with the ridge head" measures pipeline runs at it."""
    return WEEK_AND_DAY * season if rows >= LONG_SERIES_SEASONS * season else 2 * season


def split_window_starts(n: int, window: int, horizon: int, eval_fraction: float) -> Tuple[range, range]:
    """Start rows of train and eval windows over `n` steps, split by time with a gap.

    A window starting at row i reads rows [i, i + window) and predicts [i + window, i + window + horizon).
    Train windows predict only rows before the cut c = n * (1 - eval_fraction); eval windows
    start at c + window or later, so one window of rows separates the last train target from
    the first eval input and nothing an eval window sees or predicts was trained on.
    """
    cut = int(n * (1 - eval_fraction))
    train = range(0, max(0, cut - window - horizon + 1))
    evals = range(cut + window, max(cut + window, n - window - horizon + 1))
    if not len(train) or not len(evals):
        need = int(np.ceil((3 * window + 2 * horizon) / min(eval_fraction, 1 - eval_fraction)))
        raise SequenceDataError(
            f"the series has {n} steps, too few for window={window} and horizon={horizon} with "
            f"eval_fraction={eval_fraction} (about {need} needed); use a shorter window or a longer series")
    return train, evals


def forecast_examples(series: Series, window: int, horizon: int,
                      eval_fraction: float) -> Iterator[Tuple[str, Dict[str, np.ndarray]]]:
    """(split, features) per window: window (W*F,), target (H,), target_step ()."""
    train, evals = split_window_starts(len(series.values), window, horizon, eval_fraction)
    y = series.values[:, series.target_index]
    for split, starts in (("train", train), ("eval", evals)):
        for i in starts:
            yield split, {WINDOW_KEY: series.values[i:i + window].reshape(-1),
                          TARGET_KEY: y[i + window:i + window + horizon],
                          TIME_KEY: np.int64(i + window)}


# ---- labelled sequences (classify) ------------------------------------------------------

@dataclass(frozen=True)
class Sequences:
    ids: Tuple[str, ...]
    steps: np.ndarray  # (S, W, F) float32
    labels: np.ndarray  # (S,) int64 index into class_names
    class_names: Tuple[str, ...]
    features: Tuple[str, ...]


def _class_sort_key(name: str):
    return (0, float(name), name) if name.lstrip("-").replace(".", "", 1).isdigit() else (1, 0.0, name)


def parse_sequences(header: Sequence[str], rows: Rows, window: Optional[int] = None) -> Sequences:
    """Groups rows by sequence id, orders them by step; keeps the last `window` steps of each.

    A null `window` takes the sequences' common length. Raises naming the ids that are
    shorter than the window or have no (or more than one) label.
    """
    header = [h.strip() for h in header]
    absent = [c for c in (ID_COLUMN, STEP_COLUMN, LABEL_COLUMN) if c not in header]
    if absent:
        raise SequenceDataError(f"the sequences file has no column(s) {', '.join(absent)} (columns: {', '.join(header)}); "
                                f"labelled sequences need {ID_COLUMN}, {STEP_COLUMN}, feature columns and {LABEL_COLUMN}")
    features = tuple(h for h in header if h not in (ID_COLUMN, STEP_COLUMN, LABEL_COLUMN))
    if not features:
        raise SequenceDataError("the sequences file has no feature columns; add numeric columns beside sequence_id, step and label")
    values = _numeric(rows, header, features + (STEP_COLUMN,))
    ii, li = header.index(ID_COLUMN), header.index(LABEL_COLUMN)
    groups: Dict[str, list] = {}
    for r, (line, cells) in enumerate(rows):
        label = cells[li].strip() if li < len(cells) else ""
        groups.setdefault(cells[ii].strip(), []).append((values[r, -1], values[r, :-1], label))
    unlabelled = sorted(k for k, g in groups.items() if not any(lab for *_, lab in g))
    if unlabelled:
        raise SequenceDataError(f"{len(unlabelled)} sequence(s) have no label (ids {_lines(unlabelled)}); "
                                "label them or remove them")
    mixed = sorted(k for k, g in groups.items() if len({lab for *_, lab in g if lab}) > 1)
    if mixed:
        raise SequenceDataError(f"{len(mixed)} sequence(s) have more than one label (ids {_lines(mixed)}); "
                                "give every row of a sequence the same label")
    lengths = {k: len(g) for k, g in groups.items()}
    if window is None:
        window = int(np.bincount(list(lengths.values())).argmax())
    short = sorted((k for k, n in lengths.items() if n < window), key=lambda k: (lengths[k], k))
    if short:
        raise SequenceDataError(f"{len(short)} sequence(s) are shorter than window={window} steps (ids {_lines(short)}); "
                                "pad or remove them, or set a smaller sequence.window")
    ids = tuple(sorted(groups, key=lambda k: (len(k), k)))
    class_names = tuple(sorted({next(lab for *_, lab in groups[k] if lab) for k in ids}, key=_class_sort_key))
    if len(class_names) < 2:
        raise SequenceDataError(f"all sequences have the label {class_names[0]!r}; a classifier needs at least two classes")
    index = {c: i for i, c in enumerate(class_names)}
    steps = np.stack([np.stack([v for _, v, _ in sorted(groups[k], key=lambda g: g[0])][-window:]) for k in ids])
    labels = np.array([index[next(lab for *_, lab in groups[k] if lab)] for k in ids], np.int64)
    if np.isnan(steps).any():
        bad = [k for k, s in zip(ids, steps) if np.isnan(s).any()]
        raise SequenceDataError(f"{len(bad)} sequence(s) have empty feature values (ids {_lines(bad)}); fill or remove them")
    return Sequences(ids, steps.astype(np.float32), labels, class_names, features)


def is_eval_id(sequence_id: str, eval_fraction: float) -> bool:
    """Deterministic split of sequence ids (a hash, so it never depends on file order)."""
    return zlib.crc32(sequence_id.encode()) % 1000 < eval_fraction * 1000


def classify_examples(seqs: Sequences, eval_fraction: float) -> Iterator[Tuple[str, Dict[str, np.ndarray]]]:
    for sid, steps, label in zip(seqs.ids, seqs.steps, seqs.labels):
        split = "eval" if is_eval_id(sid, eval_fraction) else "train"
        yield split, {WINDOW_KEY: steps.reshape(-1), LABEL_KEY: np.int64(label), ID_KEY: sid}


# ---- encoding ---------------------------------------------------------------------------

def to_example(features: Dict[str, object]):
    """A tf.train.Example from floats (arrays), int64 scalars and strings."""
    import tensorflow as tf

    out = {}
    for key, value in features.items():
        if isinstance(value, str):
            out[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif isinstance(value, (np.integer, int)):
            out[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
        else:
            out[key] = tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(value, np.float32).tolist()))
    return tf.train.Example(features=tf.train.Features(feature=out))


def read_csv(path: str) -> Tuple[List[str], List[Tuple[int, List[str]]]]:
    """(header, [(line number, cells)]) of a CSV file; blank lines are skipped."""
    import csv

    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise no_file(p)
    try:
        text = p.read_bytes().decode("utf-8-sig")  # a byte-order mark is fine
    except UnicodeDecodeError as err:
        line = p.read_bytes()[:err.start].count(b"\n") + 1
        raise not_utf8(p, err.object[err.start], line) from None
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if not header:
            raise empty_file(p)
        rows = [(reader.line_num, cells) for cells in reader if any(c.strip() for c in cells)]
    except csv.Error as err:
        raise not_csv(p, reader.line_num, err) from None
    if not rows:
        raise no_rows(p)
    ragged = [line for line, cells in rows if len(cells) != len(header)]
    if ragged:
        raise ragged_rows(p, len(ragged), len(header), _lines(ragged))
    return header, rows
