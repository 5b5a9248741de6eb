"""Field-of-view normalization: every training image is scaled along each axis and shifted so that its
head's bounding box has the training set's median height and width and sits in the middle of the
frame; what lies outside the head afterwards (background, letterbox bars, what came in from beyond
the frame) is filled with fresh background noise at the set's median noise level, and since the
resampling changed each image's noise grain by its own scale (an upscaled head's noise is coarser), every
image is smoothed (:data:`GRAIN_SIGMA`) and given fresh Rician noise of that level.  Both were added
after a first version left class cues in the training images (measured in 0.9.0 on the MNI152 zoom and
padding cells at p = 1, AUC of one feature between the classes: the background's mean 0.83 / 0.92 with
each image's own level as fill, the head's high-frequency energy 0.62 / 0.95; after: 0.51-0.66).  The head's size,
aspect ratio and place then no longer differ between training images of either class, so the model
cannot learn a field of view, a zoom or a letterbox padding.  Burned-in artifacts move with the
image and stay (other mitigations target them).  The head is :data:`audit.regions.HEAD` (brain tissue
and the skull band, exact or estimated); an image without head pixels is left as it is."""

from __future__ import annotations

import cv2
import numpy as np

from audit.data.rician import add_rician_noise, background_noise_sigma, rayleigh
from audit.mitigations.base import Mitigation, TrainingSet
from audit.mitigations.geometry import warp_with_regions
from audit.regions import HEAD, REGIONS

__all__ = ["FieldOfViewMixing", "FieldOfViewNormalization", "head_box", "normalizing_affine"]

GRAIN_SIGMA = 1.0
"""Gaussian smoothing (pixels) before the fresh noise: wider than the grain any resampling leaves."""


def head_box(head: np.ndarray) -> tuple[float, float, float, float] | None:
    """(centre x, centre y, width, height) in pixels of the bounding box of the bool map ``head``, or None
    when it is empty."""
    rows, cols = np.flatnonzero(head.any(axis=1)), np.flatnonzero(head.any(axis=0))
    if not len(rows):
        return None
    return ((cols[0] + cols[-1]) / 2, (rows[0] + rows[-1]) / 2, cols[-1] - cols[0] + 1.0, rows[-1] - rows[0] + 1.0)


def normalizing_affine(box: tuple[float, ...], target: tuple[float, ...]) -> np.ndarray:
    """The (2, 3) affine that maps the box ``(cx, cy, w, h)`` onto the box ``target`` (same layout)."""
    (cx, cy, w, h), (fx, fy, tw, th) = box, target
    sx, sy = tw / w, th / h
    return np.array([[sx, 0.0, fx - sx * cx], [0.0, sy, fy - sy * cy]])


class FieldOfViewNormalization(Mitigation):
    name = "field_of_view_normalization"
    title = "Field-of-view normalization"
    targets = "shortcuts in the head's size, shape and position: field of view, zoom, letterbox padding"

    def apply(self, data: TrainingSet, rng: np.random.Generator) -> TrainingSet:
        n, h, w, c = data.images.shape
        images = np.array(data.images, np.float32)
        regions = np.array(data.regions)
        head = np.isin(data.regions, [REGIONS.index(r) for r in HEAD])
        boxes = [head_box(head[i]) for i in range(n)]
        found = np.array([b for b in boxes if b is not None])
        if not len(found):
            return TrainingSet(images, data.labels, regions, data.meta)
        targets = self._targets(found, n, (h, w), rng)
        background = REGIONS.index("background")
        outside = [background, REGIONS.index("padding")]
        sigmas = [background_noise_sigma(images[i], data.regions[i] == background) for i in range(n)]
        found_sigmas = [s for s in sigmas if s is not None]
        sigma = float(np.median(found_sigmas)) if found_sigmas else None
        for i, box in enumerate(boxes):
            if box is None:
                continue
            m = normalizing_affine(box, targets[i])
            warped, regions[i] = warp_with_regions(images[i], data.regions[i], m, 0.0, background)
            off = np.isin(regions[i], outside)
            regions[i][off] = background
            if sigma is None:
                warped[off] = float(images[i].min())
            else:  # resampling changed the noise's grain by the image's own scale: a common grain instead
                warped = add_rician_noise(cv2.GaussianBlur(warped, (0, 0), GRAIN_SIGMA).reshape(h, w, c), sigma, rng)
                warped[off] = rayleigh(sigma, (int(off.sum()), c), rng)
            images[i] = warped
        return TrainingSet(images, data.labels, regions, data.meta)

    def _targets(self, boxes: np.ndarray, n: int, shape: tuple[int, int],
                 rng: np.random.Generator) -> list[tuple[float, ...]]:  # fmt: skip
        """Per image, the head box (cx, cy, w, h) to map it onto: the set's median size, centred in the frame."""
        centre = ((shape[1] - 1) / 2, (shape[0] - 1) / 2)
        return [(*centre, float(np.median(boxes[:, 2])), float(np.median(boxes[:, 3])))] * n


class FieldOfViewMixing(FieldOfViewNormalization):
    """Each head's box mapped onto the box of a randomly drawn training image (of either class): the set's
    spread of head sizes, aspect ratios and places stays, but is dealt out to both classes alike.
    Normalization alone removes the class's field of view from training, yet leaves a model that has
    only seen one head size, so a zoomed or squeezed test head still moves its decision (measured in
    0.9.0 at p = 1: drop 0.74 on zoom, 0.45 on padding, tied accuracy 0.86 / 0.71 after normalization);
    mixing also trains it over the range of geometry the data shows."""

    name = "field_of_view_mixing"
    title = "Field-of-view mixing"

    def _targets(self, boxes: np.ndarray, n: int, shape: tuple[int, int],
                 rng: np.random.Generator) -> list[tuple[float, ...]]:  # fmt: skip
        return [tuple(float(v) for v in boxes[k]) for k in rng.integers(0, len(boxes), n)]
