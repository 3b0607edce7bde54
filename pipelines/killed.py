"""What a killed run leaves behind, set right by the next run of the same output folder.

SIGKILL (or power loss) gives ``edgeflow run`` no chance to end its records: its MLflow run stays
RUNNING, and so do the ML Metadata executions of the component it was in. The next run, holding
the pipeline's run lock (so no live run of this folder can be among them), marks both FAILED
before it starts. MLflow runs only in the embedded store of the output folder: a shared server's
experiment may hold live runs of other folders. A record that cannot be corrected costs a warning,
never the run.
"""
from __future__ import annotations

import logging

from edgeflow.config import PipelineConfig

log = logging.getLogger(__name__)


def reap_killed(cfg: PipelineConfig, tracking_uri: str) -> None:
    """Under the run lock, before a run starts: the killed runs' MLflow runs and ML Metadata executions -> FAILED."""
    if cfg.tracking.enabled and tracking_uri.startswith("sqlite:"):
        from edgeflow.pipelines.history import reap_stale_runs

        try:
            reap_stale_runs(cfg, lock_held=True)
        except Exception as err:  # noqa: BLE001 - a record to correct, never a reason not to run
            log.warning("MLflow: could not mark killed runs FAILED (%s: %s)", err.__class__.__name__, str(err)[:300])
    try:
        failed = fail_unfinished_executions(cfg)
    except Exception as err:  # noqa: BLE001
        log.warning("ML Metadata: could not mark killed executions FAILED (%s: %s)",
                    err.__class__.__name__, str(err)[:300])
        return
    if failed:
        log.info("ML Metadata: %d execution(s) of a killed run marked FAILED (%s)", len(failed), ", ".join(failed))


def fail_unfinished_executions(cfg: PipelineConfig) -> list:
    """Executions still NEW or RUNNING in the folder's ML Metadata -> FAILED; returns their type names."""
    if not cfg.metadata_path.is_file():
        return []
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as mlmd

    config = mlmd.ConnectionConfig()
    config.sqlite.filename_uri = str(cfg.metadata_path)
    config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE
    store = metadata_store.MetadataStore(config)
    open_only = metadata_store.ListOptions(filter_query="last_known_state = NEW OR last_known_state = RUNNING")
    stale = store.get_executions(list_options=open_only)  # not every execution the folder ever ran
    for e in stale:
        e.last_known_state = mlmd.Execution.FAILED
        e.custom_properties["edgeflow_error"].string_value = "the run's process ended without finishing (killed)"
    if stale:
        store.put_executions(stale)
    types = {t.id: t.name for t in store.get_execution_types()}
    return sorted(types.get(e.type_id, str(e.type_id)).rsplit(".", 1)[-1] for e in stale)
