"""Regions estimated from the pixels of an image without label maps: padding bars, head, skull band,
brain interior, burned-in annotations (no tumor); skull-stripped images get a ``brain_edge`` band
instead of a skull band.  Every tuned constant is a field of :class:`EstimatorParams`; the one
instance :data:`PARAMS` is read by the code; being source, it enters the regions stage's cache key
with the code digest (:mod:`audit.sourcecode`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.regions.shapes import background_level, brain_edge, disk, edge_distance, head_radius
from audit.regions.taxonomy import REGIONS

__all__ = ["PARAMS", "EstimatorParams", "estimate_regions", "skull_absent"]


# Tuned on 300 phantoms of 128 px (benchmarks/region_quality.py, seed 0), checked on 300 others
# (seed 1, also used to choose between the last settings) and measured on two draws no setting was
# chosen on (seeds 2, 3: the test's). Also tried: sigma 1.0 and 0.7; thresholds 0.35-0.8 of the way
# from the darkest 1% to Otsu's, which take in text and frames; the lowest of three multi-Otsu
# classes (skull band 0.60); band width from the darkest ring; closing with 9 px, which merges text
# into the head; frame lines from runs of 0.2-0.45 x the side, which also cut straight stretches of
# scalp; no band along straight cut sides of the hull (a hull also bridges two lobes straight).
# head_smooth: Gaussian sigma before thresholding; head_factor, tissue_fraction: the head threshold
# (:func:`_head_threshold`; 0.4 takes in too much, 0.6 leaves zoomed heads in fragments);
# band_fraction: skull-band width as a fraction of the head radius (0.13: skull band 0.702 and 0.697
# on seeds 0 and 1; 0.15: 0.709, 0.703); close_fraction and open_fraction: the closing (bridges the
# dark skull between scalp and brain) and opening (cuts text off the head) disk diameters as
# fractions of the image side (5 and 7 px at 128); text_fraction: glyphs of burned-in text are bright
# pieces under this share of the image (0.4%; 0.8% and 1.2% also took scalp pieces: docs/data.md);
# line_fraction: straight bright runs at least this fraction of the side long and thin are frame
# lines; arc_reach: foreground pieces lying wholly
# within this fraction of the head radius of the head are scalp arcs the opening cut off (a zoomed
# head's thin scalp); edge_shift: pixels the smoothed threshold's edge lies outside the true one
# (measured +0.8 px on clean phantoms); scalp_fraction, rim_trigger: the scalp is about
# scalp_fraction x the radius thick outside the skull's darkest ring; a darkest ring deeper than
# rim_trigger x the radius means a bright rim (ghost) lies on the scalp, and the head edge is moved
# in to scalp_fraction x the radius, if that rim differs from the scalp under it by rim_step (a
# drawn head with an even 5-px scalp keeps it: tests/test_scores.py).
#
# Skull-stripped heads (:func:`skull_absent`). Chosen on 200 + 200 MNI152 phantoms of 96 px with and
# without skull (seed 0, the default experiment's artifacts, all four contrasts; with the true head
# mask): the share of rays showing scalp outside bone was 0.156-1.0 with skull, 0-0.067 stripped.
# Checked on draws no value was chosen on: MNI152 seed 1 (0.189-1.0 / 0-0.073) and Colin27 seed 1
# (0.696-1.0 / 0-0.061). Also tried: the darkest 1-px ring against the interior (0.38-0.90 with
# skull, 0.71-1.23 stripped: no gap, T2's thin skull blurs to 0.34 at 96 px) and an absolute bone
# level (T2: the scalp is barely brighter than grey matter).
@dataclass(frozen=True)
class EstimatorParams:
    """The estimate's tuned constants (how each was chosen: the comments above)."""

    head_smooth: float = 2.0
    """Gaussian sigma before the head threshold."""
    head_factor: float = 1.0
    """The head threshold is at most this x Otsu's..."""
    tissue_fraction: float = 0.5
    """... and at most this fraction of the way from the 2nd to the 90th percentile."""
    band_fraction: float = 0.14
    """Skull-band width as a fraction of the head radius."""
    close_fraction: float = 5 / 128
    """Closing disk diameter as a fraction of the image side (bridges the dark skull)."""
    open_fraction: float = 7 / 128
    """Opening disk diameter as a fraction of the image side (cuts text off the head)."""
    line_fraction: float = 0.6
    """Straight thin bright runs at least this fraction of the side long are frame lines."""
    text_fraction: float = 0.004
    """Bright pieces smaller than this fraction of the image are glyphs of text."""
    arc_reach: float = 0.4
    """Foreground pieces within this fraction of the head radius of the head are scalp arcs."""
    edge_shift: float = 1.0
    """Pixels the smoothed threshold's edge is moved in."""
    scalp_fraction: float = 0.12
    """The scalp's thickness outside the skull's darkest ring, as a fraction of the radius."""
    rim_trigger: float = 0.13
    """A darkest ring deeper than this x the radius means a bright rim (ghost) on the scalp..."""
    rim_step: float = 0.03
    """... peeled when its median differs from the scalp's under it by this much."""
    rays: int = 90
    """Rays read by :func:`skull_absent`."""
    scalp_level: float = 0.9
    """A ray's scalp pixel is at least this x the median of the head inside the band..."""
    bone_ratio: float = 0.5
    """... followed, deeper, by one at most this x that pixel (bone)."""
    skull_ray_share: float = 0.11
    """Fewer than this share of the read rays showing a skull: skull-stripped."""
    min_contrast: float = 1e-4
    """An image whose intensities (off the padding) span less than this is blank: no head, all
    background (Otsu's threshold cannot even be computed on a range at float32's resolution)."""


PARAMS = EstimatorParams()
"""The parameters in force."""


def _padding_mask(img: np.ndarray) -> np.ndarray:
    """Constant bars along the image edges (letterbox padding): at least 2 full rows (columns),
    counted inward from an edge, in which at least 80% of the pixels equal the image's minimum
    (burned-in text may sit on a bar), ending abruptly: in the next row (column) fewer than 20%
    do.  A black background that fades into the head is not a bar."""
    low = float(img.min())
    at_low = img <= low + 1e-6
    mask = np.zeros(img.shape, bool)
    for share, axis in ((at_low.mean(axis=1), 0), (at_low.mean(axis=0), 1)):
        flat, n = share >= 0.8, len(share)
        if flat.all():
            continue
        first = int(np.argmin(flat))  # length of the leading run
        last = int(np.argmin(flat[::-1]))  # length of the trailing run
        if first >= 2 and share[first] < 0.2:
            (mask[:first] if axis == 0 else mask[:, :first])[...] = True
        if last >= 2 and share[n - 1 - last] < 0.2:
            (mask[n - last :] if axis == 0 else mask[:, n - last :])[...] = True
    return mask


def _head_threshold(values: np.ndarray) -> float:
    """The head/background threshold of the smoothed image's ``values``: ``PARAMS.head_factor`` x Otsu's,
    or, where lower, ``PARAMS.tissue_fraction`` of the way from the 2nd percentile (background) to the
    90th (tissue).  When a zoomed head fills the image, the background is too small a class for
    Otsu's method, whose threshold then splits grey from white matter and leaves a fragment."""
    from skimage.filters import threshold_otsu

    low, high = np.percentile(values, [2, 90])
    return min(PARAMS.head_factor * float(threshold_otsu(values)), float(low + PARAMS.tissue_fraction * (high - low)))


def _largest_filled_component(mask: np.ndarray) -> np.ndarray:
    """The connected component of ``mask`` with the largest area once its holes are filled, filled:
    a ring (the scalp around a dark skull) wins over the brain it encloses."""
    import cv2
    from scipy.ndimage import binary_fill_holes

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    best, best_area = np.zeros(mask.shape, bool), 0
    for k in 1 + np.argsort(-stats[1:, cv2.CC_STAT_AREA])[:5]:  # the five largest are enough
        filled = binary_fill_holes(labels == k)
        if filled.sum() > best_area:
            best, best_area = filled, int(filled.sum())
    return best


def _frame_lines(bright: np.ndarray) -> np.ndarray:
    """Burned-in frame lines: pixels of ``bright`` (above Otsu's threshold, off the padding) in straight
    horizontal or vertical runs at least ``PARAMS.line_fraction`` x the image side long, outside thick
    regions (the head), grown by 1 px.  Where a frame touches the scalp, smoothing would weld the two."""
    import cv2

    bright = bright.astype(np.uint8)
    n = max(5, int(PARAMS.line_fraction * max(bright.shape)))
    runs = cv2.morphologyEx(bright, cv2.MORPH_OPEN, np.ones((1, n), np.uint8))
    runs |= cv2.morphologyEx(bright, cv2.MORPH_OPEN, np.ones((n, 1), np.uint8))
    thick = cv2.dilate(cv2.morphologyEx(bright, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)), np.ones((3, 3), np.uint8))
    lines = (runs > 0) & (thick == 0)
    return cv2.dilate(lines.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def _text_marks(bright: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Burned-in text: the pieces (8-connected) of ``bright`` (above Otsu's threshold, off the padding)
    off the frame lines ``frame``, each smaller than ``PARAMS.text_fraction`` x the image's area (a
    glyph), grown by 1 px.  A word near the scalp is a row of such glyphs, which smoothing would weld to
    the head; the head, its scalp ring and a zoomed head's scalp arcs are larger pieces."""
    import cv2

    _, labels, stats, _ = cv2.connectedComponentsWithStats((bright & ~frame).astype(np.uint8), connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < PARAMS.text_fraction * bright.size
    small[0] = False  # the dark pixels
    return cv2.dilate(small[labels].astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def _with_scalp_arcs(head: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """``head`` and the pieces of ``fg`` (at least 1% of its area) lying wholly within ``PARAMS.arc_reach``
    x its radius of it, as one convex hull: the arcs of a zoomed head's scalp, cut off by the
    opening or by the image border, that filling holes cannot close."""
    import cv2
    from skimage.morphology import convex_hull_image

    reach = PARAMS.arc_reach * np.sqrt(head.sum() / np.pi)
    dist = cv2.distanceTransform((~head).astype(np.uint8), cv2.DIST_L2, 3)
    n, labels, stats, _ = cv2.connectedComponentsWithStats((fg & ~head).astype(np.uint8), connectivity=8)
    arcs = np.zeros(head.shape, bool)
    for k in range(1, n):
        piece = labels == k
        if stats[k, cv2.CC_STAT_AREA] >= 0.01 * head.sum() and dist[piece].max() <= reach:
            arcs |= piece
    return convex_hull_image(head | arcs) if arcs.any() else head


def _peel_rim(head: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The bright rim to take off ``head``: where the darkest ring of the head's rim (the skull;
    mean intensity of the image smoothed with sigma 1 over 1-px rings by distance to the edge,
    down to 0.3 x the radius) lies deeper than ``PARAMS.rim_trigger`` x the radius, the pixels more than
    ``PARAMS.scalp_fraction`` x the radius outside it, provided their median differs by ``PARAMS.rim_step`` or
    more from the scalp's between them and the ring (an even bright layer is a thick scalp);
    else nothing."""
    import cv2

    r = np.sqrt(head.sum() / np.pi)
    dist = edge_distance(head)
    depth = np.floor(dist).astype(int)
    rings = np.arange(1, max(2, int(0.3 * r)))
    smooth = cv2.GaussianBlur(g, (0, 0), 1.0)
    sums = np.bincount(depth[head], weights=smooth[head], minlength=rings[-1] + 1)[rings]
    counts = np.bincount(depth[head], minlength=rings[-1] + 1)[rings]
    means = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    darkest = rings[int(np.argmin(means))]
    cut = darkest - PARAMS.scalp_fraction * r
    if darkest <= PARAMS.rim_trigger * r:
        return np.zeros(head.shape, bool)
    rim = head & (dist <= cut)
    scalp = head & (dist > cut) & (dist <= (cut + darkest) / 2)
    if not rim.any() or not scalp.any() or abs(np.median(g[rim]) - np.median(g[scalp])) < PARAMS.rim_step:
        return np.zeros(head.shape, bool)  # one even layer: a thick scalp, not a rim on it
    return rim


def skull_absent(head: np.ndarray, g: np.ndarray, beyond: np.ndarray | None = None) -> bool:
    """True for a skull-stripped head: too few rays show scalp outside dark bone.

    ``PARAMS.rays`` rays from the head's centroid; on each, the image (smoothed with sigma 0.5) is read
    inward from the head's edge across the outer band (``PARAMS.band_fraction`` x radius + 2 px).  A ray
    shows a skull when a pixel at least ``PARAMS.scalp_level`` x the median of the head inside the band
    is followed, deeper, by one at most ``PARAMS.bone_ratio`` x that pixel: bright scalp outside dark
    bone (cortical bone is dark in every MR contrast; a stripped brain's edge is cortex, then CSF).
    Rays that leave the head through the image border or ``beyond`` (padding) are not read.  The head
    is stripped when fewer than ``PARAMS.skull_ray_share`` of the read rays show a skull (none read:
    not stripped).
    """
    import cv2

    beyond = np.zeros(head.shape, bool) if beyond is None else beyond
    if head.sum() < 50:
        return False
    band = max(3, int(round(PARAMS.band_fraction * head_radius(head, beyond))) + 2)
    deep = head & (edge_distance(head, beyond) > band)
    level = PARAMS.scalp_level * float(np.median(g[deep] if deep.any() else g[head]))
    rows, cols = np.nonzero(head)
    n = int(np.ceil(np.hypot(*head.shape)))
    theta = np.linspace(0, 2 * np.pi, PARAMS.rays, endpoint=False)[:, None]
    rho = np.arange(n)[None, :]
    map_x = (cols.mean() + rho * np.cos(theta)).astype(np.float32)
    map_y = (rows.mean() + rho * np.sin(theta)).astype(np.float32)
    const = {"borderMode": cv2.BORDER_CONSTANT}
    along = cv2.remap(cv2.GaussianBlur(g, (0, 0), 0.5), map_x, map_y, cv2.INTER_LINEAR, borderValue=0, **const)
    inside = cv2.remap(head.astype(np.uint8), map_x, map_y, cv2.INTER_NEAREST, borderValue=0, **const) > 0
    blocked = cv2.remap(beyond.astype(np.uint8), map_x, map_y, cv2.INTER_NEAREST, borderValue=1, **const) > 0
    read = skull = 0
    for ray in range(PARAMS.rays):
        where = np.flatnonzero(inside[ray])
        if where.size == 0:
            continue
        edge = int(where.max())
        if blocked[ray, edge : edge + 2].any():
            continue
        profile = along[ray, max(edge - band, 0) : edge + 1][::-1]  # from the edge inward
        read += 1
        for i in np.flatnonzero(profile >= level):
            if (profile[i + 1 :] <= PARAMS.bone_ratio * profile[i]).any():
                skull += 1
                break
    return read > 0 and skull < PARAMS.skull_ray_share * read


def estimate_regions(image: np.ndarray) -> np.ndarray:
    """Region indices (H, W) of :data:`REGIONS` for an image without ground truth.

    image : (H, W) or (H, W, C) in [0, 1]; NaN or infinite pixels are read as the darkest finite value,
    and an image spanning less than ``PARAMS.min_contrast`` is all background.

    - padding: constant bars at the edges (:func:`_padding_mask`);
    - head: frame lines (:func:`_frame_lines`) and glyphs of text (:func:`_text_marks`) set to the
      image's 10th percentile; pixels of the image smoothed with sigma ``PARAMS.head_smooth`` above
      :func:`_head_threshold` (computed off the
      padding), closed then opened with disks of ``PARAMS.close_fraction`` and
      ``PARAMS.open_fraction`` x the image side; of the connected components the one with the largest
      area once its holes are filled (the scalp ring, not the brain inside it), filled, its
      convex hull with nearby scalp arcs (:func:`_with_scalp_arcs`; pieces of the closed, not
      yet opened mask, which still holds a thin scalp), moved in by ``PARAMS.edge_shift`` px, less a
      bright rim outside the scalp (:func:`_peel_rim`; the rim is labelled artifact);
    - skull band: head pixels within ``PARAMS.band_fraction`` x the head's radius (:func:`head_radius`)
      of its edge, where the image border and padding are not edges; brain: the rest of the
      head (tumors cannot be told apart and count as brain);
    - artifact: pixels outside the head (grown by 2 px) brighter than the background's median
      by max(0.12, 5 robust SDs), grown by 1 px (burned-in text, markers, frames).
    """
    import cv2
    from skimage.filters import threshold_otsu
    from skimage.morphology import convex_hull_image

    g = np.asarray(image, np.float32)
    g = g.mean(axis=-1) if g.ndim == 3 else g
    finite = np.isfinite(g)
    if not finite.all():  # NaN / inf pixels carry no intensity: the darkest finite value stands in
        g = np.where(finite, g, float(g[finite].min()) if finite.any() else 0.0)
    pad = _padding_mask(g)
    out = np.full(g.shape, REGIONS.index("background"), np.uint8)
    out[pad] = REGIONS.index("padding")
    if pad.all() or np.ptp(g[~pad]) < PARAMS.min_contrast:
        return out  # a blank (uniform) image: no head to find
    unframed = g.copy()
    bright = (g > threshold_otsu(g[~pad])) & ~pad
    frame = _frame_lines(bright)
    unframed[frame | _text_marks(bright, frame)] = float(np.percentile(g[~pad], 10))
    smooth = cv2.GaussianBlur(unframed, (0, 0), PARAMS.head_smooth)
    values = smooth[~pad]
    fg = ((smooth > _head_threshold(values)) & ~pad).astype(np.uint8)
    side = max(g.shape)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, disk(PARAMS.close_fraction * side))
    closed = fg.astype(bool)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, disk(PARAMS.open_fraction * side))
    head = _largest_filled_component(fg.astype(bool) & ~pad)
    if not head.any():
        return out
    # The skull makes a head convex; the hull also takes in dark tissue (bone, CSF) that a
    # head cut by the image border leaves open to the outside, where filling holes cannot.
    head = _with_scalp_arcs(convex_hull_image(head), closed & ~pad) & ~pad
    # A head cut by padding (or the image border) runs on behind it: no edge, no band there.
    head &= edge_distance(head, pad) > PARAMS.edge_shift
    stripped = head.any() and skull_absent(head, g, pad)
    rim = _peel_rim(head, g) if head.any() and not stripped else np.zeros(g.shape, bool)
    head &= ~rim
    if not head.any():
        return out
    out[head] = REGIONS.index("brain")
    if stripped:
        out[brain_edge(head, pad)] = REGIONS.index("brain_edge")
    else:
        width = max(2, round(PARAMS.band_fraction * head_radius(head, pad)))
        out[head & (edge_distance(head, pad) <= width)] = REGIONS.index("skull_band")
    grown = cv2.dilate(head.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    outside = ~grown & ~pad
    level = background_level(g, outside)
    if level is not None:
        bg, sd = level
        marks = outside & (g > bg + max(0.12, 5 * sd))
        marks = cv2.dilate(marks.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~head & ~pad
        out[marks] = REGIONS.index("artifact")
    out[rim] = REGIONS.index("artifact")
    return out
