"""Every task's Trainer gets the training skeleton's inputs: resume backups, diagnostics and (with
pipeline.warm_start) the last blessed model. Builds the pipelines only; nothing runs."""
import json
from dataclasses import replace

import pytest

from edgeflow.config import load_config
from edgeflow.pipelines import detection, image, sequence


def _pipelines(tmp_path, *overrides):
    def cfg(task):
        return load_config(task, "tiny", overrides=list(overrides), updates={"output": str(tmp_path / task)})

    seq = cfg("sequence")
    seq = replace(seq, sequence=replace(seq.sequence, window=48))
    (tmp_path / "s.csv").write_text("time,temp\n2020-01-01 00:00,1.0\n")
    return {"image": image.create_pipeline(cfg("image"), str(tmp_path), ["a", "b"]),
            "sequence": sequence.create_pipeline(seq, str(tmp_path / "s.csv"), features=1),
            "detection": detection.create_pipeline(cfg("detection"), str(tmp_path), ["a"])}


def _trainer(pipeline):
    (trainer,) = [c for c in pipeline.components if c.id == "Trainer"]
    return trainer


@pytest.mark.parametrize("warm", [False, True])
def test_every_trainer_gets_backups_diagnostics_and_warm_start(tmp_path, warm):
    pipelines = _pipelines(tmp_path, f"pipeline.warm_start={str(warm).lower()}")
    backups = set()
    for task, pipeline in pipelines.items():
        trainer = _trainer(pipeline)
        custom = trainer.exec_properties["custom_config"]
        custom = custom if isinstance(custom, dict) else json.loads(custom)
        assert {"train", "diagnostics", "backup_dir"} <= set(custom), task
        assert "train_backup" in custom["backup_dir"]
        backups.add(custom["backup_dir"])
        assert ("base_model" in trainer.inputs) is warm, task
        if warm:  # the base model is the LatestBlessedModel resolver's output
            assert trainer.inputs["base_model"].producer_component_id == "LatestBlessedModel"
    assert len(backups) == 3  # one backup folder per training setup
