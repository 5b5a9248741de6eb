"""Scoring regions: the taxonomy and the exact path from label maps (:mod:`.taxonomy`), the estimate
from pixels for images without them (:mod:`.estimate`), a tighter brain extraction from it for skull-stripping
(:mod:`.extraction`), mask geometry both use (:mod:`.shapes`) and
the estimate's quality against exact regions (:mod:`.quality`)."""

from audit.regions.estimate import PARAMS, EstimatorParams, estimate_regions, skull_absent
from audit.regions.extraction import extract_brain
from audit.regions.quality import estimate_quality
from audit.regions.shapes import BRAIN_EDGE_FRACTION, brain_edge
from audit.regions.taxonomy import (
    BRAIN_TISSUE,
    HEAD,
    REGION_OF_LABEL,
    REGIONS,
    brain_tissue_mask,
    label_maps_from_regions,
    regions_from_label_maps,
)

__all__ = [
    "BRAIN_EDGE_FRACTION",
    "BRAIN_TISSUE",
    "HEAD",
    "PARAMS",
    "REGIONS",
    "REGION_OF_LABEL",
    "EstimatorParams",
    "brain_edge",
    "brain_tissue_mask",
    "estimate_quality",
    "estimate_regions",
    "extract_brain",
    "label_maps_from_regions",
    "regions_from_label_maps",
    "skull_absent",
]
