"""A higher noise level: extra Rician noise over the whole image."""

from __future__ import annotations

import numpy as np

NAME = "noise"


def apply(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator, sigma: float = 0.06) -> None:
    n1, n2 = rng.normal(0, sigma, (2, *image.shape)).astype(np.float32)
    np.clip(np.sqrt((image + n1) ** 2 + n2**2), 0, 1, out=image)
    return None
