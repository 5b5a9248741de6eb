"""The mitigation contract: a class that turns the training images (with their labels, region maps
and metadata) into the images the model is trained on instead."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

__all__ = ["Mitigation", "TrainingSet"]


@dataclass(frozen=True)
class TrainingSet:
    """One split part the model trains on (train or val), row-aligned.

    images : (N, H, W, C) float32 in [0, 1]; labels : (N,) class indices; regions : (N, H, W)
    indices into :data:`audit.regions.REGIONS` (ground truth, or estimated from the pixels);
    meta : one row per image (``site`` where the data has scanner sites).
    """

    images: np.ndarray
    labels: np.ndarray
    regions: np.ndarray
    meta: pd.DataFrame


class Mitigation:
    """Base class of a mitigation plugin.

    A subclass sets ``name`` (snake_case, equal to its entry-point name), ``title``,
    ``targets`` (the kind of shortcut it is meant to remove, in words) and implements
    :meth:`apply`, which returns a new :class:`TrainingSet` (it may change pixels, or the rows'
    mix, but not the image shape).  It is applied to the training and the validation images,
    seeded by ``rng``; the test images are never changed.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    targets: ClassVar[str] = ""

    def apply(self, data: TrainingSet, rng: np.random.Generator) -> TrainingSet:  # pragma: no cover - abstract
        raise NotImplementedError
