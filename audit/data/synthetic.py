"""Synthetic axial brain-MRI slices with exact label maps and a planted shortcut.

This is the first, 2-D analytic phantom: a head ellipse with scalp, skull of
varying thickness, CSF, a grey-matter ribbon around white matter, ventricles,
and for the tumor class an irregular lesion (necrotic core, enhancing rim,
edema).  Intensities follow a T1 post-contrast look; a smooth multiplicative
bias field and Rician noise are applied.  A burned-in marker in the top-right
corner is the planted shortcut; its tie to the label is the knob ``marker_p``:

    P(marker | tumor)   = marker_p + (1 - marker_p) / 2
    P(marker | healthy) = (1 - marker_p) / 2

so ``marker_p = 0`` makes the marker independent of the label and
``marker_p = 1`` puts it on exactly the tumor images.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from audit.data.dataset import Dataset, split_indices
from audit.data.labels import LABELS
from audit.progress import progress

__all__ = ["CLASS_NAMES", "generate_dataset", "generate_slice"]

CLASS_NAMES = ("healthy", "tumor")

# T1 post-contrast-like intensities per label code, before bias field and noise.
_INTENSITY = {
    "background": 0.0,
    "scalp": 0.78,
    "skull": 0.10,
    "csf": 0.10,
    "grey_matter": 0.42,
    "white_matter": 0.62,
    "tumor_core": 0.16,
    "enhancing_tumor": 0.95,
    "edema": 0.32,
    "artifact": 0.97,
}
_MARROW = 0.34


def _smooth_field(rng: np.random.Generator, size: int, cells: int = 6) -> np.ndarray:
    """Zero-mean smooth random field of shape (size, size), values about in [-1, 1]."""
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC) / 1.5


def _harmonics(rng: np.random.Generator, phi: np.ndarray, orders: int, amplitude: float) -> np.ndarray:
    out = np.zeros_like(phi)
    for k in range(1, orders + 1):
        out += rng.uniform(0, amplitude / k) * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    return out


def generate_slice(
    rng: np.random.Generator, size: int, tumor: bool, marker: bool, min_tumor_area: int = 30
) -> tuple[np.ndarray, np.ndarray, dict]:
    """One slice.

    Returns
    -------
    image : (size, size) float32 in [0, 1].
    label_map : (size, size) uint8 codes of :data:`LABELS`.
    info : per-image metadata (tumor area, marker box, head geometry).
    """
    r, c = np.mgrid[0:size, 0:size].astype(np.float32)
    r = 2 * r / (size - 1) - 1
    c = 2 * c / (size - 1) - 1
    cy, cx = rng.uniform(-0.06, 0.06, 2)
    a = rng.uniform(0.80, 0.90)  # row semi-axis
    b = a * rng.uniform(0.76, 0.88)  # column semi-axis
    theta = rng.uniform(-0.2, 0.2)
    u = (r - cy) * np.cos(theta) + (c - cx) * np.sin(theta)
    v = -(r - cy) * np.sin(theta) + (c - cx) * np.cos(theta)
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    phi = np.arctan2(u / a, v / b)

    scalp_t = 0.06 * (1 + _harmonics(rng, phi, 3, 0.35))
    skull_t = 0.07 * (1 + _harmonics(rng, phi, 3, 0.35))
    csf_t = 0.025
    skull_in = 1 - scalp_t - skull_t
    brain_r = skull_in - csf_t
    gyri = 0.025 * np.sin(rng.integers(10, 16) * phi + rng.uniform(0, 6.3))
    wm_r = brain_r - 0.10 + gyri

    lab = np.zeros((size, size), np.uint8)
    lab[rho < 1] = LABELS["scalp"]
    lab[rho < 1 - scalp_t] = LABELS["skull"]
    lab[rho < skull_in] = LABELS["csf"]
    brain = rho < brain_r
    lab[brain] = LABELS["grey_matter"]
    lab[rho < wm_r] = LABELS["white_matter"]
    # Lateral ventricles: two small ellipses either side of the midline.
    for side in (-1, 1):
        vent = ((u + 0.05) / 0.22) ** 2 + ((v - side * 0.09) / 0.06) ** 2 < 1
        lab[vent] = LABELS["csf"]

    info: dict = {
        "tumor_area": 0,
        "head_center_row": float(cy),
        "head_center_col": float(cx),
        "head_axis_row": float(a),
        "head_axis_col": float(b),
        "rotation": float(theta),
    }
    if tumor:
        for _ in range(50):
            tr, tc = rng.uniform(-0.45, 0.45, 2)
            radius = rng.uniform(0.10, 0.22)
            dr, dc = r - (cy + tr * a), c - (cx + tc * b)
            ang = np.arctan2(dr, dc)
            q = np.sqrt(dr**2 + dc**2) / (radius * (1 + _harmonics(rng, ang, 4, 0.3)))
            lesion = (q < 1) & brain
            if lesion.sum() >= min_tumor_area and (rho[lesion] < brain_r[lesion] - 0.02).all():
                break
        else:
            raise ValueError(f"cannot place a tumor of at least {min_tumor_area} px in a {size}x{size} slice")
        lab[(q < 1.6) & brain] = LABELS["edema"]
        lab[lesion] = LABELS["enhancing_tumor"]
        lab[(q < 0.5) & brain] = LABELS["tumor_core"]
        info["tumor_area"] = int(lesion.sum())

    image = np.zeros((size, size), np.float32)
    for name, value in _INTENSITY.items():
        image[lab == LABELS[name]] = value
    skull = lab == LABELS["skull"]
    marrow = skull & (np.abs(rho - (1 - scalp_t - skull_t / 2)) < skull_t * 0.22)
    image[marrow] = _MARROW
    tissue = rho < skull_in
    image[tissue] += 0.03 * _smooth_field(rng, size, 16)[tissue]
    image = cv2.GaussianBlur(image, (0, 0), 0.7)  # partial-volume edges
    image *= 1 + 0.15 * _smooth_field(rng, size, 4)  # scanner bias field

    if marker:
        h, w = max(3, size // 18), max(6, size // 7)
        r0, c0 = max(1, size // 32), size - w - max(1, size // 32)
        glyphs = rng.random((h, w)) < 0.55
        glyphs[:, ::3] = False  # gaps between the "characters"
        box = np.zeros((size, size), bool)
        box[r0 : r0 + h, c0 : c0 + w] = glyphs
        image[box] = _INTENSITY["artifact"]
        lab[box] = LABELS["artifact"]
        info["marker_box"] = f"{r0},{c0},{r0 + h},{c0 + w}"
    else:
        info["marker_box"] = ""

    sigma = 0.025  # Rician noise: magnitude of a complex signal with Gaussian noise
    n1, n2 = rng.normal(0, sigma, (2, size, size)).astype(np.float32)
    image = np.sqrt((image + n1) ** 2 + n2**2)
    return np.clip(image, 0, 1).astype(np.float32), lab, info


def generate_dataset(
    n_images: int,
    size: int,
    rng: np.random.Generator,
    tumor_fraction: float = 0.5,
    marker_p: float = 0.0,
    min_tumor_area: int = 30,
    test_fraction: float = 0.3,
    val_fraction: float = 0.15,
    show_progress: bool = False,
) -> Dataset:
    """A labelled phantom dataset with a stratified split.

    Parameters
    ----------
    n_images : number of slices.
    size : image side in pixels (images are square).
    rng : the only source of randomness; the same seed gives identical arrays.
    tumor_fraction : share of tumor slices.
    marker_p : tie of the corner marker to the tumor label, in [0, 1] (module docstring).
    min_tumor_area : minimum tumor pixels (core + enhancing rim) on a tumor slice.
    """
    if n_images < 4:
        raise ValueError(f"n_images must be at least 4, got {n_images}")
    if size < 32:
        raise ValueError(f"image size must be at least 32 px, got {size}")
    for name, value in (("tumor_fraction", tumor_fraction), ("marker_p", marker_p)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must lie in [0, 1], got {value}")
    n_tumor = int(round(tumor_fraction * n_images))
    labels = rng.permutation(np.r_[np.ones(n_tumor, np.int64), np.zeros(n_images - n_tumor, np.int64)])
    tied = rng.random(n_images) < marker_p
    markers = np.where(tied, labels == 1, rng.random(n_images) < 0.5)

    images = np.empty((n_images, size, size, 1), np.float32)
    label_maps = np.empty((n_images, size, size), np.uint8)
    rows = []
    indices = progress(range(n_images), n_images, "phantoms") if show_progress else range(n_images)
    for i in indices:
        img, lab, info = generate_slice(rng, size, bool(labels[i]), bool(markers[i]), min_tumor_area)
        images[i, ..., 0] = img
        label_maps[i] = lab
        rows.append({"id": f"phantom-{i:05d}", "class": CLASS_NAMES[labels[i]], "marker": bool(markers[i]), **info})
    split = split_indices(labels, test_fraction, val_fraction, rng)
    return Dataset(images, labels, label_maps, CLASS_NAMES, split, pd.DataFrame(rows))
