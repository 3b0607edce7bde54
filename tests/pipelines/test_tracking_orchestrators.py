"""The same MLflow record under TFX's BeamDagRunner as under LocalDagRunner.

The session's tiny image run (LocalDagRunner, embedded store) is the reference; the same pipeline on
the same data runs again under BeamDagRunner (each component one Beam step), with its own output
folder (ML Metadata, pipeline root, serving root) but the same MLflow store, so the registry's
``champion`` alias has a version to move from. Its components' Beam work runs on the DirectRunner in
multi-process mode (2 workers), as ``--beam-arg`` passes it: one run checks both."""
import mlflow
import pytest

from edgeflow.config import load_config
from edgeflow.pipelines.beam import beam_args
from edgeflow.models.training.live_tracking import RECORDED_BY_TAG, RUN_ID_TAG

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STEPS = ["data", "evaluate", "push", "train"]


def record_shape(client, parent_id: str) -> dict:
    """What a run's record holds, without the values: per run (parent, each step), the metric keys,
    the param keys, the top-level artifacts and who wrote it; plus the data's dataset digest."""
    parent = client.get_run(parent_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
    shape = {"parent": (set(parent.data.metrics), set(parent.data.params),
                        {a.path for a in client.list_artifacts(parent_id)}, None)}
    for r in children:
        shape[r.data.tags["edgeflow.step"]] = (set(r.data.metrics), set(r.data.params),
                                               {a.path for a in client.list_artifacts(r.info.run_id)},
                                               r.data.tags.get(RECORDED_BY_TAG))
    [data] = [r for r in children if r.data.tags["edgeflow.step"] == "data"]
    shape["digest"] = [d.dataset.digest for d in data.inputs.dataset_inputs]
    return shape


def test_beam_dag_runner_writes_the_same_record_as_local_dag_runner(tiny_image_run, tmp_path):
    from edgeflow.pipelines.runner import run_pipeline

    local_cfg, local = tiny_image_run
    client = mlflow.tracking.MlflowClient(local_cfg.tracking_uri)
    before = client.get_model_version_by_alias(local_cfg.model_name, "champion")
    data = local_cfg.output_dir / "data" / f"digits-{local_cfg.image.limit_per_class}"  # the local run's data
    cfg = load_config("image", "tiny", updates={
        "output": str(tmp_path / "beam"), "data": {"path": str(data)},
        "tracking": {"uri": local_cfg.tracking_uri}, "pipeline": {"orchestrator": "beam"}})
    beam = run_pipeline(cfg, beam_args("DirectRunner", ["--direct_running_mode=multi_processing",
                                                        "--direct_num_workers=2"]))

    assert beam.results.blessed is True and beam.results.pushed_path
    assert beam.results.example_counts == local.results.example_counts  # every image, read by worker processes
    parent = client.get_run(beam.mlflow_run_id)
    assert parent.info.status == "FINISHED" and parent.data.params["pipeline.orchestrator"] == "beam"
    assert parent.data.tags[RUN_ID_TAG] == beam.results.pipeline_run_id != local.results.pipeline_run_id
    shape, reference = record_shape(client, beam.mlflow_run_id), record_shape(client, local.mlflow_run_id)
    assert sorted(k for k in shape if k not in ("parent", "digest")) == STEPS
    # every step's record written from inside the pipeline, by its component, under either runner
    assert {step: shape[step][3] for step in STEPS} == {step: "component" for step in STEPS}
    assert shape == reference
    assert shape["digest"] == [parent.data.tags["data.fingerprint"]]

    after = client.get_model_version_by_alias(cfg.model_name, "champion")
    assert after.run_id == beam.mlflow_run_id and int(after.version) > int(before.version)
