"""Planted shortcut artifacts, one small module each.

Every artifact has a tie strength ``p`` in [0, 1] to one class (the "tie class"):

    P(present | tie class)   = p + (1 - p) / 2
    P(present | other class) = (1 - p) / 2

so p = 0 makes it independent of the label and p = 1 puts it on exactly the tie
class.  A module exposes ``NAME`` and either ``adjust(render, rng)`` (changes how
the slice is rendered, e.g. the field of view) or ``apply(image, labels, rng)``
(draws on the finished (S, S) image and label map, returns a bounding box
``(r0, c0, r1, c1)`` or None for a global change).
"""

from __future__ import annotations

import numpy as np

from audit.data.artifacts import frame, ghost, intensity, marker, noise, padding, zoom

__all__ = ["ARTIFACTS", "assign_presence"]

ARTIFACTS = {m.NAME: m for m in (marker, frame, padding, zoom, intensity, noise, ghost)}


def assign_presence(tied: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """(N,) bool presence from ``tied`` (N,) bool (image belongs to the tie class) and strength ``p``."""
    if not 0 <= p <= 1:
        raise ValueError(f"artifact tie strength p must lie in [0, 1], got {p}")
    follow = rng.random(len(tied)) < p
    return np.where(follow, tied, rng.random(len(tied)) < 0.5)
