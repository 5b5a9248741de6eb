"""Corner erasing: the four corner squares (a fifth of the shorter side) are set to the image's
minimum, except brain tissue, so text burned into a corner (scanner names, markers) is gone."""

from __future__ import annotations

import numpy as np

from audit.mitigations.base import Mitigation, TrainingSet
from audit.regions import brain_tissue_mask

__all__ = ["CornerErasing", "corner_mask"]


def corner_mask(shape: tuple[int, int], fraction: float = 0.2) -> np.ndarray:
    """(H, W) bool: the four corner squares of side ``fraction`` x the shorter side."""
    h, w = shape
    s = max(1, round(fraction * min(h, w)))
    mask = np.zeros((h, w), bool)
    for rows in (slice(0, s), slice(h - s, h)):
        for cols in (slice(0, s), slice(w - s, w)):
            mask[rows, cols] = True
    return mask


class CornerErasing(Mitigation):
    name = "corner_erasing"
    title = "Corner erasing"
    targets = "text and markers burned into the image corners"

    def apply(self, data: TrainingSet, rng: np.random.Generator) -> TrainingSet:
        corners = corner_mask(data.images.shape[1:3])
        brain = brain_tissue_mask(data.regions)
        images = np.array(data.images, np.float32)
        for i in range(len(images)):
            erase = corners & ~brain[i]
            images[i][erase] = images[i].min()
        return TrainingSet(images, data.labels, data.regions, data.meta)
