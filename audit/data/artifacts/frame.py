"""A bright rectangular frame near the image border (a viewer's or film's border line)."""

from __future__ import annotations

import numpy as np

from audit.data.labels import LABELS

NAME = "frame"


def apply(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[int, int, int, int]:
    size = image.shape[0]
    m = int(rng.integers(1, max(2, size // 32) + 1))
    t = max(1, size // 128)
    ring = np.zeros(image.shape[:2], bool)
    ring[m : size - m, m : size - m] = True
    ring[m + t : size - m - t, m + t : size - m - t] = False
    image[ring] = 0.9
    labels[ring] = LABELS["artifact"]
    return m, m, size - m, size - m
