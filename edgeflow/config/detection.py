"""Config section of the detection pipeline: the bundled canvases, the YOLO grid, its loss and NMS."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Tuple

from edgeflow.config.base import check

BOX_LOSSES = ("ciou", "iou", "sqrt")
BUNDLED_IMAGE_SIZE = 64  # the bundled canvases' side when image_size is 0


@dataclass(frozen=True)
class DetectionConfig:
    """The YOLO detection pipeline: generated data, grid detector, loss, post-processing, blessing.

    The grid is ``image_size / 2**blocks`` cells a side; each cell predicts ``num_anchors`` boxes.
    ``image_size`` 0 (the default) takes the size from the data (:meth:`at_size`, called by the
    pipeline's build: the largest image side in a sample of up to 200, rounded up to a multiple of 2**blocks).
    """

    # The bundled set (used when data.path is unset): digits pasted on a blank canvas.
    num_images: int = 800
    max_objects: int = 3  # 1..max_objects digits per canvas
    min_object_px: int = 12  # digit side in pixels, drawn uniformly from [min, max]
    max_object_px: int = 26
    data_seed: int = 0
    # Model input and backbone.
    image_size: int = 0  # images are resized to (image_size, image_size); 0 = from the data (64 for the bundled set)
    channels: int = 1
    blocks: int = 3  # conv blocks, each halving the resolution: grid = image_size / 2**blocks
    filters: int = 16  # filters of the first block; each later block doubles them
    scales: int = 1  # heads: 1 = one grid at stride 2**blocks; 2 or 3 = a feature pyramid, strides 2**(blocks-L+1)..2**blocks
    num_anchors: int = 3  # per scale
    anchors: Tuple[float, ...] = ()  # w1, h1, w2, h2, ... as fractions of the image, finest scale's first; () = k-means
    #                                  on the training boxes (scales * num_anchors clusters, the smallest to the finest grid)
    # Loss.
    lambda_coord: float = 5.0
    lambda_noobj: float = 0.5
    box_loss: str = "ciou"  # "ciou" (1 - CIoU), "iou" (1 - IoU) or "sqrt" (squared error on x, y, sqrt w, sqrt h)
    anchor_t: float = 4.0  # an anchor is a positive for a box when no side differs by more than this factor
    neighbour_cells: bool = True  # the centre cell's two nearest neighbours are positives too (YOLOv5)
    label_smoothing: float = 0.0  # class targets (1 - e) * one-hot + e / C
    obj_balance: Tuple[float, ...] = ()  # objectness weight per scale, finest first; () = 1 each (the sum over
    #                                      cells already weighs a finer grid by its cell count)
    # Box-aware augmentation in training.
    augment_flip: bool = False  # off for digits: a mirrored 2 is not a 2
    augment_scale: float = 0.2  # zoom drawn from [1 - s, 1 + s]
    augment_translate: float = 0.1  # shift up to this fraction of the image
    augment_mosaic: float = 0.0  # probability that a training image is a mosaic of four around a random centre
    augment_hsv: Tuple[float, ...] = (0.0, 0.0, 0.0)  # hue shift, saturation and value gains, each drawn from
    #                                                   [-g, g] per image (YOLOv5: 0.015, 0.7, 0.4); h, s need channels 3
    # Post-processing (serving and edge).
    score_threshold: float = 0.25
    iou_threshold: float = 0.45
    max_detections: int = 20
    # Blessing.
    min_map50: float = 0.8  # blessed only when eval mAP@0.5 reaches this (the default set measures 0.98)

    def __post_init__(self):
        object.__setattr__(self, "anchors", tuple(self.anchors))
        check(self.num_images >= 10, "num_images", "must be at least 10")
        check(self.max_objects >= 1, "max_objects", "must be at least 1")
        check(4 <= self.min_object_px <= self.max_object_px <= self.side, "min_object_px",
               "must be at least 4 and at most max_object_px, which must fit in image_size")
        check(self.image_size == 0 or 16 <= self.image_size <= 1024, "image_size",
              "must be 0 (from the data) or between 16 and 1024")
        check(self.channels in (1, 3), "channels", "must be 1 (grayscale) or 3 (RGB)")
        check(1 <= self.blocks <= 6 and self.side % 2 ** self.blocks == 0, "blocks",
               "must be between 1 and 6, and image_size must be divisible by 2**blocks")
        check(self.filters >= 1, "filters", "must be at least 1")
        check(1 <= self.num_anchors <= 9, "num_anchors", "must be between 1 and 9")
        check(1 <= self.scales <= min(3, self.blocks), "scales", "must be 1, 2 or 3, and at most blocks")
        check(not self.anchors or (len(self.anchors) == 2 * self.num_anchors * self.scales and all(
            isinstance(a, (int, float)) and 0 < a <= 1 for a in self.anchors)), "anchors",
            "must be empty (k-means) or 2 * num_anchors * scales numbers in (0, 1]: w1, h1, w2, h2, ...")
        object.__setattr__(self, "obj_balance", tuple(self.obj_balance))
        check(not self.obj_balance or (len(self.obj_balance) == self.scales and all(
            isinstance(b, (int, float)) and b > 0 for b in self.obj_balance)), "obj_balance",
            "must be empty (1 per scale) or one weight above 0 per scale, finest first")
        check(self.lambda_coord >= 0 and self.lambda_noobj >= 0, "lambda_coord",
               "and lambda_noobj must be at least 0")
        check(self.box_loss in BOX_LOSSES, "box_loss", f"must be one of {', '.join(BOX_LOSSES)}")
        check(self.anchor_t > 1, "anchor_t", "must be above 1")
        check(0 <= self.label_smoothing < 1, "label_smoothing", "must be in [0, 1)")
        check(0 <= self.augment_scale < 1, "augment_scale", "must be in [0, 1)")
        check(0 <= self.augment_translate < 0.5, "augment_translate", "must be in [0, 0.5)")
        check(isinstance(self.augment_mosaic, (int, float)) and 0 <= self.augment_mosaic <= 1, "augment_mosaic",
              "must be a probability in [0, 1]")
        object.__setattr__(self, "augment_hsv", tuple(self.augment_hsv))
        hsv = self.augment_hsv
        check(len(hsv) == 3 and all(isinstance(g, (int, float)) and not isinstance(g, bool) for g in hsv)
              and 0 <= hsv[0] <= 0.5 and 0 <= hsv[1] < 1 and 0 <= hsv[2] < 1, "augment_hsv",
              "must be three gains [hue, saturation, value]: hue in [0, 0.5], saturation and value in [0, 1)")
        check(self.channels == 3 or hsv[:2] == (0, 0), "augment_hsv",
              "has hue or saturation gains, which grayscale images (channels 1) do not have; set them to 0 "
              "(e.g. [0, 0, 0.4]) or use channels 3")
        check(0 < self.score_threshold < 1, "score_threshold", "must be in (0, 1)")
        check(0 < self.iou_threshold <= 1, "iou_threshold", "must be in (0, 1]")
        check(self.max_detections >= 1, "max_detections", "must be at least 1")
        check(0 <= self.min_map50 <= 1, "min_map50", "must be in [0, 1]")

    @property
    def side(self) -> int:
        """The model input's side: image_size, or the bundled canvases' while it is still 0 (from the data)."""
        return self.image_size or BUNDLED_IMAGE_SIZE

    @property
    def grid(self) -> int:
        """The coarsest (with scales 1, the only) grid's side."""
        return self.side // 2 ** self.blocks

    @property
    def grids(self) -> Tuple[int, ...]:
        """Every head's grid side, finest first."""
        return tuple(self.grid * 2 ** (self.scales - 1 - i) for i in range(self.scales))

    def at_size(self, largest_side: int) -> "DetectionConfig":
        """This config with image_size set: kept when given, else `largest_side` (the data's) rounded up
        to a multiple of 2**blocks, within [16, 1024]."""
        if self.image_size:
            return self
        step = 2 ** self.blocks
        return replace(self, image_size=int(min(max(-(-largest_side // step) * step, 16, step), 1024 // step * step)))
