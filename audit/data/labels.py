"""Pixel label codes of the ground-truth label maps, defined once for the whole package.

A label map is an ``(H, W)`` uint8 array whose values are the codes below.
Scoring groups these fine labels into coarser regions (:mod:`audit.regions`).
"""

from __future__ import annotations

__all__ = ["LABELS", "LABEL_NAMES"]

LABELS: dict[str, int] = {
    "background": 0,
    "scalp": 1,
    "skull": 2,
    "csf": 3,
    "grey_matter": 4,
    "white_matter": 5,
    "tumor_core": 6,
    "enhancing_tumor": 7,
    "edema": 8,
    "artifact": 9,
    "padding": 10,
}

LABEL_NAMES: tuple[str, ...] = tuple(sorted(LABELS, key=LABELS.__getitem__))
