"""The detection config section: defaults, overrides, and bad values named by field."""
import pytest

from edgeflow.config import ConfigError, load_config
from edgeflow.pipelines.runner import PIPELINES


def test_detection_is_a_registered_pipeline_with_a_grid_from_its_config():
    assert "detection" in PIPELINES
    cfg = load_config("detection", "default")
    assert cfg.detection.image_size == 0 and cfg.detection.anchors == () and cfg.detection.box_loss == "ciou"
    assert cfg.detection.grid == 8  # the bundled 64-px canvases
    assert cfg.detection.at_size(128).grid == 16 and cfg.detection.at_size(100).image_size == 104
    assert cfg.detection.at_size(36).image_size == 40 and load_config(
        "detection", overrides=["detection.image_size=96"]).detection.at_size(128).image_size == 96
    assert load_config("detection", "tiny").detection.grid == 8


def test_anchors_and_loss_can_be_set_from_the_command_line():
    cfg = load_config("detection", overrides=["detection.num_anchors=2", "detection.anchors=[0.1, 0.2, 0.3, 0.4]",
                                              "detection.box_loss=iou"])
    assert cfg.detection.anchors == (0.1, 0.2, 0.3, 0.4) and cfg.detection.box_loss == "iou"


@pytest.mark.parametrize("override,message", [
    ("detection.anchors=[0.1, 0.2]", "detection.anchors must be empty"),
    ("detection.box_loss=giou", "detection.box_loss must be one of ciou, iou, sqrt"),
    ("detection.blocks=7", "detection.blocks must be between 1 and 6, and image_size must be divisible"),
    ("detection.iou_threshold=0", "detection.iou_threshold must be in"),
])
def test_bad_detection_values_are_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("detection", overrides=[override])
