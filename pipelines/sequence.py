"""The sequence pipeline: CSV -> windows (Beam) -> RNN -> blessed over baselines -> SavedModel for TF Serving.

``sequence.task=forecast`` (default: hourly Seattle temperatures) or ``classify`` (default:
scikit-learn's digits read row by row). See README "Sequence models".
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from typing import Sequence, Tuple

from tfx import v1 as tfx

from edgeflow.components.edge_export.data import sequence_task_config
from edgeflow.components.edge_export.component import edge_export_nodes
from edgeflow.components.sequence.evaluator import SequenceEvaluator
from edgeflow.components.sequence.example_gen import SequenceCsvExampleGen
from edgeflow.components.shared.lineage import fingerprint_files, lineage
from edgeflow.pipelines.common import (data_checks, latest_blessed_model, local_pipeline, serving_pusher,
                                      tracking_settings, training_config, warm_start_inputs, with_lineage)
from edgeflow.components.shared.tracked_trainer import TrackedTrainer
from edgeflow.config import PipelineConfig

log = logging.getLogger("edgeflow")


def create_pipeline(cfg: PipelineConfig, csv_path: str, features: int, target_index: int = 0,
                    class_names: Sequence[str] = (), beam_args: Sequence[str] = (),
                    lineage_record: dict = None) -> tfx.dsl.Pipeline:
    """`cfg.sequence.window` must be resolved (see :func:`build`); `lineage_record` (from :func:`build`)
    decides which earlier blessed model is a baseline (default: the CSV path, the target index or classes)."""
    seq = cfg.sequence
    record = lineage_record or lineage("sequence", csv_path, "", _lineage_labels(seq, str(target_index), class_names))
    custom = {"sequence": asdict(seq), **training_config(cfg, seq, features, target_index, list(class_names)),
              "features": features, "target_index": target_index, "class_names": list(class_names)}
    custom = with_lineage(custom, record)

    # Read the CSV with Beam, cut it into windows, split train/eval by time (or by sequence id).
    example_gen = SequenceCsvExampleGen(csv_path=csv_path, sequence_config=json.dumps(asdict(seq)))
    # Statistics, an inferred schema, the examples checked against it; stop on anomalies.
    checks = data_checks(example_gen.outputs["examples"], tracking=tracking_settings(cfg))
    schema_gen = checks.schema_gen
    # Standardize windows with train-split statistics, inside the graph the exported model carries.
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        preprocessing_fn="edgeflow.models.sequence.transform.preprocessing_fn",
        custom_config={"features": features, "task": seq.task, "target_index": target_index},
        disable_statistics=True)
    transform.add_upstream_node(checks.anomaly_gate)
    # The last blessed model (none on a first run): the candidate must not be worse than it (and, with
    # pipeline.warm_start, the Trainer's starting point).
    last_blessed = latest_blessed_model(cfg, record)
    # Train the RNN (cell, layers, units from sequence.*) and export raw-window signatures.
    trainer = TrackedTrainer(
        run_fn="edgeflow.models.sequence.trainer.run_fn",
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config=custom, **warm_start_inputs(cfg, last_blessed))
    # Score the RNN, the baselines and the last blessed model on the same eval windows; bless only when
    # the RNN beats the baselines and is no worse than the last blessed model.
    evaluator = SequenceEvaluator(
        examples=example_gen.outputs["examples"], model=trainer.outputs["model"], task=seq.task,
        window=seq.window, features=features, target_index=target_index, season=seq.season,
        max_baseline_ratio=seq.max_baseline_ratio, baselines=seq.baselines, max_regression=cfg.eval.max_regression,
        baseline_model=last_blessed.outputs["model"], max_examples=seq.evaluator_max_examples, seed=cfg.train.seed)
    pusher = serving_pusher(cfg, trainer.outputs["model"], evaluator.outputs["blessing"])
    # A blessed model also leaves as measured .tflite variants that take raw windows (statistics wrapped in).
    edge = edge_export_nodes(cfg, "sequence", trainer.outputs["model_run"], example_gen.outputs["examples"],
                             evaluator.outputs["blessing"], class_names, transform.outputs["transform_graph"],
                             sequence_task_config(cfg, csv_path, target_index))

    return local_pipeline(cfg, [example_gen, *checks.components, transform, last_blessed, trainer, evaluator, pusher,
                                *edge],
                          beam_args)

def _lineage_labels(seq, target: str, class_names: Sequence[str]) -> Tuple[str, ...]:
    """What a sequence model predicts: the forecast target column and horizon, or the class names."""
    if seq.task == "forecast":
        return (f"target={target}", f"horizon={seq.horizon}")
    return tuple(class_names)


def check_data(cfg: PipelineConfig, csv_path: str) -> Tuple[PipelineConfig, int, int, Tuple[str, ...], dict]:
    """Parses the CSV as the ExampleGen will, raising one clear sentence on bad data.

    Returns (cfg with the window resolved, features, target index, class names, lineage record).
    """
    from edgeflow.components.sequence.data import default_window, parse_sequences, read_csv, split_window_starts
    from edgeflow.components.sequence.stream import scan_series

    seq = cfg.sequence
    if seq.task == "forecast":  # read as a stream: memory holds a chunk of rows
        series = scan_series(csv_path, seq.time_column, seq.target, seq.fill)
        if seq.window is None:  # from the data; the config's checks run again on the resolved window
            seq = replace(seq, window=default_window(series.steps, seq.season))
            log.info("data: window %d steps (sequence.window=null: %d seasons of %d)", seq.window,
                     seq.window // seq.season, seq.season)
        train, evals = split_window_starts(series.steps, seq.steps, seq.horizon, seq.eval_fraction)
        log.info("data: %d steps of %s from %s -> %d train / %d eval windows%s", series.steps,
                 ", ".join(series.columns), csv_path, len(train), len(evals),
                 f" ({series.filled} missing steps interpolated)" if series.filled else "")
        record = lineage("sequence", csv_path, fingerprint_files([csv_path]),
                         _lineage_labels(seq, series.columns[series.target_index], ()))
        return (replace(cfg, sequence=replace(seq, window=seq.steps)), len(series.columns),
                series.target_index, (), record)
    header, rows = read_csv(csv_path)
    seqs = parse_sequences(header, rows, seq.window)
    window = seqs.steps.shape[1]
    log.info("data: %d sequences of %d steps x %d features in %d classes from %s", len(seqs.ids), window,
             len(seqs.features), len(seqs.class_names), csv_path)
    record = lineage("sequence", csv_path, fingerprint_files([csv_path]), _lineage_labels(seq, "", seqs.class_names))
    return replace(cfg, sequence=replace(seq, window=window)), len(seqs.features), 0, seqs.class_names, record


def bundled_csv(cfg: PipelineConfig) -> str:
    from edgeflow.pipelines.bundled.series import write_digit_sequences_csv, write_seattle_temps_csv

    writer = write_seattle_temps_csv if cfg.sequence.task == "forecast" else write_digit_sequences_csv
    return str(writer(cfg.output_dir / "data", cfg.sequence.limit))


def build(cfg: PipelineConfig, beam_args: Sequence[str] = ()) -> tfx.dsl.Pipeline:
    """Checks the CSV (the bundled data unless data.path is set), then builds the pipeline."""
    csv_path = cfg.data.path or bundled_csv(cfg)
    if cfg.data.path and cfg.sequence.limit:
        log.info("sequence.limit applies to the bundled data only; reading all of %s", csv_path)
    cfg, features, target_index, class_names, record = check_data(cfg, csv_path)
    return create_pipeline(cfg, csv_path, features, target_index, class_names, beam_args, record)
