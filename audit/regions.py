"""Scoring regions: the fine ground-truth labels grouped into the regions the audit reports.

Every pixel belongs to exactly one region, so energy fractions over regions sum to 1.
Images without ground-truth label maps need estimated regions (a later stage of
this module); until then such a dataset cannot be scored and the stage says so.
"""

from __future__ import annotations

import numpy as np

from audit.data.labels import LABELS

__all__ = ["REGIONS", "REGION_OF_LABEL", "regions_from_label_maps"]

REGIONS: tuple[str, ...] = ("brain", "tumor", "skull_band", "background", "padding", "artifact")
"""Region index = position in this tuple."""

REGION_OF_LABEL: dict[str, str] = {
    "background": "background",
    "scalp": "skull_band",
    "skull": "skull_band",
    "csf": "brain",
    "grey_matter": "brain",
    "white_matter": "brain",
    "tumor_core": "tumor",
    "enhancing_tumor": "tumor",
    "edema": "tumor",
    "artifact": "artifact",
    "padding": "padding",
}

_LOOKUP = np.zeros(256, np.uint8)
for _label, _code in LABELS.items():
    _LOOKUP[_code] = REGIONS.index(REGION_OF_LABEL[_label])


def regions_from_label_maps(label_maps: np.ndarray) -> np.ndarray:
    """Region index maps.

    Parameters
    ----------
    label_maps : (N, H, W) uint8 codes of :data:`audit.data.labels.LABELS`.

    Returns
    -------
    (N, H, W) uint8 indices into :data:`REGIONS`.
    """
    unknown = np.setdiff1d(np.unique(label_maps), list(LABELS.values()))
    if unknown.size:
        raise ValueError(f"label maps hold codes not in LABELS: {unknown.tolist()}")
    return _LOOKUP[label_maps]
