"""Which earlier blessed model is a baseline: the lineage check and the resolver, on a real ML Metadata store."""
import json

import pytest

from edgeflow.components.shared.lineage import LatestBlessedSameLineage, compare, fingerprint_files, lineage

SEATTLE = lineage("sequence", "/data/seattle.csv", "aa", ["target=temp", "horizon=3"])


@pytest.mark.parametrize("other, across, same, why", [
    (SEATTLE, False, True, ""),
    ({**SEATTLE, "fingerprint": "bb"}, False, True, ""),  # the same CSV grown by new rows: still a baseline
    ({**SEATTLE, "pipeline": "image"}, False, False, "image pipeline"),
    ({**SEATTLE, "labels": ["target=load", "horizon=3"]}, True, False, "labels differ"),
    ({**SEATTLE, "labels": ["target=temp", "horizon=6"]}, False, False, "labels differ"),
    ({**SEATTLE, "source": "/data/other.csv"}, False, False, "another data source"),
    ({**SEATTLE, "source": "/data/other.csv"}, True, True, ""),  # eval.compare_across_data=true
    (None, False, False, "no lineage record"),
])
def test_compare(other, across, same, why):
    ok, reason = compare(SEATTLE, other, across)
    assert ok == same and why in reason


def test_fingerprint_sees_a_changed_file(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("t,x\n1,2\n")
    before = fingerprint_files([str(f)])
    f.write_text("t,x\n1,3\n")
    assert fingerprint_files([str(f)]) != before


def _store():
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.fake_database.SetInParent()
    return mlmd.MetadataStore(config)


def _train(store, record):
    """A Trainer execution (with `record` in its custom_config), its Model and a blessing of it; TFX artifacts."""
    from ml_metadata.proto import metadata_store_pb2
    from tfx.types import standard_artifacts

    exec_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name="Trainer"))
    execution = metadata_store_pb2.Execution(type_id=exec_type)
    execution.custom_properties["custom_config"].string_value = json.dumps({"lineage": record} if record else {})
    [execution_id] = store.put_executions([execution])
    model, blessing = standard_artifacts.Model(), standard_artifacts.ModelBlessing()
    for artifact in (model, blessing):
        artifact.type_id = store.put_artifact_type(artifact.artifact_type)
        [artifact.id] = store.put_artifacts([artifact.mlmd_artifact])
    store.put_events([metadata_store_pb2.Event(artifact_id=model.id, execution_id=execution_id,
                                               type=metadata_store_pb2.Event.OUTPUT)])
    blessing.set_int_custom_property("blessed", 1)
    blessing.set_int_custom_property("current_model_id", model.id)
    return model, blessing


def _resolve(store, trained, current, across=False):
    strategy = LatestBlessedSameLineage(lineage=json.dumps(current), across_data=across)
    result = strategy.resolve_artifacts(store, {"model": [m for m, _ in trained],
                                                "model_blessing": [b for _, b in trained]})
    return [m.id for m in result["model"]]


def test_resolver_keeps_the_last_blessed_model_of_this_lineage_only(caplog):
    store = _store()
    seattle = _train(store, SEATTLE)
    other = _train(store, {**SEATTLE, "source": "/data/load.csv", "labels": ["target=load", "horizon=3"]})
    legacy_store = _store()
    legacy = _train(legacy_store, None)
    with caplog.at_level("INFO", logger="edgeflow"):
        # the newest blessed model (load.csv) is not a baseline for Seattle; the older Seattle model is
        assert _resolve(store, [seattle, other], SEATTLE) == [seattle[0].id]
        assert "its labels differ (target=load, horizon=3); comparing with model" in caplog.text
        caplog.clear()
        # a run on a third CSV: no model of its lineage, so no baseline, and one sentence says so
        third = {**SEATTLE, "source": "/data/third.csv"}
        assert _resolve(store, [seattle, other], third) == []
        assert "blessed on its own bars" in caplog.text and len(caplog.records) == 1
        # eval.compare_across_data=true: the same target from another source is a baseline
        assert _resolve(store, [seattle, other], third, across=True) == [seattle[0].id]
        # a model blessed before lineage was recorded is never a baseline
        assert _resolve(legacy_store, [legacy], SEATTLE) == []
    # a pipeline built without a record (old callers) keeps TFX's behaviour
    assert _resolve(store, [seattle, other], {}) == [other[0].id]
