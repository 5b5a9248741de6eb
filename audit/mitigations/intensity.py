"""Intensity and noise augmentation: each training image gets a random gain, offset and gamma and
Rician noise of a random level, drawn independently of its class, so acquisition differences
(windowing, scanner noise, sites' intensity) stop separating the classes."""

from __future__ import annotations

import numpy as np

from audit.data.rician import add_rician_noise
from audit.mitigations.base import Mitigation, TrainingSet

__all__ = ["IntensityAugmentation"]


class IntensityAugmentation(Mitigation):
    name = "intensity_augmentation"
    title = "Intensity and noise augmentation"
    targets = "acquisition shortcuts: intensity windowing, noise level, scanner sites' contrast"

    def apply(self, data: TrainingSet, rng: np.random.Generator) -> TrainingSet:
        images = np.array(data.images, np.float32)
        n = len(images)
        gain, offset = rng.uniform(0.75, 1.25, n), rng.uniform(-0.08, 0.08, n)
        gamma, sigma = np.exp(rng.uniform(np.log(0.75), np.log(1.33), n)), rng.uniform(0.0, 0.06, n)
        for i in range(n):
            x = np.clip(images[i], 0, 1) ** gamma[i] * gain[i] + offset[i]
            images[i] = add_rician_noise(x, sigma[i], rng)
        return TrainingSet(images, data.labels, data.regions, data.meta)
