"""The cost-aware export policy on the small digits CNN: PTQ first, fine-tuning only when PTQ misses."""
import logging

import pytest

from edgeflow.components.edge_export.policy import conversion_jobs, needs_fine_tuning
from edgeflow.config import ExportConfig

pytestmark = pytest.mark.slow


def _data(digits, train_scale=1.0, train=None):
    """EdgeData over the digits; `train_scale` scales the train inputs (calibration and fine-tuning)."""
    from edgeflow.components.edge_export.data import EdgeData
    from edgeflow.components.edge_export.tasks import classification_task

    x, y, x_eval, y_eval = digits
    task = classification_task([str(i) for i in range(10)], "pixels / 16")
    return EdgeData(task, (x[:train] * train_scale).astype(x.dtype), y[:train], x_eval, y_eval,
                    {"kind": "sparse_categorical_crossentropy"})


def _export(digits_keras, data, tmp_path, caplog, **overrides):
    from edgeflow.components.edge_export.export import export_edge_models

    cfg = ExportConfig(fine_tune_epochs=1, latency_budget_s=0.05, latency_runs=20, **overrides)
    with caplog.at_level(logging.INFO, logger="edgeflow"):
        return export_edge_models(digits_keras, data, cfg, tmp_path, seed=0)


def _progress(caplog):
    """{variant: its progress line} from the records on the edgeflow logger."""
    lines = [r.getMessage() for r in caplog.records if r.name == "edgeflow" and r.getMessage().startswith("  edge: ")]
    return {ln.split()[1]: ln for ln in lines if " KB " in ln or " failed in " in ln}


def test_default_policy_ships_ptq_and_fine_tunes_nothing_when_ptq_is_within_the_bar(digits, digits_keras, tmp_path,
                                                                                  caplog):
    report = _export(digits_keras, _data(digits), tmp_path, caplog)
    assert list(report["variants"]) == ["float32", "float16", "dynamic", "int8"]
    assert report["policy"]["fine_tuned_because"] is None
    assert not list(tmp_path.glob("qat_int8*"))
    shipped = report["shipped"]  # the smallest within the bar: dynamic or int8 (within a few hundred bytes)
    assert shipped in ("dynamic", "int8")
    assert (tmp_path / "model.tflite").read_bytes() == (tmp_path / f"{shipped}.tflite").read_bytes()
    lines = _progress(caplog)
    assert set(lines) == set(report["variants"])  # one line per variant, as it finished
    int8 = report["variants"]["int8"]
    assert f"accuracy {int8['accuracy']:.4f}" in lines["int8"] and lines["int8"].rstrip().endswith("s")
    for row in report["variants"].values():
        assert 5 <= row["latency_ms_1_thread"]["runs"] <= 20


def test_an_impossible_bar_builds_qat(digits, digits_keras, tmp_path, caplog):
    """Calibrated on inputs at a twentieth of their scale, int8 PTQ clips real inputs and loses
    accuracy; with max_metric_change=0 the policy then fine-tunes (QAT) and says why."""
    report = _export(digits_keras, _data(digits, train_scale=0.05, train=256), tmp_path, caplog,
                     max_metric_change=0.0, representative_samples=64)
    assert report["variants"]["int8"]["degradation"] > 0
    assert "qat_int8" in report["variants"] and "error" not in report["variants"]["qat_int8"]
    assert "past export.max_metric_change=0.0" in report["policy"]["fine_tuned_because"]
    assert "qat_int8" in _progress(caplog)
    assert any("building qat_int8" in r.getMessage() for r in caplog.records)


def test_an_explicit_list_builds_exactly_those(digits, digits_keras, tmp_path, caplog):
    report = _export(digits_keras, _data(digits, train_scale=0.05, train=256), tmp_path, caplog,
                     variants="float16,int8", max_metric_change=0.0, representative_samples=64)
    assert list(report["variants"]) == ["float16", "int8"]


def test_jobs_share_a_child_only_for_the_variants_that_never_crash():
    assert conversion_jobs(("float32", "float16", "dynamic", "int8")) == [("float32", "float16", "dynamic"), ("int8",)]
    assert conversion_jobs(("int8", "qat_int8")) == [("int8",), ("qat_int8",)]


def test_a_failed_or_missing_int8_needs_fine_tuning():
    ok = {"degradation": 0.0, "edgetpu_compatible": False}
    assert not needs_fine_tuning({"int8": ok}, "cpu", 0.01)
    assert needs_fine_tuning({"int8": ok}, "edgetpu", 0.01)  # the TPU needs every op mapped
    assert needs_fine_tuning({"int8": {"error": "crashed"}}, "cpu", 0.01)
    assert needs_fine_tuning({"float32": ok}, "cpu", 0.01)


def test_config_names_auto_and_refuses_a_plain_variant_as_fallback():
    from edgeflow import EdgeflowError

    assert ExportConfig().auto and ExportConfig().fallback_names == ("qat_int8",)
    assert not ExportConfig(variants="int8").auto and ExportConfig(variants="int8").fallback_names == ()
    with pytest.raises(EdgeflowError, match="fallback_variants"):
        ExportConfig(fallback_variants="int8")


def test_int16x8_is_tried_when_int8_misses_and_never_for_the_edgetpu():
    from edgeflow.components.edge_export.policy import fine_tuning_reason, wide_ptq_variants

    miss, ok = {"degradation": 0.5, "edgetpu_compatible": True}, {"degradation": 0.0, "edgetpu_compatible": True}
    assert wide_ptq_variants({"int8": miss}, "cpu", 0.01) == ("int16x8",)
    assert wide_ptq_variants({"int8": {"error": "crashed"}}, "cpu", 0.01) == ("int16x8",)
    assert wide_ptq_variants({"int8": ok}, "cpu", 0.01) == ()
    assert wide_ptq_variants({"int8": miss}, "edgetpu", 0.01) == ()  # the Edge TPU runs int8 only
    assert wide_ptq_variants({"float32": ok}, "cpu", 0.01) == ()  # int8 not asked for
    assert not needs_fine_tuning({"int8": miss, "int16x8": ok}, "cpu", 0.01)
    assert needs_fine_tuning({"int8": miss, "int16x8": miss}, "cpu", 0.01)
    reason = fine_tuning_reason({"int8": miss, "int16x8": miss}, "cpu", 0.01, "mae")
    assert "int8 PTQ is +0.5000 worse in mae" in reason and "int16x8 PTQ is +0.5000 worse" in reason
