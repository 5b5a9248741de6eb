"""A higher noise level: extra Rician noise over the whole image."""

from __future__ import annotations

import numpy as np

from audit.data.rician import add_rician_noise

NAME = "noise"


def apply(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator, sigma: float = 0.06) -> None:
    np.clip(add_rician_noise(image, sigma, rng), 0, 1, out=image)
    return None
