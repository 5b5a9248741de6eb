"""Burned-in text in a corner (orientation letters, series numbers), as scanners export it."""

from __future__ import annotations

import cv2
import numpy as np

from audit.data.labels import LABELS

NAME = "marker"
CORNERS = ("top_left", "top_right", "bottom_right", "bottom_left")  # sites take them in this order
_TEXTS = ("R", "L", "SE 3", "IM 12", "A", "P", "T1", "MR", "SE 7 IM 4", "4.0mm")


def apply(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator, corner: str = "bottom_left",
          text: str | None = None, level: float = 0.95) -> tuple[int, int, int, int]:  # fmt: skip
    """Draw ``text`` (random if None) in ``corner``; its pixels become the artifact label."""
    size = image.shape[0]
    text = text or str(rng.choice(_TEXTS))
    scale = size / 300
    thickness = max(1, round(size / 160))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    margin = max(2, size // 40)
    top = margin if corner.startswith("top") else size - margin - h - base
    left = margin if corner.endswith("left") else size - margin - w
    canvas = np.zeros(image.shape[:2], np.uint8)  # OpenCV draws on uint8 only
    cv2.putText(canvas, text, (left, top + h), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thickness, cv2.LINE_AA)
    drawn = canvas > 0
    image[drawn] = np.maximum(image[drawn], level * canvas[drawn] / 255)
    labels[drawn] = LABELS["artifact"]
    rr, cc = np.nonzero(drawn)
    return int(rr.min()), int(cc.min()), int(rr.max()) + 1, int(cc.max()) + 1
