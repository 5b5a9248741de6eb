"""Noise equalization: every training image gets the extra Rician noise that brings its noise level up
to the noisiest training image's, so the noise level no longer differs between images of either class
and the model cannot learn it (a site's or scanner's noise, or a planted noise shortcut).

An image's noise level is read from its background (:func:`audit.data.rician.background_noise_sigma`,
the Rayleigh median, robust to a burned-in marker or a ghost on a few background pixels).  Adding
complex Gaussian noise of deviation s to a magnitude image, sqrt((x + n1)^2 + n2^2), adds 2 s^2 to the
background's mean square and s^2 to the variance where the signal is strong, so
s = sqrt(target^2 - sigma^2) lifts both to the target's level.  An image without background pixels is left as it is."""

from __future__ import annotations

import numpy as np

from audit.data.rician import add_rician_noise, background_noise_sigma
from audit.mitigations.base import Mitigation, TrainingSet
from audit.regions import REGIONS

__all__ = ["NoiseEqualization"]


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
