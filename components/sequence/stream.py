"""Streamed reading and windowing of a series CSV: memory holds a chunk of rows, not the file.

Two passes over the file, each in chunks of ``CHUNK_ROWS`` rows:

1. :func:`scan_series` checks every row as :func:`data.parse_series` does (same sentences, same
   order of checks) and keeps only counts: rows, first and last timestamp, the steps between
   rows (their most common one is the series' step), the holes;
2. :func:`series_windows` places each chunk's rows on the regular grid, fills holes by linear
   interpolation (the values ``pandas.DataFrame.interpolate(limit_direction="both")`` gives)
   and cuts windows with :func:`window_stream`, which carries ``window + horizon - 1`` rows
   from one chunk to the next. The examples are those of :func:`data.forecast_examples`, in
   the same order.

Memory: one chunk, the carried rows, and the rows of an unfinished hole (a run of missing
values is held until the next observed value ends it). A file whose rows are out of time order
cannot be streamed: it is read whole and sorted as before (logged, with the fix).
"""
from __future__ import annotations

import csv
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from edgeflow.components.sequence import data
from edgeflow.components.sequence.data import (SequenceDataError, Series, _numeric, _numeric_cells,
                                               forecast_examples, parse_series, read_csv, resolve_columns,
                                               split_window_starts)
from edgeflow.models.features import TARGET_KEY, TIME_KEY, WINDOW_KEY

log = logging.getLogger("edgeflow")
CHUNK_ROWS = 10_000


@dataclass
class _Tally:
    """How many, and the first few (for the error sentence)."""

    count: int = 0
    first: List = field(default_factory=list)

    def add(self, items, keep: int = 5) -> None:
        self.count += len(items)
        self.first.extend(items[:max(0, keep - len(self.first))])

    def lines(self) -> str:
        """As data._lines: the first five line numbers and how many more."""
        more = self.count - len(self.first)
        return ", ".join(str(n) for n in self.first) + (f" and {more} more" if more > 0 else "")


def _first_bad_byte(path: Path) -> Tuple[int, int]:
    """(line, byte) of the first bytes that are not UTF-8."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return number, raw[err.start]
    return 0, 0


def csv_chunks(path: str, chunk_rows: int = CHUNK_ROWS) -> Tuple[List[str], Iterator[List[Tuple[int, List[str]]]]]:
    """(header, chunks of [(line number, cells)]) of a CSV file, read as it goes; blank lines are skipped.

    The errors of :func:`data.read_csv`: a missing or empty file and unreadable text at once; rows
    without the header's columns (all of them counted) and a file without rows once the chunks end.
    """
    p = Path(path)
    if not p.is_file():
        raise data.no_file(p)
    f = p.open(encoding="utf-8-sig", newline="")  # a byte-order mark is fine
    reader = csv.reader(f)

    def rows():
        try:
            yield from reader
        except UnicodeDecodeError:
            line, byte = _first_bad_byte(p)
            raise data.not_utf8(p, byte, line) from None
        except csv.Error as err:
            raise data.not_csv(p, reader.line_num, err) from None

    lines = rows()
    try:
        header = next(lines, None)
    except SequenceDataError:
        f.close()
        raise
    if not header:
        f.close()
        raise data.empty_file(p)

    def chunks():
        ragged, seen, chunk = _Tally(), 0, []
        with f:
            for cells in lines:
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    ragged.add([reader.line_num])
                chunk.append((reader.line_num, cells))
                if len(chunk) == chunk_rows:
                    seen += len(chunk)
                    yield chunk
                    chunk = []
        if chunk:
            seen += len(chunk)
            yield chunk
        if not seen:
            raise data.no_rows(p)
        if ragged.count:
            raise data.ragged_rows(p, ragged.count, len(header), ragged.lines())
    return header, chunks()


@dataclass(frozen=True)
class SeriesPlan:
    """What the scan learnt: enough to place every row on the grid and to cut the windows."""

    columns: Tuple[str, ...]
    target_index: int
    time_index: int  # of the timestamp column in the header
    start: int  # first timestamp, ns since the epoch
    step: int  # ns
    steps: int  # grid rows, holes included
    filled: int  # steps filled by interpolation
    observed: Tuple[int, ...]  # per column, the rows with a value (a column without any stays NaN)
    in_order: bool = True  # False: the rows are out of time order, read whole (``legacy``)


def _stamps(chunk, ti: int) -> Tuple[np.ndarray, List[int], List[int]]:
    """(ns since the epoch, NaT as the int64 minimum; lines without a timestamp; lines whose one is unreadable)."""
    import pandas as pd

    stamps = [cells[ti].strip() if ti < len(cells) else "" for _, cells in chunk]
    missing = [line for (line, _), s in zip(chunk, stamps) if not s]
    times = pd.DatetimeIndex(pd.to_datetime(pd.Series(stamps), errors="coerce").values)
    ns = times.asi8
    unparsed = [line for (line, _), s, t in zip(chunk, stamps, times) if s and pd.isna(t)]
    return ns, missing, unparsed


def _legacy_plan(path: str, time_column, target, fill) -> Tuple[SeriesPlan, Series]:
    header, rows = read_csv(path)
    series = parse_series(header, rows, time_column, target, fill)
    times = series.times.astype("datetime64[ns]").view(np.int64)
    ti = [h.strip() for h in header].index(time_column or header[0].strip())
    plan = SeriesPlan(series.columns, series.target_index, ti, int(times[0]), int(times[1] - times[0]),
                      len(times), series.filled, (), in_order=False)
    return plan, series


def scan_series(path: str, time_column: Optional[str] = None, target: Optional[str] = None,
                fill: str = "fail", chunk_rows: int = CHUNK_ROWS) -> SeriesPlan:
    """Checks the series file as :func:`data.parse_series` does, reading it chunk by chunk."""
    import pandas as pd

    raw_header, chunks = csv_chunks(path, chunk_rows)
    try:
        header, ti, columns, target_index = resolve_columns(raw_header, time_column, target)
    except SequenceDataError:
        for _ in chunks:  # read_csv's errors (no rows, ragged rows) come first
            pass
        raise
    missing, unparsed, bad, dupes = _Tally(), _Tally(), _Tally(), _Tally()
    steps: Counter = Counter()
    rows, first, last = 0, None, None
    nan_rows = 0  # rows with an empty value
    observed = np.zeros(len(columns), np.int64)
    for chunk in chunks:
        ns, gone, odd = _stamps(chunk, ti)
        missing.add(gone)
        unparsed.add(odd)
        values, wrong = _numeric_cells(chunk, header, columns)
        bad.add(wrong)
        if missing.count or unparsed.count:
            continue  # the rows cannot be placed in time; the file is read to the end for its other errors
        rows += len(ns)
        observed += np.isfinite(values).sum(axis=0)
        gaps = np.diff(ns, prepend=ns[0] if last is None else last)
        if (gaps < 0).any():
            chunks.close()
            log.warning("data: the rows of %s are out of time order (line %d); reading the whole file to sort it, "
                        "so memory grows with it: sort the file by time to stream it", path,
                        chunk[int(np.argmax(gaps < 0))][0])
            return _legacy_plan(path, time_column, target, fill)[0]
        if last is not None or len(ns) > 1:
            steps.update((gaps if last is not None else gaps[1:]).tolist())
        dupes.add([ns[i] for i in np.flatnonzero(gaps == 0) if last is not None or i > 0], keep=1)
        incomplete = np.isnan(values).any(axis=1)
        nan_rows += int(incomplete.sum())
        first = ns[0] if first is None else first
        last = ns[-1]
    if missing.count:
        raise data.no_timestamp(missing.count, missing.lines())
    if unparsed.count:
        raise data.unreadable_dates(unparsed.count, unparsed.lines())
    if bad.count:
        raise data.not_finite(bad.count, bad.first)
    if dupes.count:
        raise data.duplicate_stamps(dupes.count, pd.Timestamp(dupes.first[0]))
    if rows < 3:
        raise data.too_short(rows)
    top = max(steps.values())
    step = min(s for s, k in steps.items() if k == top)  # pandas' mode: the smallest of the most common
    if any(s % step for s in steps):
        count, where = _off_grid(path, ti, first, step, chunk_rows)
        raise data.off_grid(count, pd.Timedelta(step), pd.Timestamp(where))
    grid = (last - first) // step + 1
    filled = int(grid - rows + nan_rows)
    if filled and fill == "fail":
        where = ", ".join(str(pd.Timestamp(t)) for t in _holes(path, ti, header, columns, first, step, chunk_rows))
        raise data.missing_steps(filled, pd.Timedelta(step), where)
    return SeriesPlan(columns, target_index, ti, int(first), int(step), int(grid), filled, tuple(observed.tolist()))


def _rows_ns(path: str, ti: int, chunk_rows: int):
    _, chunks = csv_chunks(path, chunk_rows)
    for chunk in chunks:
        yield chunk, _stamps(chunk, ti)[0]


def _off_grid(path: str, ti: int, first: int, step: int, chunk_rows: int) -> Tuple[int, int]:
    """(how many timestamps are off the grid, the earliest of them): a second pass, on the error path only."""
    count, where = 0, None
    for _, ns in _rows_ns(path, ti, chunk_rows):
        off = ns[(ns - first) % step != 0]
        count += len(off)
        where = off[0] if where is None and len(off) else where
    return count, where


def _holes(path: str, ti: int, header, columns, first: int, step: int, chunk_rows: int) -> List[int]:
    """The first three grid times without a complete row (ns): a second pass, on the error path only."""
    out, expect = [], first
    for chunk, ns in _rows_ns(path, ti, chunk_rows):
        values = _numeric(chunk, header, columns)
        for t, row in zip(ns.tolist(), values):
            out.extend(range(expect, min(t, expect + 3 * step), step))
            if np.isnan(row).any():
                out.append(t)
            expect = t + step
            if len(out) >= 3:
                return out[:3]
    return out


# ---- the second pass: rows on the grid, holes filled, windows cut --------------------------------

def grid_blocks(path: str, plan: SeriesPlan, chunk_rows: int = CHUNK_ROWS) -> Iterator[Tuple[int, np.ndarray]]:
    """(first grid row, (M, F) float32 values) of consecutive grid rows in time order, holes filled."""
    header, chunks = csv_chunks(path, chunk_rows)
    header = [h.strip() for h in header]
    width = len(plan.columns)
    waits = [c for c in range(width) if plan.observed and plan.observed[c]]  # columns whose holes end
    tail, tail_at = np.zeros((0, width), np.float32), 0  # rows not final yet, from grid row tail_at
    known = [None] * width  # per column, (grid row, value) of the last observed value already given out
    for chunk in chunks:
        ns = _stamps(chunk, plan.time_index)[0]
        at = (ns - plan.start) // plan.step
        values = _numeric(chunk, header, plan.columns)
        begin = tail_at + len(tail)
        block = np.full((int(at[-1]) + 1 - begin, width), np.nan, np.float32)
        block[at - begin] = values
        rows = np.concatenate([tail, block])
        ready = min((int(np.flatnonzero(~np.isnan(rows[:, c]))[-1]) + 1 if (~np.isnan(rows[:, c])).any() else 0)
                    for c in waits) if waits and plan.filled else len(rows)
        if ready:
            yield tail_at, _fill(rows, ready, tail_at, known)
        tail, tail_at = rows[ready:], tail_at + ready
    if len(tail):
        yield tail_at, _fill(tail, len(tail), tail_at, known)


def _fill(rows: np.ndarray, ready: int, at: int, known: list) -> np.ndarray:
    """rows[:ready] with each NaN linearly interpolated between the observed values around it (np.interp,
    as pandas does: a NaN before the first or after the last observed value takes that value)."""
    out = rows[:ready].copy()
    for c in range(rows.shape[1]):
        seen = np.flatnonzero(~np.isnan(rows[:, c]))
        holes = np.flatnonzero(np.isnan(out[:, c]))
        points = (seen + at).astype(np.float64)
        values = rows[seen, c].astype(np.float64)
        if known[c] is not None:
            points, values = np.append(known[c][0], points), np.append(known[c][1], values)
        if len(holes) and len(points):
            out[holes, c] = np.interp((holes + at).astype(np.float64), points, values)
        mine = seen[seen < ready]
        if len(mine):
            known[c] = (float(mine[-1] + at), float(rows[mine[-1], c]))
    return out


def window_stream(blocks, steps: int, window: int, horizon: int, eval_fraction: float,
                  target_index: int) -> Iterator[Tuple[str, Dict[str, np.ndarray]]]:
    """:func:`data.forecast_examples` over grid blocks: carries the last ``window + horizon - 1`` rows."""
    train, evals = split_window_starts(steps, window, horizon, eval_fraction)
    span = window + horizon
    carry, carry_at = None, 0
    for at, block in blocks:
        rows = block if carry is None else np.concatenate([carry, block])
        for i in range(carry_at, carry_at + len(rows) - span + 1):
            split = "train" if i in train else "eval" if i in evals else None
            if split:
                r = i - carry_at
                yield split, {WINDOW_KEY: rows[r:r + window].reshape(-1),
                              TARGET_KEY: rows[r + window:r + span, target_index], TIME_KEY: np.int64(i + window)}
        keep = min(len(rows), span - 1)
        carry, carry_at = rows[len(rows) - keep:], carry_at + len(rows) - keep


def series_windows(path: str, seq: dict, chunk_rows: int = CHUNK_ROWS) -> Iterator[Tuple[str, Dict[str, np.ndarray]]]:
    """(split, features) of every forecast window of the series file; `seq` is SequenceConfig as a dict."""
    plan = scan_series(path, seq["time_column"], seq["target"], seq["fill"], chunk_rows)
    window = seq["window"] or 48
    if not plan.in_order:
        series = _legacy_plan(path, seq["time_column"], seq["target"], seq["fill"])[1]
        yield from forecast_examples(series, window, seq["horizon"], seq["eval_fraction"])
        return
    yield from window_stream(grid_blocks(path, plan, chunk_rows), plan.steps, window, seq["horizon"],
                             seq["eval_fraction"], plan.target_index)
