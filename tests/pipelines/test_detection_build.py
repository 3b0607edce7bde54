"""Building the detection pipeline: the label report is written, and too many bad files stop it."""
import json

import pytest

from edgeflow.components.image.folder import DataError
from edgeflow.config import load_config
from edgeflow.pipelines.detection import build
from tests.components.detection.test_labels import _yolo_folder


def test_build_writes_the_label_report_and_stops_past_the_bad_share(tmp_path):
    root = _yolo_folder(tmp_path / "set", {"a": "0 0.5 0.5 0.2 0.2\n", "b": "0 0.5 0.5 0.2 1.5\n"}, ["a", "b"])
    cfg = load_config("detection", "tiny", updates={"output": str(tmp_path / "out"), "data": {"path": str(root)}})
    with pytest.raises(DataError, match=r"1 of 2 files .* all named in .*label_report.json"):
        build(cfg)
    report = json.loads((cfg.output_dir / "detection" / "label_report.json").read_text())
    assert report["problems"] == [{"file": "labels/b.txt", "kind": "out_of_range",
                                   "detail": "line 1: box (0.5, 0.5, 0.2, 1.5) is not inside [0, 1]"}]
    ok = load_config("detection", "tiny", overrides=["data.max_bad_fraction=0.5"],
                     updates={"output": str(tmp_path / "out"), "data": {"path": str(root)}})
    pipeline = build(ok)
    assert [c.id for c in pipeline.components][:1] == ["DetectionExampleGen"]
    assert pipeline.components[-1].id == "Pusher"
