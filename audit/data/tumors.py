"""Tumors placed in 3-D and cut by the slice plane.

A tumor is an irregular blob: for a point p at direction u from the centre c,

    q(p) = |p - c| / (R * (1 + sum_k a_k cos(w_k . u + phi_k)))

so q < 1 is inside.  Compartments by q: glioma (intra-axial) has a necrotic core
(q < 0.45), an enhancing rim (0.45 <= q < 1) and edema in the brain (1 <= q < 1.7);
meningioma (extra-axial, on the brain surface or the falx) is a homogeneous,
enhancing mass with thin edema; pituitary adenoma sits at the sella, below the brain.
Because q is evaluated in 3-D, a slice shows a tumor only where it crosses it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.data.anatomy import PLANE_AXIS, Anatomy

__all__ = ["KINDS", "Tumor", "TumorSampler"]

KINDS = ("glioma", "meningioma", "pituitary")
_SELLA_MM = (0.0, 2.0, -30.0)  # MNI position of the pituitary fossa (approximate)


@dataclass(frozen=True)
class Tumor:
    kind: str
    center: np.ndarray  # (3,) voxel coordinates (1 mm grid)
    radius: float  # mm
    directions: np.ndarray  # (K, 3) shape-wave vectors
    amplitudes: np.ndarray  # (K,)
    phases: np.ndarray  # (K,)

    def q(self, points: np.ndarray) -> np.ndarray:
        """Normalised radius at ``points`` (..., 3) voxel coordinates; < 1 inside the tumor."""
        d = points - self.center
        dist = np.sqrt((d**2).sum(-1))
        u = d / np.maximum(dist, 1e-6)[..., None]
        wobble = np.cos(u @ self.directions.T + self.phases) @ self.amplitudes
        return dist / (self.radius * (1 + wobble))

    def in_plane(self, plane: str, level: int) -> tuple[float, float]:
        """Distance of the centre from the slice plane and the cut's nominal radius (mm)."""
        offset = abs(float(self.center[PLANE_AXIS[plane]]) - level)
        return offset, float(np.sqrt(max(self.radius**2 - offset**2, 0.0)))


def _pick(rng: np.random.Generator, candidates: np.ndarray, what: str) -> np.ndarray:
    if len(candidates) == 0:
        raise ValueError(f"no place for a {what} within the configured levels")
    return candidates[rng.integers(len(candidates))].astype(np.float32)


class TumorSampler:
    """Draws tumors whose centre lies within ``level_range`` along the plane's axis
    (the pituitary stays at the sella wherever that is).  Candidate centres are found
    once, on a 3 mm lattice, so drawing is cheap."""

    def __init__(self, anat: Anatomy, plane: str, level_range: tuple[int, int]):
        axis = PLANE_AXIS[plane]
        lo, hi = level_range
        axes = [np.arange(0, n, 3) for n in anat.inside_mm.shape]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        grid = grid[(grid[:, axis] >= lo) & (grid[:, axis] <= hi)]
        inside = anat.inside_mm[grid[:, 0], grid[:, 1], grid[:, 2]].astype(np.float32)
        outside = anat.outside_mm[grid[:, 0], grid[:, 1], grid[:, 2]].astype(np.float32)
        mid = anat.voxel_of_mm((0.0, 0.0, 0.0))[0]
        self._deep = {r: grid[inside >= 0.5 * r + 4] for r in (10, 14, 18, 22)}
        self._surface = grid[(outside > 0.5) & (outside <= 3)]
        self._falx = grid[(np.abs(grid[:, 0] - mid) < 2) & (inside > 8)]
        self._sella = anat.voxel_of_mm(_SELLA_MM).astype(np.float32)

    def sample(self, rng: np.random.Generator, kind: str) -> Tumor:
        if kind not in KINDS:
            raise ValueError(f"unknown tumor kind {kind!r}; kinds: {', '.join(KINDS)}")
        if kind == "glioma":
            radius = rng.uniform(10, 24)
            depth = max(r for r in self._deep if r <= radius)
            center = _pick(rng, self._deep[depth], "glioma")
        elif kind == "meningioma":
            radius = rng.uniform(8, 18)
            # Convexity (on the brain surface, under the skull) or falx (the midline).
            pool = self._surface if rng.random() < 0.7 or len(self._falx) == 0 else self._falx
            center = _pick(rng, pool, "meningioma")
        else:
            radius = rng.uniform(6, 12)
            center = self._sella + rng.normal(0, 1.5, 3).astype(np.float32)
        k = 4
        directions = rng.normal(0, 1, (k, 3)) * rng.uniform(1, 3, (k, 1))
        amplitudes = rng.uniform(0, 0.25, k) / np.arange(1, k + 1)
        return Tumor(kind, center, float(radius), directions, amplitudes, rng.uniform(0, 2 * np.pi, k))
