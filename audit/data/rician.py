"""Rician noise of magnitude MR images: adding it, and reading its level from an image's background.

A magnitude image is |signal + complex Gaussian noise|: with noise of deviation sigma per channel,
``sqrt((x + n1)^2 + n2^2)``.  Where the signal is zero (the background) the values are
Rayleigh-distributed with scale sigma, whose median is ``sigma sqrt(2 ln 2)`` (Gudbjartsson & Patz
1995); the median is read rather than the standard deviation because a few bright pixels on the
background (a burned-in marker, a ghost, a head edge the label map calls background) inflate the
deviation and barely move the median.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_BACKGROUND", "RAYLEIGH_MEDIAN", "add_rician_noise", "background_noise_sigma", "rayleigh"]

RAYLEIGH_MEDIAN = float(np.sqrt(2 * np.log(2)))
"""Median of a Rayleigh distribution of scale 1."""
MIN_BACKGROUND = 50
"""Fewest background pixels to read a noise level from."""


def background_noise_sigma(image: np.ndarray, background: np.ndarray) -> float | None:
    """The Rayleigh scale of ``image``'s values over the ``background`` pixels (all channels): their
    median over :data:`RAYLEIGH_MEDIAN`; None with fewer than :data:`MIN_BACKGROUND` of them."""
    values = np.asarray(image)[background].ravel()
    if values.size < MIN_BACKGROUND:
        return None
    return float(np.median(values)) / RAYLEIGH_MEDIAN


def rayleigh(sigma: float, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Rayleigh noise of scale ``sigma`` (a magnitude image's background), float32."""
    return (sigma * np.sqrt(-2 * np.log(rng.uniform(np.finfo(np.float32).tiny, 1.0, shape)))).astype(np.float32)


def add_rician_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``image`` as a magnitude image with complex Gaussian noise of deviation ``sigma`` added:
    ``sqrt((x + n1)^2 + n2^2)``, both parts drawn at once as float32 (not clipped)."""
    n1, n2 = rng.normal(0, sigma, (2, *np.shape(image))).astype(np.float32)
    return np.sqrt((image + n1) ** 2 + n2**2)
