"""The next run marks the ML Metadata executions a killed run left NEW or RUNNING as FAILED, and
leaves every finished one as it was (a real ML Metadata store in SQLite, no pipeline)."""
from edgeflow.config import load_config
from edgeflow.pipelines.killed import fail_unfinished_executions


def test_only_open_executions_are_marked_failed(tmp_path):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as mlmd

    cfg = load_config("image", "tiny", updates={"output": str(tmp_path)})
    cfg.metadata_path.parent.mkdir(parents=True, exist_ok=True)
    config = mlmd.ConnectionConfig()
    config.sqlite.filename_uri = str(cfg.metadata_path)
    config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    trainer = store.put_execution_type(mlmd.ExecutionType(name="tfx.components.trainer.component.Trainer"))
    gen = store.put_execution_type(mlmd.ExecutionType(name="ImageFolderExampleGen"))
    states = {"new": (gen, mlmd.Execution.NEW), "running": (trainer, mlmd.Execution.RUNNING),
              "done": (gen, mlmd.Execution.COMPLETE), "cached": (trainer, mlmd.Execution.CACHED),
              "failed": (trainer, mlmd.Execution.FAILED)}
    ids = dict(zip(states, store.put_executions(
        [mlmd.Execution(type_id=t, last_known_state=s) for t, s in states.values()])))

    assert fail_unfinished_executions(cfg) == ["ImageFolderExampleGen", "Trainer"]
    after = {e.id: e for e in store.get_executions_by_id(list(ids.values()))}
    assert {k: after[i].last_known_state for k, i in ids.items()} == {
        "new": mlmd.Execution.FAILED, "running": mlmd.Execution.FAILED, "done": mlmd.Execution.COMPLETE,
        "cached": mlmd.Execution.CACHED, "failed": mlmd.Execution.FAILED}
    assert "killed" in after[ids["running"]].custom_properties["edgeflow_error"].string_value
    assert "edgeflow_error" not in after[ids["failed"]].custom_properties
    assert fail_unfinished_executions(cfg) == []  # nothing left open
