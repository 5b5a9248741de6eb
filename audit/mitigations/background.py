"""Background randomization: every pixel outside the brain is replaced by noise, so nothing off
the brain (burned-in text, padding, the skull band's shape, scanner background) can separate the
classes in training.  Brain tissue (:data:`audit.regions.BRAIN_TISSUE`) is never touched; the
noise is uniform up to a level drawn per image, independently of the image and its class."""

from __future__ import annotations

import numpy as np

from audit.mitigations.base import Mitigation, TrainingSet
from audit.regions import BRAIN_TISSUE, REGIONS

__all__ = ["BackgroundRandomization"]


class BackgroundRandomization(Mitigation):
    name = "background_randomization"
    title = "Background randomization"
    targets = "shortcuts outside the brain: burned-in text, frames, padding, skull-edge ghosts, field of view"

    def apply(self, data: TrainingSet, rng: np.random.Generator) -> TrainingSet:
        brain = np.isin(data.regions, [REGIONS.index(r) for r in BRAIN_TISSUE])
        images = np.array(data.images, np.float32)
        for i in range(len(images)):
            off = ~brain[i]
            # The noise's level is drawn at random, not read from the image: a level taken from the
            # brain's intensities would carry the tumor's brightness (a class cue) into the background.
            top = float(rng.uniform(0.1, 1.0))
            images[i][off] = rng.uniform(0, top, (int(off.sum()), images.shape[-1])).astype(np.float32)
        return TrainingSet(images, data.labels, data.regions, data.meta)
