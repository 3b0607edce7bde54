"""The whole image pipeline, for real: Beam ExampleGen -> ... -> Pusher, tracked in MLflow."""
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import tensorflow as tf

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_pushed_model_is_in_tf_serving_layout_and_classifies_encoded_pngs(tiny_image_run):
    cfg, outcome = tiny_image_run
    r = outcome.results
    assert r.blessed is True and r.metrics["accuracy"] >= cfg.eval.min_accuracy
    assert r.example_counts["train"] > r.example_counts["eval"] > 0
    pushed = Path(r.pushed_path)
    assert pushed.parent == cfg.serving_root / cfg.model_name and re.fullmatch(r"\d+", pushed.name)
    assert (pushed / "saved_model.pb").exists()

    model = tf.saved_model.load(str(pushed))
    serve = model.signatures["serving_default"]
    data = cfg.output_dir / "data" / f"digits-{cfg.image.limit_per_class}"
    pngs = sorted(data.glob("*/*.png"))[::10]  # every 10th image: all classes
    out = serve(image_bytes=tf.constant([p.read_bytes() for p in pngs]))
    assert out["probabilities"].shape == (len(pngs), 10)
    names = [n.decode() for n in out["class_name"].numpy()]
    correct = sum(name == p.parent.name for name, p in zip(names, pngs))
    assert correct / len(pngs) >= 0.7


def test_run_is_recorded_in_mlflow(tiny_image_run):
    cfg, outcome = tiny_image_run
    client = mlflow.tracking.MlflowClient(cfg.tracking_uri)
    run = client.get_run(outcome.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train.epochs"] == str(cfg.train.epochs)
    assert run.data.params["model.activation"] == cfg.model.activation
    # the values read from the data, not "null": the tiny preset sets 8 px, the digits are grayscale
    assert cfg.image.channels is None and run.data.params["image.channels"] == "1"
    assert run.data.params["image.size"] == "8" and run.data.params["augment.enabled"] == "False"
    train, = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}' "
                                "and tags.`edgeflow.step` = 'train'")
    history = client.get_metric_history(train.info.run_id, "val_loss")
    assert [m.step for m in history] == list(range(1, len(outcome.results.history) + 1))
    assert run.data.metrics["eval.accuracy"] == pytest.approx(outcome.results.metrics["accuracy"])
    assert run.data.tags["blessed"] == "true" and run.data.tags["pushed_path"] == outcome.results.pushed_path
    # only the image pipeline's sections are params; the lift-gated blessing says why it passed
    assert not [k for k in run.data.params if k.startswith(("sequence.", "detection."))]
    assert run.data.tags["blessing_reason"].startswith("TFMA's Evaluator blessed the model (accuracy ")
    assert "lift" in run.data.tags["blessing_reason"]


def test_run_history_lists_the_run_without_a_span(tiny_image_run):
    from edgeflow.pipelines.history import format_runs, list_runs

    cfg, outcome = tiny_image_run
    (record,) = [r for r in list_runs(cfg) if r.mlflow_run_id == outcome.mlflow_run_id]
    assert record.status == "FINISHED" and record.outcome == "pushed"
    assert record.span is None  # data.pattern has no {SPAN}, though TFX records span 0
    assert "pushed" in format_runs([record])[1]


def test_a_failed_run_keeps_earlier_outputs_and_is_marked_failed(tiny_image_run, tmp_path):
    cfg, outcome = tiny_image_run
    bad = tmp_path / "bad"
    for c in ("a", "b"):
        (bad / c).mkdir(parents=True)
        (bad / c / "x.png").write_bytes(b"not an image")
    before = sorted(p.name for p in (cfg.serving_root / cfg.model_name).iterdir())
    proc = subprocess.run([sys.executable, "-m", "edgeflow.pipelines.cli", "run", "image", "--preset", "tiny",
                           "--output", str(cfg.output_dir), "--data", str(bad)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "edgeflow: error: class folder" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in (cfg.serving_root / cfg.model_name).iterdir()) == before
    client = mlflow.tracking.MlflowClient(cfg.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name(cfg.experiment).experiment_id],
                              order_by=["attributes.start_time DESC"])
    assert runs[0].info.status == "FAILED" and "class folder" in runs[0].data.tags["error"]
    assert client.get_run(outcome.mlflow_run_id).info.status == "FINISHED"


def test_cli_rejects_unknown_pipeline_and_bad_values_in_one_line():
    for args, text in ((["run", "nosuch"], "unknown pipeline 'nosuch'; choose one of: image"),
                       (["run", "image", "--set", "train.epochs=x"], "train.epochs must be an integer")):
        proc = subprocess.run([sys.executable, "-m", "edgeflow.pipelines.cli", *args],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and text in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


# A MobileNetV2 backbone through the whole pipeline, as small as it goes: 100 digits upsampled to the
# backbone's 32 px minimum, one epoch from a random start, no tracking, only the float32 .tflite. Its accuracy
# is not the point (eval.min_accuracy=0 blesses it so that Pusher and EdgeExport run).
BACKBONE_RUN = ["model.backbone=mobilenet_v2", "model.weights=null", "image.size=32", "image.limit_per_class=10",
                "train.epochs=1", "eval.min_accuracy=0", "baseline.enabled=false", "export.variants=float32",
                "tracking.enabled=false", "train.tensorboard=false", "diagnostics.enabled=false"]


def test_mobilenet_v2_backbone_trains_through_the_pipeline_and_exports(tmp_path):
    from edgeflow.config import load_config
    from edgeflow.edge.runtime import EdgeModel
    from edgeflow.pipelines.runner import run_pipeline

    cfg = load_config("image", "tiny", overrides=BACKBONE_RUN, updates={"output": str(tmp_path)})
    r = run_pipeline(cfg).results
    assert r.blessed is True and r.pushed_path and len(r.history) == 1
    serve = tf.saved_model.load(r.pushed_path).signatures["serving_default"]
    pngs = sorted((cfg.output_dir / "data").rglob("*.png"))[::10]
    out = serve(image_bytes=tf.constant([p.read_bytes() for p in pngs]))  # the same request as the cnn's
    assert out["probabilities"].shape == (len(pngs), 10)
    (report,) = cfg.pipeline_root.glob("EdgeExport/edge_models/*/report.json")
    row = __import__("json").loads(report.read_text())["variants"]["float32"]
    assert "error" not in row and row["max_abs_output_diff"] < 1e-3, row
    edge = EdgeModel(report.parent / "float32.tflite")
    assert edge.input_shape == (1, 32, 32, 1)  # the cnn path's input: decoded grayscale in [0, 1]
