"""Mosaic and HSV augmentation: boxes stay on their objects and inside the image; config ranges refused."""
import numpy as np
import pytest
import tensorflow as tf

from edgeflow.config import ConfigError, DetectionConfig, from_dict
from edgeflow.models.detection.augment import MOSAIC_MIN_VISIBLE, hsv_jitter, mosaic
from edgeflow.models.detection.examples import DetectionSet
from edgeflow.models.detection.trainer import DetectionBatches

SIDE = 48


def _tile(k, rng):
    """A 48x48 image with 1-3 solid blocks of value k + 1 (so each block says which image it came from)."""
    img = np.zeros((SIDE, SIDE, 1), np.float32)
    boxes = []
    for _ in range(rng.integers(1, 4)):
        w, h = rng.integers(4, 16, 2)
        x0, y0 = rng.integers(0, SIDE - w), rng.integers(0, SIDE - h)
        img[y0:y0 + h, x0:x0 + w] = k + 1
        boxes.append([(x0 + w / 2) / SIDE, (y0 + h / 2) / SIDE, w / SIDE, h / SIDE])
    return img, np.array(boxes, np.float32)


def _quadrant_of(cx, cy, xc, yc):
    return (cy >= yc) * 2 + (cx >= xc)


def _mosaic_and_centre(images, boxes, classes, rng):
    """mosaic(...) and the centre (xc, yc) in pixels it drew (replayed from the generator's state)."""
    replay = np.random.default_rng(0)
    replay.bit_generator.state = rng.bit_generator.state
    xc, yc = int(round(replay.uniform(0.25, 0.75) * SIDE)), int(round(replay.uniform(0.25, 0.75) * SIDE))
    return mosaic(images, boxes, classes, rng), xc, yc


@pytest.mark.parametrize("seed", range(6))
def test_mosaic_keeps_every_box_inside_its_image_and_fully_visible_boxes_keep_their_size(seed):
    rng = np.random.default_rng(seed)
    tiles = [_tile(k, rng) for k in range(4)]
    images, boxes = [t[0] for t in tiles], [t[1] for t in tiles]
    classes = [np.full(len(b), k) for k, b in enumerate(boxes)]
    (out, got, got_classes), xc, yc = _mosaic_and_centre(images, boxes, classes, rng)
    assert out.shape == images[0].shape and got.shape[1] == 4 and len(got) == len(got_classes)
    px = got * SIDE
    x0, y0, x1, y1 = px[:, 0] - px[:, 2] / 2, px[:, 1] - px[:, 3] / 2, px[:, 0] + px[:, 2] / 2, px[:, 1] + px[:, 3] / 2
    assert np.all(x0 >= -1e-4) and np.all(y0 >= -1e-4) and np.all(x1 <= SIDE + 1e-4) and np.all(y1 <= SIDE + 1e-4)
    assert np.all(px[:, 2:] >= 2 - 1e-4)
    for a, b, c, d, k in zip(x0, y0, x1, y1, got_classes):  # each box lies on its own image's block (value k + 1)
        region = out[int(round(b)):int(round(d)), int(round(a)):int(round(c)), 0]
        assert region.size and np.all(region == k + 1)
    # A source box wholly inside its quadrant is there, moved by the quadrant's offset, at its own size.
    whole = 0
    for k, bs in enumerate(boxes):
        dx = xc - SIDE if k % 2 == 0 else xc
        dy = yc - SIDE if k < 2 else yc
        (r0, r1), (c0, c1) = ((0, yc) if k < 2 else (yc, SIDE)), ((0, xc) if k % 2 == 0 else (xc, SIDE))
        for cx, cy, w, h in bs * SIDE:
            moved = np.array([cx + dx, cy + dy, w, h])
            if c0 <= moved[0] - w / 2 and moved[0] + w / 2 <= c1 and r0 <= moved[1] - h / 2 and moved[1] + h / 2 <= r1:
                whole += 1
                mine = px[got_classes == k]
                assert np.any(np.all(np.abs(mine - moved) < 1e-3, axis=1)), (k, moved, mine)
    assert len(got) >= whole


def test_mosaic_shifts_whole_boxes_and_clips_or_drops_cut_ones():
    rng = np.random.default_rng(0)
    blank = np.zeros((SIDE, SIDE, 1), np.float32)
    # Image 0 fills the top-left quadrant with its bottom-right corner; its box there is whole if the centre
    # is far enough right and down. Draw centres until the whole and the cut cases both happen.
    whole = np.array([[0.9, 0.9, 0.1, 0.1]], np.float32)  # pixels 40.8..45.6: within 24 px of the corner
    cut = np.array([[0.5, 0.9, 0.5, 0.1]], np.float32)  # pixels 12..36 wide: cut by any centre
    seen = set()
    for _ in range(40):
        (_, got, cls), xc, yc = _mosaic_and_centre([blank] * 4, [whole, cut, np.zeros((0, 4)), np.zeros((0, 4))],
                                                   [np.array([0]), np.array([1]), np.zeros(0), np.zeros(0)], rng)
        by_class = dict(zip(cls.tolist(), got))
        # class 0: moved by (xc - 48, yc - 48) px, same size
        np.testing.assert_allclose(by_class[0] * SIDE, [0.9 * SIDE + xc - SIDE, 0.9 * SIDE + yc - SIDE, 4.8, 4.8],
                                   atol=1e-4)
        # class 1, in the top-right quadrant, shows its image's bottom-left part: x from 0 to 48 - xc
        visible = max(0.0, min(36, SIDE - xc) - 12)
        if visible >= max(2, MOSAIC_MIN_VISIBLE * 24):
            np.testing.assert_allclose(by_class[1][2] * SIDE, visible, atol=1e-4)
            assert by_class[1][0] * SIDE - by_class[1][2] * SIDE / 2 == pytest.approx(xc + 12, abs=1e-4)
            seen.add("clipped")
        else:
            assert 1 not in by_class
            seen.add("dropped")
    assert seen == {"clipped", "dropped"}


def test_hsv_moves_value_within_its_gain_on_grayscale():
    rng = np.random.default_rng(0)
    images = rng.uniform(0.2, 0.6, (8, 16, 16, 1)).astype(np.float32)
    out = hsv_jitter(images, rng, (0.0, 0.0, 0.4))
    ratio = out / images
    per_image = ratio.reshape(8, -1)
    np.testing.assert_allclose(per_image, np.broadcast_to(per_image[:, :1], per_image.shape), rtol=1e-5)  # per image
    assert np.all(per_image >= 0.6 - 1e-5) and np.all(per_image <= 1.4 + 1e-5)
    assert np.ptp(per_image[:, 0]) > 0.1  # the gains differ between images


def test_hsv_moves_hue_saturation_and_value_each_within_its_gain_on_colour():
    rng = np.random.default_rng(1)
    images = rng.uniform(0.1, 0.5, (6, 8, 8, 3)).astype(np.float32)
    gains = (0.05, 0.5, 0.3)
    out = hsv_jitter(images, rng, gains)
    before, after = tf.image.rgb_to_hsv(images).numpy(), tf.image.rgb_to_hsv(out).numpy()
    dh = (after[..., 0] - before[..., 0] + 0.5) % 1 - 0.5  # shortest way round the circle
    assert np.abs(dh).max() <= gains[0] + 1e-3 and np.abs(dh).max() > 0.005
    for c, g in ((1, gains[1]), (2, gains[2])):
        r = after[..., c] / before[..., c]
        assert r.min() >= 1 - g - 1e-3 and r.max() <= 1 + g + 1e-3 and np.ptp(r) > 0.05
    assert not np.allclose(out, images)


def test_hsv_with_zero_gains_changes_nothing():
    images = np.random.default_rng(2).uniform(0, 1, (2, 4, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(hsv_jitter(images, np.random.default_rng(0), (0, 0, 0)), images, atol=1e-5)


@pytest.mark.parametrize("values, words", [
    ({"augment_mosaic": 1.5}, "detection.augment_mosaic must be a probability in [0, 1]"),
    ({"augment_hsv": [0.1, 0.5]}, "detection.augment_hsv must be three gains"),
    ({"augment_hsv": [0.8, 0.5, 0.4], "channels": 3}, "detection.augment_hsv must be three gains"),
    ({"augment_hsv": [0.015, 0.7, 0.4], "channels": 1}, "detection.augment_hsv has hue or saturation gains"),
])
def test_out_of_range_augmentation_is_refused_with_the_field_name(values, words):
    with pytest.raises(ConfigError) as err:
        from_dict(DetectionConfig, values, "detection.")
    assert str(err.value).startswith(words)


def test_valid_augmentation_settings_load():
    cfg = from_dict(DetectionConfig, {"augment_mosaic": 0.5, "augment_hsv": [0.015, 0.7, 0.4], "channels": 3},
                    "detection.")
    assert cfg.augment_hsv == (0.015, 0.7, 0.4) and cfg.augment_mosaic == 0.5


def _batches(**detection):
    rng = np.random.default_rng(0)
    tiles = [_tile(k % 4, rng) for k in range(8)]
    data = DetectionSet([b""] * 8, [t[1] for t in tiles], [np.full(len(t[1]), k % 4) for k, t in enumerate(tiles)])
    cfg = DetectionConfig(image_size=SIDE, blocks=3, **detection)
    anchors = np.array([[0.1, 0.1], [0.3, 0.2]], np.float32)
    return DetectionBatches(np.stack([t[0] for t in tiles]) / 4, data, anchors, 4, cfg, 4, seed=1, training=True)


def test_training_batches_with_hsv_keep_the_targets_and_change_the_pixels():
    (x_off, y_off), (x_on, y_on) = _batches()[0], _batches(augment_hsv=(0.0, 0.0, 0.4))[0]
    np.testing.assert_array_equal(y_on, y_off)  # boxes (and so the grid targets) untouched
    assert not np.allclose(x_on, x_off) and x_on.min() >= 0 and x_on.max() <= 1


def test_training_batches_with_mosaic_hold_targets_for_the_mosaic_boxes():
    batches = _batches(augment_mosaic=1.0, augment_scale=0.0, augment_translate=0.0)
    x, y = batches[0]
    assert x.shape == (4, SIDE, SIDE, 1) and y.shape == (4, 6, 6, 2, 9)
    # parts of several source images (each image's blocks have their own value, 0.25 .. 1) in one image
    assert max(len(np.unique(image[image > 0])) for image in x) >= 2
    assert y[..., 4].sum() >= 1  # and positives in the targets
