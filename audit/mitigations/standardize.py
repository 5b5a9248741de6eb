"""Intensity standardization: each training image is mapped by one affine intensity transform so
that its brain tissue's 5th and 95th percentiles land on the training set's median 5th and 95th
percentiles (a per-image robust z-score, Nyul-style landmarks reduced to two).  A scanner's gain
and offset, or a site's windowing, then no longer differ between training images of either class,
so the model cannot learn them; the tumor's own brightness, relative to the brain, stays.

The landmarks are read from brain tissue *without* the tumor: a bright tumor raises the 95th
percentile of its image, so landmarks taken over it darken every tumor image's brain, a new class
cue (measured in 0.9.0: a model trained so learnt "darker means tumor", drop -0.54 on the intensity
shortcut).  Where the regions are estimated and the set has no tumor masks, the tumor is part of the
brain estimate and that cue is weakened, not removed.
The background holds noise only, and a scanner's windowing changes it too, in ways one affine map
cannot undo (an offset applied above a threshold sends the darkest pixels below zero, a mass of
zeros only the shifted class has: measured in 0.9.0, drop 0.58 with the background mapped).  So the
background (:data:`audit.regions.REGIONS` ``background``) is refilled with Rayleigh noise at the set's
median noise level (:func:`audit.data.rician.background_noise_sigma`), the same for every image."""

from __future__ import annotations

import numpy as np

from audit.data.rician import background_noise_sigma, rayleigh
from audit.mitigations.base import Mitigation, TrainingSet
from audit.regions import REGIONS, brain_tissue_mask

__all__ = ["IntensityMixing", "IntensityStandardization", "brain_landmarks"]

LANDMARKS = (5.0, 95.0)


def brain_landmarks(image: np.ndarray, brain: np.ndarray) -> tuple[float, float] | None:
    """The (5th, 95th) intensity percentiles of ``image`` over the pixels of ``brain`` (all channels), or
    None without such pixels or without contrast."""
    values = np.asarray(image)[brain].ravel()
    if values.size == 0:
        return None
    lo, hi = np.percentile(values, LANDMARKS)
    return (float(lo), float(hi)) if hi - lo > 1e-6 else None


class IntensityStandardization(Mitigation):
    name = "intensity_standardization"
    title = "Intensity standardization"
    targets = "acquisition shortcuts in brightness: intensity windowing, scanner gain and offset, sites' contrast"

    def apply(self, data: TrainingSet, rng: np.random.Generator) -> TrainingSet:
        brain = brain_tissue_mask(data.regions) & (data.regions != REGIONS.index("tumor"))
        images = np.array(data.images, np.float32)
        marks = [brain_landmarks(images[i], brain[i]) for i in range(len(images))]
        found = np.array([m for m in marks if m is not None])
        if not len(found):
            return TrainingSet(images, data.labels, data.regions, data.meta)
        background = data.regions == REGIONS.index("background")
        sigmas = [background_noise_sigma(np.asarray(data.images[i]), background[i]) for i in range(len(images))]
        levels = [s for s in sigmas if s is not None]
        targets, target_levels = self._targets(found, levels, len(images), rng)
        for i, m in enumerate(marks):
            if m is None:
                continue  # no brain tissue (or a flat one): nothing to anchor the map on
            target_lo, target_hi = targets[i]
            images[i] = (images[i] - m[0]) * (target_hi - target_lo) / (m[1] - m[0]) + target_lo
        if levels:
            for i in range(len(images)):
                noise = rayleigh(float(target_levels[i]), (int(background[i].sum()), images.shape[-1]), rng)
                images[i][background[i]] = noise
        return TrainingSet(images, data.labels, data.regions, data.meta)

    def _targets(self, marks: np.ndarray, levels: list[float], n: int, rng: np.random.Generator):
        """Per image: the (5th, 95th) landmarks to map it onto, and its background's noise level."""
        level = float(np.median(levels)) if levels else 0.0
        return np.tile(np.median(marks, axis=0), (n, 1)), np.full(n, level)


class IntensityMixing(IntensityStandardization):
    """Each image's landmarks mapped onto those of a randomly drawn training image (of either class),
    its background refilled at that image's noise level: the set's spread of brightness, contrast and
    noise floor stays, but is dealt out to both classes alike.  Standardization alone removes the
    class's brightness from training, yet leaves a model that reads absolute brightness, so a brighter
    test image still looks like a tumor (measured in 0.9.0 on the intensity shortcut at p = 1: drop
    0.73 after standardization); mixing also trains it over the range of brightness the data shows."""

    name = "intensity_mixing"
    title = "Intensity mixing"

    def _targets(self, marks: np.ndarray, levels: list[float], n: int, rng: np.random.Generator):
        donors = rng.integers(0, len(marks), n)  # class-blind; the donor may be the image itself
        levels = np.asarray(levels if levels else [0.0])
        return marks[donors], levels[rng.integers(0, len(levels), n)]
