"""Geometry augmentation: each training image is scaled along each axis by its own random factor,
rotated and shifted (a random affine, drawn independently of the class, the same for its region
map), with the background's value filling what comes in from outside.  Against shortcuts in the
head's size, shape and place in the frame: field of view, zoom, letterbox padding.  The ranges are
nnU-Net's default spatial augmentation (scaling 0.7-1.4, Isensee et al., Nat. Methods 2021), with
each axis scaled on its own so the aspect ratio varies too; they were fixed before any measurement."""

from __future__ import annotations

import cv2
import numpy as np

from audit.mitigations.base import Mitigation, TrainingSet
from audit.regions import REGIONS

__all__ = ["GeometryAugmentation", "random_affine", "warp_with_regions"]

SCALE = (0.7, 1.4)
"""Per-axis scale factor, drawn log-uniformly."""
ROTATION_DEG = 15.0
SHIFT = 0.1
"""Largest shift, as a fraction of the image side."""


def random_affine(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A (2, 3) affine matrix about the image centre: per-axis scale, rotation, shift."""
    h, w = shape
    sx, sy = np.exp(rng.uniform(np.log(SCALE[0]), np.log(SCALE[1]), 2))
    angle = np.deg2rad(rng.uniform(-ROTATION_DEG, ROTATION_DEG))
    tx, ty = rng.uniform(-SHIFT, SHIFT, 2) * (w, h)
    cos, sin = np.cos(angle), np.sin(angle)
    linear = np.array([[cos, -sin], [sin, cos]]) @ np.diag([sx, sy])
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    offset = centre - linear @ centre + (tx, ty)
    return np.hstack([linear, offset[:, None]]).astype(np.float64)


def warp_with_regions(image: np.ndarray, regions: np.ndarray, m: np.ndarray, fill: float,
                      region_fill: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``image`` (H, W, C) and its region map warped by the (2, 3) affine ``m``: the pixels bilinearly, with
    ``fill`` coming in from outside the frame; the regions by nearest neighbour, with ``region_fill``."""
    h, w, c = image.shape
    warped = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=(fill,) * 4)  # fmt: skip
    warped_regions = cv2.warpAffine(regions.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=region_fill)  # fmt: skip
    return warped.reshape(h, w, c), warped_regions


class GeometryAugmentation(Mitigation):
    name = "geometry_augmentation"
    title = "Geometry augmentation"
    targets = "shortcuts in the head's size, shape and position: field of view, zoom, letterbox padding"

    def apply(self, data: TrainingSet, rng: np.random.Generator) -> TrainingSet:
        n, h, w, c = data.images.shape
        images = np.empty_like(np.asarray(data.images, np.float32))
        regions = np.empty_like(data.regions)
        background = REGIONS.index("background")
        for i in range(n):
            m = random_affine((h, w), rng)
            image = np.asarray(data.images[i], np.float32)
            images[i], regions[i] = warp_with_regions(image, data.regions[i], m, float(image.min()), background)
        return TrainingSet(images, data.labels, regions, data.meta)
