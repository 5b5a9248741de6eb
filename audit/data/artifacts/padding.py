"""Black letterbox padding: the slice squeezed between bars, as when a non-square image is padded."""

from __future__ import annotations

import cv2
import numpy as np

from audit.data.labels import LABELS

NAME = "padding"


def apply(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> None:
    size = image.shape[0]
    bar = int(round(size * rng.uniform(0.10, 0.16)))
    inner = size - 2 * bar
    vertical = bool(rng.random() < 0.5)  # bars top/bottom, else left/right
    dsize = (size, inner) if vertical else (inner, size)
    small = cv2.resize(image, dsize, interpolation=cv2.INTER_AREA)
    small_labels = cv2.resize(labels, dsize, interpolation=cv2.INTER_NEAREST)
    image[:] = 0
    labels[:] = LABELS["padding"]
    if vertical:
        image[bar : bar + inner], labels[bar : bar + inner] = small, small_labels
    else:
        image[:, bar : bar + inner], labels[:, bar : bar + inner] = small, small_labels
    return None
