"""The shipping policy and the report table (pure functions)."""
from edgeflow.components.edge_export.report import choose_variant, format_table


def _row(size, change, tpu):
    lat = {"p50": 0.1, "p95": 0.2}
    return {"size_bytes": size, "gzip_bytes": size // 2, "accuracy": 0.9 + change / 100, "metric_change": change / 100,
            "degradation": -change / 100,
            "latency_ms_1_thread": lat, "latency_ms_all_threads": lat, "edgetpu_compatible": tpu}


ROWS = {"float32": _row(1000, 0.0, False), "dynamic": _row(300, -0.2, False),
        "int8": _row(280, -1.5, True), "qat_int8": _row(290, -0.4, True), "broken": {"error": "crashed"}}


def test_smallest_within_the_accuracy_budget_is_shipped():
    assert choose_variant(ROWS, "cpu", 0.01) == "qat_int8"
    assert choose_variant(ROWS, "cpu", 0.02) == "int8"


def test_edgetpu_target_ships_only_tpu_compatible_variants():
    rows = {k: v for k, v in ROWS.items() if k != "qat_int8"}
    assert choose_variant(rows, "edgetpu", 0.01) is None
    assert choose_variant(rows, "edgetpu", 0.02) == "int8"


def test_table_marks_the_shipped_variant_and_failures():
    report = {"variants": ROWS, "metric": "accuracy", "keras": {"accuracy": 0.9, "latency_ms": {"p50": 1.0, "p95": 2.0}},
              "shipped": "qat_int8"}
    lines = format_table(report)
    assert any(ln.startswith("qat_int8") and "<- shipped" in ln and " 0.29 " in ln for ln in lines)
    assert any(ln.startswith("broken") and "failed: crashed" in ln for ln in lines)
