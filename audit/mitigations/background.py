"""What lies outside the brain, made useless for training: background randomization replaces every
pixel outside the brain by noise; background swapping replaces it by another training image's
(drawn at random, whatever its class).  Either way nothing off the brain (burned-in text, padding,
the skull band's shape, scanner background) can separate the classes in training.  Brain tissue
(:data:`audit.regions.BRAIN_TISSUE`) is never touched, and every draw is independent of the class."""

from __future__ import annotations

import numpy as np

from audit.mitigations.base import Mitigation, TrainingSet
from audit.regions import brain_tissue_mask

__all__ = ["BackgroundRandomization", "BackgroundSwap"]


class BackgroundRandomization(Mitigation):
    name = "background_randomization"
    title = "Background randomization"
    targets = "shortcuts outside the brain: burned-in text, frames, padding, skull-edge ghosts, field of view"

    def apply(self, data: TrainingSet, rng: np.random.Generator) -> TrainingSet:
        brain = brain_tissue_mask(data.regions)
        images = np.array(data.images, np.float32)
        for i in range(len(images)):
            off = ~brain[i]
            # The noise's level is drawn at random, not read from the image: a level taken from the
            # brain's intensities would carry the tumor's brightness (a class cue) into the background.
            top = float(rng.uniform(0.1, 1.0))
            images[i][off] = rng.uniform(0, top, (int(off.sum()), images.shape[-1])).astype(np.float32)
        return TrainingSet(images, data.labels, data.regions, data.meta)


class BackgroundSwap(Mitigation):
    name = "background_swap"
    title = "Background swapping"
    targets = "shortcuts outside the brain: burned-in text, frames, skull-edge ghosts, a site's background"

    def apply(self, data: TrainingSet, rng: np.random.Generator) -> TrainingSet:
        brain = brain_tissue_mask(data.regions)
        images = np.array(data.images, np.float32)
        n = len(images)
        if n < 2:
            return TrainingSet(images, data.labels, data.regions, data.meta)
        donors = (np.arange(n) + rng.integers(1, n, n)) % n  # never the image itself; class-blind
        for i, d in enumerate(donors):
            off = ~brain[i]
            # The donor's own brain (and a tumor in it) is not carried over: those pixels get the
            # donor's darkest value, so only what lies outside the donor's brain moves.
            donor = np.where(brain[d][..., None], data.images[d].min(), data.images[d])
            images[i][off] = donor[off]
        return TrainingSet(images, data.labels, data.regions, data.meta)
