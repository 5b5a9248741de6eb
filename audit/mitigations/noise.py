"""Noise equalization: every training image gets the extra Rician noise that brings its noise level up
to the noisiest training image's, so the noise level no longer differs between images of either class
and the model cannot learn it (a site's or scanner's noise, or a planted noise shortcut).

An image's noise level is read from its background, where a magnitude image holds noise only: there
the pixel values are Rayleigh-distributed with scale sigma, whose median is sigma * sqrt(2 ln 2)
(robust to a burned-in marker or a ghost on a few background pixels).  Adding complex Gaussian noise
of deviation s to a magnitude image, sqrt((x + n1)^2 + n2^2), adds 2 s^2 to the background's mean
square and s^2 to the variance where the signal is strong, so s = sqrt(target^2 - sigma^2) lifts
both to the target's level.  An image without background pixels is left as it is."""

from __future__ import annotations

import numpy as np

from audit.mitigations.base import Mitigation, TrainingSet
from audit.regions import REGIONS

__all__ = ["NoiseEqualization", "add_rician_noise", "background_noise_sigma", "rayleigh"]

RAYLEIGH_MEDIAN = float(np.sqrt(2 * np.log(2)))
"""Median of a Rayleigh distribution of scale 1."""
MIN_BACKGROUND = 50
"""Fewest background pixels to read a noise level from."""


def background_noise_sigma(image: np.ndarray, background: np.ndarray) -> float | None:
    """The Rayleigh scale of ``image``'s values over the ``background`` pixels (all channels), or None
    with fewer than :data:`MIN_BACKGROUND` of them."""
    values = np.asarray(image)[background].ravel()
    if values.size < MIN_BACKGROUND:
        return None
    return float(np.median(values)) / RAYLEIGH_MEDIAN


def rayleigh(sigma: float, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Rayleigh noise of scale ``sigma`` (a magnitude image's background), float32."""
    return (sigma * np.sqrt(-2 * np.log(rng.uniform(np.finfo(np.float32).tiny, 1.0, shape)))).astype(np.float32)


def add_rician_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``image`` as a magnitude image with complex Gaussian noise of deviation ``sigma`` added:
    sqrt((x + n1)^2 + n2^2)."""
    n1, n2 = rng.normal(0, sigma, (2, *image.shape)).astype(np.float32)
    return np.sqrt((image + n1) ** 2 + n2**2)


class NoiseEqualization(Mitigation):
    name = "noise_equalization"
    title = "Noise equalization"
    targets = "acquisition shortcuts in the noise level: a scanner's or site's noise, a noisier class"

    def apply(self, data: TrainingSet, rng: np.random.Generator) -> TrainingSet:
        images = np.array(data.images, np.float32)
        background = data.regions == REGIONS.index("background")
        sigmas = [background_noise_sigma(images[i], background[i]) for i in range(len(images))]
        found = [s for s in sigmas if s is not None]
        if not found:
            return TrainingSet(images, data.labels, data.regions, data.meta)
        target = max(found)
        for i, sigma in enumerate(sigmas):
            if sigma is None or sigma >= target:
                continue
            images[i] = add_rician_noise(images[i], np.sqrt(target**2 - sigma**2), rng)
        return TrainingSet(images, data.labels, data.regions, data.meta)
