"""EdgeExport's report into MLflow: per-variant metrics, the shipped variant, the files."""


def log_edge_report(report: dict, folder: str) -> None:
    """EdgeExport's per-variant measurements and files into the active MLflow run, if one is active."""
    import mlflow

    if mlflow.active_run() is None:
        return
    for name, row in report["variants"].items():
        if "error" in row:
            continue
        mlflow.log_metrics({f"edge.{name}.size_bytes": row["size_bytes"], f"edge.{name}.gzip_bytes": row["gzip_bytes"],
                            f"edge.{name}.{report['metric']}": row[report["metric"]],
                            f"edge.{name}.latency_p50_ms": row["latency_ms_1_thread"]["p50"],
                            f"edge.{name}.latency_p95_ms": row["latency_ms_1_thread"]["p95"]})
    mlflow.set_tag("edge.shipped", report["shipped"] or "none")
    mlflow.log_artifacts(folder, "edge")
