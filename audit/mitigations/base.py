"""The mitigation contracts: a :class:`Mitigation` turns the training images (with their labels, region
maps and metadata) into the images the model is trained on instead; an :class:`InputMitigation` is a
change in front of the model, applied to every image it sees, training and test alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

__all__ = ["InputMitigation", "Mitigation", "TrainingSet"]


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


class InputMitigation(Mitigation):
    """Base class of a mitigation in front of the model (``data.preprocess = "<name>"``; ``--mitigate NAME``
    sets it).

    :meth:`transform` maps one image to the image the model sees, from its pixels alone (no label,
    region map or random draw, so a deployment can run it on an image nobody has labelled), and
    returns the (2, 3) affine it moved the pixels by, or None where it moved none.  It is applied to
    every image of the dataset (training, validation and test) as it is loaded, and to every image
    the benchmark renders for the model (the counterfactual test set), so the audited model is the
    pair (transform, network): the network must be deployed behind the same transform.  It has no
    :meth:`apply`: it never changes the training images alone.
    """

    def transform(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:  # pragma: no cover - abstract
        raise NotImplementedError
