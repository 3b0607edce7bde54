"""The sequence Trainer's gradient-through-time files reach the MLflow train run: plot, profile, summary, verdict."""
import json

from edgeflow.models.sequence.gradients import JSON_NAME, PLOT_NAME, decay_summary, plot_profiles
from edgeflow.pipelines.results import RunResults, read_time_step_gradients
from edgeflow.pipelines.tracking.runs import log_time_step_gradients


def test_profile_and_plot_are_logged_to_the_active_run(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    model_run = tmp_path / "model_run"
    model_run.mkdir()
    profile = [1e-6, 1e-4, 1e-2, 1.0]
    (model_run / JSON_NAME).write_text(json.dumps({"profile": profile, **decay_summary(profile)}))
    plot_profiles({"simple_rnn": profile}, str(model_run / PLOT_NAME))
    results = RunResults(pipeline_run_id="r1")
    read_time_step_gradients(results, model_run)
    assert results.time_step_gradients["vanishing"] and results.time_step_gradients_plot.endswith(PLOT_NAME)

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("gradients", artifact_location=(tmp_path / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            log_time_step_gradients(results)
        client = mlflow.MlflowClient()
        history = client.get_metric_history(run.info.run_id, "time_step_gradient_norm")
        assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == list(zip(range(1, 5), profile))
        data = client.get_run(run.info.run_id).data
        assert data.metrics["time_step_gradients.vanishing"] == 1
        assert data.metrics["time_step_gradients.first_to_last"] == 1e-6
        assert data.tags["diagnostics.time_step_gradients"].startswith("vanishing gradients through time")
        files = {f.path for f in client.list_artifacts(run.info.run_id, "diagnostics")}
        assert files == {f"diagnostics/{PLOT_NAME}", f"diagnostics/{JSON_NAME}"}
    finally:
        mlflow.set_tracking_uri(None)
