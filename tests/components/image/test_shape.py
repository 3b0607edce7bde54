"""image.size / image.channels left null are read from the folder; a set value always wins."""
import logging

import numpy as np
import pytest
from PIL import Image

from edgeflow.components.image.folder import scan_image_folder
from edgeflow.components.image.shape import choose_shape, round_size, sample_stats
from edgeflow.config import load_config


def make_folder(root, sides=(40,), colour=False, suffix=".png"):
    """Two classes, one image per side in `sides`, noisy; colour or gray (saved as RGB, like a scan)."""
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i, side in enumerate(sides):
            gray = rng.integers(0, 255, (side, side), dtype=np.uint8)
            rgb = np.stack([gray, gray, gray], axis=-1)  # (H, W, 3), equal channels
            if colour:
                rgb[..., 0] = 255 - rgb[..., 0]
            Image.fromarray(rgb).save(root / c / f"{i}{suffix}", quality=90)
    return root


def stats_of(root):
    scan = scan_image_folder(root)
    return sample_stats(scan.root, scan.files)


def test_colour_images_get_three_channels_and_a_size_from_their_median_side(tmp_path):
    root = make_folder(tmp_path / "d", sides=(24, 40, 64), colour=True)
    choice = choose_shape(stats_of(root), blocks=2, max_size=64)
    assert (choice.size, choice.channels) == (40, 3)  # median side 40, a multiple of 4
    assert "image.channels=3 (6 of 6 sampled images carry colour)" in choice.reason
    assert "median side 40" in choice.reason
    choice = choose_shape(stats_of(root), blocks=2)  # image.max_auto_size's default bounds it
    assert choice.size == 32 and "image.max_auto_size=32" in choice.reason


def test_stats_name_the_largest_side_the_detection_input_size_is_read_from(tmp_path):
    stats = stats_of(make_folder(tmp_path / "d", sides=(24, 40, 100)))
    assert stats.largest_side == 100 and stats.median_side == 40


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_gray_images_saved_as_rgb_get_one_channel(tmp_path, suffix):
    choice = choose_shape(stats_of(make_folder(tmp_path / "d", sides=(30, 34), suffix=suffix)), blocks=2)
    assert (choice.size, choice.channels) == (32, 1)  # median 32; JPEG chroma noise is not colour


def test_mixed_sizes_are_bounded_and_rounded_to_the_blocks():
    assert round_size(8, 2) == 16  # the bundled digits: 8x8 -> today's 16 px
    assert round_size(37, 3, max_size=64) == 40  # a multiple of 2**3
    assert round_size(900, 2) == 32  # bounded above by image.max_auto_size's default
    assert round_size(900, 2, max_size=128) == 128
    assert round_size(37, 3, max_size=36) == 32  # the bound rounded down to a multiple of 2**3
    assert round_size(10, 6) == 64  # 6 blocks need at least 64 px


def test_explicit_settings_win(tmp_path):
    root = make_folder(tmp_path / "d", sides=(64,), colour=True)
    choice = choose_shape(stats_of(root), blocks=2, size=24, channels=1)
    assert (choice.size, choice.channels) == (24, 1) and "(set)" in choice.reason
    assert choose_shape(stats_of(root), blocks=2, size=64).size == 64  # above max_auto_size: set wins


def test_the_run_resolves_before_logging_and_keeps_set_values(tmp_path, caplog):
    from edgeflow.pipelines.runner import resolve_config

    root = make_folder(tmp_path / "d", sides=(48, 56), colour=True)
    with caplog.at_level(logging.INFO, logger="edgeflow"):
        cfg = resolve_config(load_config("image", updates={"data": {"path": str(root)}, "output": str(tmp_path)}))
    assert (cfg.image.size, cfg.image.channels) == (32, 3)  # median 52, bounded by max_auto_size 32
    assert any(r.getMessage().startswith("input shape: image.channels=3") for r in caplog.records)
    cfg = resolve_config(load_config("image", overrides=["image.max_auto_size=64"],
                                     updates={"data": {"path": str(root)}, "output": str(tmp_path)}))
    assert cfg.image.size == 52
    cfg = resolve_config(load_config("image", overrides=["image.size=48"],
                                     updates={"data": {"path": str(root)}, "output": str(tmp_path)}))
    assert cfg.image.size == 48  # an explicit size is not bounded by max_auto_size
    cfg = resolve_config(load_config("image", overrides=["image.size=16", "image.channels=1"],
                                     updates={"data": {"path": str(root)}, "output": str(tmp_path)}))
    assert (cfg.image.size, cfg.image.channels) == (16, 1)


def test_the_bundled_digits_keep_16_px_grayscale(tmp_path):
    from edgeflow.pipelines.runner import resolve_config

    cfg = resolve_config(load_config("image", updates={"output": str(tmp_path), "image": {"limit_per_class": 5}}))
    assert (cfg.image.size, cfg.image.channels) == (16, 1)


def test_max_auto_size_is_checked():
    from edgeflow.config.base import ConfigError

    with pytest.raises(ConfigError, match="max_auto_size must be between 16 and 512"):
        load_config("image", overrides=["image.max_auto_size=8"])


def test_a_bad_folder_is_left_for_the_build_to_report(tmp_path):
    from edgeflow.pipelines.runner import resolve_config

    cfg = load_config("image", updates={"data": {"path": str(tmp_path / "missing")}, "output": str(tmp_path)})
    assert resolve_config(cfg) is cfg
