"""Similarity of two saliency maps, as used by the randomization checks (Adebayo et al. 2018,
"Sanity Checks for Saliency Maps", section 3).

Maps are compared after scaling each to [0, 1] by its maximum (the maps are stored
unnormalised).  Each map's rank vector and HOG features are computed once by
:func:`prepare`, so comparing one trained map with many randomized ones costs one
preparation per map, not one per pair.

- ``spearman``: Spearman rank correlation of the values = Pearson correlation of their ranks;
- ``spearman_abs``: the same for the absolute values (equal to ``spearman`` for the
  non-negative CAMs and gradient magnitudes the engine produces);
- ``ssim``: structural similarity (Wang et al. 2004) of the scaled maps, data range 1;
- ``hog_pearson``: Pearson correlation of HOG features (Dalal & Triggs 2005; 8x8-pixel cells,
  9 orientations, 2x2-cell blocks).

Constant maps (no ranks to correlate) give NaN for the correlations.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from skimage.feature import hog
from skimage.metrics import structural_similarity

__all__ = [
    "SIMILARITIES",
    "compare",
    "derangement",
    "mean_similarities",
    "prepare",
    "prepare_all",
    "similarity",
    "sobel_map",
]

SIMILARITIES: tuple[str, ...] = ("spearman_abs", "spearman", "ssim", "hog_pearson")
"""The metrics every randomization check reports."""


def prepare(m: np.ndarray) -> dict[str, np.ndarray]:
    """Per-map features for :func:`compare`: the scaled map, ranks of values and of |values|, HOG."""
    m = np.asarray(m, np.float64)
    top = np.abs(m).max()
    unit = m / top if top > 0 else m
    ranks = rankdata(m.ravel())
    abs_ranks = ranks if m.min() >= 0 else rankdata(np.abs(m).ravel())
    features = hog(unit, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2))
    return {"unit": unit, "ranks": ranks, "abs_ranks": abs_ranks, "hog": features}


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    a, b = a - a.mean(), b - b.mean()
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


def compare(pa: dict, pb: dict) -> dict[str, float]:
    """All :data:`SIMILARITIES` of two prepared maps of the same shape."""
    return {
        "spearman_abs": _pearson(pa["abs_ranks"], pb["abs_ranks"]),
        "spearman": _pearson(pa["ranks"], pb["ranks"]),
        "ssim": float(structural_similarity(pa["unit"], pb["unit"], data_range=1.0)),
        "hog_pearson": _pearson(pa["hog"], pb["hog"]),
    }


def prepare_all(maps: np.ndarray, size: int) -> list[dict]:
    """Maps (N, H, W) area-averaged to ``size`` x ``size`` (CAMs are smooth; this keeps the
    metrics' cost small next to a CAM pass), then each prepared once for every comparison."""
    import cv2

    maps = np.asarray(maps)
    if maps.shape[1:] != (size, size):
        maps = np.stack([cv2.resize(m, (size, size), interpolation=cv2.INTER_AREA) for m in maps])
    return [prepare(m) for m in maps]


def mean_similarities(original: list[dict], maps: list[dict]) -> dict[str, float]:
    """Mean over image pairs, per metric of :data:`SIMILARITIES`, of the similarity of prepared maps
    (NaN for a metric that is NaN on every pair)."""
    values = [compare(a, b) for a, b in zip(original, maps, strict=True)]
    out = {}
    for m in SIMILARITIES:
        v = np.array([row[m] for row in values], np.float64)
        out[m] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
    return out


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A permutation of ``range(n)`` with no fixed point (each image paired with a different one; n > 1)."""
    perm = rng.permutation(n)
    return np.roll(perm, 1)[np.argsort(perm)] if n > 1 else perm


def similarity(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """All :data:`SIMILARITIES` of two maps (H, W)."""
    return compare(prepare(a), prepare(b))


def sobel_map(image: np.ndarray) -> np.ndarray:
    """Edge-detector reference map: Sobel gradient magnitude of the image (H, W, C), summed over channels."""
    import cv2

    img = np.asarray(image, np.float32)
    img = img[..., None] if img.ndim == 2 else img
    total = np.zeros(img.shape[:2], np.float32)
    for c in range(img.shape[-1]):
        gx = cv2.Sobel(img[..., c], cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(img[..., c], cv2.CV_32F, 0, 1, ksize=3)
        total += np.sqrt(gx**2 + gy**2)
    return total
