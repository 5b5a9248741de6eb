"""The regions the audit reports, and the exact path to them: fine ground-truth labels grouped into regions.

Every pixel belongs to exactly one region, so energy fractions over regions sum to 1.  A
skull-stripped image (brain only, black outside: BraTS and the sets built from it) has no skull
band; its outer contour band is the region ``brain_edge`` (:func:`audit.regions.shapes.brain_edge`):
cortex, but also the stripping contour, which models are known to use (Tinauer et al. 2025).  The
two cannot be told apart from where a map's energy falls, so ``brain_edge`` counts neither as
anatomy nor as off target: it is reported on its own.
"""

from __future__ import annotations

import numpy as np

from audit.data.labels import LABELS
from audit.regions.shapes import brain_edge

__all__ = [
    "BRAIN_TISSUE", "HEAD", "REGIONS", "REGION_OF_LABEL", "brain_tissue_mask", "label_maps_from_regions",
    "regions_from_label_maps",
]  # fmt: skip

REGIONS: tuple[str, ...] = ("brain", "tumor", "skull_band", "background", "padding", "artifact", "brain_edge")
"""Region index = position in this tuple."""
BRAIN_TISSUE: tuple[str, ...] = ("brain", "tumor", "brain_edge")
"""The regions made of brain tissue (anatomy or not: ``brain_edge`` is also the stripping contour)."""
HEAD: tuple[str, ...] = (*BRAIN_TISSUE, "skull_band")
"""The regions of the head: brain tissue and the skull band."""

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


def brain_tissue_mask(regions: np.ndarray) -> np.ndarray:
    """Bool map (same shape as ``regions``, region indices) of brain tissue (:data:`BRAIN_TISSUE`)."""
    return np.isin(regions, [REGIONS.index(r) for r in BRAIN_TISSUE])


_LOOKUP = np.zeros(256, np.uint8)
for _label, _code in LABELS.items():
    _LOOKUP[_code] = REGIONS.index(REGION_OF_LABEL[_label])


_LABEL_OF_REGION = {
    "brain": "white_matter", "tumor": "tumor_core", "skull_band": "skull", "background": "background",
    "padding": "padding", "artifact": "artifact", "brain_edge": "white_matter",
}  # fmt: skip


def label_maps_from_regions(regions: np.ndarray) -> np.ndarray:
    """Label maps (codes of :data:`audit.data.labels.LABELS`) whose regions are ``regions``
    ((N, H, W) indices into :data:`REGIONS`): each region as one label of its own.  Round trip:
    :func:`regions_from_label_maps` gives ``regions`` back, except that ``brain_edge`` is
    recomputed by its rule (on maps without a skull band)."""
    lookup = np.array([LABELS[_LABEL_OF_REGION[r]] for r in REGIONS], np.uint8)
    return lookup[np.asarray(regions)]


def regions_from_label_maps(label_maps: np.ndarray) -> np.ndarray:
    """Region index maps.

    Parameters
    ----------
    label_maps : (N, H, W) uint8 codes of :data:`audit.data.labels.LABELS`.

    Returns
    -------
    (N, H, W) uint8 indices into :data:`REGIONS`; on a map with brain but no skull or scalp
    (skull-stripped), the brain pixels of :func:`brain_edge` are ``brain_edge``.
    """
    unknown = np.setdiff1d(np.unique(label_maps), list(LABELS.values()))
    if unknown.size:
        raise ValueError(f"label maps hold codes not in LABELS: {unknown.tolist()}")
    out = _LOOKUP[label_maps]
    head_codes = [LABELS["skull"], LABELS["scalp"]]
    brain, tumor, padding = (REGIONS.index(r) for r in ("brain", "tumor", "padding"))
    for k in range(len(out)):
        if np.isin(label_maps[k], head_codes).any() or not (out[k] == brain).any():
            continue
        head = np.isin(out[k], [brain, tumor])
        edge = brain_edge(head, out[k] == padding) & (out[k] == brain)
        out[k][edge] = REGIONS.index("brain_edge")
    return out
