"""Cut augmentation: each training image's content box is cut by straight lines (what a tight field of
view does to a head), and what is left is stretched back over the box, as a crop would.  Against a
shortcut in *whether the frame cut the head*: with the zoom of the benchmark's tumor class, 55-70% of
that class's brains touch the frame and few of the other's; behind ``brain_crop`` (size and place
normalized) a cut is the cue left (measured on a development draw, data seed 7, zoom at p = 1: a healthy
test image shifted 12 px through the frame was called tumor in 25-45% of cases, one shifted 4 px, not
cut, in 2-3%; docs/mitigations.md).
Cutting every training image at random, in both classes, makes a straight, cut edge common to both,
so it no longer tells them apart.

The content box is the bounding box of the pixels above 0 (behind ``brain_crop``: the skull-stripped
brain).  Along each axis, with probability :data:`CUT_PROBABILITY`, one side (drawn) is cut at a depth
drawn uniformly from 0 to :data:`MAX_DEPTH` of the box; the rest is zero beyond the line, through a
mask smoothed by :data:`EDGE_SIGMA` px (the crop's smoothing of a real cut), and the part left is
mapped back onto the whole box by one affine (the region map with it, what is cut off becoming
background).  The settings were fixed before any measurement."""

from __future__ import annotations

import cv2
import numpy as np

from audit.mitigations.base import Mitigation, TrainingSet
from audit.mitigations.field_of_view import normalizing_affine
from audit.regions import REGIONS

__all__ = ["CUT_PROBABILITY", "EDGE_SIGMA", "MAX_DEPTH", "CutAugmentation", "cut_image"]

CUT_PROBABILITY = 0.5
"""The chance that one axis's box is cut, drawn per image and axis."""
MAX_DEPTH = 0.3
"""The deepest cut, as a share of the box's side."""
EDGE_SIGMA = 1.0
"""The smoothing of the cut's edge, in px."""


def cut_image(
    image: np.ndarray, cuts: tuple[float, float, float, float]
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``image`` (H, W, C) with its content box cut by ``(left, right, top, bottom)`` (shares of the box's
    side, each side's depth) and the part left stretched back over the box; with the (2, 3) affine of the
    stretch and the bool (H, W) map of the pixels kept (before it).  Without content or cuts: the image
    unchanged, None, None."""
    image = np.asarray(image, np.float32)
    h, w, c = image.shape
    on = image.max(axis=-1) > 0
    rows, cols = np.flatnonzero(on.any(axis=1)), np.flatnonzero(on.any(axis=0))
    if not len(rows) or not any(cuts):
        return image, None, None
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    left, right, top, bottom = cuts
    bw, bh = x1 - x0, y1 - y0
    kx0, kx1 = x0 + left * bw, x1 - right * bw
    ky0, ky1 = y0 + top * bh, y1 - bottom * bh
    yy, xx = np.mgrid[:h, :w] + 0.5  # pixel centres
    kept = (xx >= kx0) & (xx <= kx1) & (yy >= ky0) & (yy <= ky1)
    # The soft edge only where a line cuts: an uncut side's mask runs on past the content.
    bounds = [kx0 if left else -np.inf, kx1 if right else np.inf, ky0 if top else -np.inf, ky1 if bottom else np.inf]
    hard = (xx >= bounds[0]) & (xx <= bounds[1]) & (yy >= bounds[2]) & (yy <= bounds[3])
    soft = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), EDGE_SIGMA) * on  # nothing comes in from outside
    m = normalizing_affine(((kx0 + kx1) / 2 - 0.5, (ky0 + ky1) / 2 - 0.5, kx1 - kx0, ky1 - ky0),
                           ((x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5, bw, bh))  # fmt: skip
    out = cv2.warpAffine((image * soft[..., None]).reshape(h, w, c), m, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT)  # fmt: skip
    return out.reshape(h, w, c), m, kept


def random_cuts(rng: np.random.Generator) -> tuple[float, float, float, float]:
    """(left, right, top, bottom) depths: per axis, with :data:`CUT_PROBABILITY`, one side drawn and cut."""
    depths = [0.0, 0.0, 0.0, 0.0]
    for axis in (0, 1):
        if rng.random() < CUT_PROBABILITY:
            depths[2 * axis + int(rng.integers(2))] = float(rng.uniform(0, MAX_DEPTH))
    return tuple(depths)


class CutAugmentation(Mitigation):
    name = "cut_augmentation"
    title = "Field-of-view cut augmentation"
    targets = "a shortcut in whether the field of view cut the head (zoom, a tight or shifted field of view)"

    def apply(self, data: TrainingSet, rng: np.random.Generator) -> TrainingSet:
        background = REGIONS.index("background")
        images = np.empty_like(np.asarray(data.images, np.float32))
        regions = np.array(data.regions, copy=True)
        for i, image in enumerate(np.asarray(data.images, np.float32)):
            cuts = random_cuts(rng)
            images[i], m, kept = cut_image(image, cuts)
            if m is not None:
                h, w = regions.shape[1:]
                left = np.where(kept, data.regions[i], background).astype(np.uint8)
                regions[i] = cv2.warpAffine(left, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                                            borderValue=background)  # fmt: skip
        return TrainingSet(np.clip(images, 0, 1), data.labels, regions, data.meta)
