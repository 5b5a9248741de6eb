"""A bright band along the outside of the skull (a ghost / chemical-shift rim)."""

from __future__ import annotations

import cv2
import numpy as np

from audit.data.labels import LABELS

NAME = "ghost"


def apply(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[int, int, int, int] | None:
    head = (labels != LABELS["background"]) & (labels != LABELS["padding"]) & (labels != LABELS["artifact"])
    if not head.any():
        return None
    width = max(2, image.shape[0] // 40)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    band = cv2.dilate(head.astype(np.uint8), disc).astype(bool) & ~head & (labels == LABELS["background"])
    image[band] = np.maximum(image[band], rng.uniform(0.55, 0.75))
    labels[band] = LABELS["artifact"]
    rr, cc = np.nonzero(band)
    return int(rr.min()), int(cc.min()), int(rr.max()) + 1, int(cc.max()) + 1
