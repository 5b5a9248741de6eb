"""A global intensity / contrast shift (another scanner's windowing)."""

from __future__ import annotations

import numpy as np

NAME = "intensity"


def apply(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> None:
    gain, offset = rng.uniform(1.25, 1.4), rng.uniform(0.04, 0.08)
    np.clip(image * gain + offset * (image > 0.02), 0, 1, out=image)
    return None
