"""`edgeflow cv`: K folds trained for real, a parent MLflow run with one child per fold."""
import pytest

from edgeflow import EdgeflowError
from edgeflow.config import load_config
from edgeflow.pipelines.cv import cross_validate


@pytest.mark.slow
def test_cv_logs_a_parent_run_with_a_child_per_fold(tmp_path, monkeypatch):
    import mlflow

    cfg = load_config("image", "tiny", overrides=["train.epochs=2", "image.limit_per_class=10"],
                      updates={"output": str(tmp_path)})
    # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; undo it after the test so later runs
    # in this process (the tiny_image_run fixture) do not log into this test's store.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", cfg.tracking_uri)
    result = cross_validate(cfg, folds=2)
    assert len(result.folds) == 2 and all(0.0 <= f["accuracy"] <= 1.0 for f in result.folds)
    mlflow.set_tracking_uri(cfg.tracking_uri)
    experiment = mlflow.get_experiment_by_name("image-cv")
    runs = mlflow.search_runs([experiment.experiment_id], output_format="list")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.parent_run_id]
    assert sorted(r.info.run_name for r in children) == ["fold1", "fold2"]
    parent = mlflow.get_run(result.parent_run_id)
    assert parent.data.metrics["cv.accuracy.mean"] == pytest.approx(result.mean("accuracy"))
    assert parent.data.metrics["cv.accuracy.std"] == pytest.approx(result.std("accuracy"))
    assert sorted(r.data.metrics["accuracy"] for r in children) == sorted(f["accuracy"] for f in result.folds)


def test_too_many_folds_is_one_clear_error(tmp_path):
    cfg = load_config("image", "tiny", overrides=["image.limit_per_class=3"],
                      updates={"output": str(tmp_path), "tracking": {"enabled": False}})
    with pytest.raises(EdgeflowError, match="--folds 5 does not fit the data: use 2 to 3 folds"):
        cross_validate(cfg, folds=5)
