"""Brain extraction for skull-stripping an input (:mod:`audit.mitigations.at_input`): the brain tissue inside
the estimated head, found by its intensity and kept apart from the scalp by the dark skull between them.

The estimate's brain (:func:`audit.regions.estimate_regions`) is the head less a band of fixed relative
depth: right for scoring attention by region, too coarse to skull-strip with.  Where burned-in text lies
close to the scalp, the head's convex hull takes in a wedge towards it, and that wedge (scalp, skull and
the text) stays in a skull-stripped image; in the benchmark's site cells the wedge points to the site's
own corner, so a site stays readable after the skull-strip (measured on a development draw, data seed 7,
MNI152 at p = 0.9: nine fixed statistics of the normalized inputs told the sites apart at ROC AUC 0.93
with the estimate's brain, 0.50 with the exact brain, 0.73 with this extraction; docs/mitigations.md).

Steps, on the head of the estimate (brain + skull band):

1. smooth with a Gaussian of :data:`SMOOTH_SIGMA` px; **tissue** = head pixels above the lower of the
   three-class Otsu thresholds of the head's values (dark: CSF, bone, background; grey; white and scalp),
   the values read without the hull's slack (:func:`hull_slack`, since 0.10.9): where burned-in text lies
   near the scalp, the estimate's convex hull takes in the dark gap between the word and the head, those
   background pixels lowered the threshold, and the brain kept grew with the word (below);
2. erode the tissue by 1, 2 or 3 px (the first that works), breaking the thin bridges between scalp and
   brain; the pieces that come within 2 px of the head's edge (not the image border: a head the frame
   cut runs on behind it) are scalp, skull marrow or text and are dropped, as are pieces under
   :data:`MIN_PIECE` of the largest one left;
3. the pieces left, grown back by the same number of px, as one convex hull (the sulci, ventricles and
   a dark tumor core inside it), within the head; it works when it covers at least :data:`MIN_COVER` of
   the estimate's brain;
4. eroded by :data:`SHRINK` px: the last pixels of the hull lie on the brain's dark rim, whose share
   depends on the head's size in pixels (a scanner's field of view), not on anatomy.

A skull-stripped image (no skull band in the estimate), or one where no erosion works, gets the
estimate's brain unchanged.  Constants set on the development draw above, before any held-out cell
was run.

**The slack** (0.10.9).  After 0.10.4 a site's name still reached the skull-stripped input, not as text but
through the threshold: on the seed-36 site cells, behind ``brain_normalization``, healthy images given only the
other site's name (noise, field of view, gain and contrast kept) lost 0.02-0.03, given everything but the name
0.007-0.047, given both 0.100-0.147 (the residual the benchmark measured); the name made the estimated head 20%
larger (a wedge towards the word), Otsu's lower threshold fell from about 0.33 to 0.25 and the brain kept grew
by 37-103 px on average (of about 1,000), on 85-100% of the images.  Reading the threshold without the
slack (its 3-MAD level and 1-px growth set on the development draw, data seed 7, 60 healthy images per
head: the name's effect on the kept brain +67.6 / +27.5 px on MNI152 / Colin27 before, +4.5 / -8.5 after).
A head without text mostly has none: on that draw's padding and marker cells the brain kept shrinks by 0.1-0.6%
of its area, on its zoomed heads (whose hull bridges the frame's cut) by 1.8% / 0.9%.
"""

from __future__ import annotations

import numpy as np

from audit.regions.shapes import background_level, edge_distance
from audit.regions.taxonomy import REGIONS, brain_tissue_mask

__all__ = [
    "MIN_COVER",
    "MIN_PIECE",
    "SHRINK",
    "SLACK_MADS",
    "SMOOTH_SIGMA",
    "extract_brain",
    "hull_slack",
    "mask_depth",
    "tissue_contrast",
]

SMOOTH_SIGMA = 0.7
"""Gaussian smoothing (px) before the tissue threshold: the noise of one pixel does not split tissue."""
MIN_PIECE = 0.1
"""A tissue piece smaller than this share of the largest one is dropped (a glyph, a scalp fragment)."""
MIN_COVER = 0.5
"""The extraction is used only where it covers this share of the estimate's brain."""
SHRINK = 2
"""Pixels taken off the extraction's edge at the end."""
SLACK_MADS = 3.0
"""A pixel of the head is at the background's level when it lies within this many robust SDs (and at least
0.02) above the background's median (:func:`hull_slack`)."""


def extract_brain(image: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Bool (H, W) brain mask of ``image`` ((H, W) or (H, W, C)) within its estimated ``regions``
    (:func:`audit.regions.estimate_regions`), by the steps of this module."""
    import cv2
    from scipy import ndimage
    from skimage.filters import threshold_multiotsu
    from skimage.morphology import convex_hull_image

    g = np.asarray(image, np.float32)
    g = g.mean(axis=-1) if g.ndim == 3 else g
    estimate = brain_tissue_mask(regions)
    band = regions == REGIONS.index("skull_band")
    head = estimate | band
    if estimate.sum() < 20 or not band.any():
        return estimate  # skull-stripped already, or too little brain to work on
    smooth = cv2.GaussianBlur(np.nan_to_num(g), (0, 0), SMOOTH_SIGMA)
    values = smooth[head & ~hull_slack(smooth, head)]
    if values.size < 20 or np.ptp(values) <= 0:
        values = smooth[head]
    if np.ptp(values) <= 0:
        return estimate
    tissue = ((smooth > threshold_multiotsu(values, classes=3)[0]) & head).astype(np.uint8)
    near_edge = edge_distance(head) < 3  # within 2 px of the head's edge (the image border is not one)
    k3 = np.ones((3, 3), np.uint8)
    for depth in (1, 2, 3):
        labels, n = ndimage.label(cv2.erode(tissue, k3, iterations=depth))
        if n == 0:
            break
        keep = np.ones(n + 1, bool)
        keep[0] = False
        keep[np.unique(labels[near_edge])] = False
        if not keep.any():
            continue
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        keep &= sizes >= MIN_PIECE * sizes[keep].max()
        grown = cv2.dilate(keep[labels].astype(np.uint8), k3, iterations=depth).astype(bool)
        brain = convex_hull_image(grown) & head
        if brain.sum() >= MIN_COVER * estimate.sum():
            return cv2.erode(brain.astype(np.uint8), k3, iterations=SHRINK).astype(bool)
    return estimate


def hull_slack(smooth: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Bool (H, W): the pixels of the bool ``head`` that the convex hull took in from outside the head, for
    reading the tissue threshold without them: those at the background's level (:data:`SLACK_MADS`; the
    background is ``smooth`` (H, W) outside the head grown by 2 px) that reach the head's edge through such
    pixels (not the image border), grown by 1 px (a burned-in word's strokes beside the gap).  Empty where the
    head is closed (a dark skull inside the scalp does not reach the edge) or fills the image."""
    import cv2
    from scipy import ndimage

    level = background_level(smooth, ~cv2.dilate(head.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool))
    if level is None:
        return np.zeros(head.shape, bool)
    b, spread = level
    dark = head & (smooth <= b + max(SLACK_MADS * spread, 0.02))
    labels, _ = ndimage.label(dark)
    reached = np.unique(labels[dark & (edge_distance(head) < 1.5)])
    slack = np.isin(labels, reached[reached > 0])
    return cv2.dilate(slack.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & head


def tissue_contrast(image: np.ndarray, regions: np.ndarray) -> float:
    """How much brighter the estimated brain of ``image`` ((H, W) or (H, W, C)) is than its background:
    (median over the estimate's brain - b) / (99th percentile of the image - b), b the median outside the
    estimated head (the image's 1st percentile where the head fills the frame); 0 for a flat image, NaN
    where the estimate has no brain (unknown, not dark).  About 0.55 for a T1 head (brain between the background
    and the brightest scalp), about 0 where the brain was filled with the background's value."""
    g = np.asarray(image, np.float32)
    g = np.nan_to_num(g.mean(axis=-1) if g.ndim == 3 else g)
    brain = brain_tissue_mask(regions)
    if not brain.any():
        return float("nan")
    outside = ~(brain | (regions == REGIONS.index("skull_band")))
    b = float(np.median(g[outside])) if outside.any() else float(np.percentile(g, 1))
    span = float(np.percentile(g, 99)) - b
    return (float(np.median(g[brain])) - b) / span if span > 0 else 0.0


def mask_depth(mask: np.ndarray) -> float:
    """How deep the bool (H, W) ``mask`` is: its largest distance (px, Euclidean) from outside it, with the
    image border counted as outside, over the shorter side of the image; 0 for an empty mask.  A disk of
    radius r in an N-px frame is about r / N deep; a crescent of scalp a few px thick, a few px / N."""
    import cv2

    if not mask.any():
        return 0.0
    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)
    return float(dist.max()) / min(mask.shape)
