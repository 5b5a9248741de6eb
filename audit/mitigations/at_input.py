"""Input mitigations: one normalization in front of the model, from each image's pixels alone,
applied to training and test images alike (``data.preprocess``; :class:`audit.mitigations.InputMitigation`).

A training-only mitigation takes a nuisance's class correlation out of the training images, but the
model then has seen one brightness or one head size, and a test image of another still moves its
decision (measured in 0.9.0 on MNI152 phantoms at p = 1, drop with the shortcut swapped:
intensity 0.41-0.73, zoom 0.61-0.74, padding 0.45).  Normalizing every input instead leaves nothing
of the nuisance for the model to read at test time either.  The steps, on the regions estimated from
the pixels (:func:`audit.regions.estimate_regions`; no ground truth at test time, so a tumor counts as
brain):

0. **head to one size** (``one_size``: ``brain_crop`` only, since 0.10.5): for the skull-strip only, the
   estimated head's box is resampled along each axis to :data:`HEAD_FILL` of the frame, centred (a side
   the image border cut stays on the border), its regions estimated again there and the brain extracted;
   the brain's mask goes back to the image's own frame.  The extraction's fixed pixel counts then act on
   one head size: a letterbox squeezes one axis by 20-32% and a zoom enlarges the head, and on the head
   as it came the strip cut a squeezed axis deeper.  It costs the site cells (the box of a head whose
   estimate reaches for a site's name depends on the name's corner; likely, not traced), so
   ``brain_normalization`` and ``input_standardization`` strip the head as it came (docs/mitigations.md,
   0.10.5);
1. **skull-strip**: everything outside the extracted brain (:func:`audit.regions.extract_brain`, since
   0.10.4: the brain tissue inside the estimated head, kept apart from the scalp by the skull; before, the
   estimate's brain, which takes in burned-in text near the scalp) is set to 0 (skull, scalp, background,
   letterbox bars, burned-in text, frames); since 0.10.9 the extraction's tissue threshold is read without the
   gap the head's hull takes in towards a name beside the scalp, which had set the mask's size by the name.
   **No tissue, no brain** (since 0.10.6): where the image's estimated brain is not brighter than its background
   (:func:`audit.regions.extraction.tissue_contrast` under :data:`MIN_CONTRAST`) or the brain kept is a sliver
   (:func:`audit.regions.extraction.mask_depth` under :data:`MIN_DEPTH`), there is no brain and the input
   becomes 0.  A head whose brain was blanked (``artifact_reliance`` fills it with the background's value)
   otherwise kept the estimate's brain or a crescent of scalp as its brain, and a model behind the strip read
   that mask's outline;
2. **intensity** (``standardize``): the brain's 5th and 95th percentiles mapped onto
   :data:`LANDMARKS` by one affine map;
3. **crop** (``crop``): the brain's box resampled through a grid of :data:`CROP_GRID` x the frame
   (area averaging), scaled along each axis to :data:`CROP_FILL` of the frame and centred, then
   smoothed by a Gaussian of :data:`SMOOTH_SIGMA` pixels, so every brain has one size, place,
   number of samples across it and grain.

What the acquisition destroyed stays destroyed: a saturated tumor, anatomy a tight field of view cut
off (a brain cut by the frame is still cut after the crop, with a straight edge; ``cut_augmentation``,
a training mitigation, puts such cuts into both classes: ``--mitigate brain_crop+cut_augmentation``).
The brain's proportions are lost (each axis is scaled on its own), as a real pipeline's crop-and-resize
loses them, and the extraction stops a few pixels inside the true brain (cortex, or a tumor at the
brain's edge, may be cut).

Versions measured on the development cells (MNI152, p = 1) before this one, in docs/mitigations.md:
skull-strip replaced "zero outside the head" (the clipped scalp of a windowed scan stayed a cue);
a noise level added to every input and a display window were dropped (site and zoom did not
improve, accuracy fell)."""

from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np

from audit.mitigations.base import InputMitigation
from audit.mitigations.field_of_view import head_box, normalizing_affine
from audit.mitigations.standardize import brain_landmarks
from audit.regions import REGIONS, brain_tissue_mask, estimate_regions, extract_brain
from audit.regions.extraction import mask_depth, tissue_contrast

__all__ = [
    "MIN_CONTRAST",
    "MIN_DEPTH",
    "BrainCrop",
    "BrainNormalization",
    "InputStandardization",
    "head_affine",
    "normalize_input",
    "skull_strip",
]

LANDMARKS = (0.2, 0.7)
"""Where the brain's 5th and 95th percentiles go: near an untouched T1 phantom brain's (about 0.18 and
0.68), so little is clipped."""
HEAD_FILL = 0.8
"""Step 0: the share of each side of the frame the head's box spans before the skull-strip (about an
untouched benchmark head's at 64 px; not varied)."""
CROP_FILL = 0.9
"""The share of each side of the frame the brain's box spans after the crop (a 5% margin each side)."""
CROP_GRID = 0.5
"""The grid (fraction of the frame's side) every cropped brain is resampled through: coarser than a
brain's own extent in the benchmark's heads (about 0.6 of the side), so each keeps this many samples."""
SMOOTH_SIGMA = 1.0
"""The Gaussian smoothing after the crop, in pixels: a brain scaled up has a coarser grain than one scaled down."""
MIN_CONTRAST = 0.15
"""Step 1: the least tissue contrast of an image with a brain.  Set on the development draw (data seed 7,
16 cells at p = 1, 4,800 test images): at least 0.275 on the raw images (median 0.54); with the brain blanked,
99% of them below 0.09 and 99.0% below this limit."""
MIN_DEPTH = 0.1
"""Step 1: the least depth of a brain kept by the strip, as a share of the frame's shorter side.  Same draw:
a brain kept on a raw image is at least 0.116 deep (median 0.26; a letterboxed head the least), a blanked
head's crescent of scalp mostly under 0.06; with both limits 3 of 4,800 blanked images keep a mask
(``brain_crop``'s strip; 4 of 4,800 for the others), against 4,800 and 4,795 without them."""


def normalize_input(
    image: np.ndarray, standardize: bool, crop: bool, one_size: bool = False, brain: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``image`` (H, W, C) after the steps of this module (2 with ``standardize``, 3 with ``crop``), and
    the (2, 3) affine that moved its pixels (None without ``crop``); all 0 where no brain is found.
    ``brain``: a bool (H, W) mask used instead of step 1's (diagnostics: the extraction less the pixels a
    phantom's labels say are not brain, ``benchmarks/zoom_residual.py``)."""
    image = np.asarray(image, np.float32)
    h, w, c = image.shape
    brain = skull_strip(image, one_size) if brain is None else np.asarray(brain, bool)
    box = head_box(brain)
    if box is None:
        return np.zeros_like(image), None  # no brain: nothing the model should read
    out = image
    marks = brain_landmarks(image, brain) if standardize else None
    if marks is not None:
        (lo, hi), (target_lo, target_hi) = marks, LANDMARKS
        out = (image - lo) * ((target_hi - target_lo) / (hi - lo)) + target_lo
    out = np.where(brain[..., None], out, 0.0).astype(np.float32)
    if not crop:
        return out, None
    rows, cols = np.flatnonzero(brain.any(axis=1)), np.flatnonzero(brain.any(axis=0))
    grid = (max(1, round(CROP_GRID * w)), max(1, round(CROP_GRID * h)))
    coarse = cv2.resize(out[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], grid, interpolation=cv2.INTER_AREA)
    tw, th = round(CROP_FILL * w), round(CROP_FILL * h)
    x0, y0 = (w - tw) // 2, (h - th) // 2
    cropped = np.zeros((h, w, c), np.float32)
    cropped[y0 : y0 + th, x0 : x0 + tw] = cv2.resize(coarse, (tw, th), interpolation=cv2.INTER_LINEAR).reshape(
        th, tw, c
    )
    smoothed = cv2.GaussianBlur(cropped, (0, 0), SMOOTH_SIGMA).reshape(h, w, c)
    return smoothed, normalizing_affine(box, (x0 + (tw - 1) / 2, y0 + (th - 1) / 2, tw, th))


def skull_strip(image: np.ndarray, one_size: bool = False) -> np.ndarray:
    """Bool (H, W) brain of ``image`` (H, W, C): step 1, after step 0 with ``one_size`` (the extraction on the head
    resampled to one size, :func:`head_affine`, and its mask taken back to the image's own frame: the pixels
    are resampled once, by the crop, not twice); empty where there is no brain tissue (step 1)."""
    h, w = image.shape[:2]
    regions = estimate_regions(image)
    if tissue_contrast(image, regions) < MIN_CONTRAST:  # False where unknown (NaN: the estimate has no brain)
        return np.zeros((h, w), bool)
    canon = head_affine(brain_tissue_mask(regions) | (regions == REGIONS.index("skull_band"))) if one_size else None
    if canon is None:
        brain = extract_brain(image, regions)  # step 1 on the head as it came (no head: the estimate's brain)
    else:
        resized = cv2.warpAffine(image, canon, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        resized = resized.reshape(image.shape)
        extracted = extract_brain(resized, estimate_regions(resized)).astype(np.float32)
        brain = cv2.warpAffine(extracted, canon, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP) > 0.5
    return brain if mask_depth(brain) >= MIN_DEPTH else np.zeros((h, w), bool)


def head_affine(head: np.ndarray) -> np.ndarray | None:
    """The (2, 3) affine that moves the bool (H, W) ``head``'s box onto :data:`HEAD_FILL` of the frame, centred,
    each axis on its own; a side where the head meets the image border stays on it (a head the frame cut
    runs on behind the border, and the border must not become an edge of it).  None for an empty head."""
    rows, cols = np.flatnonzero(head.any(axis=1)), np.flatnonzero(head.any(axis=0))
    if not len(rows):
        return None
    m = np.zeros((2, 3))
    for axis, (idx, n) in enumerate(((cols, head.shape[1]), (rows, head.shape[0]))):
        lo, hi = float(idx[0]), float(idx[-1])
        a, b = (n - 1) / 2 - HEAD_FILL * (n - 1) / 2, (n - 1) / 2 + HEAD_FILL * (n - 1) / 2
        a, b = (0.0 if lo <= 0 else a), (n - 1.0 if hi >= n - 1 else b)
        scale = (b - a) / max(hi - lo, 1.0)
        m[axis, axis], m[axis, 2] = scale, a - scale * lo
    return m


class _BrainInput(InputMitigation):
    """The steps of this module, with the intensity map (``standardize``) and the crop (``crop``) on or off."""

    standardize: ClassVar[bool] = False
    crop: ClassVar[bool] = False
    one_size: ClassVar[bool] = False

    def transform(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return normalize_input(image, standardize=self.standardize, crop=self.crop, one_size=self.one_size)


class InputStandardization(_BrainInput):
    """Skull-strip and intensity map (steps 1 and 2), no crop."""

    name = "input_standardization"
    title = "Intensity standardization (at input)"
    targets = "acquisition shortcuts in brightness and outside the brain: windowing, gain and offset, background"
    standardize = True


class BrainCrop(_BrainInput):
    """Skull-strip and crop (steps 1 and 3), no intensity map."""

    name = "brain_crop"
    title = "Skull-strip and brain crop (at input)"
    targets = "shortcuts in the head's size, shape and position, and outside the brain: zoom, padding, field of view"
    crop = True
    one_size = True


class BrainNormalization(_BrainInput):
    """Every step: against shortcuts that mix geometry and brightness, as a scanner or site does."""

    name = "brain_normalization"
    title = "Skull-strip, brain crop and intensity standardization (at input)"
    targets = "shortcuts of a scanner or site: field of view, gain, windowing, background, burned-in text"
    standardize = True
    crop = True
