"""Similarity of two saliency maps, as used by the randomization and stability checks
(Adebayo et al. 2018, "Sanity Checks for Saliency Maps", section 3).

Each function takes two maps of the same shape ``(H, W)`` and returns a float; maps are
compared after scaling each to [0, 1] by its maximum (the maps are stored unnormalised).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import pearsonr, spearmanr
from skimage.feature import hog
from skimage.metrics import structural_similarity

__all__ = ["SIMILARITIES", "hog_pearson", "sobel_map", "spearman_abs", "spearman_signed", "ssim"]


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    top = np.abs(m).max()
    return m / top if top > 0 else m


def spearman_signed(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of the maps' values (NaN when either map is constant)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(np.ravel(a), np.ravel(b)).statistic)


def spearman_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of ``|a|`` and ``|b|``.  Equal to the signed value for the
    non-negative CAMs (ReLU'd) and gradient magnitudes the engine produces."""
    return spearman_signed(np.abs(a), np.abs(b))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004) of the [0, 1]-scaled maps, data range 1."""
    return float(structural_similarity(_unit(a), _unit(b), data_range=1.0))


def hog_pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of the maps' HOG features (Dalal & Triggs 2005; 8x8-pixel cells,
    9 orientations, 2x2-cell blocks), as in Adebayo et al. 2018.  NaN if either is constant."""
    fa = hog(_unit(a), orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2))
    fb = hog(_unit(b), orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2))
    if np.ptp(fa) == 0 or np.ptp(fb) == 0:
        return float("nan")
    return float(pearsonr(fa, fb).statistic)


SIMILARITIES = {"spearman_abs": spearman_abs, "spearman": spearman_signed, "ssim": ssim, "hog_pearson": hog_pearson}
"""Name -> similarity function; every check reports all of them."""


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
