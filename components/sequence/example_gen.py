"""SequenceCsvExampleGen: a Beam ExampleGen that windows a CSV into train/eval tf.Examples.

A series (forecast) streams: one Beam element, the file's path, becomes its windows
(:func:`stream.series_windows`: two passes over the file in chunks of rows, ``window + horizon - 1``
rows carried from chunk to chunk), written as they are cut, so memory holds a chunk whatever the
series' length; split by time with a one-window gap. There is no Reshuffle before the writes: on
the DirectRunner a shuffle holds every window in memory. Labelled sequences (classify) are
gathered once (``ToList``; a sequence's rows can be anywhere in the file) and grouped by id
(:func:`classify_examples`, split by a hash of the id). Both are written as gzipped TFRecords to
``Split-train`` and ``Split-eval``, the layout every downstream TFX component reads.
"""

import csv
import json
import os

import apache_beam as beam
from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import Examples

from edgeflow.components.sequence.data import (
    classify_examples, forecast_examples, parse_sequences, parse_series, to_example)
from edgeflow.components.sequence.stream import series_windows

SPLITS = ("train", "eval")


def window_rows(rows, header, seq: dict):
    """All (split, serialized tf.Example) pairs of the parsed rows; `seq` is SequenceConfig as a dict.

    The classify path; for a series, the whole-file windowing that :func:`stream_windows` replaced,
    kept as the reference the streamed windows are tested against (tests/components/sequence/test_stream.py)."""
    rows = [(0, cells) for cells in rows]  # line numbers are lost in Beam; build() checked the file with them
    if seq["task"] == "forecast":
        series = parse_series(header, rows, seq["time_column"], seq["target"], seq["fill"])
        pairs = forecast_examples(series, seq["window"] or 48, seq["horizon"], seq["eval_fraction"])
    else:
        pairs = classify_examples(parse_sequences(header, rows, seq["window"]), seq["eval_fraction"])
    for split, features in pairs:
        beam.metrics.Metrics.counter("edgeflow", f"windows_{split}").inc()
        yield split, to_example(features).SerializeToString(deterministic=True)  # maps in key order: same bytes every run


def stream_windows(csv_path: str, seq: dict):
    """(split, serialized tf.Example) of every window of the series at `csv_path`, streamed."""
    for split, features in series_windows(csv_path, seq):
        beam.metrics.Metrics.counter("edgeflow", f"windows_{split}").inc()
        yield split, to_example(features).SerializeToString(deterministic=True)  # maps in key order: same bytes every run


def _read_header(path: str):
    import tensorflow as tf

    with tf.io.gfile.GFile(path) as f:
        return next(csv.reader([f.readline()]))


@tfx.dsl.components.component(use_beam=True)
def SequenceCsvExampleGen(
    csv_path: tfx.dsl.components.Parameter[str],
    sequence_config: tfx.dsl.components.Parameter[str],  # SequenceConfig as JSON
    examples: tfx.dsl.components.OutputArtifact[Examples],
    beam_pipeline: tfx.dsl.components.BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Windows `csv_path` into ``examples`` (splits train, eval)."""
    seq = json.loads(sequence_config)
    header = _read_header(csv_path)
    examples.split_names = artifact_utils.encode_split_names(list(SPLITS))
    examples.set_string_custom_property("file_format", "tfrecords_gzip")
    examples.set_string_custom_property("payload_format", "FORMAT_TF_EXAMPLE")
    with beam_pipeline as p:
        if seq["task"] == "forecast":
            windows = p | "Path" >> beam.Create([csv_path]) | "Window" >> beam.FlatMap(stream_windows, seq)
        else:
            windows = (p
                       | "ReadCsv" >> beam.io.ReadFromText(csv_path, skip_header_lines=1)
                       | "ParseRows" >> beam.Map(lambda line: next(csv.reader([line]), []))
                       | "DropBlank" >> beam.Filter(lambda cells: any(c.strip() for c in cells))
                       | "Gather" >> beam.combiners.ToList()
                       | "Window" >> beam.FlatMap(window_rows, header, seq)
                       | "Spread" >> beam.Reshuffle())
        for split in SPLITS:
            _ = (windows
                 | f"Only{split}" >> beam.Filter(lambda kv, s=split: kv[0] == s)
                 | f"Bytes{split}" >> beam.Map(lambda kv: kv[1])
                 | f"Write{split}" >> beam.io.WriteToTFRecord(
                     os.path.join(examples.uri, f"Split-{split}", "data_tfrecord"),
                     file_name_suffix=".gz", compression_type=beam.io.filesystem.CompressionTypes.GZIP))
